"""Drift: a window of captured records against the model's baseline, feature by feature and in
what the model answered.

    report = compare(baseline, records, DriftParams())

Each input feature gets a two-sample Kolmogorov-Smirnov test against the baseline's CDF grid
(core/stats.py says why KS on a grid) and the share of rows outside the training range. A feature has
drifted when the test is significant after a Bonferroni correction over every test in the report
(`alpha` is the false-alarm rate of a whole report) AND its statistic is at least
`min_statistic`: with thousands of rows a shift too small to matter is still significant, and the
floor keeps it quiet; or when more than `max_out_of_range` of its rows fall outside the training
range. The prediction is tested the same way: p(fire) by KS, plus the positive rate at the
published threshold (two-proportion z-test, at least `max_rate_shift` apart); an image model's
predicted classes by a chi-squared test of homogeneity, at least `min_class_distance` apart in
Jensen-Shannon distance; each continuous output (biomass grams, a forecast's mean and ice share)
by KS as a feature is (its share outside the baseline's range is reported, never an alert: the
range is that of a test split, often small).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from ..core.baseline import check_baseline, prediction_tests
from ..core.cli import UserError
from ..core.drift_params import DriftParams
from ..core.stats import SIGNIFICANT, class_test, ks_critical, ks_on_grid, ks_p_value, positive_rate_test, rounded

REPORT_FORMAT = "modelmill-drift/1"
DIGITS = 4  # significant digits of the statistics in a report


def compare(
    baseline: dict, records: Sequence[dict], params: DriftParams | None = None, *, source: str = "the capture"
) -> dict:
    """The drift report of `records` (captured rows, as records.py reads them) against `baseline`."""
    params = params or DriftParams()
    check_baseline(baseline, "the baseline")
    rows = rows_for(baseline, records, source)
    if len(rows) < params.min_rows:
        raise UserError(
            f"{source} holds {len(rows)} captured row(s) for {_model_name(baseline)}; "
            f"a drift test needs at least {params.min_rows} (monitor.min_rows)"
        )
    prediction = baseline["prediction"]
    tests = len(baseline["feature_order"]) + prediction_tests(prediction)
    alpha = params.alpha / tests  # Bonferroni: `alpha` for the whole report
    features = {
        name: feature_drift(baseline["features"][name], feature_values(rows, name, params.min_rows), params, alpha)
        for name in baseline["feature_order"]
    }
    answers = prediction_drift(prediction, rows, params, alpha)
    moved = [name for name, result in features.items() if result["drifted"]]
    times = sorted(row["time"] for row in rows)
    return {
        "format": REPORT_FORMAT,
        "model": baseline.get("model"),
        "line": baseline["line"],
        "kind": baseline["kind"],
        "rows": len(rows),
        "window": {"first": times[0], "last": times[-1]},
        "params": asdict(params),
        "tests": tests,
        "alpha_per_test": rounded(alpha, DIGITS),
        "features": features,
        "prediction": answers,
        "drifted_features": moved,
        "drifted": bool(moved) or answers["drifted"],
    }


def rows_for(baseline: dict, records: Sequence[dict], source: str) -> list[dict]:
    """The records of the baseline's model version (any version when the baseline names none, as one
    built from a workspace does); a UserError when the records are all of others."""
    model = baseline.get("model") or {}
    name, version = model.get("name"), model.get("version")
    if name and version:
        rows = [r for r in records if r.get("model") == name and r.get("version") == version]
        wanted = f"{name} {version}"
    else:
        rows = [r for r in records if r.get("line", baseline["line"]) == baseline["line"]]
        wanted = f"the {baseline['line']} line"
    if records and not rows:
        found = Counter(f"{r.get('model', '?')} {r.get('version', '?')}" for r in records)
        listed = ", ".join(f"{key} ({n} rows)" for key, n in found.most_common(4))
        raise UserError(
            f"the baseline is for {wanted} but {source} holds rows of {listed} only; "
            "use the baseline published with that version"
        )
    return rows


def _model_name(baseline: dict) -> str:
    model = baseline.get("model") or {}
    return f"{model['name']} {model['version']}" if model.get("name") else f"the {baseline['line']} line"


def feature_values(rows: Sequence[dict], name: str, needed: int) -> np.ndarray:
    """The finite values of feature `name` in `rows` (a UserError when fewer than `needed`)."""
    values = np.array([_number(row["features"].get(name)) for row in rows])
    values = values[np.isfinite(values)]
    if len(values) < needed:
        raise UserError(
            f"only {len(values)} of the {len(rows)} captured rows have a value for {name}; "
            f"a drift test needs at least {needed}: were they captured for another model?"
        )
    return values


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def feature_drift(summary: dict, values: np.ndarray, params: DriftParams, alpha: float) -> dict:
    """One feature's KS test against its baseline summary, and its share of rows outside the training range."""
    result = ks_result(summary, values, params, alpha)
    outside = outside_range(values, summary)
    reasons = (["distribution"] if result["drifted"] else []) + (
        ["out_of_range"] if outside > params.max_out_of_range else []
    )
    return {
        **result,
        "out_of_range": rounded(outside, DIGITS),
        "mean": rounded(values.mean()),
        "baseline_mean": summary["mean"],
        "drifted": bool(reasons),
        "reasons": reasons,
    }


def outside_range(values: np.ndarray, summary: dict) -> float:
    """The share of `values` outside the baseline's [min, max]. The baseline keeps both rounded to
    SIGNIFICANT digits, so a bound is widened by that rounding: the reference sample's own extremes
    are inside its range, not out of it."""
    slack = 10.0 ** (1 - SIGNIFICANT)
    low, high = summary["min"], summary["max"]
    return float(((values < low - abs(low) * slack) | (values > high + abs(high) * slack)).mean())


def ks_result(summary: dict, values: np.ndarray, params: DriftParams, alpha: float) -> dict:
    n, m = len(values), summary["rows"]
    grid = summary["cdf"]
    statistic = ks_on_grid(values, np.asarray(grid["points"]), np.asarray(grid["shares"]))
    p_value = ks_p_value(statistic, n, m)
    return {
        "rows": n,
        "statistic": rounded(statistic, DIGITS),
        "p_value": rounded(p_value, DIGITS),
        "threshold": rounded(max(params.min_statistic, ks_critical(alpha, n, m)), DIGITS),
        "drifted": bool(p_value < alpha and statistic >= params.min_statistic),
    }


def prediction_drift(prediction: dict, rows: Sequence[dict], params: DriftParams, alpha: float) -> dict:
    if prediction["kind"] == "value":
        return value_drift(prediction, rows, params, alpha)
    answers = [row["prediction"].get(prediction["field"]) for row in rows]
    if prediction["kind"] == "probability":
        return probability_drift(prediction, answers, params, alpha)
    return class_drift(prediction, answers, params, alpha)


def probability_drift(prediction: dict, answers: list, params: DriftParams, alpha: float) -> dict:
    """p(fire)'s distribution (KS) and the positive rate at the baseline's threshold."""
    p = np.array([_number(a) for a in answers])
    p = p[np.isfinite(p)]
    if len(p) < params.min_rows:
        raise UserError(
            f"only {len(p)} captured rows have a {prediction['field']}; a drift test needs {params.min_rows}"
        )
    distribution = ks_result(prediction, p, params, alpha)
    positives = int((p >= prediction["threshold"]).sum())
    rate, reference = positives / len(p), prediction["positive_rate"]
    rate_p = positive_rate_test(positives, len(p), reference, prediction["rows"])
    rate_moved = bool(rate_p < alpha and abs(rate - reference) >= params.max_rate_shift)
    return {
        "kind": "probability",
        "field": prediction["field"],
        "distribution": distribution,
        "positive_rate": {
            "threshold": prediction["threshold"],
            "baseline": reference,
            "captured": rounded(rate, DIGITS),
            "shift": rounded(rate - reference, DIGITS),
            "p_value": rounded(rate_p, DIGITS),
            "drifted": rate_moved,
        },
        "drifted": distribution["drifted"] or rate_moved,
    }


def value_drift(prediction: dict, rows: Sequence[dict], params: DriftParams, alpha: float) -> dict:
    """Each continuous output's distribution against the baseline's (KS, as a feature's)."""
    outputs = {}
    for name in prediction["fields"]:
        summary = prediction["outputs"][name]
        values = np.array([_number(row["prediction"].get(name)) for row in rows])
        values = values[np.isfinite(values)]
        if len(values) < params.min_rows:
            raise UserError(
                f"only {len(values)} captured rows have a {name}; a drift test needs {params.min_rows}: "
                "were they captured for another model?"
            )
        outside = outside_range(values, summary)
        outputs[name] = {
            **ks_result(summary, values, params, alpha),
            "out_of_range": rounded(outside, DIGITS),
            "mean": rounded(values.mean()),
            "baseline_mean": summary["mean"],
        }
    moved = [name for name, result in outputs.items() if result["drifted"]]
    return {
        "kind": "value",
        "fields": list(prediction["fields"]),
        "outputs": outputs,
        "drifted_outputs": moved,
        "drifted": bool(moved),
    }


def class_drift(prediction: dict, answers: list, params: DriftParams, alpha: float) -> dict:
    """The predicted classes' shares against the baseline's (chi-squared and Jensen-Shannon)."""
    classes = prediction["classes"]
    unknown = sorted({str(a) for a in answers} - set(classes))
    if unknown:
        raise UserError(
            f"captured predictions name class(es) the baseline's model lacks: {', '.join(unknown[:4])}; "
            "is the baseline of another model?"
        )
    seen = Counter(answers)
    observed = np.array([seen[name] for name in classes], dtype=np.float64)
    p_value, distance = class_test(observed, np.array([prediction["counts"][name] for name in classes]))
    return {
        "kind": "class",
        "field": prediction["field"],
        "rows": len(answers),
        "shares": {name: rounded(count / len(answers), DIGITS) for name, count in zip(classes, observed)},
        "baseline_shares": prediction["shares"],
        "p_value": rounded(p_value, DIGITS),
        "distance": rounded(distance, DIGITS),
        "threshold": params.min_class_distance,
        "drifted": bool(p_value < alpha and distance >= params.min_class_distance),
    }
