"""The fire ensemble behind the serving front doors: sensor rows in, p(fire) and the decision out.

`python -m modelmill.serve` (HTTP) and `python -m modelmill.serve.predict` (batch) both go
through `decode` and `predict` here. Bad input raises ValueError with a message meant for
the caller. The model file is loaded only through skops with the line's trusted types.
When the ensemble stage's ONNX export (fire_ensemble.onnx) sits beside it, ONNX Runtime answers
(one row in ~45 µs, against ~12.5 ms through scikit-learn); versions published before the export
existed have none and are answered by scikit-learn, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import sklearn
from threadpoolctl import ThreadpoolController

from ..core.cli import UserError
from ..core.metadata import identity
from . import onnx_export
from .features import FEATURES, parse_csv, parse_csv_file
from .json_rows import rows_from_json
from .models import check_features, load_model, predict_fire
from .paths import ONNX_FILE
from .simulate import generate
from .summaries import SUMMARIES

CONTENT_TYPES = {
    "text/csv": f"rows of the {len(FEATURES)} features in the published order; an optional header row "
    "naming them (any order; fire and p_fire columns are ignored)",
    "application/json": "an object keyed by feature name, a list of such objects, or a list of lists "
    "in the published order; or MLflow's dataframe_split, dataframe_records, instances or inputs",
}
CHUNK = 10_000


class Predictor:
    content_types = CONTENT_TYPES
    id_column = "row"
    summaries = SUMMARIES

    def __init__(self, model, metadata: dict, onnx_session=None):
        self.model, self.metadata = model, metadata
        self.threshold = float(model.threshold)
        # One OpenMP/BLAS thread, as models.predict_fire (the same numbers), through a controller
        # made once: threadpool_limits() scans the loaded libraries on every call (~0.9 ms here).
        self._threads = ThreadpoolController()
        # ONNX Runtime when the export came with the model (see `load`), else scikit-learn.
        self.session = onnx_session
        self.runtime = (
            f"scikit-learn {sklearn.__version__}"
            if onnx_session is None
            else f"onnxruntime {onnx_export.runtime_version()}"
        )

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
        rows = rows_from_json(text)
        if not rows:
            raise ValueError("no rows in the body")
        return np.array(rows, dtype=np.float64)

    def encode(self, x: np.ndarray, content_type: str) -> bytes:
        """CSV rows under a header, or JSON objects keyed by feature name; floats in full (repr)."""
        rows = np.asarray(x, dtype=np.float64).tolist()
        if content_type == "text/csv":
            return "\n".join([",".join(FEATURES)] + [",".join(map(repr, row)) for row in rows]).encode() + b"\n"
        return json.dumps([dict(zip(FEATURES, row)) for row in rows]).encode()

    def predict(self, x: np.ndarray) -> list[dict]:
        p = self.fire_probability(x)
        return [{"fire_probability": float(v), "fire": bool(v >= self.threshold)} for v in p]

    def fire_probability(self, x: np.ndarray) -> np.ndarray:
        """p(fire) for the rows `x`, from whichever runtime answers (float64 either way)."""
        if self.session is not None:
            return onnx_export.fire_probability(self.session, x)
        with self._threads.limit(limits=1):
            return self.model.predict_proba(x)[:, 1]

    def model_info(self) -> dict:
        meta = self.metadata
        return {
            **identity(meta, "fire"),
            "format": meta.get("format"),
            "runtime": self.runtime,
            "input": {"content_types": CONTENT_TYPES, "features": list(FEATURES)},
            "output": {
                "fire_probability": "p(fire) from the ensemble",
                "fire": f"fire_probability >= threshold ({self.threshold:g})",
            },
            "threshold": self.threshold,
            "threshold_rule": meta.get("threshold_rule"),
            "members": meta.get("members"),
            "weights": meta.get("weights"),
            # the ceiling's keys only where the version has them (none for a model of the user's own data)
            "metrics": {
                "test": meta.get("test_metrics"),
                **{key: meta[key] for key in ("bayes_ceiling", "auc_gap", "auc_gap_ci95") if key in meta},
            },
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
    export = Path(model_path).with_name(ONNX_FILE.name)
    return Predictor(model, metadata, _onnx_session(export, model) if export.is_file() else None)


def _onnx_session(path: Path, model):
    """A session on the export `path`, refused unless it is the same model as the skops file beside
    it: the same threshold, the same p(fire) on a few simulated rows (~20 ms)."""
    sess = onnx_export.session(path)
    written, threshold = onnx_export.usage(sess).get("threshold"), float(model.threshold)
    if written is None or abs(float(written) - threshold) > 1e-9:
        raise UserError(
            f"{path.name} has threshold {written} but the model beside it has {threshold:g}: "
            "the two files are from different runs"
        )
    x = generate(256, seed=0).x
    onnx_export.require_agreement(
        onnx_export.fire_probability(sess, x), predict_fire(model, x), threshold, f"{path.name} and the model beside it"
    )
    return sess
