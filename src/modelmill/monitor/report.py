"""A drift report on disk: report.json (drift.compare's report, plus where the rows came from) and
report.png (figure.py), both written whole or not at all."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.drift_params import DriftParams
from ..core.io import write_json
from .drift import compare, rows_for
from .records import Records

REPORT_JSON = "report.json"
REPORT_PNG = "report.png"


def make_report(baseline: dict, records: Records, params: DriftParams, since: str | None = None) -> dict:
    report = compare(baseline, records.rows, params, source=records.source)
    return {
        **report,
        "capture": {"source": records.source, "files": records.files, "skipped_lines": records.skipped, "since": since},
    }


def write_report(report: dict, baseline: dict, records: Records, out_dir: str | Path) -> tuple[Path, Path]:
    """report.json and report.png in `out_dir`; their paths."""
    from .figure import draw  # matplotlib only when a figure is drawn

    out = Path(out_dir)
    rows = rows_for(baseline, records.rows, records.source)
    captured = {name: _column([row["features"].get(name) for row in rows]) for name in baseline["feature_order"]}
    prediction = baseline["prediction"]
    answers: list | dict[str, np.ndarray]
    if prediction["kind"] == "value":  # each output's captured values
        answers = {name: _column([row["prediction"].get(name) for row in rows]) for name in prediction["fields"]}
    else:
        answers = [row["prediction"].get(prediction["field"]) for row in rows]
        if prediction["kind"] == "probability":
            answers = list(_column(answers))
    write_json(out / REPORT_JSON, report)
    return out / REPORT_JSON, draw(baseline, report, captured, answers, out / REPORT_PNG)


def _column(values: list) -> np.ndarray:
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return np.array([v for v in numbers if math.isfinite(v)])


def summary_line(report: dict, json_path: Path, png_path: Path) -> str:
    """The one line the command prints."""
    model = report.get("model") or {}
    who = f"{model['name']} {model['version']}" if model.get("name") else f"the {report['line']} line"
    moved = list(report["drifted_features"]) + (["prediction"] if report["prediction"]["drifted"] else [])
    skipped = report["capture"]["skipped_lines"]
    verdict = f"DRIFT in {', '.join(moved)}" if report["drifted"] else "no drift"
    return (
        f"monitor: {who}: {report['rows']} rows from {report['capture']['files']} file(s)"
        + (f" ({skipped} unreadable line(s) skipped)" if skipped else "")
        + f", {report['window']['first']} to {report['window']['last']}: {verdict} -> {json_path}, {png_path}"
    )
