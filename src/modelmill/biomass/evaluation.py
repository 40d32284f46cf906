"""The evaluate stage's work (evaluate.py runs it): the model against the training-mean
baseline on the test plants, in grams, and beside the floor when the generator made the data.

Writes metrics/metrics.json (MSE, RMSE, MAE, R^2 for the model and the baseline, the ratio of
their RMSEs; for synthetic data the floor, see `floor`), metrics/by_age.csv (error per age bin),
metrics/predictions.csv (actual vs predicted, a `dvc plots` scatter),
metrics/predicted_vs_actual.png, and metrics/run_log.json: the git commit, every param section
and each artifact's path and sha256, so a number can be traced to the code, settings and files
that made it.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..core.cli import UserError
from ..core.io import file_digest, write_csv, write_json
from ..core.torchkit import set_threads
from .card import ModelCard, git_commit
from .data import load_arrays
from .figures import save_figure, scatter
from .model import INFERENCE_PRECISION, load_model, predict_target, preprocess
from .params import EvaluateConfig, Params
from .paths import (
    BY_AGE_FILE,
    DATA_REPORT,
    METRICS_FILE,
    MODEL_CARD,
    MODEL_FILE,
    PREDICTIONS_FILE,
    PREPARED_DIR,
    RUN_LOG,
    SCATTER_FILE,
)
from .scoring import FLOOR_KEYS, paired_bootstrap_ratio, regression_metrics
from .synthetic import grams_from_share


def predict_grams(
    model: torch.nn.Module, card: ModelCard, images: torch.Tensor, batch_size: int, precision: str
) -> torch.Tensor:
    pre = preprocess(card.input_size, next(model.parameters()).device)
    return card.scale.decode(predict_target(model, images, pre, batch_size, precision, card.views))


def age_bins(age: np.ndarray, width: int) -> list[tuple[str, np.ndarray]]:
    """(label, mask) per age bin of `width` days that holds photos, then "unknown" for rows without an age."""
    bins = []
    known = ~np.isnan(age)
    if known.any():
        for low in range(int(age[known].min()) // width * width, int(age[known].max()) + 1, width):
            mask = known & (age >= low) & (age < low + width)
            if mask.any():
                bins.append((f"{low}-{low + width - 1}", mask))
    if (~known).any():
        bins.append(("unknown", ~known))
    return bins


def evaluate(
    params: Params,
    prepared: str | Path = PREPARED_DIR,
    model_path: str | Path = MODEL_FILE,
    card_path: str | Path = MODEL_CARD,
) -> dict:
    cfg: EvaluateConfig = params.evaluate
    card = ModelCard.read(card_path)
    set_threads(0)
    model = load_model(model_path, card.arch, card.hidden)
    test = load_arrays(prepared, "test")
    if len(test["y"]) == 0:
        raise UserError("the test split holds no photos; check the split fractions")
    actual = torch.from_numpy(test["y"]).double()
    predicted = predict_grams(model, card, torch.from_numpy(test["x"]), cfg.batch_size, INFERENCE_PRECISION)
    baseline = torch.full_like(actual, card.train_mean_g)
    model_scores, base_scores = regression_metrics(actual, predicted), regression_metrics(actual, baseline)
    rows = []
    for label, mask in age_bins(test["age"], cfg.age_bin_days):
        m = torch.from_numpy(mask)
        s, b = regression_metrics(actual[m], predicted[m]), regression_metrics(actual[m], baseline[m])
        rows.append(
            {
                "age_days": label,
                "images": int(mask.sum()),
                "mean_g": _r(float(actual[m].mean())),
                "rmse_g": _r(s["rmse_g"]),
                "mae_g": _r(s["mae_g"]),
                "baseline_rmse_g": _r(b["rmse_g"]),
            }
        )
    metrics = {
        "test_images": len(actual),
        "test_plants": len(set(test["plant"].tolist())),
        "model": {k: _r(v) for k, v in model_scores.items()},
        "baseline_mean": {k: _r(v) for k, v in base_scores.items()},
        "rmse_ratio_to_baseline": _r(model_scores["rmse_g"] / base_scores["rmse_g"]),
        "baseline_prediction_g": _r(card.train_mean_g),
    }
    if "canopy_share" in test:  # the user's own data has no floor: the fields are absent
        metrics.update(
            floor(cfg, actual.numpy(), predicted.numpy(), model_scores["rmse_g"], test["canopy_share"], test["plant"])
        )
    write_json(METRICS_FILE, metrics)
    write_csv(BY_AGE_FILE, rows)
    write_csv(
        PREDICTIONS_FILE,
        [
            {"image": str(n), "plant": str(p), "actual_g": _r(float(a)), "predicted_g": _r(float(q))}
            for n, p, a, q in zip(test["image"], test["plant"], actual, predicted)
        ],
    )
    save_figure(scatter(actual.numpy(), predicted.numpy(), model_scores, card.train_mean_g), SCATTER_FILE)
    write_json(RUN_LOG, run_log(params, card, metrics, Path(prepared), Path(model_path), Path(card_path)))
    return metrics


def floor(
    cfg: EvaluateConfig,
    actual: np.ndarray,
    predicted: np.ndarray,
    model_rmse: float,
    shares: np.ndarray,
    plants: np.ndarray,
) -> dict:
    """The floor on the test photos and the model's distance to it.

    The generator draws each photo from the same weight as its label, with a jittered canopy
    share, so the best reading of a photo is its drawn share turned back into grams through the
    generator's own weight -> canopy relation: what is left is the render's jitter alone.
    `floor`: the scores of that reading; `floor_rmse_g`: its RMSE; `rmse_gap_g`: the model's RMSE
    (`model_rmse`, evaluate's score of `predicted`) minus it; `rmse_over_floor`: their ratio, with
    `rmse_over_floor_ci95` its 95% interval over `evaluate.bootstrap_resamples` paired resamples of
    the test plants."""
    read_back = grams_from_share(shares)
    scores = regression_metrics(torch.from_numpy(actual), torch.from_numpy(read_back))
    ratio, low, high = paired_bootstrap_ratio(
        actual, predicted, read_back, plants, cfg.bootstrap_resamples, cfg.bootstrap_seed
    )
    return {
        "floor": {k: _r(v) for k, v in scores.items()},
        "floor_rmse_g": _r(scores["rmse_g"]),
        "rmse_gap_g": _r(model_rmse - scores["rmse_g"]),
        "rmse_over_floor": _r(ratio),
        "rmse_over_floor_ci95": {"low": _r(low), "high": _r(high), "resamples": cfg.bootstrap_resamples},
    }


def run_log(params: Params, card: ModelCard, metrics: dict, prepared: Path, model_path: Path, card_path: Path) -> dict:
    artifacts = [
        model_path,
        card_path,
        *(prepared / f"{n}.npz" for n in ("train", "val", "test")),
        Path(DATA_REPORT),
        METRICS_FILE,
        BY_AGE_FILE,
        PREDICTIONS_FILE,
        SCATTER_FILE,
    ]
    return {
        "git_commit": git_commit(),
        "trained_at_commit": card.git_commit,
        "params": {name: asdict(getattr(params, name)) for name in ("data", "verify", "split", "train", "evaluate")},
        "artifacts": {str(p): file_digest(p) for p in artifacts if p.exists()},
        "best_epoch": card.best_epoch,
        "val_rmse_g": card.val_rmse_g,
        "test": {k: metrics[k] for k in ("model", "baseline_mean", *FLOOR_KEYS) if k in metrics},
    }


def _r(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)
