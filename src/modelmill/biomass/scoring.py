"""Regression scores in grams, shared by train (val RMSE), evaluate and the bench."""

from __future__ import annotations

import torch


def regression_metrics(actual: torch.Tensor, predicted: torch.Tensor) -> dict[str, float]:
    """MSE (g^2), RMSE and MAE (g) and R^2 of `predicted` against `actual` (1-D, float64)."""
    actual, predicted = actual.double().reshape(-1), predicted.double().reshape(-1)
    err = predicted - actual
    mse = float((err**2).mean()) if len(err) else float("nan")
    total = float(((actual - actual.mean()) ** 2).sum()) if len(err) else float("nan")
    r2 = 1 - float((err**2).sum()) / total if total > 0 else float("nan")
    return {"mse_g2": mse, "rmse_g": mse**0.5, "mae_g": float(err.abs().mean()) if len(err) else float("nan"), "r2": r2}
