"""Stage 3, train <model>: one of the three models on data/split/train.csv -> models/<model>.skops.

    python -m modelmill.fire.train forest|boosting|logistic

DVC runs it once per model (`foreach` in dvc.yaml), each reading only its own train.<model>
params, so changing one model's params retrains only that model.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..core.cli import UserError, cli
from .features import read_split
from .models import build_model, fit, save_model
from .params import MODEL_NAMES, TrainConfig, load_params
from .paths import SPLIT_DIR, model_file


def train_model(name: str, cfg: TrainConfig, split_dir: str | Path = SPLIT_DIR, out: str | Path | None = None):
    model = build_model(name, cfg)
    train = read_split(split_dir, "train")
    start = time.perf_counter()
    fit(model, train.x, train.y)
    out = model_file(name) if out is None else Path(out)
    save_model(model, out)
    print(
        f"train {name}: {len(train)} rows, fitted in {time.perf_counter() - start:.1f}s -> {out} "
        f"({out.stat().st_size / 2**20:.1f} MiB)",
        file=sys.stderr,
    )
    return model


@cli
def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in MODEL_NAMES:
        got = " ".join(sys.argv[1:]) or "nothing"
        raise UserError(f"usage: python -m modelmill.fire.train {{{','.join(MODEL_NAMES)}}} (got {got})")
    train_model(sys.argv[1], load_params().train)


if __name__ == "__main__":
    main()
