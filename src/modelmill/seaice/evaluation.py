"""The evaluate stage's work (evaluate.py runs it): the three models on the test split, each
beside the baseline it must beat.

- classifier: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix;
- forecaster: RMSE and MAE per lead day 1-7 for the model, persistence (the last observed
  day repeated), climatology (the training days' mean for that day of year, +-
  evaluate.climatology_window days) and damped anomaly persistence (climatology plus the
  last day's anomaly, damped by its lag correlation on the training days); the skill
  1 - RMSE_model / RMSE_persistence, and the same against the best of the three at each lead.
  On generated data also the ceiling, the simulator run on from the true state with the
  weather's expectation, and the share of the best baseline's gap to it the model closes
  (absent, not 0, for observed data: there is no true state to start from);
- change: IoU, F1, precision, recall for the Siamese network and for the thresholded
  absolute difference of the two dates (its threshold tuned on val); with simulated data also
  `ceiling`, the same scores of the ceiling stage's detector on clean renders of the test pairs
  (ceiling.py), and `ceiling_gap`, its IoU minus the network's (absent for the user's own data).
Land is known, so every change map is scored on sea pixels only. Writes
metrics/metrics.json, metrics/forecast_rmse.csv, metrics/confusion.csv and PNG panels in
metrics/figures/.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..core.io import atomic_output, read_json, write_json
from ..core.torchkit import predict, set_threads
from ..core.vision import Preprocess
from .baselines import (
    anomaly_memory,
    climatology,
    climatology_table,
    damped_persistence,
    difference_score,
    persistence,
    tune_threshold,
)
from .data import CLASSES, forecast_arrays, load_daily, load_set
from .figures import change_panel, forecast_panel
from .models import load_trained
from .params import HISTORY_DAYS, LEAD_DAYS, EvaluateConfig
from .paths import (
    CEILING,
    CONFUSION_FILE,
    DAILY,
    DATASETS,
    FIGURES,
    METRICS_FILE,
    RMSE_COLUMNS,
    RMSE_FILE,
    SPLIT_FILE,
    card_file,
    model_file,
)
from .physics import run_forward
from .scores import class_scores, lead_errors, map_scores, r
from .tasks import EVAL_BATCH, has_clean, pair_images


def evaluate(cfg: EvaluateConfig, folder: str | Path = ".") -> dict:
    start = time.perf_counter()
    folder = Path(folder)
    set_threads(cfg.threads)
    torch.manual_seed(0)
    daily = load_daily(folder / DAILY)
    plan = read_json(folder / SPLIT_FILE, "split")
    sets = folder / DATASETS
    models = {
        name: (read_json(folder / card_file(name), f"train@{name}"), folder / model_file(name))
        for name in ("classifier", "forecaster", "change")
    }
    models = {name: (card, load_trained(path, card, f"train@{name}")) for name, (card, path) in models.items()}
    ceiling = None  # the user's own data: the ceiling stage wrote only a note
    if (folder / model_file(CEILING)).exists():
        card = read_json(folder / card_file(CEILING), CEILING)
        ceiling = card, load_trained(folder / model_file(CEILING), card, CEILING)

    classifier, predicted = evaluate_classifier(models["classifier"], sets)
    forecaster, forecasts = evaluate_forecaster(models["forecaster"][1], daily, plan, sets, cfg)
    change, maps = evaluate_change(models["change"], daily, sets, ceiling)
    metrics = {
        "classifier": classifier,
        "forecaster": forecaster,
        "change": change,
        "targets": targets(classifier, forecaster, change),
    }

    write_json(folder / METRICS_FILE, metrics)
    with atomic_output(folder / CONFUSION_FILE) as tmp, open(tmp, "w", newline="") as f:
        f.write("actual,predicted\n")
        f.writelines(f"{CLASSES[a]},{CLASSES[p]}\n" for a, p in predicted)
    with atomic_output(folder / RMSE_FILE) as tmp, open(tmp, "w", newline="") as f:
        f.write(",".join(["lead_day", *RMSE_COLUMNS]) + "\n")
        for k in range(LEAD_DAYS):
            # observed data has no ceiling: its cells stay empty, so `dvc plots` still finds the column
            cells = [str(forecaster[name]["rmse"][k]) if name in forecaster else "" for name in RMSE_COLUMNS]
            f.write(",".join([str(k + 1), *cells]) + "\n")
    draw_panels(folder / FIGURES, cfg.panels, daily, forecasts, maps)
    print(
        f"evaluate: classifier macro-F1 {classifier['macro_f1']:.4f}; forecaster skill by lead "
        + " ".join(f"{s:+.3f}" for s in forecaster["skill"])
        + f"; change IoU {change['model']['iou']:.4f} vs baseline {change['baseline']['iou']:.4f}"
        + (f", ceiling {change['ceiling']['iou']:.4f}" if "ceiling" in change else ", no ceiling (own data)")
        + " -> "
        f"{folder / METRICS_FILE} in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    return metrics


def evaluate_classifier(model, sets: Path) -> tuple[dict, np.ndarray]:
    card, net = model
    test = load_set("classifier", "test", sets)
    logits = predict(
        net,
        torch.from_numpy(test["x"]),
        Preprocess(card["mean"], card["std"], scale=1.0),
        EVAL_BATCH,
        "fp32",
        len(CLASSES),
    )
    predicted = logits.argmax(1).numpy()
    return {**class_scores(test["y"], predicted, CLASSES), "test_tiles": len(predicted)}, np.stack(
        [test["y"], predicted], 1
    )


BASELINES = ("persistence", "climatology", "damped_persistence")


def evaluate_forecaster(net, daily, plan: dict, sets: Path, cfg: EvaluateConfig) -> tuple[dict, dict]:
    starts = load_set("forecaster", "test", sets)["starts"]
    history, truth = forecast_arrays(daily, starts)
    forecast = predict(net, torch.from_numpy(history), lambda b: b, EVAL_BATCH, "fp32", 0).numpy()
    ocean = ~daily.land
    forecast = np.where(ocean, np.clip(forecast, 0, 1), 0).astype(np.float32)
    spans = [tuple(span) for span in plan["train"]["segments"]]
    train_days = np.array(sorted({d for a, b in spans for d in range(a, b)}))
    table = climatology_table(daily.concentration, daily.dates, train_days, cfg.climatology_window)
    memory = anomaly_memory(daily.concentration, daily.dates, spans, table, ocean)
    baselines = {
        "persistence": persistence(history),
        "climatology": climatology(table, daily.dates, starts),
        "damped_persistence": damped_persistence(history, table, daily.dates, starts, memory),
    }
    scores = {
        "model": lead_errors(truth, forecast, ocean),
        **{name: lead_errors(truth, f, ocean) for name, f in baselines.items()},
    }
    skill = [r(1 - m / p) if p > 0 else 0.0 for m, p in zip(scores["model"]["rmse"], scores["persistence"]["rmse"])]
    best = [min(BASELINES, key=lambda name: scores[name]["rmse"][k]) for k in range(LEAD_DAYS)]
    best_rmse = [scores[name]["rmse"][k] for k, name in enumerate(best)]
    means = {"model": r(np.mean(scores["model"]["rmse"])), "best_baseline": r(np.mean(best_rmse))}
    result = {
        **scores,
        "skill": skill,
        "anomaly_memory": [r(m) for m in memory],
        "best_baseline": best,
        "skill_vs_best_baseline": [r(1 - m / b) if b > 0 else 0.0 for m, b in zip(scores["model"]["rmse"], best_rmse)],
        # one number each over the leads, for `dvc metrics show` (it leaves the per-lead lists out)
        "rmse_mean": means,
        "test_windows": len(starts),
    }
    if daily.forcing is not None:  # generated data: the true state is known
        ceiling = ceiling_scores(daily, starts, truth, ocean, scores["model"]["rmse"], best_rmse)
        means["ceiling"] = r(np.mean(ceiling["ceiling"]["rmse"]))
        result.update(ceiling)
    return result, {
        "history": history,
        "truth": truth,
        "forecast": forecast,
        "persistence": baselines["persistence"],
        "starts": starts,
    }


def ceiling_scores(
    daily, starts: np.ndarray, truth: np.ndarray, ocean: np.ndarray, model_rmse: list, best_rmse: list
) -> dict:
    """The ceiling's errors on the same windows and cells, and the share of the best baseline's gap
    to it that the model closes at each lead (1: the ceiling; 0: no better than the baseline)."""
    ceiling = np.stack([run_forward(daily, s + HISTORY_DAYS - 1, LEAD_DAYS) for s in starts])
    errors = lead_errors(truth, ceiling, ocean)
    closed = [(b - m) / (b - c) if b > c else 0.0 for m, b, c in zip(model_rmse, best_rmse, errors["rmse"])]
    return {"ceiling": errors, "gap_closed": [r(v) for v in closed], "gap_closed_mean": r(np.mean(closed))}


def evaluate_change(model, daily, sets: Path, ceiling=None) -> tuple[dict, dict]:
    test, val = load_set("change", "test", sets), load_set("change", "val", sets)
    ocean = ~daily.land
    predicted = change_maps(model, pair_images(test))
    threshold, val_iou = tune_threshold(
        difference_score(val["before"], val["after"]), val["change"].astype(bool), ocean
    )
    baseline = difference_score(test["before"], test["after"]) > threshold
    truth = test["change"].astype(bool)
    model_scores = map_scores(truth, predicted, ocean)
    scores = {
        "model": model_scores,
        "baseline": map_scores(truth, baseline, ocean),
        "baseline_threshold": r(threshold),
        "baseline_val_iou": r(val_iou),
        "test_pairs": len(truth),
        "changed_fraction": r(truth[:, ocean].mean()),
    }
    if ceiling is not None and has_clean(test):
        best = map_scores(truth, change_maps(ceiling, pair_images(test, clean=True)), ocean)
        scores |= {"ceiling": best, "ceiling_gap": r(best["iou"] - model_scores["iou"])}
    return scores, {"test": test, "model": predicted & ocean, "baseline": baseline & ocean}


def change_maps(model, pairs: np.ndarray) -> np.ndarray:
    """(n, H, W) bool: where the (card, network) `model` sees change in (n, H, W, 6) pairs."""
    card, net = model
    pre = Preprocess(card["mean"], card["std"], scale=1.0)
    return predict(net, torch.from_numpy(pairs), pre, EVAL_BATCH, "fp32", 0).numpy() > 0


def targets(classifier: dict, forecaster: dict, change: dict) -> dict:
    """The issue's quality targets, met or not, on these test numbers."""
    met = {
        "classifier_macro_f1_at_least_0.95": classifier["macro_f1"] >= 0.95,
        "forecaster_skill_positive_every_lead": all(s > 0 for s in forecaster["skill"]),
        "forecaster_below_climatology_at_lead_7": forecaster["model"]["rmse"][-1]
        < forecaster["climatology"]["rmse"][-1],
        "forecaster_beats_best_baseline_every_lead": all(s > 0 for s in forecaster["skill_vs_best_baseline"]),
        "change_iou_above_baseline": change["model"]["iou"] > change["baseline"]["iou"],
        "change_iou_at_least_0.6": change["model"]["iou"] >= 0.6,
    }
    if "gap_closed_mean" in forecaster:
        met["forecaster_closes_half_the_gap_to_ceiling"] = forecaster["gap_closed_mean"] >= 0.5
    return met


def draw_panels(out: Path, n: int, daily, forecasts: dict, maps: dict) -> None:
    with atomic_output(out, directory=True) as tmp:
        count = min(n, len(forecasts["starts"]))
        for i in np.linspace(0, len(forecasts["starts"]) - 1, count).round().astype(int) if count else []:
            first = daily.dates[forecasts["starts"][i] + 30]
            forecast_panel(
                tmp / f"forecast_{i:03d}.png",
                forecasts["truth"][i],
                forecasts["forecast"][i],
                forecasts["persistence"][i],
                daily.land,
                f"7-day forecast from {first} (test)",
            )
        test = maps["test"]
        count = min(n, len(test["change"]))
        for i in np.linspace(0, len(test["change"]) - 1, count).round().astype(int) if count else []:
            d1, d2 = (daily.dates[d] for d in test["days"][i])
            change_panel(
                tmp / f"change_{i:03d}.png",
                test["before"][i],
                test["after"][i],
                test["change"][i],
                maps["model"][i],
                maps["baseline"][i],
                f"change {d1} -> {d2} (test)",
            )
