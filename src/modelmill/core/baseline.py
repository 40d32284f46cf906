"""baseline.json: what a model saw when it was made, published beside its metadata.json so that
what it sees in service can be compared with it (drift.py).

Built by each line's `baseline` module from the line's outputs (`Model.baseline(folder)` in lines.py):

- kind "tabular" (fire): each input feature on the training split, the prediction (p(fire) and
  the positive rate at the published threshold) on the test split, scored by the model;
- kind "image" (landcover, the sea-ice classifier, biomass): per-tile (per-photo) summaries
  (channel means, brightness, contrast; see core/summaries.py) on the test split, and what the model
  answered there: the predicted classes (landcover, sea ice; landcover also keeps the split's
  per-channel pixel mean, standard deviation and histogram) or the predicted grams (biomass);
- kind "sequence" (the sea-ice forecaster): per-history summaries of the 30-day concentration
  inputs on the training split, and per-forecast summaries of what it forecast on the test split.

A prediction is of kind "probability" (p(fire) and a threshold), "class" (counts per class) or
"value" (continuous outputs, each summarised like a feature: `value_summary`).

Each feature is kept as its range, mean, a few quantiles, a fixed-edge histogram (the report's
figure bins captured rows on the same edges) and its CDF on a percentile grid (the KS test's
reference; stats.py says why). Floats are rounded and keys sorted, so the same outputs always give
the same bytes. The sea-ice change detector has no baseline (its line's module gives None).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np

from .cli import UserError
from .io import atomic_output, require
from .stats import PROBABILITY_BINS, cdf_grid, histogram, histogram_edges, rounded, rounded_list
from .typed import problems

FORMAT = "modelmill-baseline/1"
FILE_NAME = "baseline.json"
KINDS = ("tabular", "image", "sequence")
PREDICTION_KINDS = ("probability", "class", "value")
QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


class Histogram(TypedDict):
    edges: list[float]
    counts: list[int]
    below: int  # values below the first edge
    above: int  # and above the last


class Cdf(TypedDict):
    points: list[float]  # rounded percentiles, distinct, ascending
    shares: list[float]  # the exact share of the sample at or below each


class FeatureSummary(TypedDict):
    """One feature's (or continuous output's) reference distribution (`feature_summary`)."""

    rows: int
    min: float
    max: float
    mean: float
    std: float
    quantiles: dict[str, float]
    histogram: Histogram
    cdf: Cdf


class ProbabilityPrediction(FeatureSummary):
    """A predicted probability (`probability_summary`: p(fire))."""

    kind: str
    field: str
    decision: str
    threshold: float
    positive_rate: float


class ClassPrediction(TypedDict):
    """Predicted classes (`class_summary`)."""

    kind: str
    field: str
    classes: list[str]
    rows: int
    counts: dict[str, int]
    shares: dict[str, float]


class ValuePrediction(TypedDict):
    """Continuous outputs (`value_summary`: grams, a forecast's mean and ice share)."""

    kind: str
    fields: list[str]
    outputs: dict[str, FeatureSummary]


PREDICTIONS: dict[str, type] = {
    "probability": ProbabilityPrediction,
    "class": ClassPrediction,
    "value": ValuePrediction,
}


class ModelRef(TypedDict):
    """The published version a baseline belongs to (`stamp`); null before publishing."""

    name: str | None
    version: str | None
    sha256: str | None


class Baseline(TypedDict):
    """baseline.json (`make_baseline`, then `stamp`); a line may add keys of its own (EuroSAT: pixels)."""

    format: str
    kind: str  # one of KINDS
    line: str
    model: ModelRef | None
    reference: dict[str, str]  # where the features and the prediction were measured
    feature_order: list[str]
    features: dict[str, FeatureSummary]
    prediction: dict  # one of PREDICTIONS, by its "kind"


def feature_summary(values: np.ndarray, edges: Sequence[float] | np.ndarray | None = None) -> FeatureSummary:
    """One feature's reference distribution: rows, range, mean, std, quantiles, histogram, CDF grid."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise UserError("a baseline needs at least one finite value per feature; got none")
    points, shares = cdf_grid(values)
    return {
        "rows": len(values),
        "min": rounded(values.min()),
        "max": rounded(values.max()),
        "mean": rounded(values.mean()),
        "std": rounded(values.std()),
        "quantiles": {f"{q:g}": v for q, v in zip(QUANTILE_LEVELS, rounded_list(np.quantile(values, QUANTILE_LEVELS)))},
        "histogram": cast(Histogram, histogram(values, histogram_edges(values) if edges is None else edges)),
        "cdf": {"points": rounded_list(points), "shares": rounded_list(shares)},
    }


def probability_summary(
    p: np.ndarray, threshold: float, field: str = "fire_probability", decision: str = "fire"
) -> dict:
    """The distribution of a predicted probability `field`, and the share at or over `threshold`
    (the `decision` each answer carries)."""
    p = np.asarray(p, dtype=np.float64)
    return {
        "kind": "probability",
        "field": field,
        "decision": decision,
        "threshold": rounded(threshold),
        "positive_rate": rounded(float((p >= threshold).mean())) if len(p) else 0.0,
        **feature_summary(p, np.linspace(0.0, 1.0, PROBABILITY_BINS + 1)),
    }


def class_summary(predicted: Sequence[str], classes: Sequence[str], field: str = "class") -> ClassPrediction:
    """How often each of `classes` was predicted."""
    unknown = sorted(set(predicted) - set(classes))
    if unknown:
        raise UserError(f"predicted class(es) {', '.join(map(repr, unknown[:4]))} not among the model's classes")
    if not predicted:
        raise UserError("a baseline needs at least one prediction; got none")
    counts = {name: 0 for name in classes}
    for name in predicted:
        counts[name] += 1
    return {
        "kind": "class",
        "field": field,
        "classes": list(classes),
        "rows": len(predicted),
        "counts": counts,
        "shares": {name: rounded(count / len(predicted)) for name, count in counts.items()},
    }


def value_summary(outputs: dict[str, np.ndarray]) -> ValuePrediction:
    """Continuous outputs (biomass grams; a forecast's mean and ice share), each summarised like a
    feature, and tested like one (KS): {"kind": "value", "fields": [...], "outputs": {field: summary}}."""
    if not outputs:
        raise ValueError("a value prediction needs at least one output")
    return {
        "kind": "value",
        "fields": list(outputs),  # the keys below are sorted in the file
        "outputs": {name: feature_summary(values) for name, values in outputs.items()},
    }


def prediction_tests(prediction: dict) -> int:
    """How many tests the prediction takes in a drift report (for the Bonferroni correction)."""
    return {"probability": 2, "class": 1}.get(prediction["kind"], len(prediction.get("fields", ())))


def make_baseline(
    *, kind: str, line: str, features: dict[str, np.ndarray], prediction: Mapping[str, Any], reference: dict, **extra
) -> dict:
    """A baseline of `kind` for `line`: each feature's summary, the prediction's, where they came from.
    Its "model" is filled in by `stamp` once publish knows the version."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return {
        "format": FORMAT,
        "kind": kind,
        "line": line,
        "model": None,
        "reference": reference,
        "feature_order": list(features),  # the keys below are sorted in the file
        "features": {name: feature_summary(values) for name, values in features.items()},
        "prediction": prediction,
        **extra,
    }


def read_predicted(path: Path) -> list[str]:
    """The `predicted` column of a CSV that a line's evaluate wrote, one class name per test sample."""
    with open(require(path, "evaluate"), newline="") as f:
        reader = csv.DictReader(f)
        if "predicted" not in (reader.fieldnames or []):
            raise UserError(f"{path} has no 'predicted' column; run the evaluate stage again (dvc repro)")
        return [row["predicted"] for row in reader]


def stamp(baseline: dict, metadata: Mapping[str, Any]) -> dict:
    """`baseline` naming the published model it belongs to (metadata.json's name, version, sha256)."""
    model = {key: metadata.get(field) for key, field in (("name", "model_name"), ("version", "version"))}
    return {**baseline, "model": {**model, "sha256": metadata.get("sha256")}}


def dumps(baseline: dict) -> str:
    """The canonical text: sorted keys, so the same baseline is always the same bytes."""
    return json.dumps(baseline, sort_keys=True, indent=1, allow_nan=False) + "\n"


def write_baseline(dest: str | Path, baseline: dict) -> Path:
    with atomic_output(dest) as tmp:
        tmp.write_text(dumps(baseline))
    return Path(dest)


def read_baseline(path: str | Path) -> dict:
    """A baseline.json, checked to be one; a UserError (one line) otherwise."""
    path = Path(path)
    try:
        baseline = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(
            f"baseline {path} not found; it is published beside metadata.json (make publish writes it)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"baseline {path} cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"baseline {path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    check_baseline(baseline, str(path))
    return baseline


def check_baseline(baseline: object, where: str) -> None:
    """A UserError (one line) unless `baseline` is a whole baseline of this format (`Baseline`, its
    prediction the TypedDict of its kind)."""
    if not isinstance(baseline, dict) or baseline.get("format") != FORMAT:
        found = baseline.get("format") if isinstance(baseline, dict) else type(baseline).__name__
        raise UserError(f"{where} is not a monitoring baseline (format {found!r}; expected {FORMAT!r})")
    wrong = problems(baseline, Baseline)
    if not wrong and baseline["kind"] not in KINDS:
        wrong = [f"kind {baseline['kind']!r} is none of {', '.join(KINDS)}"]
    prediction = baseline.get("prediction")
    if not wrong:
        kind = PREDICTIONS.get(str(_kind(prediction)))
        unknown = [f"prediction of unknown kind {_kind(prediction)!r}"]
        wrong = problems(prediction, kind, "prediction") if kind else unknown
    if wrong:
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise UserError(f"{where} is a damaged baseline ({'; '.join(wrong[:3])}{more})")


def _kind(prediction: object) -> object:
    return prediction.get("kind") if isinstance(prediction, dict) else type(prediction).__name__
