"""What the registry publishes for the fire line, and how a downloaded copy is checked."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score

from ..core.cli import UserError
from ..core.io import read_json_if_present
from .artifact_figures import figures
from .features import read_csv
from .models import TRUSTED_TYPES, members, predict_fire
from .onnx_export import fire_probability, require_agreement
from .params import MODEL_NAMES, PARAMS_FILE, load_params
from .paths import ENSEMBLE_CARD, ENSEMBLE_FILE, METRICS_FILE, ONNX_FILE, SPLIT_DIR
from .predictor import load as predictor_load
from .simulate import generate
from .skops_io import skops

__all__ = ["describe", "check", "figures"]  # lines.Artifact

_HOW = "make repro PIPELINE=fire"


def describe(folder: Path) -> dict:
    folder = Path(folder)
    params = load_params(folder / PARAMS_FILE)
    card, metrics = _read(folder / ENSEMBLE_CARD), read_json_if_present(folder / METRICS_FILE) or {}
    if not (folder / ENSEMBLE_FILE).exists():
        raise UserError(f"{folder / ENSEMBLE_FILE} is missing; run `{_HOW}` first")
    return {
        "framework": f"scikit-learn {sklearn.__version__}",
        "format": f"skops {skops.__version__}",
        "trusted_types": list(TRUSTED_TYPES),
        "features": card["features"],
        "label": card["label"],
        "members": card["members"],
        "weights": card["weights"],
        "weighting": card["weighting"],
        "threshold": card["threshold"],
        "threshold_rule": card["threshold_rule"],
        "test_metrics": {name: metrics[name] for name in (*MODEL_NAMES, "ensemble")} if metrics else None,
        "test_rows": metrics.get("test_rows"),
        **_ceiling(metrics),
        "data_sha256": card["data_sha256"],
        "params": {name: asdict(getattr(params, name)) for name in ("data", "split", "train", "ensemble")},
        **_onnx_provenance(folder, card),
    }


def _ceiling(metrics: dict) -> dict:
    """The Bayes ceiling and the ensemble's gap to it, for data the simulator made; nothing at all
    (not nulls) for the user's own data, which has no ceiling."""
    if "bayes" not in metrics:
        return {}
    return {"bayes_ceiling": metrics["bayes"], "auc_gap": metrics["auc_gap"], "auc_gap_ci95": metrics["auc_gap_ci95"]}


def _onnx_provenance(folder: Path, card: dict) -> dict:
    """How the ONNX export beside the model was made, when there is one (the ensemble stage
    records it in the card as it writes the file); serving loads it instead of the skops file."""
    if not (folder / ONNX_FILE).exists():
        return {}
    if "onnx" not in card:
        raise UserError(f"{folder / ONNX_FILE} is not described in {folder / ENSEMBLE_CARD}; run `{_HOW}` again")
    return {"serving_format": "onnx", "onnx": card["onnx"]}


def check(model_path: Path, metadata: dict, folder: Path, rows: int = 1000) -> list[str]:
    """Load the file the safe way (skops, trusted types only), score a few rows, describe what came out."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise UserError(f"{model_path} is missing")
    predictor = predictor_load(model_path, metadata)  # the server's checks: features, threshold, export
    model = predictor.model
    found, threshold = members(model), float(model.threshold)
    x, y, source = _sample_rows(Path(folder), rows)
    start = time.perf_counter()
    p = predict_fire(model, x)
    seconds = time.perf_counter() - start
    if not np.all((p >= 0) & (p <= 1)):
        raise UserError(f"{model_path.name} gave probabilities outside [0, 1]")
    flagged = model.predict(x) == 1
    lines = [
        f"  {model_path.name}: {type(model).__name__} over {', '.join(found)}, threshold {threshold:.4f}",
        f"  scored {len(x)} {source} in {seconds * 1000:.0f} ms: p(fire) {p.min():.3f}..{p.max():.3f}, "
        f"{flagged.mean():.1%} flagged as fire",
    ]
    if y is not None and len(np.unique(y)) == 2:
        published = metadata.get("test_metrics", {}).get("ensemble", {}).get("roc_auc")
        lines.append(
            f"  ROC AUC on them {roc_auc_score(y, p):.4f}"
            + (f" (published test ROC AUC {published:.4f})" if published is not None else "")
        )
    if predictor.session is not None:
        lines.append(_onnx_line(predictor, x, p, model_path.with_name(ONNX_FILE.name)))
    return lines


def _onnx_line(predictor, x: np.ndarray, p_sklearn: np.ndarray, path: Path) -> str:
    """The export beside the model scores the same rows: a UserError unless it agrees with scikit-learn."""
    start = time.perf_counter()
    p_onnx = fire_probability(predictor.session, x)
    seconds = time.perf_counter() - start
    worst = require_agreement(p_onnx, p_sklearn, predictor.threshold, path.name)
    return (
        f"  {path.name} ({predictor.runtime}, what serving runs): the same rows in {seconds * 1000:.0f} ms, "
        f"p(fire) within {worst:.1g} of scikit-learn's, the same decisions"
    )


def _sample_rows(folder: Path, n: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The first `n` test-split rows when the line's data is here, else `n` simulated rows."""
    test = folder / SPLIT_DIR / "test.csv"
    if test.exists():
        table = read_csv(test)
        return table.x[:n], table.y[:n], f"test rows from {test}"
    table = generate(n, seed=0)
    return table.x, table.y, "simulated rows"


def _read(path: Path) -> dict:
    if not path.exists():
        raise UserError(f"{path} is missing; run `{_HOW}` first")
    return json.loads(path.read_text())
