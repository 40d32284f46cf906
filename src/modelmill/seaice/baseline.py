"""The sea-ice line's monitoring baselines (core/baseline.py), one per published model:

- forecaster (kind "sequence"): per 30-day history, its mean concentration, standard deviation,
  ice share (cells over 0.15) and the last day's mean and ice share; and per forecast, its mean
  concentration and ice share, forecast by the model as the predictor does (evaluate keeps no
  per-window forecast); both over the train and test windows, so that every season is in it
  (the test windows alone are the last weeks of each year);
- classifier (kind "image"): per test tile, channel means, brightness and contrast, and the class
  evaluate predicted for it (metrics/confusion.csv, read rather than recomputed);
- change detector: none (None).

Read from the line's folder (pipelines/seaice) after evaluate: data/daily.npz,
data/sets/<model>/{train,test}.npz, models/<model>.{pt,json} and metrics/confusion.csv. Publish
writes each as baseline.json beside the model's metadata.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.baseline import class_summary, make_baseline, read_predicted, value_summary
from ..core.cli import UserError
from ..core.io import read_json
from ..core.summaries import tile_columns
from .data import CLASSES, forecast_arrays, load_daily, load_set
from .paths import CONFUSION_FILE, DAILY, DATASETS, card_file, model_file
from .summaries import forecast_columns, history_columns


def baseline(folder: Path, key: str = "") -> dict | None:
    folder = Path(folder)
    if key == "forecaster":
        return forecaster_from_folder(folder)
    if key == "classifier":
        return classifier_from_folder(folder)
    return None


def reference_inputs(folder: Path, key: str = "") -> np.ndarray:
    """Inputs of model `key` from the line's data, as its predictor's decode gives them: what the
    baseline's features describe (the forecaster's (n, 30, H, W) histories of the train and test
    windows, the classifier's uint8 test tiles); for the change detector, which has no baseline,
    its (n, 2, H, W, 3) test pairs."""
    folder = Path(folder)
    if key == "forecaster":
        return _histories(folder)
    if key == "classifier":
        return _tiles(folder)
    pairs = load_set("change", "test", folder / DATASETS)
    return np.stack([pairs["before"], pairs["after"]], axis=1)


def _tiles(folder: Path) -> np.ndarray:
    return load_set("classifier", "test", folder / DATASETS)["x"]


def _histories(folder: Path) -> np.ndarray:
    daily = load_daily(folder / DAILY)
    train = load_set("forecaster", "train", folder / DATASETS)["starts"]
    test = load_set("forecaster", "test", folder / DATASETS)["starts"]
    if len(train) == 0 or len(test) == 0:
        raise UserError("the forecaster's train or test split holds no window; check the split fractions")
    histories, _ = forecast_arrays(daily, np.concatenate([train, test]))
    return histories


def forecaster_from_folder(folder: Path) -> dict:
    card = read_json(folder / card_file("forecaster"), "train@forecaster")
    histories = _histories(folder)
    # Both over every season: the test windows alone are the last weeks of each year, and served
    # forecasts in any other season would read as drift against them.
    return forecaster_baseline(histories, forecast(folder / model_file("forecaster"), card, histories))


def forecast(model_path: Path, card: dict, histories: np.ndarray) -> np.ndarray:
    """(n, 7, H, W) forecasts of (n, 30, H, W) histories, as the served forecaster answers them:
    fp32, clipped to 0-1, 0 on land."""
    import torch

    from ..core.torchkit import predict
    from .models import load_trained
    from .tasks import EVAL_BATCH

    net = load_trained(model_path, card, "train@forecaster")
    with torch.inference_mode():
        out = predict(net, torch.from_numpy(np.ascontiguousarray(histories)), lambda b: b, EVAL_BATCH, "fp32", 0)
    land = np.array(card["land"], dtype=bool)
    return np.where(land, 0.0, np.clip(out.cpu().numpy(), 0, 1)).astype(np.float32)


def forecaster_baseline(histories: np.ndarray, forecasts: np.ndarray) -> dict:
    """The baseline of (n, 30, H, W) `histories` and the model's (n, 7, H, W) `forecasts` of them."""
    return make_baseline(
        kind="sequence",
        line="seaice",
        features=history_columns(histories),
        prediction=value_summary(forecast_columns(forecasts)),
        reference={"features": "train and test windows", "prediction": "the same windows, forecast by the model"},
    )


def classifier_from_folder(folder: Path) -> dict:
    tiles = _tiles(folder)
    predicted = read_predicted(folder / CONFUSION_FILE)
    if len(predicted) != len(tiles):
        raise UserError(
            f"{folder / CONFUSION_FILE} has {len(predicted)} rows but the classifier's test split {len(tiles)} "
            "tiles; they are from different runs: run the evaluate stage again (dvc repro)"
        )
    return make_baseline(
        kind="image",
        line="seaice",
        features=tile_columns(tiles),
        prediction=class_summary(predicted, CLASSES),
        reference={"features": "test split", "prediction": "test split, as evaluate predicted it"},
    )
