"""What monitoring keeps of a request's inputs and answers: the same numbers a baseline is made of,
so captured rows and baseline compare like with like.

Each line says how its model's decoded batches are summarised (its predictor's `summaries`, a
`Summaries`); the image summary here is shared by every line whose inputs are RGB tiles or photos
(landcover, the sea-ice classifier, biomass): per tile (or photo, of any size), the mean of each
channel, its brightness (mean over every pixel and channel) and contrast (standard deviation over
the same), in 0..255 units. Never the pixels.

Pure functions of the decoded batch: the server calls them (or hands them to `Capture` to call off
the request path), the lines' baselines call the column forms on whole splits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

CHANNELS = ("red", "green", "blue")
IMAGE_FEATURES = (*(f"mean_{channel}" for channel in CHANNELS), "brightness", "contrast")
IMAGE_CHUNK_VALUES = 1 << 24  # pixel values summarised at a time (128 MB as float64), not a whole split


@dataclass(frozen=True)
class Summaries:
    """How a model's traffic is summarised for monitoring: `inputs` turns a decoded batch into one
    {feature: value} per item; `answers` (None: the answers' plain values already are what its
    baseline compares, a class, a probability, grams) turns its answers into such values."""

    inputs: Callable[[Any], list[dict]]
    answers: Callable[[list[dict]], list[dict]] | None = None


def tile_columns(tiles) -> dict[str, np.ndarray]:
    """{summary: values} of uint8 NHWC RGB tiles or photos of any size (a numpy array or a CPU
    tensor): one value per tile."""
    tiles = np.asarray(tiles)
    if tiles.ndim == 3:
        tiles = tiles[None]
    chunk = max(1, IMAGE_CHUNK_VALUES // max(1, int(np.prod(tiles.shape[1:]))))
    parts = [_tile_summaries(tiles[start : start + chunk]) for start in range(0, len(tiles), chunk)]
    if not parts:
        return {name: np.zeros(0) for name in IMAGE_FEATURES}
    return {name: np.concatenate([part[name] for part in parts]) for name in IMAGE_FEATURES}


def _tile_summaries(tiles: np.ndarray) -> dict[str, np.ndarray]:
    pixels = tiles.reshape(len(tiles), -1, tiles.shape[-1]).astype(np.float64)
    means = pixels.mean(axis=1)
    flat = pixels.reshape(len(tiles), -1)
    columns = {f"mean_{channel}": means[:, i] for i, channel in enumerate(CHANNELS)}
    columns["brightness"] = flat.mean(axis=1)
    columns["contrast"] = flat.std(axis=1)
    return columns


def tile_rows(tiles) -> list[dict]:
    """One {summary: value} per tile of uint8 NHWC RGB tiles."""
    return rows_of(tile_columns(tiles))


def rows_of(columns: dict[str, np.ndarray]) -> list[dict]:
    """{name: values} as one {name: value} per row."""
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*(columns[name].tolist() for name in names))]


IMAGES = Summaries(tile_rows)  # RGB tiles or photos, decoded as uint8 NHWC
