"""The sea-ice line's example inputs (`make examples`), one per model, from the line's simulator,
sized as pipelines/seaice/params.yaml trains the models (its grid, or its NSIDC window; its tiles):

    examples/seaice_tile.npy     one RGB tile (uint8), e.g. 16x16, for seaice-classifier
    examples/seaice_history.npy  30 days of concentration (30, H, W) for seaice-forecaster
    examples/seaice_pair.npy     two dates of one scene (2, H, W, 3) for seaice-change

The same params and seed give the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.io import npy_bytes, write_bytes
from .data import load_daily
from .params import PARAMS_FILE, load_params
from .paths import DAILY
from .physics import simulate
from .render import render

SEED = 7


def shapes(params_file: Path) -> tuple[tuple[int, int], int, int]:
    """((H, W) of the grid the models train on, tile cells, pixels per cell) from the line's params;
    a user's archive's grid is known from its generated daily.npz only (64 x 64 before that)."""
    params = load_params(params_file)
    grid = params.data.grid_shape()
    if grid is None:
        daily = params_file.parent / DAILY
        grid = load_daily(daily).land.shape if daily.is_file() else (64, 64)
    return (int(grid[0]), int(grid[1])), params.split.tile_cells, params.split.tile_scale


def write_examples(dest: Path, params_file: Path = Path("pipelines/seaice") / PARAMS_FILE) -> dict[str, list[Path]]:
    dest = Path(dest)
    (height, width), cells, scale = shapes(params_file)
    daily = simulate(max(height, width, cells), 40, "2021-01-01", 0.5, 0.05, SEED)
    concentration, thickness, land = (
        a[..., :height, :width] for a in (daily.concentration, daily.thickness, daily.land)
    )
    rng = np.random.default_rng(SEED)
    left = min(40, width - cells)  # near the top right: ice there by day 30
    at = slice(0, cells), slice(left, left + cells)
    tile = render(concentration[30][at], thickness[30][at], land[at], rng, scale)
    pair = np.stack([render(concentration[d], thickness[d], land, rng) for d in (25, 39)])
    return {
        "classifier": [write_bytes(dest / "seaice_tile.npy", npy_bytes(tile))],
        "forecaster": [write_bytes(dest / "seaice_history.npy", npy_bytes(concentration[:30].astype(np.float32)))],
        "change": [write_bytes(dest / "seaice_pair.npy", npy_bytes(pair))],
    }
