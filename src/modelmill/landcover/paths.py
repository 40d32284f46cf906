"""Where the EuroSAT line's stages write, relative to the project root (as in dvc.yaml)."""

from pathlib import Path

RAW_ARCHIVE = Path("data/raw/eurosat.zip")  # ingest
PREPARED_DIR = Path("data/prepared")  # verify: {train,val,test}.npz + meta.json
DATA_REPORT = Path("metrics/data.json")  # verify
MODEL_FILE = Path("models/satellite_model.pt")  # train: a plain state_dict
MODEL_CARD = Path("models/model.json")  # train: see card.py
HISTORY_FILE = Path("metrics/train_history.csv")  # train
METRICS_FILE = Path("metrics/metrics.json")  # evaluate
PREDICTIONS_FILE = Path("metrics/test_predictions.csv")  # evaluate
