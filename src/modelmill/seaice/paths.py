"""Where the sea-ice line's stages write, relative to the line's folder (pipelines/seaice), as in its dvc.yaml."""

from pathlib import Path

DAILY = Path("data/daily.npz")  # generate: dates, concentration, thickness, land mask
SPLIT_FILE = Path("data/split.json")  # split: each split's time segments and its samples' days
DATASETS = Path("data/sets")  # split: <model>/<split>.npz, one folder per model (its train deps)
DATA_METRICS = Path("metrics/data.json")  # split: sizes, class counts, the no-overlap check
METRICS_FILE = Path("metrics/metrics.json")  # evaluate: the three models against their baselines (test)
RMSE_FILE = Path("metrics/forecast_rmse.csv")  # evaluate: RMSE by lead day, model vs baselines
# its columns after lead_day: RMSE of the model, its three baselines and its ceiling (empty for observed data)
RMSE_COLUMNS = ("model", "persistence", "climatology", "damped_persistence", "ceiling")
CONFUSION_FILE = Path("metrics/confusion.csv")  # evaluate: actual,predicted per test tile
FIGURES = Path("metrics/figures")  # evaluate: forecast and change-map panels (PNG)

MODELS = ("classifier", "forecaster", "change")
# The ceiling stage: the change detector trained and scored on clean renders (simulated data only),
# in a folder of its own that holds NO_CEILING instead when the data are the user's own.
CEILING = "ceiling"
CEILING_DIR = Path("models/ceiling")
NO_CEILING = CEILING_DIR / "absent.txt"


def params_key(name: str) -> str:
    """The train.<key> params (and data/sets/<key>) a trained network reads: the ceiling is the change detector."""
    return "change" if name == CEILING else name


def model_file(name: str) -> Path:
    """train <name>: its weights (a plain state_dict)."""
    return CEILING_DIR / "change.pt" if name == CEILING else Path("models") / f"{name}.pt"


def card_file(name: str) -> Path:
    """train <name>: what is needed to use the weights (architecture, sizes, val scores)."""
    return CEILING_DIR / "change.json" if name == CEILING else Path("models") / f"{name}.json"


def history_file(name: str) -> Path:
    """train <name>: per-epoch curves for dvc plots."""
    return CEILING_DIR / "train.csv" if name == CEILING else Path("metrics") / f"train_{name}.csv"


def dataset_dir(model: str) -> Path:
    return DATASETS / model


def dataset_file(model: str, split: str) -> Path:
    return dataset_dir(model) / f"{split}.npz"
