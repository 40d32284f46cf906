"""The fire line's table: its 18 feature columns (in model order), the label, and the CSV reader.

Every CSV the line reads or writes has a header row and one sample per line. A user's file
(`data.source: csv`) must have exactly the 18 features and `fire`; the line's own files may
also carry `p_fire`, the generator's true probability of fire.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.cli import UserError
from ..core.io import require
from .paths import SPLIT_DIR

# 15 from a low-resolution thermal camera (a 32x24 array looking at the room), 3 from a Sensirion SCD41.
THERMAL = (
    "t_max_c",  # hottest pixel
    "t_mean_c",  # mean over the frame
    "t_std_c",  # spread over the frame
    "t_p95_c",  # 95th percentile pixel
    "t_background_c",  # median pixel: the room
    "hot_area_frac",  # fraction of pixels 20 °C or more above the background
    "hot_blob_count",  # connected hot regions
    "largest_blob_frac",  # share of the hot area in the largest region
    "edge_irregularity",  # perimeter² / (4π·area) of the largest region: 1 for a disc, flames are ragged
    "grad_max_c_per_px",  # steepest spatial gradient
    "grad_mean_c_per_px",  # mean spatial gradient over the hot region's edge
    "rise_rate_c_per_s",  # slope of t_max over the last 30 s
    "mean_rise_rate_c_per_s",  # slope of t_mean over the last 30 s
    "flicker_c",  # sub-second standard deviation of the hot region's temperature
    "flicker_freq_hz",  # dominant frequency of that fluctuation
)
SCD41 = ("co2_ppm", "scd41_temperature_c", "scd41_humidity_pct")
FEATURES = THERMAL + SCD41
LABEL = "fire"
TRUE_PROBABILITY = "p_fire"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Table:
    x: np.ndarray  # (n, 18) float64, columns in FEATURES order
    y: np.ndarray  # (n,) int64, 0 or 1
    p_fire: np.ndarray | None  # (n,) the true probability, when the generator made the rows

    def __len__(self) -> int:
        return len(self.y)

    def rows(self, index: np.ndarray) -> Table:
        return Table(self.x[index], self.y[index], None if self.p_fire is None else self.p_fire[index])


def write_csv(path: Path, table: Table) -> None:
    """Write `table` to `path` (already a temporary: callers wrap this in atomic_output).

    Floats are written with 7 significant digits, so the same table always gives the same bytes.
    """
    columns = [table.x, table.y[:, None]]
    header = [*FEATURES, LABEL]
    fmt = ["%.7g"] * len(FEATURES) + ["%d"]
    if table.p_fire is not None:
        columns.append(table.p_fire[:, None])
        header.append(TRUE_PROBABILITY)
        fmt.append("%.7g")
    data = np.hstack([c.astype(np.float64) for c in columns])
    with open(path, "w", newline="") as f:
        f.write(",".join(header) + "\n")
        np.savetxt(f, data, fmt=fmt, delimiter=",")


def layout_problem(first_row: list[str]) -> str | None:
    """What a spreadsheet's export can do to a CSV's first row that no column check would name:
    semicolon or tab separators (a European-locale "CSV" or a TSV), or an empty trailing column."""
    for separator, word in ((";", "semicolons"), ("\t", "tabs")):
        if len(first_row) < len(FEATURES) and any(separator in cell for cell in first_row):
            return f"its columns are separated by {word}, not commas; save it as comma-separated CSV (e.g. CSV UTF-8)"
    if len(first_row) > 1 and not first_row[-1].strip():
        return "its first row ends with an empty column (a separator after the last value); remove the empty column"
    return None


def read_csv(path: Path, *, allow_p_fire: bool = True) -> Table:
    """The table in `path`, validated; a UserError names the file and the line/column at fault."""
    try:
        f = open(path, newline="", encoding="utf-8-sig")  # -sig: the byte-order mark "CSV UTF-8" exports write
    except FileNotFoundError:
        raise UserError(f"{path} not found") from None
    except OSError as exc:
        raise UserError(f"{path} cannot be read: {exc.strerror}") from None
    with f:
        reader = csv.reader(f)
        try:
            first = next(reader, [])
            header = [name.strip() for name in first]
            body = list(reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not a readable CSV file ({exc})") from None
    if not header:
        raise UserError(f"{path} is empty; expected a header row naming the columns: {','.join((*FEATURES, LABEL))}")
    problem = layout_problem(first)
    if problem:
        raise UserError(f"{path}: {problem}")
    columns = _check_header(path, header, allow_p_fire)
    while body and not body[-1]:  # blank lines at the end are not samples
        body.pop()
    if not body:
        raise UserError(f"{path}: no rows after the header")
    values = _parse(path, header, body)
    table = Table(
        x=values[:, [columns[name] for name in FEATURES]],
        y=values[:, columns[LABEL]].astype(np.int64),
        p_fire=values[:, columns[TRUE_PROBABILITY]] if TRUE_PROBABILITY in columns else None,
    )
    _check_labels(path, values[:, columns[LABEL]])
    if table.p_fire is not None:
        bad = np.flatnonzero((table.p_fire < 0) | (table.p_fire > 1))
        if len(bad):
            raise UserError(
                f"{path}: line {bad[0] + 2}, column {TRUE_PROBABILITY}: "
                f"{table.p_fire[bad[0]]:g} is not a probability in [0, 1]"
            )
    return table


def _check_header(path: Path, header: list[str], allow_p_fire: bool) -> dict[str, int]:
    expected = [*FEATURES, LABEL] + ([TRUE_PROBABILITY] if allow_p_fire else [])
    missing = [name for name in (*FEATURES, LABEL) if name not in header]
    extra = [name for name in header if name not in expected]
    repeated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(repr(name) for name in extra)}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        raise UserError(f"{path}: {'; '.join(problems)} (expected the header: {','.join((*FEATURES, LABEL))})")
    return {name: i for i, name in enumerate(header)}


def _parse(path: Path, header: list[str], body: list[list[str]]) -> np.ndarray:
    width = len(header)
    for i, row in enumerate(body):
        if len(row) != width:
            raise UserError(f"{path}: line {i + 2} has {len(row)} cells, the header has {width}")
    try:
        values = np.array(body, dtype=np.float64)
    except ValueError:
        raise UserError(_first_non_number(path, header, body)) from None
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        i, j = bad[0]
        raise UserError(
            f"{path}: line {i + 2}, column {header[j]}: {body[i][j]!r} is not a finite number"
            + (f" ({len(bad)} such cells)" if len(bad) > 1 else "")
        )
    return values


def _first_non_number(path: Path, header: list[str], body: list[list[str]]) -> str:
    for i, row in enumerate(body):
        for j, cell in enumerate(row):
            try:
                float(cell)
            except ValueError:
                return f"{path}: line {i + 2}, column {header[j]}: {cell!r} is not a number"
    raise AssertionError("numpy refused a table whose every cell parses")


def _check_labels(path: Path, labels: np.ndarray) -> None:
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if len(bad):
        raise UserError(f"{path}: line {bad[0] + 2}, column {LABEL}: {labels[bad[0]]:g} is not a label (0 or 1)")
    if len(np.unique(labels)) < 2:
        only = int(labels[0])
        raise UserError(f"{path}: every row has {LABEL}={only}; a detector needs examples of both classes")


def load_split(name: str, split_dir: str | Path = SPLIT_DIR) -> Table:
    """One split that the split stage wrote."""
    return read_csv(require(Path(split_dir) / f"{name}.csv", "split"))
