"""Each line's classification and regression reports (computed by scikit-learn) against plain numpy
formulas on fixed, seeded predictions: the keys and key order the metrics files hold, and their values
to the last rounded digit, edge cases included (a class never predicted, a class absent from the truth,
one class only, no samples)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import SRC

from modelmill.biomass.scoring import regression_metrics
from modelmill.fire.scoring import all_scores, decision_scores, ranking_scores
from modelmill.landcover.evaluation import class_scores as landcover_class_scores
from modelmill.seaice.scores import class_scores as seaice_class_scores
from modelmill.seaice.scores import lead_errors, map_scores

LAST_DIGIT = 1e-6  # reports round to 6 decimals


def ratio(num: float, den: float, undefined: float = 0.0) -> float:
    return num / den if den else undefined


def by_hand(y: np.ndarray, p: np.ndarray, n: int) -> dict:
    """Per-class precision/recall/F1/support (0 where undefined), accuracy and the confusion matrix."""
    matrix = np.zeros((n, n), np.int64)
    np.add.at(matrix, (y, p), 1)
    per_class = []
    for k in range(n):
        tp, predicted, actual = matrix[k, k], matrix[:, k].sum(), matrix[k].sum()
        precision, recall = ratio(tp, predicted), ratio(tp, actual)
        f1 = ratio(2 * precision * recall, precision + recall)
        per_class.append({"precision": precision, "recall": recall, "f1": f1, "support": int(actual)})
    return {"accuracy": ratio(np.trace(matrix), matrix.sum()), "per_class": per_class, "confusion": matrix}


def class_cases(n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, n, 240)
    p = np.where(rng.random(240) < 0.7, y, rng.integers(0, n, 240))
    last = n - 1
    return {
        "random": (y, p),
        "class 1 never predicted": (y, np.where(p == 1, 0, p)),
        "last class absent from truth": (np.where(y == last, 0, y), p),
        "last class absent from both": (np.where(y == last, 0, y), np.where(p == last, 0, p)),
        "all one class": (np.zeros(30, np.int64), np.zeros(30, np.int64)),
        "truth one class": (np.full(30, last), p[:30]),
    }


def assert_close(report: dict, expected: dict) -> None:
    """Same keys in the same order; ints equal, floats equal to the last rounded digit."""
    assert list(report) == list(expected)
    for key, want in expected.items():
        got = report[key]
        if isinstance(want, float) and math.isnan(want):
            assert got is not None and math.isnan(got), key
        elif isinstance(want, float):
            assert got == pytest.approx(want, abs=LAST_DIGIT), key
        else:
            assert got == want, key


def check_per_class(report: dict, expected: dict, names) -> None:
    assert list(report["per_class"]) == list(names)
    for name, want in zip(names, expected["per_class"]):
        assert_close(report["per_class"][name], want)


@pytest.mark.parametrize("case", list(class_cases(5)))
def test_landcover_class_scores(case):
    y, p = class_cases(5)[case]
    classes = [f"class{k}" for k in range(5)]
    report = landcover_class_scores(torch.from_numpy(y), torch.from_numpy(p), classes)
    expected = by_hand(y, p, 5)
    assert list(report) == ["accuracy", "macro_f1", "per_class"]
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=LAST_DIGIT)
    assert report["macro_f1"] == pytest.approx(np.mean([c["f1"] for c in expected["per_class"]]), abs=LAST_DIGIT)
    check_per_class(report, expected, classes)


@pytest.mark.parametrize("case", list(class_cases(3)))
def test_seaice_class_scores(case):
    y, p = class_cases(3)[case]
    classes = ("open_water", "thin_ice", "thick_ice")
    report = seaice_class_scores(y, p, classes)
    expected = by_hand(y, p, 3)
    assert list(report) == ["accuracy", "macro_f1", "per_class", "confusion"]
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=LAST_DIGIT)
    # the metrics files have always held the mean of the rounded per-class F1s
    rounded_f1 = [round(c["f1"], 6) for c in expected["per_class"]]
    assert report["macro_f1"] == pytest.approx(np.mean(rounded_f1), abs=LAST_DIGIT)
    assert report["confusion"] == expected["confusion"].tolist()
    check_per_class(report, expected, classes)


def test_seaice_class_scores_of_no_tiles_are_zero():
    empty = np.zeros(0, np.int64)
    report = seaice_class_scores(empty, empty, ("a", "b"))
    zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report == {"accuracy": 0.0, "macro_f1": 0.0, "per_class": {"a": zero, "b": zero}, "confusion": [[0, 0]] * 2}


def map_by_hand(truth: np.ndarray, predicted: np.ndarray, valid: np.ndarray | None) -> dict:
    inside = np.ones(truth.shape, bool) if valid is None else np.broadcast_to(valid, truth.shape)
    t, p = truth.astype(bool)[inside], predicted.astype(bool)[inside]
    tp, fp, fn = float((t & p).sum()), float((~t & p).sum()), float((t & ~p).sum())
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {
        "iou": ratio(tp, tp + fp + fn, undefined=1.0),
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * precision * recall, precision + recall),
    }


def map_cases() -> dict:
    rng = np.random.default_rng(11)
    truth = rng.random((9, 12, 12)) < 0.3
    predicted = truth ^ (rng.random(truth.shape) < 0.2)
    valid = rng.random((12, 12)) < 0.8
    none = np.zeros_like(truth)
    return {
        "random": (truth, predicted, None),
        "random, valid cells": (truth, predicted, valid),
        "float and uint8 maps": (truth.astype(np.float32), predicted.astype(np.uint8), valid),
        "both empty": (none, none, None),
        "no change to find": (none, predicted, valid),
        "no change predicted": (truth, none, valid),
        "all change": (~none, ~none, None),
        "no valid cell": (truth, predicted, np.zeros((12, 12), bool)),
    }


@pytest.mark.parametrize("case", list(map_cases()))
def test_seaice_map_scores(case):
    truth, predicted, valid = map_cases()[case]
    assert_close(map_scores(truth, predicted, valid), map_by_hand(truth, predicted, valid))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seaice_lead_errors(dtype):
    rng = np.random.default_rng(5)
    ocean = rng.random((10, 10)) < 0.7
    truth = rng.random((6, 7, 10, 10)).astype(dtype)
    forecast = np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1).astype(dtype)
    report = lead_errors(truth, forecast, ocean)
    err = (forecast.astype(np.float64) - truth)[..., ocean]
    assert list(report) == ["rmse", "mae"]
    assert report["rmse"] == pytest.approx(np.sqrt((err**2).mean(axis=(0, 2))).tolist(), abs=LAST_DIGIT)
    assert report["mae"] == pytest.approx(np.abs(err).mean(axis=(0, 2)).tolist(), abs=LAST_DIGIT)
    assert lead_errors(truth, truth.copy(), ocean) == {"rmse": [0.0] * 7, "mae": [0.0] * 7}


def decisions_by_hand(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    fire, actual = p >= threshold, y == 1
    tp = float((fire & actual).sum())
    precision, recall = ratio(tp, fire.sum()), ratio(tp, actual.sum())
    return {
        "accuracy": float((fire == actual).mean()),
        "precision": precision,
        "recall": recall,
        "f1": ratio(2 * precision * recall, precision + recall),
    }


def fire_rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(np.int64)
    return y, np.clip(0.3 * y + 0.7 * rng.random(300), 0, 1)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.8, 1.1])  # 1.1: no fire decided
def test_fire_decision_scores(threshold):
    y, p = fire_rows()
    assert_close(decision_scores(y, p, threshold), decisions_by_hand(y, p, threshold))
    every = np.ones(20, np.int64)  # one class only: every row a fire, then none
    assert_close(decision_scores(every, p[:20], threshold), decisions_by_hand(every, p[:20], threshold))
    assert_close(decision_scores(0 * every, p[:20], threshold), decisions_by_hand(0 * every, p[:20], threshold))


def test_fire_all_scores_keys():
    y, p = fire_rows()
    report = all_scores(y, p, 0.5)
    assert list(report) == [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
    ]
    assert report == {**decision_scores(y, p, 0.5), **ranking_scores(y, p)}


def regression_by_hand(actual: np.ndarray, predicted: np.ndarray) -> dict:
    a, p = actual.astype(np.float64).reshape(-1), predicted.astype(np.float64).reshape(-1)
    if len(a) == 0:
        return dict.fromkeys(("mse_g2", "rmse_g", "mae_g", "r2"), math.nan)
    err = p - a
    mse, total = float((err**2).mean()), float(((a - a.mean()) ** 2).sum())
    r2 = 1 - float((err**2).sum()) / total if total > 0 else math.nan
    return {"mse_g2": mse, "rmse_g": math.sqrt(mse), "mae_g": float(np.abs(err).mean()), "r2": r2}


def regression_cases() -> dict:
    rng = np.random.default_rng(9)
    actual = rng.gamma(2.0, 3.0, 120)
    predicted = actual + rng.normal(0, 1.5, 120)
    constant = np.full(8, 4.0)
    return {
        "random": (actual, predicted),
        "float32": (actual.astype(np.float32), predicted.astype(np.float32)),
        "mean baseline": (actual, np.full_like(actual, actual.mean())),
        "(n, 1) columns": (actual[:, None], predicted[:, None]),
        "one photo": (actual[:1], predicted[:1]),
        "constant actual": (constant, predicted[:8]),
        "constant and exact": (constant, constant.copy()),
        "no photos": (actual[:0], predicted[:0]),
    }


@pytest.mark.parametrize("case", list(regression_cases()))
def test_biomass_regression_metrics(case):
    actual, predicted = regression_cases()[case]
    report = regression_metrics(torch.from_numpy(actual), torch.from_numpy(predicted))
    assert_close(report, regression_by_hand(actual, predicted))


def test_seaice_scores_import_leaves_sklearn_out():
    """The sea-ice serving path imports seaice.scores; sklearn.metrics waits until a score is asked for."""
    code = "import sys, modelmill.seaice.scores; print('sklearn.metrics' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False"
