"""The figures a registry version of the biomass model publishes beside it (artifact.figures): the
eda stage's figures and evaluate's predicted-vs-actual scatter as those stages wrote them, and,
drawn at publish time, the test RMSE by plant age against the mean baseline and the training curves."""

from __future__ import annotations

from pathlib import Path

from ..core import charts
from .paths import BY_AGE_FILE, EDA_DIR, HISTORY_FILE, SCATTER_FILE


def figures(folder: Path) -> dict[str, bytes]:
    found = charts.FigureSet(Path(folder), "the biomass model")
    found.copy(f"{EDA_DIR}/*.png")
    found.copy(str(SCATTER_FILE))
    found.draw("rmse_by_age.png", [BY_AGE_FILE], _rmse_by_age)
    found.draw("training_curves.png", [HISTORY_FILE], _curves)
    return found.result()


def _rmse_by_age(path: Path) -> bytes:
    columns = charts.read_columns(path)
    bins = columns["age_days"]  # labels such as "0-7": drawn in their order, one point each
    x = [float(i) for i in range(len(bins))]
    series = {
        "model": (x, charts.numbers(columns["rmse_g"])),
        "mean baseline": (x, charts.numbers(columns["baseline_rmse_g"])),
    }
    panel = charts.Panel(series, "plant age (days)", "RMSE (g)", xticks=tuple(bins))
    return charts.line_chart([panel], "test split: error by age")


def _curves(history: Path) -> bytes:
    return charts.line_chart(charts.history_panels(charts.read_columns(history)), "training")
