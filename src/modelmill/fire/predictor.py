"""The fire ensemble behind the serving front doors: sensor rows in, p(fire) and the decision out.

`python -m modelmill.serve` (HTTP) and `python -m modelmill.serve.predict` (batch) both go
through `decode` and `predict` here. Bad input raises ValueError with a message meant for
the caller. The model file is loaded only through skops with the line's trusted types.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from ..core.cli import UserError
from .features import FEATURES, LABEL, TRUE_PROBABILITY, layout_problem
from .models import check_features, load_model

CONTENT_TYPES = {
    "text/csv": f"rows of the {len(FEATURES)} features in the published order; an optional header row "
    "naming them (any order; fire and p_fire columns are ignored)",
    "application/json": "an object keyed by feature name, a list of such objects, or a list of lists "
    "in the published order",
}
# Columns a header may name besides the features: the line's own split files carry them.
_IGNORED = (LABEL, TRUE_PROBABILITY)
CHUNK = 10_000


class Predictor:
    content_types = CONTENT_TYPES
    id_column = "row"

    def __init__(self, model, metadata: dict):
        self.model, self.metadata = model, metadata
        self.threshold = float(model.threshold)
        # One OpenMP/BLAS thread, as models.predict_fire (the same numbers), through a controller
        # made once: threadpool_limits() scans the loaded libraries on every call (~0.9 ms here).
        self._threads = ThreadpoolController()

    def decode(self, body: bytes, content_type: str) -> np.ndarray:
        """(n, 18) float64 rows from a request body."""
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("body is not UTF-8 text") from None
        rows = _from_csv(text) if content_type == "text/csv" else _from_json(text)
        if not rows:
            raise ValueError("no rows in the body")
        return np.array(rows, dtype=np.float64)

    def predict(self, x: np.ndarray) -> list[dict]:
        with self._threads.limit(limits=1):
            p = self.model.predict_proba(x)[:, 1]
        return [{"fire_probability": float(v), "fire": bool(v >= self.threshold)} for v in p]

    def card(self) -> dict:
        meta = self.metadata
        return {
            "name": meta["model_name"],
            "version": meta["version"],
            "line": "fire",
            "framework": meta.get("framework"),
            "format": meta.get("format"),
            "sha256": meta.get("sha256"),
            "published_at_utc": meta.get("published_at_utc"),
            "git_commit": meta.get("git_commit"),
            "input": {"content_types": CONTENT_TYPES, "features": list(FEATURES)},
            "output": {
                "fire_probability": "p(fire) from the ensemble",
                "fire": f"fire_probability >= threshold ({self.threshold:g})",
            },
            "threshold": self.threshold,
            "threshold_rule": meta.get("threshold_rule"),
            "members": meta.get("members"),
            "weights": meta.get("weights"),
            "metrics": {"test": meta.get("test_metrics"), "bayes_ceiling": meta.get("bayes_ceiling")},
        }

    def batches(self, path: Path) -> tuple[int, Iterator[tuple[list[str], np.ndarray]]]:
        """The rows of CSV file `path`, in chunks, named by their data row number (1 = first row)."""
        if not path.is_file():
            raise UserError(f"{path} is not a file; the fire line predicts on a CSV of sensor rows")
        try:
            x = self.decode(path.read_bytes(), "text/csv")
        except ValueError as exc:
            raise UserError(f"{path}: {exc}") from None

        def read() -> Iterator[tuple[list[str], np.ndarray]]:
            for start in range(0, len(x), CHUNK):
                yield [str(i + 1) for i in range(start, min(start + CHUNK, len(x)))], x[start : start + CHUNK]

        return len(x), read()


def load(model_path: Path, metadata: dict) -> Predictor:
    """The ensemble in `model_path`, loaded with skops' trusted types only, checked against `metadata`."""
    model = load_model(model_path)
    check_features(model, model_path, len(FEATURES))
    if list(metadata.get("features", FEATURES)) != list(FEATURES):
        raise UserError(
            f"{Path(model_path).name}: metadata lists features {metadata['features']}, this code "
            f"expects {list(FEATURES)}"
        )
    threshold = getattr(model, "threshold", None)
    if not isinstance(threshold, (int, float)):
        raise UserError(f"{Path(model_path).name} holds a {type(model).__name__}, not the fire ensemble")
    if "threshold" in metadata and abs(threshold - metadata["threshold"]) > 1e-9:
        raise UserError(
            f"{Path(model_path).name} has threshold {threshold:g} but its metadata says "
            f"{metadata['threshold']:g}: the file and metadata.json are from different runs"
        )
    return Predictor(model, metadata)


def _from_csv(text: str) -> list[list[float]]:
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ValueError(f"body is not readable as CSV ({exc})") from None
    problem = layout_problem(rows[0]) if rows else None
    if problem:
        raise ValueError(f"the CSV body: {problem}")
    names, columns = list(FEATURES), None
    if rows and any(cell.strip() in FEATURES for cell in rows[0]):  # a header row: columns by name
        names = [name.strip() for name in rows.pop(0)]
        columns = _header(names)
    out = []
    for n, row in enumerate(rows, 1):
        if len(row) != len(names):
            expected = "as the header" if columns else "features, in the published order"
            raise ValueError(f"row {n} has {len(row)} columns; expected {len(names)} {expected}")
        cells = row if columns is None else [row[i] for i in columns]
        values = []
        for name, cell in zip(FEATURES, cells):
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(f"row {n}, {name}: {cell!r} is not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"row {n}, {name}: {cell!r} is not a finite number")
            values.append(value)
        out.append(values)
    return out


def _header(names: list[str]) -> list[int]:
    """Where each feature is in a header row; a ValueError names what is wrong with it."""
    unknown = [name for name in names if name not in FEATURES and name not in _IGNORED]
    missing = [name for name in FEATURES if name not in names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    problems = (
        ([f"unknown column(s) {_names([repr(name) for name in unknown])}"] if unknown else [])
        + ([f"missing column(s) {_names(missing)}"] if missing else [])
        + ([f"repeated column(s) {_names(repeated)}"] if repeated else [])
    )
    if problems:
        raise ValueError(f"header row: {'; '.join(problems)}")
    return [names.index(name) for name in FEATURES]


def _names(names: list[str]) -> str:
    """A list of names for a message, cut short when long."""
    shown = ", ".join(names[:4])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 4 else "")


def _from_json(text: str) -> list[list[float]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if isinstance(data, dict) or (isinstance(data, list) and data and all(_is_number(v) for v in data)):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("JSON body must be an object, a list of objects or a list of lists")
    return [_json_row(item, n) for n, item in enumerate(data, 1)]


def _json_row(item, n: int) -> list[float]:
    if isinstance(item, dict):
        unknown = [k for k in item if k not in FEATURES and k not in _IGNORED]
        missing = [k for k in FEATURES if k not in item]
        if unknown or missing:
            raise ValueError(
                f"row {n}: "
                + "; ".join(
                    ([f"unknown key(s) {_names([repr(k) for k in unknown])}"] if unknown else [])
                    + ([f"missing key(s) {_names(missing)}"] if missing else [])
                )
            )
        values = [item[k] for k in FEATURES]
    elif isinstance(item, list):
        if len(item) != len(FEATURES):
            raise ValueError(
                f"row {n} has {len(item)} values; expected {len(FEATURES)}, in the published order "
                f"({_names(list(FEATURES))})"
            )
        values = item
    else:
        raise ValueError(f"row {n} is a {type(item).__name__}; expected an object or a list")
    for name, value in zip(FEATURES, values):
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"row {n}, {name}: {json.dumps(value)} is not a finite number")
    return [float(v) for v in values]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
