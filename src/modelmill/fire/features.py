"""The fire line's table: its 18 feature columns (in model order), the label, and the one CSV reader.

`parse_csv` reads every fire CSV: the line's own files and a user's (`data.source: csv`) for
training, request bodies for the server and files for batch predict; so the two sides accept
the same files and word the same problem the same way. A user's training file must have exactly
the 18 features and `fire`; the line's own files may also carry `p_fire`, the generator's true
probability of fire. This module is no stage: the stages and the server import it alike.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.cli import UserError
from ..core.io import require

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
LABEL_COLUMNS = (LABEL, TRUE_PROBABILITY)  # the columns besides the features a fire CSV may have
# The ensemble and its ONNX export compute in float32: a larger cell would reach them as inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
_NAMES = frozenset((*FEATURES, *LABEL_COLUMNS))  # a set: a one-row request looks its cells up here
_IN_ORDER = {name: i for i, name in enumerate(FEATURES)}  # the columns of a CSV without a header
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


def write_table(path: Path, table: Table) -> None:
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


def read_csv(path: Path, *, allow_p_fire: bool = True) -> Table:
    """The labelled table in `path` (data.csv, or a file the line wrote), checked as `parse_csv` checks it."""
    x, labels = parse_csv_file(path, labelled=True, allow_p_fire=allow_p_fire)
    return Table(x, labels[LABEL].astype(np.int64), labels.get(TRUE_PROBABILITY))


def parse_csv_file(
    path: Path, *, labelled: bool, allow_p_fire: bool = True
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`parse_csv` on the file `path`: a UserError names the file, then what `parse_csv` found."""
    try:
        # newline="": the csv module reads line ends itself; -sig: the byte-order mark "CSV UTF-8" exports write
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise UserError(f"{path} not found") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UserError(f"{path} cannot be read: {exc.strerror}") from None
    try:
        return parse_csv(text, labelled=labelled, allow_p_fire=allow_p_fire)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def parse_csv(text: str, *, labelled: bool, allow_p_fire: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The fire CSV in `text`: its (n, 18) float64 features in FEATURES order, and its label columns.

    The one reader of the schema. Training reads `labelled` files: a header row naming the features
    and `fire` (and `p_fire` if `allow_p_fire`), any order; the labels come back checked, keyed by
    column name. Serving and batch predict read unlabelled ones: the header is optional (without one
    the cells are the features in order) and `fire`/`p_fire` columns are skipped unread, so a split
    file can be sent as it is. Blank lines, and the rows of empty cells spreadsheets export, are not
    samples. A problem raises a one-line ValueError naming the row and column; the caller adds which
    file or request it was.
    """
    rows, lines = _records(text)
    problem = _layout_problem(rows[0]) if rows else None
    if problem:
        raise ValueError(problem)
    header = None
    if rows and (labelled or any(cell.strip() in _NAMES for cell in rows[0])):
        header = [name.strip() for name in rows.pop(0)]
        lines.pop(0)
    if not rows and header is not None:
        raise ValueError("no rows after the header")
    if not rows:
        expected = f"; expected a header row naming the columns: {','.join((*FEATURES, LABEL))}" if labelled else ""
        raise ValueError("no rows" + expected)
    columns = _columns(header, labelled, allow_p_fire) if header else _IN_ORDER
    values = _numbers(rows, lines, len(header) if header else None, columns)
    present = [name for name in LABEL_COLUMNS if name in columns]  # read after the features, in this order
    labels = {name: values[:, len(FEATURES) + i] for i, name in enumerate(present)}
    if labelled:
        _check_labels(labels, lines)
    return np.ascontiguousarray(values[:, : len(FEATURES)]), labels  # its own array, not a view holding the labels


def _records(text: str) -> tuple[list[list[str]], list[int]]:
    """The non-blank records of `text`, and the line each is on (for messages)."""
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))  # "": \r alone ends a line too (old Mac exports)
    except csv.Error as exc:
        raise ValueError(f"not readable as CSV ({exc})") from None
    # A record's number stands for its line: they differ only after a quoted line break, which no
    # number has, and counting records keeps the read at the csv module's speed (line_num does not).
    lines = [n for n, row in enumerate(records, 1) if "".join(row).strip()]
    rows = records if len(lines) == len(records) else [records[n - 1] for n in lines]
    return rows, lines


def _layout_problem(first_row: list[str]) -> str | None:
    """What a spreadsheet's export can do to a CSV's first row that no column check would name:
    semicolon or tab separators (a European-locale "CSV" or a TSV), or an empty trailing column."""
    for separator, word in ((";", "semicolons"), ("\t", "tabs")):
        if len(first_row) < len(FEATURES) and any(separator in cell for cell in first_row):
            return f"its columns are separated by {word}, not commas; save it as comma-separated CSV (e.g. CSV UTF-8)"
    if len(first_row) > 1 and not first_row[-1].strip():
        return "its first row ends with an empty column (a separator after the last value); remove the empty column"
    return None


def _columns(header: list[str], labelled: bool, allow_p_fire: bool) -> dict[str, int]:
    """Where each column to read is in `header`: the features, then those of LABEL_COLUMNS read, in order.

    A ValueError names what is wrong with the header."""
    required = (*FEATURES, LABEL) if labelled else FEATURES
    known = _NAMES if allow_p_fire else _NAMES - {TRUE_PROBABILITY}
    where = {name: i for i, name in enumerate(header)}
    missing = [name for name in required if name not in where]
    unknown = [name for name in header if name not in known]
    repeated = sorted({name for name in header if header.count(name) > 1}) if len(where) < len(header) else []
    problems = (
        ([f"missing column(s) {', '.join(missing)}"] if missing else [])  # all of them: at most 19
        + ([f"unknown column(s) {shorten([repr(name) for name in unknown])}"] if unknown else [])
        + ([f"repeated column(s) {shorten(repeated)}"] if repeated else [])
    )
    if problems:
        raise ValueError(f"header row: {'; '.join(problems)}")
    read = [*required, *([TRUE_PROBABILITY] if labelled and TRUE_PROBABILITY in where else [])]
    return {name: where[name] for name in read}


def _numbers(rows: list[list[str]], lines: list[int], width: int | None, columns: dict[str, int]) -> np.ndarray:
    """The cells of `columns` as float64, each checked finite; `width` is the header's (None: no header)."""
    size = width or len(FEATURES)
    if set(map(len, rows)) != {size}:
        n, row = next((n, row) for n, row in enumerate(rows, 1) if len(row) != size)
        expected = f"{width}, as the header" if width else f"{size} features, in the published order"
        raise ValueError(f"{_row(n, lines)} has {len(row)} columns; expected {expected}")
    index = list(columns.values())
    cells = rows if index == list(range(size)) else [[row[j] for j in index] for row in rows]
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        raise ValueError(_first_non_number(cells, list(columns), lines)) from None
    if any("_" in ",".join(row) for row in cells):  # numpy, like float(), reads 7_8 as 78
        raise ValueError(_first_non_number(cells, list(columns), lines))
    in_range = np.abs(values) <= FLOAT32_MAX  # False for NaN and ±inf too
    if not in_range.all():  # the cheap test first: argwhere costs a one-row request 3 µs
        bad = np.argwhere(~in_range)
        i, j = bad[0]
        beyond = f" within the models' float32 range (±{FLOAT32_MAX:.2e})" if np.isfinite(values[i, j]) else ""
        raise ValueError(
            f"{_row(i + 1, lines)}, {list(columns)[j]}: {cells[i][j]!r} is not a finite number{beyond}"
            + (f" ({len(bad)} such cells)" if len(bad) > 1 else "")
        )
    return values


def _first_non_number(cells: list[list[str]], names: list[str], lines: list[int]) -> str:
    for i, row in enumerate(cells):
        for name, cell in zip(names, row):
            try:
                float(cell)
                if "_" in cell:
                    raise ValueError
            except ValueError:
                return f"{_row(i + 1, lines)}, {name}: {cell!r} is not a number"
    raise AssertionError("numpy refused a table whose every cell parses")


def _check_labels(labels: dict[str, np.ndarray], lines: list[int]) -> None:
    y = labels[LABEL]
    bad = np.flatnonzero((y != 0) & (y != 1))
    if len(bad):
        raise ValueError(f"{_row(bad[0] + 1, lines)}, {LABEL}: {y[bad[0]]:g} is not a label (0 or 1)")
    if len(np.unique(y)) < 2:
        raise ValueError(f"every row has {LABEL}={int(y[0])}; a detector needs examples of both classes")
    p = labels.get(TRUE_PROBABILITY)
    if p is None:
        return
    bad = np.flatnonzero((p < 0) | (p > 1))
    if len(bad):
        raise ValueError(f"{_row(bad[0] + 1, lines)}, {TRUE_PROBABILITY}: {p[bad[0]]:g} is not a probability in [0, 1]")


def _row(n: int, lines: list[int]) -> str:
    """Data row `n` (1: the first after any header), as batch predict's output numbers it, and its
    line where that differs: the line is what an editor or a spreadsheet shows."""
    return f"row {n}" if lines[n - 1] == n else f"row {n} (line {lines[n - 1]})"


def shorten(names: list[str]) -> str:
    """A list of names for a message, cut short when long."""
    shown = ", ".join(names[:4])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 4 else "")


def read_split(split_dir: str | Path, name: str) -> Table:
    """One split that the split stage wrote."""
    return read_csv(require(Path(split_dir) / f"{name}.csv", "split"))
