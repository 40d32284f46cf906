"""The figures a registry version of the EuroSAT model publishes beside it (artifact.figures): its
test confusion matrix and its training curves, drawn from the pipeline's outputs at publish time."""

from __future__ import annotations

import json
from pathlib import Path

from ..core import charts
from .paths import HISTORY_FILE, MODEL_CARD, PREDICTIONS_FILE


def figures(folder: Path) -> dict[str, bytes]:
    found = charts.FigureSet(Path(folder), "the landcover model")
    found.draw("confusion_matrix.png", [PREDICTIONS_FILE], lambda path: _confusion(path, Path(folder) / MODEL_CARD))
    found.draw("training_curves.png", [HISTORY_FILE], _curves)
    return found.result()


def _confusion(predictions: Path, card: Path) -> bytes:
    columns = charts.read_columns(predictions)
    classes = json.loads(card.read_text()).get("classes", []) if card.exists() else []
    return charts.confusion_matrix(columns["actual"], columns["predicted"], classes, "test split")


def _curves(history: Path) -> bytes:
    return charts.line_chart(charts.history_panels(charts.read_columns(history)), "training")
