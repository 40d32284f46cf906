"""Stage 4, evaluate: the trained model on the held-out test split, and nothing else.

    python -m modelmill.landcover.evaluate   # reads params.yaml's evaluate section

The work is in evaluation.py; this module checks the stage's inputs before torch loads, so a
missing one is told at once. Writes metrics/metrics.json (accuracy, macro-F1, loss, per-class
precision/recall/F1; read by `dvc metrics`) and metrics/test_predictions.csv (one row per test
image, drawn as a confusion matrix by `dvc plots`).
"""

from __future__ import annotations

from ..core.cli import cli
from ..core.io import require
from .params import load_params
from .paths import MODEL_CARD, MODEL_FILE, PREPARED_DIR


@cli
def main() -> None:
    cfg = load_params().evaluate
    for path, stage in ((MODEL_FILE, "train"), (MODEL_CARD, "train"), (PREPARED_DIR / "test.npz", "verify")):
        require(path, stage)
    from .evaluation import evaluate

    evaluate(cfg)


if __name__ == "__main__":
    main()
