"""The three scikit-learn models, the ensemble that combines them, and their files.

Files are written with skops (no pickle anywhere) and loaded only if every type in them is
one of sklearn's, numpy's or `TRUSTED_TYPES`. The ensemble is plain scikit-learn (and numpy.diff),
so anyone with scikit-learn and skops can use the published file without this package:

    FixedThresholdClassifier(VotingClassifier([(name, FrozenEstimator(model)), ...],
                                              voting="soft", weights=...), threshold=...)

where each model is, with `train.features: over_room` (the default), a Pipeline whose first
step adds the temperatures over the room (over_room.py), and with `raw` the bare estimator.

`predict_proba` is the weighted mean of the members' probabilities; `predict` applies the
threshold chosen on the validation split.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..core.cli import UserError, first_line
from ..core.io import atomic_output, require
from .over_room import TRUSTED_FUNCTIONS, final_estimator, with_over_room
from .params import MODEL_NAMES, TrainConfig
from .skops_io import sio

# Beyond skops' defaults (sklearn estimators, numpy), what the fire models hold: the trees
# of the forest and of classic boosting, hist boosting's trees, VotingClassifier's Bunch and
# the one numpy function the over-the-room step calls.
TRUSTED_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
    *TRUSTED_FUNCTIONS,
)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def build_model(name: str, cfg: TrainConfig):
    """The unfitted model `name` with its hyper-parameters from train.<name>, behind the
    over-the-room step when `train.features` asks for it."""
    model = _estimator(name, cfg)
    return with_over_room(model) if cfg.features == "over_room" else model


def _estimator(name: str, cfg: TrainConfig):
    if name == "forest":
        f = cfg.forest
        return RandomForestClassifier(
            n_estimators=f.n_estimators,
            max_depth=f.max_depth,
            min_samples_leaf=f.min_samples_leaf,
            max_features=None if f.max_features == "all" else f.max_features,
            n_jobs=f.n_jobs or -1,
            random_state=f.seed,
        )
    if name == "boosting":
        b = cfg.boosting
        if b.variant == "hist":
            # No early stopping: it would hold out a random tenth of the rows and stop at a
            # data-dependent round; n_estimators rounds on all of train is what params say.
            return HistGradientBoostingClassifier(
                max_iter=b.n_estimators,
                learning_rate=b.learning_rate,
                max_depth=b.max_depth,
                max_leaf_nodes=None,
                min_samples_leaf=b.min_samples_leaf,
                max_features=b.max_features,
                early_stopping=False,
                random_state=b.seed,
            )
        return GradientBoostingClassifier(
            n_estimators=b.n_estimators,
            learning_rate=b.learning_rate,
            max_depth=b.max_depth,
            min_samples_leaf=b.min_samples_leaf,
            max_features=None if b.max_features == 1.0 else b.max_features,
            random_state=b.seed,
        )
    if name == "logistic":
        lr = cfg.logistic
        return Pipeline(
            [("scale", StandardScaler()), ("logistic", LogisticRegression(C=lr.C, max_iter=lr.max_iter))]
        )  # lbfgs: L2, no randomness
    raise UserError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")


def fit(model, x: np.ndarray, y: np.ndarray):
    # One OpenMP/BLAS thread, so that results cannot depend on the core count, and because
    # hist boosting's OpenMP threads spin-wait: on 2 busy shared cores, two threads fitted
    # 10x slower than one. The forest still trains on n_jobs cores (joblib threads, not limited here).
    with threadpool_limits(1):
        model.fit(x, y)
    if isinstance(final_estimator(model), RandomForestClassifier):
        # A forest predicting on several threads adds up its trees' votes in whatever order
        # the threads finish, so the last bits of p(fire) vary from call to call; the saved
        # forest predicts on one thread, which is no slower here.
        final_estimator(model).set_params(n_jobs=None)
    return model


def fit_members(cfg: TrainConfig, x: np.ndarray, y: np.ndarray) -> dict:
    """Every member, built from its train.<model> params and fitted on the rows `x`, `y`."""
    return {name: fit(build_model(name, cfg), x, y) for name in MODEL_NAMES}


def predict_fire(model, x: np.ndarray) -> np.ndarray:
    """p(fire) for the rows `x` (see `fit` for why one OpenMP thread)."""
    with threadpool_limits(1):
        return model.predict_proba(x)[:, 1]


def combine(models: dict, weights: dict[str, float], x_val: np.ndarray, y_val: np.ndarray) -> VotingClassifier:
    """The fitted members' weighted mean probability (nothing is refitted: FrozenEstimator's fit does nothing)."""
    voting = VotingClassifier(
        [(name, FrozenEstimator(models[name])) for name in MODEL_NAMES],
        voting="soft",
        weights=[weights[name] for name in MODEL_NAMES],
    )
    return fit(voting, x_val, y_val)  # sets classes_ and the like from the labels


def with_threshold(model, threshold: float, x_val: np.ndarray, y_val: np.ndarray) -> FixedThresholdClassifier:
    """`model`, whose predict says fire when p(fire) >= threshold."""
    return fit(
        FixedThresholdClassifier(FrozenEstimator(model), threshold=threshold, response_method="predict_proba"),
        x_val,
        y_val,
    )


def members(ensemble: FixedThresholdClassifier) -> dict:
    """The fitted models inside an ensemble, by name."""
    voting = ensemble.estimator_.estimator
    return {name: frozen.estimator for name, frozen in voting.named_estimators_.items()}


def save_model(model, dest: str | Path) -> None:
    """Write `model` to `dest` in skops format, atomically and byte-for-byte the same for the same model.

    A plain skops dump differs from run to run: arrays are stored under names made from
    object ids or uuid4s, the ids are recorded, structured arrays (tree nodes) carry
    uninitialised padding bytes and every member is stamped with the time. Here arrays are
    named after their zero-padded content (so an array that sklearn's meta-estimators
    reference more than once is stored once), ids are renumbered in order of appearance and
    times are fixed.
    """
    with zipfile.ZipFile(io.BytesIO(sio.dumps(model))) as raw:
        schema = json.loads(raw.read("schema.json"))
        contents = {
            name: _zero_padding(raw.read(name)) if name.endswith(".npy") else raw.read(name)
            for name in raw.namelist()
            if name != "schema.json"
        }
    renamed = {name: hashlib.sha256(data).hexdigest()[:32] + Path(name).suffix for name, data in contents.items()}
    used: dict[str, bytes] = {}

    def rename(old: str) -> str:
        used[renamed[old]] = contents[old]
        return renamed[old]

    _canonical(schema, {}, rename)
    with atomic_output(dest) as tmp, zipfile.ZipFile(tmp, "w") as out:
        for name in sorted(used):
            out.writestr(_member(name), used[name])
        # Compact: json's C encoder runs only without indent, ten times faster on a forest's schema.
        out.writestr(_member("schema.json"), json.dumps(schema, separators=(",", ":")))


def _zero_padding(npy: bytes) -> bytes:
    array = np.load(io.BytesIO(npy), allow_pickle=False)
    if array.dtype.names is None:
        return npy
    clean = np.zeros(array.shape, array.dtype)  # zeroes the padding between fields too
    for field in array.dtype.names:
        clean[field] = array[field]
    out = io.BytesIO()
    np.save(out, clean, allow_pickle=False)
    return out.getvalue()


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _canonical(node, ids: dict, rename) -> None:
    """Renumber ids (in order of first appearance, so repeated objects keep one id) and rename files."""
    if isinstance(node, list):
        for value in node:
            _canonical(value, ids, rename)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "__id__" and "__loader__" in node:
                node[key] = ids.setdefault(value, len(ids) + 1)
            elif key == "file" and isinstance(value, str) and "__loader__" in node:
                node[key] = rename(value)
            else:
                _canonical(value, ids, rename)


def load_model(path: str | Path, stage: str = "train"):
    """The model in the skops file `path` (which `stage` writes); a UserError if it is missing,
    unreadable or holds a type outside the trusted list."""
    path = require(path, stage)
    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
        if untrusted:
            raise UserError(f"{path} was refused: it holds type(s) outside the trusted list: {', '.join(untrusted)}")
        return sio.load(path, trusted=list(TRUSTED_TYPES))
    except UserError:
        raise
    except Exception as exc:  # a damaged or foreign file can fail anywhere in skops' reader
        reason = first_line(exc)
        raise UserError(f"{path} is not a readable skops model file ({type(exc).__name__}: {reason})") from None


def check_features(model, path: str | Path, n_features: int) -> None:
    if getattr(model, "n_features_in_", n_features) != n_features or not hasattr(model, "predict_proba"):
        raise UserError(
            f"{path} does not hold a fire classifier for {n_features} features "
            f"(got {type(model).__name__} with {getattr(model, 'n_features_in_', '?')})"
        )
