"""Fire sensor rows from a JSON request body, in this server's shapes and in MLflow's.

This server's own: an object keyed by feature name (one row), a list of such objects, or a list
of lists in the published feature order. MLflow's scoring server's (`mlflow models serve`), so
a client written for an MLflow endpoint works unchanged: an object with exactly one of

    {"dataframe_split": {"columns": [...], "data": [[...], ...]}}   (pandas' orient="split")
    {"dataframe_records": [{feature: value, ...}, ...]}             (orient="records")
    {"instances": [...]} / {"inputs": [...]}                        (rows, as lists or objects)
    {"inputs": {feature: [values...], ...}}                         (columns)

and optionally "params", which this model takes none of. Both are answered with
{"predictions": [...]}, which is also MLflow's answer. Any other shape raises ValueError with
one line saying what was expected. A name given twice (a key repeated inside one JSON object, a
column repeated in dataframe_split.columns) is refused too: a JSON parser keeps the last value
and pandas the first, so the row scored would depend on who read it; the CSV header reader
refuses repeats for the same reason.
"""

from __future__ import annotations

import json
import math
from collections import Counter

from .features import FEATURES, LABEL_COLUMNS, shorten

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def rows_from_json(text: str) -> list[list[float]]:
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if isinstance(data, dict) and any(key in data for key in MLFLOW_KEYS):
        data = _mlflow_rows(data)
    elif isinstance(data, dict) or (isinstance(data, list) and data and all(_is_number(v) for v in data)):
        data = [data]
    if not isinstance(data, list):
        raise ValueError(
            "JSON body must be an object, a list of objects or a list of lists, "
            f"or MLflow's {{{'|'.join(MLFLOW_KEYS)}: ...}}"
        )
    return [_row(item, n) for n, item in enumerate(data, 1)]


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict, refusing a key given twice (json.loads keeps the last silently)."""
    found = dict(pairs)
    if len(found) < len(pairs):
        repeated = sorted(name for name, n in Counter(key for key, _ in pairs).items() if n > 1)
        raise ValueError(
            f"repeated key(s) {shorten([repr(k) for k in repeated])} in one JSON object of the body; give each key once"
        )
    return found


def _mlflow_rows(data: dict) -> list:
    """The rows of an MLflow request: lists or feature-keyed objects, for `_row` to check."""
    present = [key for key in MLFLOW_KEYS if key in data]
    extra = [key for key in data if key not in MLFLOW_KEYS and key != "params"]
    if len(present) != 1 or extra:
        raise ValueError(
            f"an MLflow request holds exactly one of {', '.join(MLFLOW_KEYS)} (and optionally params); "
            f"this one has {shorten([repr(k) for k in [*present, *extra]])}"
        )
    key = present[0]
    value = data[key]
    if key == "dataframe_split":
        return _split_rows(value)
    if key == "inputs" and isinstance(value, dict):
        return _column_rows(value)
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list of rows, got {type(value).__name__}")
    return value


def _split_rows(value) -> list:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise ValueError('dataframe_split must be an object with "data" (a list of rows) and "columns"')
    columns = value.get("columns")
    if columns is None:  # pandas allows it: then the rows are in the published order
        return value["data"]
    if not isinstance(columns, list):
        raise ValueError(f"dataframe_split.columns must be a list of names, got {type(columns).__name__}")
    counts = Counter(name for name in columns if isinstance(name, str))  # other types: unknown keys, below
    repeated = sorted(name for name, n in counts.items() if n > 1)
    if repeated:
        raise ValueError(f"dataframe_split.columns: repeated column(s) {shorten(repeated)}; name each column once")
    rows = []
    for n, row in enumerate(value["data"], 1):
        if not isinstance(row, list) or len(row) != len(columns):
            raise ValueError(f"dataframe_split.data row {n} does not have one value per column ({len(columns)})")
        rows.append(dict(zip(columns, row)))
    return rows


def _column_rows(columns: dict) -> list:
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError("inputs given as columns must map each feature to a list, all of one length")
    (n,) = lengths
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def _row(item, n: int) -> list[float]:
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
