"""Stage 1, generate: the daily fields every later stage reads, data/daily.npz.

`data.source: generate` runs the simulator (physics.py, seeded by `data.seed`);
`data.source: archive` reads the folder `data.archive` (layout in archive.py), and
`data.source: nsidc` a folder of NSIDC's daily NetCDF files (nsidc.py), each checked file
by file. Either way: dates, concentration, thickness and the land mask.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..core.cli import cli
from .archive import read_archive
from .npz import save_npz
from .nsidc import read_nsidc
from .params import DataConfig, load_params
from .paths import DAILY
from .physics import Daily, simulate


def make_daily(cfg: DataConfig, out: str | Path = DAILY) -> Daily:
    start = time.perf_counter()
    if cfg.source == "archive":
        daily, origin = read_archive(cfg.archive), cfg.archive
    elif cfg.source == "nsidc":
        region = cfg.region
        daily = read_nsidc(cfg.archive, region, cfg.max_gap_days)
        origin = f"{cfg.archive} (rows {region.row}+{region.height}, columns {region.col}+{region.width})"
    else:
        daily = simulate(cfg.grid, cfg.days, cfg.start, cfg.drift_speed, cfg.diffusion, cfg.seed)
        origin = f"the simulator (seed {cfg.seed})"
    save_daily(out, daily)
    print(
        f"generate: {len(daily)} days ({daily.dates[0]} to {daily.dates[-1]}) on a "
        f"{daily.land.shape[0]}x{daily.land.shape[1]} grid from {origin} -> {out} "
        f"in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    return daily


def save_daily(out: str | Path, daily: Daily) -> None:
    forcing = daily.forcing
    hidden = (
        {}
        if forcing is None
        else {
            "weather": forcing.weather,
            "drift_angle": forcing.angle,
            "year_anomaly": forcing.year_anomaly,
            "drift_speed": np.array(forcing.drift_speed),
            "diffusion": np.array(forcing.diffusion),
        }
    )
    save_npz(
        out,
        dates=daily.dates.astype("datetime64[D]").astype(np.int64),
        concentration=daily.concentration,
        thickness=daily.thickness,
        land=daily.land,
        thickness_source=np.array(daily.thickness_source),
        **hidden,  # the simulator's forcing, the forecaster's ceiling starts from it
    )


@cli
def main() -> None:
    make_daily(load_params().data)


if __name__ == "__main__":
    main()
