"""The figures a registry version of each sea-ice model publishes beside it (ModelArtifact.figures),
from the evaluate stage's test-split outputs at publish time: the classifier's confusion matrix;
the forecaster's RMSE by lead day against its baselines (and its ceiling), with the forecast panels
evaluate drew; the change model's change-map panels (those two as evaluate wrote them)."""

from __future__ import annotations

from pathlib import Path

from ..core import charts
from .data import CLASSES
from .paths import CONFUSION_FILE, FIGURES, RMSE_COLUMNS, RMSE_FILE


def figures(name: str, folder: Path) -> dict[str, bytes]:
    found = charts.FigureSet(Path(folder), f"the sea-ice {name}")
    if name == "classifier":
        found.draw("confusion_matrix.png", [CONFUSION_FILE], _confusion)
    elif name == "forecaster":
        found.draw("rmse_by_lead.png", [RMSE_FILE], _rmse_by_lead)
        found.copy(f"{FIGURES}/forecast_*.png", required=False)  # params may ask for no panels
    elif name == "change":
        found.copy(f"{FIGURES}/change_*.png", required=False)
    return found.result()


def _confusion(path: Path) -> bytes:
    columns = charts.read_columns(path)
    return charts.confusion_matrix(columns["actual"], columns["predicted"], CLASSES, "test tiles")


def _rmse_by_lead(path: Path) -> bytes:
    columns = charts.read_columns(path)
    lead = charts.numbers(columns["lead_day"])
    drawn = [name for name in RMSE_COLUMNS if name in columns and all(columns[name])]  # no ceiling: observed data
    series = {name: (lead, charts.numbers(columns[name])) for name in drawn}
    panel = charts.Panel(series, "lead day", "RMSE of ice concentration", whole_x=True)
    return charts.line_chart([panel], "test split: forecast error by lead")
