"""Real data in: a folder of daily sea-ice concentration grids, one .npz per day.

Layout (e.g. NSIDC's daily sea ice concentration product, converted):

    <data.archive>/seaice_YYYYMMDD.npz
        concentration  (H, W) float, fraction 0-1; NaN on land (the same cells every day)
        thickness      (H, W) float metres, optional (NaN on land)

Every day from the first file's date to the last must be there, every grid the same
shape (both sides multiples of 4, at least 16). Without `thickness`, it is estimated from how
long each cell has been ice-covered (Stefan's law at a typical -10 C of frost), so the
classifier's thin/thick labels have a physical basis; say so when you report its scores.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ..core.cli import UserError, first_line
from .params import HISTORY_DAYS, LEAD_DAYS
from .physics import NEW_ICE, STEFAN, Daily

NAME = re.compile(r"seaice_(\d{8})\.npz")
TYPICAL_FROST = 10.0  # C, for the thickness estimate
ESTIMATED = "estimated from each cell's run of ice-covered days (Stefan's law at -10 C of frost): the data has none"


def read_archive(folder: str | Path) -> Daily:
    folder = Path(folder)
    files = listed(folder, ".npz", "seaice_YYYYMMDD.npz files")
    days = [_day(p) for p in files]
    order = sorted(range(len(days)), key=days.__getitem__)
    files, days = [files[i] for i in order], [days[i] for i in order]
    _check_dates(folder, days)
    check_enough_days(folder, "holds", len(days), days[0], days[-1])
    conc: list[np.ndarray] = []
    thick: list[np.ndarray | None] = []
    land: np.ndarray = np.zeros(0, bool)  # the first day's NaN cells
    for path in files:
        c, h = _read_day(path)
        if conc and c.shape != conc[0].shape:
            raise UserError(
                f"{path}: concentration has shape {c.shape}, but {files[0].name} has {conc[0].shape}; "
                "every day must be on the same grid"
            )
        if len(c.shape) != 2 or min(c.shape) < 16 or any(n % 4 for n in c.shape):
            raise UserError(
                f"{path}: concentration has shape {c.shape}; expected a 2-D grid whose sides are "
                "multiples of 4, at least 16"
            )
        nan = np.isnan(c)
        if not conc:
            land = nan
        elif not np.array_equal(nan, land):
            row, col = np.argwhere(nan != land)[0]
            raise UserError(
                f"{path}: the land (NaN) cells differ from {files[0].name}'s, first at row {row}, "
                f"column {col}; land must be the same every day"
            )
        _check_range(path, "concentration", c, 0.0, 1.0)
        if h is not None:
            if h.shape != c.shape:
                raise UserError(f"{path}: thickness has shape {h.shape}, concentration {c.shape}")
            # NaN over open water is no ice (0 m, as products often store it); over ice, read as 0 m
            # it would label the cell thin ice
            unknown = np.isnan(h) & ~nan & (c > 0)
            if unknown.any():
                row, col = np.argwhere(unknown)[0]
                raise UserError(
                    f"{path}: thickness is NaN at row {row}, column {col}, where the concentration is "
                    f"{c[row, col]:g} ({int(unknown.sum())} such cell(s)); give the ice's thickness there, or leave "
                    "thickness out of every day to have it estimated"
                )
            _check_range(path, "thickness", np.where(nan, np.nan, h), 0.0, 100.0)
        conc.append(np.nan_to_num(c, nan=0.0))
        thick.append(None if h is None else np.nan_to_num(h, nan=0.0))
    concentration = np.stack(conc).astype(np.float32)
    source = "from the archive"
    if all(h is None for h in thick):
        thickness, source = estimated_thickness(concentration), ESTIMATED
    elif any(h is None for h in thick):
        missing = next(p for p, h in zip(files, thick) if h is None)
        raise UserError(f"{missing} has no thickness array but other days have one; give it every day or none")
    else:
        thickness = np.stack([h for h in thick if h is not None]).astype(np.float32)
    dates = np.array([np.datetime64(d, "D") for d in days])
    return Daily(dates, concentration, np.where(land, 0, thickness).astype(np.float32), land, source)


def listed(folder: Path, suffix: str, what: str) -> list[Path]:
    """The `suffix` files of the folder `data.archive` names, sorted; one line when there is none."""
    if not folder.is_dir():
        raise UserError(
            f"data.archive {str(folder)!r} is not a folder (resolved to {folder.resolve()}); "
            "a relative path is taken from pipelines/seaice"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix == suffix)
    if not files:
        raise UserError(f"{folder} holds no {what}")
    return files


def check_enough_days(folder: Path, verb: str, days: int, first: date, last: date) -> None:
    if days < HISTORY_DAYS + LEAD_DAYS:
        raise UserError(
            f"{folder} {verb} {days} days ({first} to {last}); the forecaster needs at least "
            f"{HISTORY_DAYS + LEAD_DAYS} consecutive days for one {HISTORY_DAYS}+{LEAD_DAYS}-day window"
        )


def estimated_thickness(concentration: np.ndarray, ice: float = 0.15) -> np.ndarray:
    """Thickness from the run of ice-covered days so far in each cell (Stefan's law)."""
    run = np.zeros(concentration.shape[1:])
    out = np.empty_like(concentration)
    for t, c in enumerate(concentration):
        run = np.where(c >= ice, run + 1, 0)
        out[t] = np.where(c >= ice, np.sqrt(NEW_ICE**2 + STEFAN * TYPICAL_FROST * run), 0.0)
    return out


def _day(path: Path) -> date:
    match = NAME.fullmatch(path.name)
    try:
        if match is None:
            raise ValueError
        text = match.group(1)
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise UserError(f"{path}: not named seaice_YYYYMMDD.npz with a real date") from None


def _check_dates(folder: Path, days: list[date]) -> None:
    for before, after in zip(days, days[1:]):
        if after == before:
            raise UserError(f"{folder}: two files for {before}")
        if after - before > timedelta(days=1):
            gap = (after - before).days - 1
            raise UserError(
                f"{folder}: {gap} day(s) missing between {before} and {after} "
                f"(first missing: {before + timedelta(days=1)}); the days must be consecutive"
            )


def _read_day(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array saved under the .npz name
            raise ValueError("it holds one array, not named arrays: write it with np.savez")
        with loaded as data:
            if "concentration" not in data.files:
                raise UserError(f"{path} has no 'concentration' array (it has: {', '.join(data.files) or 'none'})")
            c = np.asarray(data["concentration"], dtype=np.float64)
            h = np.asarray(data["thickness"], dtype=np.float64) if "thickness" in data.files else None
    except UserError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        reason = first_line(exc)
        raise UserError(f"{path} is not a readable .npz file ({reason})") from None
    return c, h


def _check_range(path: Path, name: str, values: np.ndarray, low: float, high: float) -> None:
    bad = ~np.isnan(values) & ((values < low) | (values > high) | ~np.isfinite(values))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(
            f"{path}: {name} at row {row}, column {col} is {values[row, col]:g}, outside {low:g}-{high:g} "
            f"({int(bad.sum())} cell(s) in all)"
        )
