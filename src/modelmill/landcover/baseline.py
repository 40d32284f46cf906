"""The EuroSAT line's monitoring baseline (core/baseline.py), all on the test split: per-tile
channel means, brightness and contrast (core/summaries.py), the split's per-channel pixel
statistics, and the class evaluate predicted for each tile (metrics/test_predictions.csv: what the
model answered, read rather than recomputed).

Read from the project root after evaluate: data/prepared/test.npz and metrics/test_predictions.csv.
Publish writes it as baseline.json beside metadata.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.baseline import class_summary, make_baseline, read_predicted
from ..core.cli import UserError
from ..core.stats import rounded
from ..core.summaries import CHANNELS, tile_columns
from .data import CLASSES, load_tensors
from .paths import PREDICTIONS_FILE, PREPARED_DIR

PIXEL_BINS = 32  # of 8 grey levels each


def reference_inputs(folder: Path, key: str = ""):
    """The test split's tiles, uint8 NHWC as the predictor's decode gives them: what the baseline's
    features describe."""
    tiles, _ = load_tensors(Path(folder) / PREPARED_DIR, "test")
    return tiles


def baseline(folder: Path, key: str = "") -> dict:
    folder = Path(folder)
    tiles = reference_inputs(folder)
    predicted = read_predicted(folder / PREDICTIONS_FILE)
    if len(predicted) != len(tiles):
        raise UserError(
            f"{folder / PREDICTIONS_FILE} has {len(predicted)} rows but the test split {len(tiles)} tiles; "
            "they are from different runs: run the evaluate stage again (dvc repro)"
        )
    return image_baseline(tiles.numpy(), predicted, CLASSES)


def image_baseline(tiles: np.ndarray, predicted: Sequence[str], classes: Sequence[str]) -> dict:
    """The baseline of uint8 NHWC RGB `tiles` and the class predicted for each."""
    return make_baseline(
        kind="image",
        line="landcover",
        features=tile_columns(tiles),
        prediction=class_summary(predicted, classes),
        reference={"features": "test split", "prediction": "test split, as evaluate predicted it"},
        channels=channel_summary(tiles),
    )


def channel_summary(tiles: np.ndarray) -> dict:
    """Per channel, over every pixel of `tiles`: mean, standard deviation and a 32-bin histogram."""
    summary = {}
    for i, channel in enumerate(CHANNELS):
        # Counted per grey level (exact, and no float copy of the whole split).
        counts = np.bincount(np.asarray(tiles[..., i], dtype=np.uint8).ravel(), minlength=256).astype(np.float64)
        levels = np.arange(256.0)
        mean = (counts * levels).sum() / counts.sum()
        std = np.sqrt((counts * (levels - mean) ** 2).sum() / counts.sum())
        summary[channel] = {
            "mean": rounded(mean),
            "std": rounded(std),
            "histogram": {
                "edges": list(range(0, 257, 256 // PIXEL_BINS)),
                "counts": [int(c) for c in counts.reshape(PIXEL_BINS, -1).sum(axis=1)],
            },
        }
    return summary
