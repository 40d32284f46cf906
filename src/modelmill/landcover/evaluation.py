"""The evaluate stage's work (evaluate.py runs it): the trained model on the held-out test
split, and nothing else.

Writes metrics/metrics.json (accuracy, macro-F1, loss, per-class precision/recall/F1;
read by `dvc metrics`) and metrics/test_predictions.csv (one row per test image, drawn
as a confusion matrix by `dvc plots`).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from torch import nn

from ..core.cli import UserError
from ..core.hardware import pick_device
from ..core.io import atomic_output, write_json
from ..core.torchkit import memory_format, set_threads
from ..core.vision import Preprocess
from .card import ModelCard
from .data import load_tensors
from .model import load_model, predict
from .params import EvaluateConfig
from .paths import METRICS_FILE, MODEL_CARD, MODEL_FILE, PREDICTIONS_FILE, PREPARED_DIR
from .transforms import dihedral_views


def dihedral_logits(
    model, images: torch.Tensor, preprocess: Preprocess, batch_size: int, precision: str
) -> torch.Tensor:
    """Mean logits over the 8 flips/rotations of each tile (overhead imagery has no 'up')."""
    return sum(predict(model, view, preprocess, batch_size, precision) for view in dihedral_views(images)) / 8


def class_scores(y_true: torch.Tensor, y_pred: torch.Tensor, classes: list[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support; 0 for a class never predicted or
    absent from `y_true`."""
    actual, predicted = y_true.cpu().numpy(), y_pred.cpu().numpy()
    precision, recall, f1, support = precision_recall_fscore_support(
        actual, predicted, labels=list(range(len(classes))), zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(actual, predicted)), 6),
        "macro_f1": round(float(f1.mean()), 6),
        "per_class": {
            c: {
                "precision": round(float(precision[i]), 6),
                "recall": round(float(recall[i]), 6),
                "f1": round(float(f1[i]), 6),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
    }


def evaluate(
    cfg: EvaluateConfig,
    prepared: str | Path = PREPARED_DIR,
    model_path: str | Path = MODEL_FILE,
    card_path: str | Path = MODEL_CARD,
    metrics_out: str | Path = METRICS_FILE,
    predictions_out: str | Path = PREDICTIONS_FILE,
) -> dict:
    set_threads(0)
    card = ModelCard.read(card_path)
    classes = card.classes
    device = pick_device("auto")
    model = load_model(model_path, card.arch, classes).to(device, memory_format=memory_format(card.channels_last))
    x_test, y_test = load_tensors(prepared, "test")
    if len(x_test) == 0:
        raise UserError("the test split is empty; check data.split")
    preprocess = Preprocess(
        card.mean, card.std, input_size=card.input_size, channels_last=card.channels_last, device=device
    )
    precision = card.precision
    if cfg.tta:
        logits = dihedral_logits(model, x_test, preprocess, cfg.batch_size, precision).cpu()
    else:
        logits = predict(model, x_test, preprocess, cfg.batch_size, precision).cpu()
    y_pred = logits.argmax(1)
    metrics = {
        **class_scores(y_test, y_pred, classes),
        "loss": round(float(nn.functional.cross_entropy(logits, y_test)), 6),
        "test_images": len(y_test),
        "tta": cfg.tta,
    }
    metrics = {k: metrics[k] for k in ("accuracy", "macro_f1", "loss", "test_images", "tta", "per_class")}
    write_json(metrics_out, metrics)
    with atomic_output(predictions_out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows([classes[a], classes[p]] for a, p in zip(y_test.tolist(), y_pred.tolist()))
    print(
        f"evaluate: test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
        f"on {len(y_test)} images -> {metrics_out}",
        file=sys.stderr,
    )
    return metrics
