"""Daily NetCDF files in the layouts NSIDC ships (sources in docs/lines/seaice.md): G02202 versions 4
and 5 and NSIDC-0051 version 2, written with netCDF4 as NSIDC's are, for the sea-ice tests (a small
grid) and the benchmark (NSIDC's whole north grid).

G02202 v4 follows two real files' headers; v5 follows NSIDC's writer (nsidc/seaice_ecdr): no flags
in `cdr_seaice_conc` (255 off the ocean) and the surface types in the `cdr_supplementary` group;
NSIDC-0051 v2's flag meanings and scale are inferred from code that reads the real files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

# What a test marks a cell as: the v4 / NSIDC-0051 byte flags (v5 writes them as surface types).
POLE_HOLE, LAKE, COAST, LAND, MISSING = 251, 252, 253, 254, 255
V5_SURFACE = {LAKE: 75, POLE_HOLE: 100, COAST: 200, LAND: 250}  # ocean: 50
GRID = (44, 40)  # rows, columns of the tests' (small) grid
NORTH_GRID = (448, 304)  # NSIDC's 25 km north polar stereographic grid
AT = (6, 4)  # where a window sits in it


@dataclass(frozen=True)
class Layout:
    product: str  # g02202-v4 | g02202-v5 | nsidc-0051
    variable: str
    scale: float  # fraction = stored value x scale

    def name(self, day: date, north: bool) -> str:
        if self.product == "g02202-v4":
            return f"seaice_conc_daily_{'nh' if north else 'sh'}_{day:%Y%m%d}_f17_v04r00.nc"
        if self.product == "g02202-v5":
            return f"sic_ps{'n' if north else 's'}25_{day:%Y%m%d}_F17_v05r00.nc"
        return f"NSIDC0051_SEAICE_PS_{'N' if north else 'S'}25km_{day:%Y%m%d}_v2.0.nc"


LAYOUTS = {
    "g02202-v4": Layout("g02202-v4", "cdr_seaice_conc", 0.01),
    "g02202-v5": Layout("g02202-v5", "cdr_seaice_conc", 0.01),
    "nsidc-0051": Layout("nsidc-0051", "F17_ICECON", 0.004),
}


def write_day(
    folder: Path,
    layout: Layout,
    day: date,
    concentration: np.ndarray,
    land: np.ndarray,
    north: bool = True,
    grid: tuple[int, int] = GRID,
) -> Path:
    """One day's file: `concentration` (0-1) and `land` placed at AT in a `grid` of land; a cell
    whose concentration is one of the flags above (>= 251) is written as that flag."""
    import netCDF4

    marks = np.full(grid, LAND, np.uint8)  # the flags, then the stored bytes of the v4/0051 layout
    h, w = concentration.shape
    flags = concentration >= POLE_HOLE
    window = np.where(flags, concentration, np.round(np.clip(concentration, 0, 1) / layout.scale))
    marks[AT[0] : AT[0] + h, AT[1] : AT[1] + w] = np.where(land, LAND, window).astype(np.uint8)
    path = Path(folder) / layout.name(day, north)
    v4 = layout.product == "g02202-v4"
    tdim, xname, yname, mapping = ("tdim", "xgrid", "ygrid", "projection") if v4 else ("time", "x", "y", "crs")
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.createDimension(tdim, None if v4 else 1)
        nc.createDimension("y", grid[0])
        nc.createDimension("x", grid[1])
        time = nc.createVariable("time", "f4" if v4 else "f8", (tdim,))
        time.units = "days since 1601-01-01 00:00:00" if v4 else "days since 1970-01-01"
        time[:] = [(day - (date(1601, 1, 1) if v4 else date(1970, 1, 1))).days]
        for name, dim, size, sign in ((xname, "x", grid[1], 1), (yname, "y", grid[0], -1)):
            axis = nc.createVariable(name, "f4" if v4 else "f8", (dim,))
            axis.units = "meters"
            axis[:] = sign * (np.arange(size) - size / 2 + 0.5) * 25_000.0
        crs = nc.createVariable(mapping, "S1" if v4 else "i4")
        crs.grid_mapping_name = "polar_stereographic"
        fill = None if layout.product == "nsidc-0051" else MISSING
        var = nc.createVariable(layout.variable, "u1", (tdim, "y", "x"), fill_value=fill)
        var.set_auto_maskandscale(False)
        var.scale_factor = np.float32(layout.scale)
        var.valid_range = np.array([0, round(1 / layout.scale)], np.uint8)
        var.grid_mapping = mapping
        if v4:
            var.flag_values = np.array([POLE_HOLE, LAKE, COAST, LAND, MISSING], np.uint8)
            var.flag_meanings = "pole_hole lakes coastal land_mask missing_data"
        elif layout.product == "nsidc-0051":
            var.flag_values = np.array([POLE_HOLE, LAKE, COAST, LAND, MISSING], np.uint8)
            var.flag_meanings = "pole_hole_mask unused coast land missing"
        if layout.product == "g02202-v5":
            var[:] = np.where(marks >= POLE_HOLE, MISSING, marks)[None]
            surface = nc.createGroup("cdr_supplementary").createVariable("surface_type_mask", "u1", (tdim, "y", "x"))
            surface.set_auto_maskandscale(False)
            surface.flag_values = np.array([50, 75, 100, 200, 250], np.uint8)
            surface.flag_meanings = "ocean lake polehole_mask coast land"
            types = np.full(grid, 50, np.uint8)
            for flag, kind in V5_SURFACE.items():
                types[marks == flag] = kind
            surface[:] = types[None]
        else:
            var[:] = marks[None]
    return path


def write_folder(
    folder: Path,
    layout: Layout,
    concentration: np.ndarray,
    land: np.ndarray,
    start: date = date(2021, 1, 1),
    north: bool = True,
    skip: tuple[int, ...] = (),
    grid: tuple[int, int] = GRID,
) -> Path:
    """A folder of daily files, one per day of `concentration` (T, H, W) but the days in `skip`."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, day in enumerate(concentration):
        if t not in skip:
            write_day(folder, layout, start + timedelta(days=t), day, land, north, grid)
    return folder
