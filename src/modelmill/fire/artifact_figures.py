"""The figures a registry version of the fire ensemble publishes beside it (artifact.figures): ROC
and precision-recall curves of each member and the ensemble, and their calibration, drawn from
the evaluate stage's test-split curves at publish time."""

from __future__ import annotations

from pathlib import Path

from ..core import charts
from .paths import CALIBRATION_DIR, PR_FILE, ROC_FILE


def figures(folder: Path) -> dict[str, bytes]:
    folder = Path(folder)
    found = charts.FigureSet(folder, "the fire ensemble")
    found.draw("roc.png", [ROC_FILE], lambda path: _curves(path, "false positive rate", "true positive rate", True))
    found.draw("precision_recall.png", [PR_FILE], lambda path: _curves(path, "recall", "precision", False))
    # One CSV per model; none at all reads as the missing input CALIBRATION_DIR/*.csv.
    calibration = [p.relative_to(folder) for p in sorted((folder / CALIBRATION_DIR).glob("*.csv"))]
    found.draw("calibration.png", calibration or [CALIBRATION_DIR / "*.csv"], _calibration)
    return found.result()


def _curves(path: Path, xlabel: str, ylabel: str, chance: bool) -> bytes:
    columns = charts.read_columns(path)
    x_name, *models = columns
    x = charts.numbers(columns[x_name])
    series = {name: (x, charts.numbers(columns[name])) for name in models}
    panel = charts.Panel(series, xlabel, ylabel, diagonal=chance, unit_square=True)
    return charts.line_chart([panel], f"test split: {ylabel} by {xlabel}")


def _calibration(*files: Path) -> bytes:
    series = {}
    for path in files:
        columns = charts.read_columns(path)
        series[path.stem] = (charts.numbers(columns["predicted"]), charts.numbers(columns["observed"]))
    panel = charts.Panel(series, "predicted p(fire)", "observed fire rate", diagonal=True, unit_square=True)
    return charts.line_chart([panel], "test split: calibration")
