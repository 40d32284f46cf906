"""Scores shared by training (val) and evaluate (test): classes, maps and forecasts, by scikit-learn.

sklearn.metrics is imported in each function: the serving path imports this module, and would
otherwise load it (about a second) for nothing.
"""

from __future__ import annotations

from typing import SupportsFloat

import numpy as np

DIGITS = 6


def r(value: SupportsFloat) -> float:
    return round(float(value), DIGITS)


def class_scores(y: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix; 0 for a class never
    predicted or absent from `y`, and for every score of no tiles."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    if len(y):
        precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
        matrix, accuracy = confusion_matrix(y, predicted, labels=labels), accuracy_score(y, predicted)
    else:  # sklearn refuses empty input; no tiles has always scored 0
        precision = recall = f1 = support = np.zeros(len(labels))
        matrix, accuracy = np.zeros((len(labels), len(labels)), np.int64), 0.0
    per_class = {
        name: {"precision": r(precision[k]), "recall": r(recall[k]), "f1": r(f1[k]), "support": int(support[k])}
        for k, name in enumerate(classes)
    }
    return {
        "accuracy": r(accuracy),
        # the mean of the rounded per-class F1s (not sklearn's macro average): the metrics files' values
        "macro_f1": r(np.mean([v["f1"] for v in per_class.values()])),
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


def map_scores(truth: np.ndarray, predicted: np.ndarray, valid: np.ndarray | None = None) -> dict:
    """IoU, F1, precision and recall of boolean maps, pooled over every (valid) pixel: IoU 1 where both
    maps are empty, precision, recall and F1 0 where undefined."""
    from sklearn.metrics import jaccard_score, precision_recall_fscore_support

    t, p = truth.astype(bool), predicted.astype(bool)
    if valid is not None:
        t, p = t & valid, p & valid
    # sklearn scores the four (truth, predicted) pixel kinds weighted by their counts: the same scores
    # as passing every pixel, which took 10x longer on the default grid's maps (and tune_threshold
    # scores 120 thresholds)
    counts = np.bincount(2 * t.ravel() + p.ravel(), minlength=4)
    kinds = {"y_true": [0, 0, 1, 1], "y_pred": [0, 1, 0, 1], "sample_weight": counts}
    precision, recall, f1, _ = precision_recall_fscore_support(**kinds, average="binary", zero_division=0)
    iou = jaccard_score(**kinds, zero_division=1.0)
    return {"iou": r(iou), "precision": r(precision), "recall": r(recall), "f1": r(f1)}


def lead_errors(truth: np.ndarray, forecast: np.ndarray, ocean: np.ndarray) -> dict[str, list[float]]:
    """RMSE and MAE per lead day of (n, 7, H, W) forecasts, over sea cells."""
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    def by_lead(a: np.ndarray) -> np.ndarray:  # sklearn's outputs are columns: (forecast x sea cell, lead day)
        # float64: a float32 mean over ~10^5 cells drifts in the sixth decimal, the one the file keeps
        return np.moveaxis(a[..., ocean], 1, -1).reshape(-1, a.shape[1]).astype(np.float64)

    t, f = by_lead(truth), by_lead(forecast)
    return {
        "rmse": [r(v) for v in root_mean_squared_error(t, f, multioutput="raw_values")],
        "mae": [r(v) for v in mean_absolute_error(t, f, multioutput="raw_values")],
    }
