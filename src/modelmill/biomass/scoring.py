"""Regression scores in grams, shared by train (val RMSE), evaluate and the bench."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

# What evaluate adds for the generator's data alone (absent, not null, for the user's own data);
# the registry's metadata carries those present.
FLOOR_KEYS = ("floor", "floor_rmse_g", "rmse_gap_g", "rmse_over_floor", "rmse_over_floor_ci95")


def regression_metrics(actual: torch.Tensor, predicted: torch.Tensor) -> dict[str, float]:
    """MSE (g^2), RMSE and MAE (g) and R^2 of `predicted` against `actual` (flattened, float64); NaN
    where undefined: every score of no photos, R^2 of a constant `actual`."""
    a, p = (t.detach().cpu().double().numpy().reshape(-1) for t in (actual, predicted))
    if len(a) == 0:  # sklearn refuses empty input
        return dict.fromkeys(("mse_g2", "rmse_g", "mae_g", "r2"), float("nan"))
    mse = float(mean_squared_error(a, p))
    # NaN rather than sklearn's finite stand-in (1 or 0) when no variance is there to explain
    r2 = float(r2_score(a, p)) if np.ptp(a) > 0 else float("nan")
    return {"mse_g2": mse, "rmse_g": mse**0.5, "mae_g": float(mean_absolute_error(a, p)), "r2": r2}


def paired_bootstrap_ratio(
    actual: np.ndarray, predicted: np.ndarray, reference: np.ndarray, groups: np.ndarray, resamples: int, seed: int
) -> tuple[float, float, float]:
    """RMSE of `predicted` over RMSE of `reference` against `actual`, and the 2.5th and 97.5th
    percentiles of that ratio over `resamples` bootstrap resamples (seeded) of the `groups`.

    Groups, not rows: a plant's snapshots are near-copies, so rows of one plant are not independent
    draws. Paired: each resample scores both on the same plants."""
    _, group = np.unique(np.asarray(groups), return_inverse=True)
    a = np.asarray(actual, dtype=np.float64)
    model = np.bincount(group, (np.asarray(predicted, dtype=np.float64) - a) ** 2)
    ref = np.bincount(group, (np.asarray(reference, dtype=np.float64) - a) ** 2)
    rng = np.random.default_rng(seed)
    n = len(model)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(resamples)]).astype(np.float64)
    low, high = np.percentile(np.sqrt((counts @ model) / (counts @ ref)), [2.5, 97.5])
    return float(np.sqrt(model.sum() / ref.sum())), float(low), float(high)
