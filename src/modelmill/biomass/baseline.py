"""The biomass line's monitoring baseline (core/baseline.py), all on the test split: per-photo
channel means, brightness and contrast (core/summaries.py, on the photos as verify resized them,
which is what the predictor's decode gives the model too), and the grams evaluate predicted for
each photo (metrics/predictions.csv: what the model answered, read rather than recomputed).

Read from the line's folder (pipelines/biomass) after evaluate: data/prepared/test.npz and
metrics/predictions.csv. Publish writes it as baseline.json beside metadata.json.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..core.baseline import make_baseline, value_summary
from ..core.cli import UserError
from ..core.io import require
from ..core.summaries import tile_columns
from .data import load_arrays
from .paths import PREDICTIONS_FILE, PREPARED_DIR

FIELD = "biomass_g"  # the predictor's answer


def reference_inputs(folder: Path, key: str = ""):
    """The test split's photos, a uint8 (n, S, S, 3) tensor as verify resized them and the
    predictor's decode gives them: what the baseline's features describe."""
    import torch  # only where a batch for the predictor is wanted; the baseline itself needs numpy

    return torch.from_numpy(load_arrays(Path(folder) / PREPARED_DIR, "test")["x"])


def baseline(folder: Path, key: str = "") -> dict:
    folder = Path(folder)
    test = load_arrays(folder / PREPARED_DIR, "test")
    images, grams = read_predicted(folder / PREDICTIONS_FILE)
    expected = [str(name) for name in test["image"]]
    if images != expected:
        raise UserError(
            f"{folder / PREDICTIONS_FILE} has {len(images)} rows but the test split {len(expected)} photos"
            + ("" if len(images) != len(expected) else " (not the same photos)")
            + "; they are from different runs: run the evaluate stage again (dvc repro)"
        )
    return photo_baseline(test["x"], grams)


def read_predicted(path: Path) -> tuple[list[str], np.ndarray]:
    """The `image` and `predicted_g` columns of evaluate's predictions.csv, one row per test photo."""
    with open(require(path, "evaluate"), newline="") as f:
        reader = csv.DictReader(f)
        if not {"image", "predicted_g"} <= set(reader.fieldnames or []):
            raise UserError(
                f"{path} lacks an 'image' or 'predicted_g' column; run the evaluate stage again (dvc repro)"
            )
        rows = [(row["image"], row["predicted_g"]) for row in reader]
    return [name for name, _ in rows], np.array([_grams(value) for _, value in rows], dtype=np.float64)


def _grams(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan  # evaluate writes an empty cell for a NaN; feature_summary keeps finite values


def photo_baseline(photos: np.ndarray, grams: np.ndarray) -> dict:
    """The baseline of uint8 (n, S, S, 3) test `photos` and the grams predicted for each."""
    return make_baseline(
        kind="image",
        line="biomass",
        features=tile_columns(photos),
        prediction=value_summary({FIELD: np.asarray(grams, dtype=np.float64)}),
        reference={"features": "test split", "prediction": "test split, as evaluate predicted it"},
    )
