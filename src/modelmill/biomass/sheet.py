"""The project's metadata layout: one sheet (.xlsx or .csv) with a row per photo, and the photos it names.

    metadata.xlsx (or .csv)     header in row 1, one row per plant snapshot
    images/<image>              the photo a row names (or <image> beside the sheet)

Required columns: image, plant_number, fresh_weight_total (grams; empty = unlabelled),
age_days (empty = unknown). Any other column (environment readings) is kept for the EDA.
Rows are numbered as a spreadsheet shows them: the header is row 1, the first photo row 2.
Every problem is one line that names the file, the row and the column.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.cli import UserError, first_line

IMAGE, PLANT, WEIGHT, AGE = "image", "plant_number", "fresh_weight_total", "age_days"
REQUIRED = (IMAGE, PLANT, WEIGHT, AGE)
SUFFIXES = (".xlsx", ".csv")
IMAGES_FOLDER = "images"
# Beside the sheet, synthetic data only: the canopy share each photo was drawn with, by image name
# (verify carries it to the splits, evaluate reads the floor from it). Not a .csv or .xlsx: the
# layout holds one sheet.
TRUTH_NAME = "generator_truth.json"
_JUNK = ("__MACOSX", ".DS_Store", "Thumbs.db")


@dataclass
class Sheet:
    """The cells of a metadata sheet, as read: a header and the rows under it."""

    path: Path
    columns: list[str]
    rows: list[list[object]]  # data rows, row i is spreadsheet row i + 2

    def where(self, index: int, column: str) -> str:
        return f"{self.path} row {index + 2}, column {column}"


@dataclass
class Records:
    """A sheet's rows, checked: one entry per photo row, missing numbers as NaN."""

    path: Path
    image: list[str]
    plant: list[str]
    weight: np.ndarray  # grams, NaN where unlabelled
    age: np.ndarray  # days, NaN where unknown
    row: np.ndarray  # spreadsheet row numbers
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # other numeric columns, NaN where empty

    def __len__(self) -> int:
        return len(self.image)

    def take(self, keep: np.ndarray) -> Records:
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return Records(
            self.path,
            [self.image[i] for i in idx],
            [self.plant[i] for i in idx],
            self.weight[idx],
            self.age[idx],
            self.row[idx],
            {k: v[idx] for k, v in self.extra.items()},
        )


def find_sheet(root: Path, shown_as: str | Path | None = None) -> Path:
    """The one .xlsx or .csv under `root` (any depth); errors name `root` as `shown_as` (the user's
    archive, when `root` is the temporary folder it was unpacked into)."""
    shown = shown_as or root
    found = sorted(
        p
        for p in Path(root).rglob("*")
        if p.suffix.lower() in SUFFIXES
        and p.is_file()
        and not p.name.startswith(("~$", "."))
        and not any(j in p.parts for j in _JUNK)
    )
    if not found:
        raise UserError(f"{shown} holds no metadata sheet (.xlsx or .csv); the layout is metadata.xlsx + images/")
    if len(found) > 1:
        raise UserError(
            f"{shown} holds {len(found)} sheets ({', '.join(str(p.relative_to(root)) for p in found[:4])}); "
            "keep exactly one metadata .xlsx or .csv"
        )
    return found[0]


def read_sheet(path: Path) -> Sheet:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found")
    cells = _read_xlsx(path) if path.suffix.lower() == ".xlsx" else _read_csv(path)
    while cells and all(_empty(v) for v in cells[-1]):
        cells.pop()
    if not cells:
        raise UserError(f"{path} is empty; row 1 must name the columns ({', '.join(REQUIRED)})")
    columns = [str(v).strip() if v is not None else "" for v in cells[0]]
    width = len(columns)
    rows = [list(r[:width]) + [None] * (width - len(r)) for r in cells[1:]]
    return Sheet(path, columns, rows)


def _read_xlsx(path: Path) -> list[list[object]]:
    import openpyxl  # only the .xlsx path needs it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign file: zip, XML and key errors alike
        raise UserError(f"{path} is not a readable .xlsx workbook ({type(exc).__name__}: {first_line(exc)})") from None
    try:
        # Empty worksheets (Excel's Sheet2 and Sheet3 of old) do not count; which of two with cells
        # holds the photos is not ours to guess.
        sheets = {w.title: [list(r) for r in w.iter_rows(values_only=True)] for w in book.worksheets}
        filled = {title: rows for title, rows in sheets.items() if any(not _empty(v) for r in rows for v in r)}
        if len(filled) > 1:
            names = ", ".join(repr(title) for title in list(filled)[:4])
            raise UserError(
                f"{path} holds {len(filled)} worksheets with cells ({names}); keep the metadata in exactly one"
            )
        return next(iter(filled.values()), [])
    finally:
        book.close()


def _read_csv(path: Path) -> list[list[object]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [list(r) for r in csv.reader(f)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path} is not a readable UTF-8 CSV ({first_line(exc)})") from None


def parse(sheet: Sheet) -> Records:
    """Check every cell the line uses; the first problem stops it, named by file, row and column."""
    missing = [c for c in REQUIRED if c not in sheet.columns]
    if missing:
        raise UserError(
            f"{sheet.path} row 1: column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"missing from the header (required: {', '.join(REQUIRED)}; found: "
            f"{', '.join(c for c in sheet.columns if c) or 'none'})"
        )
    repeated = sorted({c for c in sheet.columns if c and sheet.columns.count(c) > 1})
    if repeated:
        raise UserError(f"{sheet.path} row 1: column {repeated[0]} appears twice in the header")
    col = {c: i for i, c in enumerate(sheet.columns)}
    rows = [(i, r) for i, r in enumerate(sheet.rows) if not all(_empty(v) for v in r)]
    if not rows:
        raise UserError(f"{sheet.path} has no rows below its header; each photo needs a row")
    image, plant, weight, age = [], [], [], []
    seen: dict[str, int] = {}
    for i, r in rows:
        name = _text(r[col[IMAGE]])
        if not name:
            raise UserError(f"{sheet.where(i, IMAGE)}: empty; every row names its photo")
        if name in seen:
            raise UserError(
                f"{sheet.where(i, IMAGE)}: {name!r} is also named in row {seen[name] + 2}; each photo has one row"
            )
        seen[name] = i
        plant_id = _plant(r[col[PLANT]])
        if not plant_id:
            raise UserError(f"{sheet.where(i, PLANT)}: empty; every row names its plant")
        image.append(name)
        plant.append(plant_id)
        weight.append(_number(sheet, i, WEIGHT, r[col[WEIGHT]], "a weight in grams"))
        age.append(_number(sheet, i, AGE, r[col[AGE]], "an age in days"))
    extra = {}
    for c, j in col.items():
        if c in REQUIRED or not c:
            continue
        values = [_loose_number(r[j]) for _, r in rows]
        if any(not math.isnan(v) for v in values) and all(
            not math.isnan(v) or _empty(r[j]) for v, (_, r) in zip(values, rows)
        ):
            extra[c] = np.array(values, dtype=np.float64)  # a numeric column (environment readings)
    return Records(
        sheet.path,
        image,
        plant,
        np.array(weight, dtype=np.float64),
        np.array(age, dtype=np.float64),
        np.array([i + 2 for i, _ in rows], dtype=np.int64),
        extra,
    )


def read_records(path: Path) -> Records:
    return parse(read_sheet(path))


def resolve_image(sheet_path: Path, name: str) -> Path | None:
    """Where the photo a row names is: images/<name> beside the sheet, or <name> beside it."""
    base = Path(sheet_path).parent
    for candidate in (base / IMAGES_FOLDER / name, base / name):
        if candidate.is_file():
            return candidate
    return None


def _number(sheet: Sheet, i: int, column: str, value: object, what: str) -> float:
    if _empty(value):
        return math.nan
    number = _loose_number(value)
    if math.isnan(number) or math.isinf(number):
        raise UserError(f"{sheet.where(i, column)}: {value!r} is not a number; expected {what} (or an empty cell)")
    if number < 0:
        raise UserError(f"{sheet.where(i, column)}: {value!r} is negative; expected {what}, 0 or more")
    return number


def _loose_number(value: object) -> float:
    if isinstance(value, bool) or _empty(value):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if "_" in text:  # Python's float() reads 1_000; a spreadsheet does not
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def _plant(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores whole numbers as floats
    # ... and a CSV written from a column with gaps has "7.0" for 7: one plant either way
    return re.sub(r"^([+-]?\d+)\.0+$", r"\1", _text(value))


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
