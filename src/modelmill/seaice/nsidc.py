"""Real data as NSIDC ships it: a folder of daily sea-ice concentration NetCDF files, read lazily.

Three products, told apart by their file names (one product and one hemisphere per folder):

    G02202 v4   seaice_conc_daily_nh_YYYYMMDD_f17_v04r00.nc   cdr_seaice_conc
    G02202 v5   sic_psn25_YYYYMMDD_F17_v05r00.nc              cdr_seaice_conc
    NSIDC-0051  NSIDC0051_SEAICE_PS_N25km_YYYYMMDD_v2.0.nc    <sensor>_ICECON (N07_, F08_ … F17_)

Only `data.region`'s window of each day's grid is read (xarray over netCDF4: a hyperslab, never
the hemisphere). Flags come from the files' own `flag_values`/`flag_meanings` attributes (NSIDC's
documented values when a file has none): in the concentration variable for G02202 v4 and
NSIDC-0051, in `cdr_supplementary/surface_type_mask` for G02202 v5, which dropped them from
`cdr_seaice_conc`. Land, coast and lakes become the line's land mask, which must be the same every
day; the pole hole, missing cells and any other flag are filled
from the same cell's nearest valid days (linear in time), and a cell never valid in the window from
its valid neighbours. Missing days, up to `data.max_gap_days` in a row (NSIDC-0051 holds every
other day before August 1987), are interpolated in time; a longer gap is refused naming its dates.
The products have no thickness: it is estimated as for a .npz archive (archive.py), and the
card says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ..core.cli import UserError, first_line
from .archive import ESTIMATED, check_enough_days, estimated_thickness, listed
from .params import RegionConfig
from .physics import Daily

# Flags whose meaning (NSIDC's flag_meanings) has one of these words are land for the line; every
# other flag (the pole hole, missing data) is a cell to fill.
LAND_WORDS = ("land", "coast", "lake")
# NSIDC's documented flags, for a variable that does not carry flag_values: the concentration's
# 251-255 (G02202 v4, NSIDC-0051), and G02202 v5's surface types (which also name the ocean).
DEFAULT_FLAGS: dict[float, str] = {
    251: "pole_hole",
    252: "lakes",
    253: "coastal",
    254: "land_mask",
    255: "missing_data",
}
SURFACE_TYPES: dict[float, str] = {50: "ocean", 75: "lake", 100: "polehole_mask", 200: "coast", 250: "land"}


@dataclass(frozen=True)
class Product:
    name: str
    pattern: re.Pattern  # the file name: (hemisphere letter group, YYYYMMDD)
    variable: re.Pattern  # the concentration variable's name
    north: str  # what the hemisphere group reads for the north
    surface: tuple[str, str] | None = None  # (group, variable) of a separate surface-type mask


PRODUCTS = (
    Product(
        "G02202 version 4",
        re.compile(r"seaice_conc_daily_(nh|sh)_(\d{8})_\w+_v04r\d+\.nc"),
        re.compile(r"cdr_seaice_conc"),
        "nh",
    ),
    Product(
        "G02202 version 5",
        re.compile(r"sic_ps(n|s)25_(\d{8})_\w+_v05r\d+\.nc"),
        re.compile(r"cdr_seaice_conc"),
        "n",
        ("cdr_supplementary", "surface_type_mask"),
    ),
    Product(
        "NSIDC-0051 version 2",
        re.compile(r"NSIDC0051_SEAICE_PS_(N|S)25km_(\d{8})_v2\.0\.nc"),
        re.compile(r"[NF]\d\d_ICECON"),
        "N",
    ),
)


@dataclass(frozen=True)
class DayFile:
    path: Path
    day: date
    product: Product
    north: bool


def read_nsidc(folder: str | Path, region: RegionConfig, max_gap_days: int) -> Daily:
    folder = Path(folder)
    files = _day_files(folder)
    days = [f.day for f in files]
    _check_gaps(folder, days, max_gap_days)
    span = (days[-1] - days[0]).days + 1
    check_enough_days(folder, "covers", span, days[0], days[-1])
    land: np.ndarray | None = None
    first = files[0]
    grids = np.full((span, region.height, region.width), np.nan, np.float32)
    grid: tuple[int, ...] = ()
    for f, (values, sea_land, fill, shape) in zip(files, (_read_window(f, region) for f in files)):
        if grid and shape != grid:  # the same window of another grid is another place
            raise UserError(
                f"{f.path}: a {shape[0]}x{shape[1]} grid, but {first.path.name} is on a {grid[0]}x{grid[1]} "
                "one; every day must be on the same grid"
            )
        grid = shape
        if land is None:
            land = sea_land
        elif not np.array_equal(sea_land, land):
            row, col = np.argwhere(sea_land != land)[0]
            raise UserError(
                f"{f.path}: land, coast and lake cells differ from {first.path.name}'s, first at window row "
                f"{row}, column {col}; the land mask must be the same every day"
            )
        grids[(f.day - days[0]).days] = np.where(fill, np.nan, values)
    assert land is not None
    concentration = np.where(land, 0.0, _filled(grids, land)).astype(np.float32)
    dates = np.arange(np.datetime64(days[0], "D"), np.datetime64(days[-1], "D") + 1)
    thickness = np.where(land, 0.0, estimated_thickness(concentration)).astype(np.float32)
    return Daily(dates, concentration, thickness, land, ESTIMATED)


def _day_files(folder: Path) -> list[DayFile]:
    files = [_identify(p) for p in listed(folder, ".nc", f".nc files (NSIDC's daily files: {_names()})")]
    first = files[0]
    for f in files[1:]:
        if f.product is not first.product:
            raise UserError(
                f"{f.path}: a {f.product.name} file among {first.product.name} files "
                f"({first.path.name}); keep one product per folder"
            )
        if f.north != first.north:
            raise UserError(
                f"{f.path}: a file of the {_hemisphere(f.north)} hemisphere among {_hemisphere(first.north)} "
                f"ones ({first.path.name}); keep one hemisphere per folder"
            )
    files.sort(key=lambda f: f.day)
    for before, after in zip(files, files[1:]):
        if before.day == after.day:
            raise UserError(f"{after.path}: a second file for {after.day} (the other: {before.path.name})")
    return files


def _identify(path: Path) -> DayFile:
    for product in PRODUCTS:
        match = product.pattern.fullmatch(path.name)
        if match:
            text = match.group(2)
            try:
                day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                raise UserError(f"{path}: {text} in its name is not a date") from None
            return DayFile(path, day, product, match.group(1) == product.north)
    raise UserError(f"{path}: not named as a daily file of NSIDC's products ({_names()})")


def _names() -> str:
    return (
        "seaice_conc_daily_nh_YYYYMMDD_f17_v04r00.nc, sic_psn25_YYYYMMDD_F17_v05r00.nc or "
        "NSIDC0051_SEAICE_PS_N25km_YYYYMMDD_v2.0.nc"
    )


def _hemisphere(north: bool) -> str:
    return "northern" if north else "southern"


def _check_gaps(folder: Path, days: list[date], max_gap_days: int) -> None:
    for before, after in zip(days, days[1:]):
        missing = (after - before).days - 1
        if missing > max_gap_days:
            raise UserError(
                f"{folder}: {missing} day(s) missing from {before + timedelta(days=1)} to "
                f"{after - timedelta(days=1)}, more than data.max_gap_days ({max_gap_days}) in a row"
            )


def _read_window(f: DayFile, region: RegionConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    """(fraction 0-1, land/coast/lake cells, cells to fill) of the file's window, and its whole grid's shape."""
    raw, attrs, grid = _read_variable(f, None, f.product.variable, region)
    flags = {} if f.product.surface else _flags(attrs, DEFAULT_FLAGS)
    land_values = [v for v, meaning in flags.items() if any(word in meaning for word in LAND_WORDS)]
    land = np.isin(raw, land_values)
    fill = np.isin(raw, [v for v in flags if v not in land_values])  # pole hole, missing, any other flag
    fill |= ~np.isfinite(raw.astype(np.float64))
    if "_FillValue" in attrs:
        fill |= raw == attrs["_FillValue"]
    if f.product.surface:
        group, name = f.product.surface
        types, type_attrs, _ = _read_variable(f, group, re.compile(name), region)
        meanings = _flags(type_attrs, SURFACE_TYPES)
        land |= np.isin(types, [v for v, m in meanings.items() if any(word in m for word in LAND_WORDS)])
        fill |= np.isin(types, [v for v, m in meanings.items() if "pole" in m])
    value = raw.astype(np.float64) * float(attrs.get("scale_factor", 1.0)) + float(attrs.get("add_offset", 0.0))
    bad = ~(land | fill) & ((value < -1e-6) | (value > 1 + 1e-6))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(
            f"{f.path}: concentration at window row {row}, column {col} is {value[row, col]:g}, outside 0-1 "
            f"and not one of the product's flags ({int(bad.sum())} cell(s) in all)"
        )
    return np.clip(np.where(land | fill, 0.0, value), 0.0, 1.0), land, fill & ~land, grid


def _read_variable(
    f: DayFile, group: str | None, pattern: re.Pattern, region: RegionConfig
) -> tuple[np.ndarray, dict, tuple[int, ...]]:
    """The window of the (last) variable matching `pattern`, as stored, its attributes and its grid's shape."""
    import xarray as xr  # only where NSIDC files are read: the line's other stages never need it

    where = f"{group}/" if group else ""
    try:
        with xr.open_dataset(f.path, group=group, engine="netcdf4", mask_and_scale=False, decode_times=False) as ds:
            names = [name for name in ds.data_vars if pattern.fullmatch(str(name))]
            if not names:
                raise UserError(
                    f"{f.path}: no {where}{pattern.pattern} variable, as {f.product.name} has "
                    f"(it has: {', '.join(map(str, ds.data_vars)) or 'none'})"
                )
            variable = ds[names[-1]]  # NSIDC-0051: the last sensor's, on a day two sensors share
            window, shape = _window(f, variable, region)
            return window, dict(variable.attrs), shape
    except UserError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, IndexError) as exc:
        reason = first_line(exc)
        raise UserError(f"{f.path} is not a readable NetCDF file of {f.product.name} ({reason})") from None


def _window(f: DayFile, variable, region: RegionConfig) -> tuple[np.ndarray, tuple[int, ...]]:
    """The region of the day's grid, (height, width), read as stored, and the grid's shape."""
    if variable.ndim == 3 and variable.shape[0] == 1:
        variable = variable[0]
    if variable.ndim != 2:
        raise UserError(f"{f.path}: {variable.name} has dims {variable.dims}; expected one day's (y, x) grid")
    rows, cols = variable.shape
    if region.row + region.height > rows or region.col + region.width > cols:
        raise UserError(
            f"{f.path}: data.region (rows {region.row}-{region.row + region.height - 1}, columns "
            f"{region.col}-{region.col + region.width - 1}) is outside its {rows}x{cols} grid"
        )
    y, x = variable.dims
    rows, cols = slice(region.row, region.row + region.height), slice(region.col, region.col + region.width)
    return np.asarray(variable.isel({y: rows, x: cols})), tuple(variable.shape)


def _flags(attrs: dict, default: dict[float, str]) -> dict[float, str]:
    """{stored value: meaning} from a variable's flag_values and flag_meanings, else `default`."""
    values, meanings = attrs.get("flag_values"), attrs.get("flag_meanings")
    if values is None or meanings is None:
        return dict(default)
    words = str(meanings).lower().split()
    values = np.atleast_1d(values).tolist()
    return dict(zip(values, words)) if len(words) == len(values) else dict(default)


def _filled(grids: np.ndarray, land: np.ndarray) -> np.ndarray:
    """NaN cells filled: along time from the same cell's valid days (linear, held at the ends), then
    cells never valid from their valid neighbours in space, ring by ring."""
    out = grids.copy()
    days = np.arange(len(out))
    for row, col in zip(*np.nonzero(~land & np.isnan(out).any(axis=0))):
        series = out[:, row, col]
        valid = ~np.isnan(series)
        if valid.any():
            out[:, row, col] = np.interp(days, days[valid], series[valid])
    height, width = land.shape
    empty = ~land & np.isnan(out[0])
    while empty.any():
        ring = []
        for row, col in np.argwhere(empty):
            near = [
                (r, c)
                for r in range(max(row - 1, 0), min(row + 2, height))
                for c in range(max(col - 1, 0), min(col + 2, width))
                if not land[r, c] and not empty[r, c]
            ]
            if near:
                ring.append((row, col, np.mean([out[:, r, c] for r, c in near], axis=0)))
        if not ring:
            raise UserError("data.region holds no sea cell with a valid concentration on any day; choose one with sea")
        for row, col, series in ring:
            out[:, row, col] = series
            empty[row, col] = False
    return out
