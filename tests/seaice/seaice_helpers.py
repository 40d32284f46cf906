"""Small sizes for the sea-ice tests: a 32x32 grid over two years, a few tiles, one short epoch each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import REPO, edit_yaml
from smoke_params import SEAICE

LINE = REPO / "pipelines" / "seaice"
TINY = SEAICE


def write_line_params(folder: Path, overrides: dict | None = None) -> Path:
    """pipelines/seaice/params.yaml at the tiny sizes (plus `overrides`), as `folder`/params.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    return edit_yaml(folder / "params.yaml", {**TINY, **(overrides or {})}, source=LINE / "params.yaml")


def write_archive(
    folder: Path, days: int = 40, grid: int = 16, start: str = "2021-01-01", seed: int = 0, thickness: bool = False
) -> Path:
    """A small archive in the documented layout: seaice_YYYYMMDD.npz, concentration with NaN on land."""
    from modelmill.seaice.physics import simulate

    folder.mkdir(parents=True, exist_ok=True)
    daily = simulate(grid, days, start, 0.5, 0.05, seed)
    for date, c, h in zip(daily.dates, daily.concentration, daily.thickness):
        arrays = {"concentration": np.where(daily.land, np.nan, c)}
        if thickness:
            arrays["thickness"] = np.where(daily.land, np.nan, h)
        np.savez(folder / f"seaice_{str(date).replace('-', '')}.npz", **arrays)
    return folder
