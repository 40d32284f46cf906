"""Stage 5, evaluate: every model and the ensemble on data/split/test.csv, beside the Bayes ceiling.

For each model and the ensemble (each at its own threshold chosen on val by the ensemble
stage): accuracy, precision, recall, F1, ROC AUC, average precision, log loss and Brier
score. When the data came from the simulator, `bayes` holds the threshold-free scores of the
true probability p_fire on the same rows: what no model can beat on average; `bayes_auc`,
`auc_gap` (the Bayes ROC AUC minus the ensemble's) and `auc_gap_ci95` (its paired bootstrap
interval) say how far the ensemble is from it. With the user's own data these keys are absent. Writes
metrics/metrics.json and, for `dvc plots`, metrics/roc.csv, metrics/pr.csv and
metrics/calibration/<model>.csv.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.cli import cli
from ..core.io import atomic_output, read_json, write_json
from .features import FEATURES, read_split
from .models import check_features, load_model, members, predict_fire
from .params import EvaluateConfig, load_params
from .paths import CALIBRATION_DIR, ENSEMBLE_CARD, ENSEMBLE_FILE, METRICS_FILE, PR_FILE, ROC_FILE, SPLIT_DIR
from .scoring import (
    DIGITS,
    all_scores,
    calibration,
    paired_bootstrap_gap,
    pr_on_grid,
    ranking_scores,
    roc_on_grid,
    rounded,
)


def evaluate(
    cfg: EvaluateConfig,
    split_dir: str | Path = SPLIT_DIR,
    model_path: str | Path = ENSEMBLE_FILE,
    card_path: str | Path = ENSEMBLE_CARD,
    metrics_out: str | Path = METRICS_FILE,
    roc_out: str | Path = ROC_FILE,
    pr_out: str | Path = PR_FILE,
    calibration_out: str | Path = CALIBRATION_DIR,
) -> dict:
    start = time.perf_counter()
    card = read_json(card_path, "ensemble")
    ensemble = load_model(model_path, "ensemble")
    check_features(ensemble, model_path, len(FEATURES))
    test = read_split(split_dir, "test")
    probabilities = {name: predict_fire(model, test.x) for name, model in members(ensemble).items()}
    probabilities["ensemble"] = predict_fire(ensemble, test.x)
    metrics: dict[str, Any] = {
        name: all_scores(test.y, p, card["val"][name]["threshold"]) for name, p in probabilities.items()
    }
    if test.p_fire is not None:  # own data (data.source: csv) has no ceiling: the fields are absent
        metrics.update(ceiling(cfg, test.y, test.p_fire, probabilities["ensemble"]))
    metrics["test_rows"] = len(test)
    metrics["test_fires"] = int(test.y.sum())
    write_json(metrics_out, metrics)
    write_curves(cfg, test.y, probabilities, roc_out, pr_out, calibration_out)
    ceiling_text = (
        f"Bayes ceiling {metrics['bayes_auc']:.4f}, gap {metrics['auc_gap']:.4f} "
        f"(95% {metrics['auc_gap_ci95']['low']:.4f}..{metrics['auc_gap_ci95']['high']:.4f})"
        if "bayes_auc" in metrics
        else "no Bayes ceiling (own data)"
    )
    aucs = ", ".join(f"{name} {metrics[name]['roc_auc']:.4f}" for name in probabilities)
    print(
        f"evaluate: {len(test)} test rows; ROC AUC {aucs}; {ceiling_text} -> {metrics_out} "
        f"in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    return metrics


def ceiling(cfg: EvaluateConfig, y: np.ndarray, p_fire: np.ndarray, p_ensemble: np.ndarray) -> dict[str, Any]:
    """The Bayes ceiling on the test rows and the ensemble's distance to it.

    `bayes`: the threshold-free scores of the true p(fire); `bayes_auc`: its ROC AUC;
    `auc_gap`: bayes_auc minus the ensemble's ROC AUC, on the same rows; `auc_gap_ci95`: the 95%
    interval of that gap over `evaluate.bootstrap_resamples` paired resamples of the rows."""
    bayes = ranking_scores(y, p_fire)
    gap, low, high = paired_bootstrap_gap(y, p_fire, p_ensemble, cfg.bootstrap_resamples, cfg.bootstrap_seed)
    return {
        "bayes": bayes,
        "bayes_auc": bayes["roc_auc"],
        "auc_gap": rounded(gap),
        "auc_gap_ci95": {"low": rounded(low), "high": rounded(high), "resamples": cfg.bootstrap_resamples},
    }


def write_curves(
    cfg: EvaluateConfig,
    y: np.ndarray,
    probabilities: dict[str, np.ndarray],
    roc_out: str | Path,
    pr_out: str | Path,
    calibration_out: str | Path,
) -> None:
    grid = np.linspace(0, 1, cfg.curve_points)
    names = list(probabilities)
    _write_curves(roc_out, ["fpr", *names], [grid, *(roc_on_grid(y, probabilities[n], grid) for n in names)])
    _write_curves(pr_out, ["recall", *names], [grid, *(pr_on_grid(y, probabilities[n], grid) for n in names)])
    with atomic_output(calibration_out, directory=True) as tmp:
        for name in names:
            rows = calibration(y, probabilities[name], cfg.calibration_bins)
            with open(tmp / f"{name}.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, ["predicted", "observed", "rows"], lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)


def _write_curves(dest: str | Path, header: list[str], columns: list[np.ndarray]) -> None:
    with atomic_output(dest) as tmp, open(tmp, "w", newline="") as f:
        f.write(",".join(header) + "\n")
        for row in zip(*columns):
            f.write(",".join(f"{v:.{DIGITS}g}" for v in row) + "\n")


@cli
def main() -> None:
    evaluate(load_params().evaluate)


if __name__ == "__main__":
    main()
