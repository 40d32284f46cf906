"""Stage 5, evaluate: every model and the ensemble on data/split/test.csv, beside the Bayes ceiling.

For each model and the ensemble (each at its own threshold chosen on val by the ensemble
stage): accuracy, precision, recall, F1, ROC AUC, average precision, log loss and Brier
score. When the data came from the simulator, `bayes` holds the threshold-free scores of the
true probability p_fire on the same rows: what no model can beat on average. Writes
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
from .scoring import DIGITS, all_scores, calibration, pr_on_grid, ranking_scores, roc_on_grid, rounded


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
    bayes = None if test.p_fire is None else ranking_scores(test.y, test.p_fire)
    metrics["bayes"] = bayes
    metrics["ensemble_roc_auc_gap_to_bayes"] = (
        None if bayes is None else rounded(bayes["roc_auc"] - metrics["ensemble"]["roc_auc"])
    )
    metrics["test_rows"] = len(test)
    metrics["test_fires"] = int(test.y.sum())
    write_json(metrics_out, metrics)
    write_curves(cfg, test.y, probabilities, roc_out, pr_out, calibration_out)
    ceiling = "no Bayes ceiling (own data)" if bayes is None else f"Bayes ceiling {bayes['roc_auc']:.4f}"
    aucs = ", ".join(f"{name} {metrics[name]['roc_auc']:.4f}" for name in probabilities)
    print(
        f"evaluate: {len(test)} test rows; ROC AUC {aucs}; {ceiling} -> {metrics_out} "
        f"in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    return metrics


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
