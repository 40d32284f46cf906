"""Stage 5, evaluate: the model against the training-mean baseline on the test plants, in grams.

    python -m modelmill.biomass.evaluate     # reads params.yaml

The work is in evaluation.py; this module checks the inputs before torch loads, so a missing
one is told at once. Writes metrics/metrics.json, metrics/by_age.csv, metrics/predictions.csv,
metrics/predicted_vs_actual.png and metrics/run_log.json.
"""

from __future__ import annotations

import sys

from ..core.cli import cli
from ..core.io import require
from .params import load_params
from .paths import MODEL_CARD, MODEL_FILE, PREPARED_DIR


@cli
def main() -> None:
    params = load_params()
    for path, stage in ((MODEL_FILE, "train"), (MODEL_CARD, "train"), (PREPARED_DIR / "test.npz", "verify")):
        require(path, stage)
    from .evaluation import evaluate

    m = evaluate(params)
    floor = (
        f"; floor {m['floor_rmse_g']:.4f} g, model/floor {m['rmse_over_floor']:.3f} "
        f"(95% {m['rmse_over_floor_ci95']['low']:.3f}..{m['rmse_over_floor_ci95']['high']:.3f})"
        if "floor" in m
        else "; no floor (own data)"
    )
    print(
        f"evaluate: test RMSE {m['model']['rmse_g']:.4f} g, R^2 {m['model']['r2']:.3f} on {m['test_images']} "
        f"photos of {m['test_plants']} plants (mean baseline RMSE {m['baseline_mean']['rmse_g']:.4f} g){floor}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
