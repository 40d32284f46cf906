"""The fire ensemble behind the serving front doors: sensor rows in, p(fire) and the decision out.

`python -m modelmill.serve` (HTTP) and `python -m modelmill.serve.predict` (batch) both go
through `decode` and `predict` here. Bad input raises ValueError with a message meant for
the caller. The model file is loaded only through skops with the line's trusted types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from ..core.cli import UserError
from ..core.metadata import identity
from .features import FEATURES, LABEL_COLUMNS, parse_csv, parse_csv_file, shorten
from .models import check_features, load_model

CONTENT_TYPES = {
    "text/csv": f"rows of the {len(FEATURES)} features in the published order; an optional header row "
    "naming them (any order; fire and p_fire columns are ignored)",
    "application/json": "an object keyed by feature name, a list of such objects, or a list of lists "
    "in the published order",
}
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
        if content_type == "text/csv":
            try:
                return parse_csv(text, labelled=False)[0]
            except ValueError as exc:  # as batch predict and training name the file
                raise ValueError(f"the CSV body: {exc}") from None
        rows = _from_json(text)
        if not rows:
            raise ValueError("no rows in the body")
        return np.array(rows, dtype=np.float64)

    def predict(self, x: np.ndarray) -> list[dict]:
        with self._threads.limit(limits=1):
            p = self.model.predict_proba(x)[:, 1]
        return [{"fire_probability": float(v), "fire": bool(v >= self.threshold)} for v in p]

    def model_info(self) -> dict:
        meta = self.metadata
        return {
            **identity(meta, "fire"),
            "format": meta.get("format"),
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
        x, _ = parse_csv_file(path, labelled=False)

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
        unknown = [k for k in item if k not in FEATURES and k not in LABEL_COLUMNS]
        missing = [k for k in FEATURES if k not in item]
        if unknown or missing:
            raise ValueError(
                f"row {n}: "
                + "; ".join(
                    ([f"unknown key(s) {shorten([repr(k) for k in unknown])}"] if unknown else [])
                    + ([f"missing key(s) {shorten(missing)}"] if missing else [])
                )
            )
        values = [item[k] for k in FEATURES]
    elif isinstance(item, list):
        if len(item) != len(FEATURES):
            raise ValueError(
                f"row {n} has {len(item)} values; expected {len(FEATURES)}, in the published order "
                f"({shorten(list(FEATURES))})"
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
