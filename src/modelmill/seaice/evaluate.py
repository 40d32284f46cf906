"""Stage 4, evaluate: the three models on the test split, each beside the baseline it must beat.

    python -m modelmill.seaice.evaluate      # reads params.yaml's evaluate section

The work (and what each model is scored by) is in evaluation.py; this module checks the
inputs before torch loads, so a missing one is told at once. Writes metrics/metrics.json,
metrics/forecast_rmse.csv, metrics/confusion.csv and PNG panels in metrics/figures/.
"""

from __future__ import annotations

from ..core.cli import cli
from ..core.io import require
from .params import load_params
from .paths import DAILY, MODELS, SPLIT_FILE, card_file, dataset_file, model_file


@cli
def main() -> None:
    cfg = load_params().evaluate
    require(DAILY, "generate")
    require(SPLIT_FILE, "split")
    for name in MODELS:
        require(dataset_file(name, "test"), "split")
        require(model_file(name), f"train@{name}")
        require(card_file(name), f"train@{name}")
    from .evaluation import evaluate

    evaluate(cfg)


if __name__ == "__main__":
    main()
