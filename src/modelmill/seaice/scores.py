"""Scores shared by training (val) and evaluate (test): classes, maps and forecasts."""

from __future__ import annotations

import numpy as np

DIGITS = 6


def r(value: float) -> float:
    return round(float(value), DIGITS)


def confusion(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(actual, predicted) counts."""
    out = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(out, (y, predicted), 1)
    return out


def class_scores(y: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix."""
    matrix = confusion(y, predicted, len(classes))
    per_class = {}
    for k, name in enumerate(classes):
        tp, fp, fn = matrix[k, k], matrix[:, k].sum() - matrix[k, k], matrix[k].sum() - matrix[k, k]
        per_class[name] = {**binary_from_counts(tp, fp, fn), "support": int(matrix[k].sum())}
    return {
        "accuracy": r(np.trace(matrix) / max(matrix.sum(), 1)),
        "macro_f1": r(np.mean([v["f1"] for v in per_class.values()])),
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


def binary_from_counts(tp: float, fp: float, fn: float) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": r(precision), "recall": r(recall), "f1": r(f1)}


def map_scores(truth: np.ndarray, predicted: np.ndarray, valid: np.ndarray | None = None) -> dict:
    """IoU, F1, precision and recall of boolean maps, pooled over every (valid) pixel."""
    t, p = truth.astype(bool), predicted.astype(bool)
    if valid is not None:
        t, p = t & valid, p & valid
    tp, fp, fn = float((t & p).sum()), float((~t & p).sum()), float((t & ~p).sum())
    return {"iou": r(tp / (tp + fp + fn) if tp + fp + fn else 1.0), **binary_from_counts(tp, fp, fn)}


def lead_errors(truth: np.ndarray, forecast: np.ndarray, ocean: np.ndarray) -> dict[str, list[float]]:
    """RMSE and MAE per lead day of (n, 7, H, W) forecasts, over sea cells."""
    err = (forecast - truth)[..., ocean]  # (n, 7, sea cells)
    return {
        "rmse": [r(v) for v in np.sqrt((err**2).mean(axis=(0, 2)))],
        "mae": [r(v) for v in np.abs(err).mean(axis=(0, 2))],
    }
