"""Regression scores in grams, shared by train (val RMSE), evaluate and the bench."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score


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
