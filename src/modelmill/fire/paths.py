"""Where the fire line's stages write, relative to the line's folder (pipelines/fire), as in its dvc.yaml."""

from pathlib import Path

SAMPLES = Path("data/samples.csv")  # generate: the 18 features, fire, p_fire (synthetic only)
SPLIT_DIR = Path("data/split")  # split: train.csv, val.csv, test.csv (same columns)
ENSEMBLE_FILE = Path("models/fire_ensemble.skops")  # ensemble: the publishable model
ONNX_FILE = Path("models/fire_ensemble.onnx")  # ensemble: the same model for ONNX Runtime, what serving runs
ENSEMBLE_CARD = Path("models/ensemble.json")  # ensemble: weights, threshold, val scores, data checksum
METRICS_FILE = Path("metrics/metrics.json")  # evaluate: test metrics per model, ensemble and ceiling
ROC_FILE = Path("metrics/roc.csv")  # evaluate: TPR per model on a common FPR grid
PR_FILE = Path("metrics/pr.csv")  # evaluate: precision per model on a common recall grid
CALIBRATION_DIR = Path("metrics/calibration")  # evaluate: <model>.csv, observed fire rate per predicted bin


def model_file(name: str) -> Path:
    """train <name>: one fitted model."""
    return Path("models") / f"{name}.skops"
