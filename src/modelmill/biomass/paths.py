"""Where the biomass line's stages write, relative to the line's folder (pipelines/biomass), as in its dvc.yaml."""

from pathlib import Path

RAW_DIR = Path("data/raw")  # generate: the project's layout, a metadata sheet + the images it names
PREPARED_DIR = Path("data/prepared")  # verify: train.npz, val.npz, test.npz (images at data.image_size)
DATA_REPORT = Path("metrics/data.json")  # verify: rows kept and dropped, plants per split, digests
EDA_DIR = Path("metrics/eda")  # eda: the five figures and eda_summary.json
EDA_SUMMARY = EDA_DIR / "eda_summary.json"
MODEL_FILE = Path("models/biomass_model.pt")  # train: the publishable state_dict
MODEL_CARD = Path("models/card.json")  # train: what it takes to use the weights, params, git commit
HISTORY_FILE = Path("metrics/train_history.csv")  # train: per-epoch loss and val RMSE for `dvc plots`
METRICS_FILE = Path("metrics/metrics.json")  # evaluate: test metrics of the model and the mean baseline
BY_AGE_FILE = Path("metrics/by_age.csv")  # evaluate: error per age bin
PREDICTIONS_FILE = Path("metrics/predictions.csv")  # evaluate: actual vs predicted per test image
SCATTER_FILE = Path("metrics/predicted_vs_actual.png")
RUN_LOG = Path("metrics/run_log.json")  # evaluate: git commit, params, artifact paths and digests
