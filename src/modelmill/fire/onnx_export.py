"""The fire ensemble as ONNX, what serving runs: one row in ~45 µs through ONNX Runtime, ~12.5 ms through scikit-learn.

The graph is the ensemble's probability only: a plain soft VotingClassifier over the three fitted
members (skl2onnx converts neither FrozenEstimator nor FixedThresholdClassifier), float32 input
`input` of shape (n, 18) in the published feature order, output `probabilities` (n, 2), zipmap off.
p(fire) is probabilities[:, 1] and the decision is p(fire) >= the published threshold; the graph's
`label` output thresholds at 0.5 and is never used. The threshold and feature order are also kept
in the file's metadata, so the file alone says how to use it.

The ensemble stage writes the file only after ONNX Runtime has agreed with scikit-learn on every
validation row: p(fire) within TOLERANCE (float32 trees and sums: ~3e-7 seen) and the same decision
at the threshold. skl2onnx (seconds to import) and onnxruntime are imported where used, so the
server imports this module for `session` and `fire_probability` without loading the converter.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np
from sklearn.ensemble import VotingClassifier
from sklearn.utils import Bunch

from ..core.cli import UserError
from ..core.io import atomic_output
from .features import FEATURES
from .models import members
from .over_room import register_onnx_converter

OPSET = {"": 21, "ai.onnx.ml": 3}  # the highest asked for ("": the main domain, ai.onnx)
INPUT, PROBABILITIES = "input", "probabilities"
TOLERANCE = 1e-5  # the most |p_onnx - p_sklearn| allowed on any validation row
# ORT warns on every load that skl2onnx left an unused initializer (classes_ind): errors only.
_LOG_ERRORS_ONLY = 3


def plain_voting(ensemble) -> VotingClassifier:
    """The fitted members of `ensemble` (models.py's FixedThresholdClassifier) in a plain soft
    VotingClassifier with the same weights: the same probabilities, in a form skl2onnx converts."""
    voting = ensemble.estimator_.estimator
    fitted = members(ensemble)
    plain = VotingClassifier(
        list(fitted.items()), voting="soft", weights=np.asarray(voting.weights), flatten_transform=False
    )
    # What fit would set: nothing is refitted.
    plain.estimators_ = list(fitted.values())
    plain.named_estimators_ = Bunch(**fitted)
    plain.le_, plain.classes_ = voting.le_, voting.classes_
    return plain


def to_onnx(ensemble) -> bytes:
    """`ensemble` converted to ONNX: the same model, the same bytes."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    register_onnx_converter()
    plain = plain_voting(ensemble)
    no_zipmap = {id(model): {"zipmap": False} for model in (plain, *plain.estimators_)}
    with warnings.catch_warnings():
        # skl2onnx hands hist boosting's missing-value flags to protobuf as booleans: protobuf 6.33
        # warns on each tree, 7.34+ refuses (hence requirements.txt's protobuf pin).
        warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints: Expected an int", DeprecationWarning)
        onx = convert_sklearn(
            plain,
            name="fire_ensemble",
            initial_types=[(INPUT, FloatTensorType([None, len(FEATURES)]))],
            options=no_zipmap,
            target_opset=OPSET,
        )
    for key, value in _usage(float(ensemble.threshold)).items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    return onx.SerializeToString()


def _usage(threshold: float) -> dict[str, str]:
    return {
        "threshold": repr(threshold),
        "features": ",".join(FEATURES),
        "fire_probability": f"{PROBABILITIES}[:, 1]; fire = fire_probability >= threshold (never the label output)",
    }


def session(model: bytes | Path):
    """An ONNX Runtime session on the CPU for the export `model` (its bytes or its file).

    One thread, sequential, for a one-row request (a server runs one process per core) and for
    batch prediction alike. Two intra-op threads did predict 10,000-row chunks ~1.7x faster on an
    idle 2-core machine, but ~2x slower while another process kept one core busy (their threads
    spin-wait), and they add each row's trees up in another order: p(fire) of ~30% of rows moved
    by up to 2.4e-7, so batch answers would no longer be the server's, nor what the ensemble stage
    checked. One thread gives the same bits for a row alone or in any batch.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = _LOG_ERRORS_ONLY
    name = "the ONNX export" if isinstance(model, bytes) else Path(model).name
    try:
        sess = ort.InferenceSession(
            model if isinstance(model, bytes) else str(model), options, ["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's own exception types: a damaged file fails here
        raise UserError(f"{name} is not a readable ONNX model ({str(exc).strip().splitlines()[0]})") from None
    inputs, outputs = [(i.name, i.shape[1:]) for i in sess.get_inputs()], [o.name for o in sess.get_outputs()]
    if inputs != [(INPUT, [len(FEATURES)])] or PROBABILITIES not in outputs:
        raise UserError(f"{name} is not the fire ensemble's export (inputs {inputs}, outputs {outputs})")
    return sess


def fire_probability(sess, x: np.ndarray) -> np.ndarray:
    """p(fire) for the rows `x` (float64, as scikit-learn's): the export computes in float32."""
    p = sess.run([PROBABILITIES], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})[0]
    return p[:, 1].astype(np.float64)


def usage(sess) -> dict[str, str]:
    """The threshold and feature order the export was written with (its metadata)."""
    return dict(sess.get_modelmeta().custom_metadata_map)


def require_agreement(p_onnx: np.ndarray, p_sklearn: np.ndarray, threshold: float, what: str) -> float:
    """The largest |p_onnx - p_sklearn|; a UserError naming the worst row unless it is within
    TOLERANCE and every decision at `threshold` is the same. `what` names the file and rows."""
    diff = np.abs(p_onnx - p_sklearn)
    flips = np.flatnonzero((p_onnx >= threshold) != (p_sklearn >= threshold))
    worst = int(np.argmax(diff))
    if diff[worst] > TOLERANCE:
        raise UserError(
            f"{what}: ONNX Runtime's p(fire) differs from scikit-learn's by up to {diff[worst]:.2g} "
            f"(row {worst + 1}: {p_onnx[worst]:.7f} against {p_sklearn[worst]:.7f}; allowed {TOLERANCE:g}), "
            f"{len(flips)} of {len(diff)} decisions at threshold {threshold:g} differ"
        )
    if len(flips):
        row = int(flips[np.argmax(np.abs(p_sklearn[flips] - threshold))])
        raise UserError(
            f"{what}: {len(flips)} of {len(diff)} decisions at threshold {threshold:g} differ between "
            f"ONNX Runtime and scikit-learn (row {row + 1}: p(fire) {p_onnx[row]:.9f} against "
            f"{p_sklearn[row]:.9f}, float32 rounding across the threshold)"
        )
    return float(diff[worst])


def export(ensemble, x_val: np.ndarray, p_val: np.ndarray, dest: str | Path) -> dict:
    """Convert `ensemble`, check it against scikit-learn's p(fire) `p_val` on the validation rows
    `x_val`, and only then write it to `dest` (atomically). Returns its provenance for the card."""
    dest = Path(dest)
    data = to_onnx(ensemble)
    threshold = float(ensemble.threshold)
    p_onnx = fire_probability(session(data), x_val)
    worst = require_agreement(p_onnx, p_val, threshold, f"{dest.name} refused (nothing written), validation split")
    with atomic_output(dest) as tmp:
        tmp.write_bytes(data)
    return {
        "file": dest.name,
        "opset": opsets(data),
        "skl2onnx": importlib.metadata.version("skl2onnx"),
        "onnxruntime": runtime_version(),
        "input": f"{INPUT}: float32 (n, {len(FEATURES)}), the features in order",
        "fire_probability": _usage(threshold)["fire_probability"],
        "val_max_abs_diff": float(f"{worst:.2g}"),
    }


def opsets(data: bytes) -> dict[str, int]:
    """The opset of each operator domain the export uses (skl2onnx lowers OPSET's to what the graph needs)."""
    import onnx

    found = {entry.domain or "ai.onnx": entry.version for entry in onnx.load_model_from_string(data).opset_import}
    return dict(sorted(found.items()))


def runtime_version() -> str:
    return importlib.metadata.version("onnxruntime")
