"""The baselines each model must beat, fitted on train (climatology, the anomaly's memory) or val
(the change threshold) only."""

from __future__ import annotations

import numpy as np

from .params import HISTORY_DAYS, LEAD_DAYS
from .physics import day_of_year
from .scores import map_scores

DAYS_IN_YEAR = 366


def persistence(history: np.ndarray) -> np.ndarray:
    """(n, 30, H, W) -> (n, 7, H, W): the last observed day, repeated."""
    return np.repeat(history[:, -1:], LEAD_DAYS, axis=1)


def climatology_table(concentration: np.ndarray, dates: np.ndarray, train_days: np.ndarray, window: int) -> np.ndarray:
    """(366, H, W) mean concentration of the training days within +-window days of each day of year."""
    doy = day_of_year(dates[train_days])
    fields = concentration[train_days].astype(np.float64)
    table = np.zeros((DAYS_IN_YEAR, *concentration.shape[1:]))
    for d in range(DAYS_IN_YEAR):
        distance = np.abs(doy - d)
        near = np.minimum(distance, DAYS_IN_YEAR - distance) <= window
        table[d] = fields[near].mean(0) if near.any() else fields.mean(0)
    return table.astype(np.float32)


def climatology(table: np.ndarray, dates: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(n, 7, H, W): the climatology of each forecast's target days."""
    targets = starts[:, None] + HISTORY_DAYS + np.arange(LEAD_DAYS)
    return table[day_of_year(dates[targets])]


def anomaly_memory(
    concentration: np.ndarray, dates: np.ndarray, spans: list, table: np.ndarray, ocean: np.ndarray
) -> np.ndarray:
    """(7,) lag-k correlation, k = 1..7, of the anomaly from `table` over the sea cells of day pairs k
    apart inside each (training) span: how much of today's anomaly is left k days on."""
    anomaly = concentration - table[day_of_year(dates)]
    memory = np.zeros(LEAD_DAYS)
    for k in range(1, LEAD_DAYS + 1):
        products, first, later = 0.0, 0.0, 0.0
        for a, b in spans:
            if b - a > k:
                x, y = anomaly[a : b - k][:, ocean].astype(np.float64), anomaly[a + k : b][:, ocean].astype(np.float64)
                products, first, later = products + (x * y).sum(), first + (x * x).sum(), later + (y * y).sum()
        memory[k - 1] = products / np.sqrt(first * later) if first > 0 and later > 0 else 0.0
    return memory


def damped_persistence(
    history: np.ndarray, table: np.ndarray, dates: np.ndarray, starts: np.ndarray, memory: np.ndarray
) -> np.ndarray:
    """(n, 7, H, W): each target day's climatology plus the last observed day's anomaly, damped by
    `memory` (anomaly_memory), in 0-1."""
    last = table[day_of_year(dates[starts + HISTORY_DAYS - 1])][:, None]
    anomaly = history[:, -1:] - last
    forecast = climatology(table, dates, starts) + memory.astype(np.float32)[None, :, None, None] * anomaly
    return np.clip(forecast, 0, 1)


def difference_score(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(n, H, W) mean absolute difference of the two dates' uint8 channels."""
    return np.abs(after.astype(np.int16) - before.astype(np.int16)).mean(-1)


def tune_threshold(score: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """The threshold on `score` with the best IoU on these (val) maps, and that IoU."""
    best = (0.0, -1.0)
    for threshold in np.unique(np.quantile(score[..., valid], np.linspace(0.5, 0.999, 120))):
        iou = map_scores(truth, score > threshold, valid)["iou"]
        if iou > best[1]:
            best = (float(threshold), iou)
    return best
