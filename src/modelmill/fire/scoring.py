"""Scores, ensemble weights, decision thresholds and curves, shared by ensemble and evaluate."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

DIGITS = 6  # floats in JSON and CSV outputs: enough to compare runs, stable across platforms


def rounded(value: float) -> float:
    return round(float(value), DIGITS)


def ranking_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Threshold-free scores of the probabilities `p` for labels `y`."""
    return {
        "roc_auc": rounded(roc_auc_score(y, p)),
        "average_precision": rounded(average_precision_score(y, p)),
        "log_loss": rounded(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": rounded(brier_score_loss(y, p)),
    }


def weighted_auc(y: np.ndarray, order: np.ndarray, tie_start: np.ndarray, weights: np.ndarray) -> float:
    """ROC AUC of one score over rows counted `weights` times (a bootstrap resample as counts).

    `order` sorts the rows by score, ascending; `tie_start[i]` is True where sorted row i holds a
    higher score than the one before it (ties count half, as roc_auc_score counts them)."""
    w, label = weights[order], y[order]
    group = np.cumsum(tie_start) - 1  # the tie group of each sorted row
    negatives = np.bincount(group, w * (label == 0))
    positives = np.bincount(group, w * (label == 1))
    below = np.cumsum(negatives) - negatives  # negatives scored strictly lower than each group
    return float((positives * (below + 0.5 * negatives)).sum() / (positives.sum() * negatives.sum()))


def paired_bootstrap_gap(
    y: np.ndarray, p_reference: np.ndarray, p_model: np.ndarray, resamples: int, seed: int
) -> tuple[float, float, float]:
    """ROC AUC of `p_reference` minus that of `p_model` on the rows `y`, and the 2.5th and 97.5th
    percentiles of that gap over `resamples` bootstrap resamples of the rows (seeded).

    Paired: each resample draws the rows once and scores both on the same rows, so the interval
    is that of the gap itself, much narrower than the two AUCs' own intervals. A resample
    lacking either class (possible only for tiny test sets) is drawn again."""
    y = np.asarray(y)
    n = len(y)
    prepared = []
    for p in (p_reference, p_model):
        order = np.argsort(p, kind="stable")
        tie_start = np.r_[True, np.diff(p[order]) > 0]
        prepared.append((order, tie_start))
    rng = np.random.default_rng(seed)
    gaps = np.empty(resamples)
    done = 0
    while done < resamples:
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        fires = counts[y == 1].sum()
        if fires == 0 or fires == n:
            continue
        gaps[done] = weighted_auc(y, *prepared[0], counts) - weighted_auc(y, *prepared[1], counts)
        done += 1
    ones = np.ones(n)
    gap = weighted_auc(y, *prepared[0], ones) - weighted_auc(y, *prepared[1], ones)
    low, high = np.percentile(gaps, [2.5, 97.5])
    return gap, float(low), float(high)


def decision_scores(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Scores of the decisions p >= threshold; precision (no fire decided) and recall (no fire to find)
    are 0 where undefined."""
    actual, fire = (y == 1).astype(np.int64), (p >= threshold).astype(np.int64)
    precision, recall, f1, _ = precision_recall_fscore_support(actual, fire, average="binary", zero_division=0)
    return {
        "accuracy": rounded(accuracy_score(actual, fire)),
        "precision": rounded(precision),
        "recall": rounded(recall),
        "f1": rounded(f1),
    }


def all_scores(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    return {**decision_scores(y, p, threshold), **ranking_scores(y, p)}


def ensemble_weights(val_scores: dict[str, dict[str, float]], score: str, temperature: float) -> dict[str, float]:
    """w_i ∝ exp(s_i / temperature), s_i = val ROC AUC, or minus val log loss (higher is better for both)."""
    s = {name: scores["roc_auc"] if score == "roc_auc" else -scores["log_loss"] for name, scores in val_scores.items()}
    best = max(s.values())
    raw = {name: math.exp((v - best) / temperature) for name, v in s.items()}  # shifted: no overflow
    total = sum(raw.values())
    return {name: rounded(v / total) for name, v in raw.items()}


def choose_threshold(y: np.ndarray, p: np.ndarray, rule: str, recall_floor: float) -> float:
    """The decision threshold on p: the one with the best F1 (`max_f1`), or the highest one that
    still finds `recall_floor` of the fires (`recall_floor`), so that there are fewest false alarms.

    Placed halfway between the chosen row's p and the next lower p, not on the row itself: the
    same decisions on these rows, but none of them within rounding of the threshold, so rounding
    it to DIGITS or scoring in float32 (the ONNX export) cannot flip one."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if rule == "max_f1":
        f1 = np.divide(
            2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
        )
        best = int(np.argmax(f1))
    else:
        best = int(np.flatnonzero(recall >= recall_floor).max())  # recall[0] is 1: never empty
    chosen = float(thresholds[best])
    below = p[p < chosen]
    return (chosen + float(below.max())) / 2 if below.size else chosen / 2


def roc_on_grid(y: np.ndarray, p: np.ndarray, fpr_grid: np.ndarray) -> np.ndarray:
    """The best true-positive rate reached at each false-positive rate of the grid."""
    fpr, tpr, _ = roc_curve(y, p)
    return tpr[np.searchsorted(fpr, fpr_grid, side="right") - 1]


def pr_on_grid(y: np.ndarray, p: np.ndarray, recall_grid: np.ndarray) -> np.ndarray:
    """Interpolated precision: the best precision at a recall of at least each grid value."""
    precision, recall, _ = precision_recall_curve(y, p)
    recall, precision = recall[::-1], precision[::-1]  # recall ascending
    best_beyond = np.maximum.accumulate(precision[::-1])[::-1]
    return best_beyond[np.minimum(np.searchsorted(recall, recall_grid, side="left"), len(recall) - 1)]


def calibration(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Per equal-width bin of p that holds rows: mean predicted p, observed fire rate, rows."""
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "predicted": rounded(p[inside].mean()),
                    "observed": rounded(y[inside].mean()),
                    "rows": int(inside.sum()),
                }
            )
    return rows
