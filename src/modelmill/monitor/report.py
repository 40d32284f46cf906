"""A drift report on disk: report.json (drift.compare's report, plus where the rows came from and
when it was made) and report.png (figure.py), both written whole or not at all; and the same two
filed by model, version and time (history.py's layout), locally and beside an S3 capture."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..core import s3
from ..core.cli import UserError
from ..core.drift_params import DriftParams
from ..core.io import write_bytes, write_json
from .capture import S3Sink
from .drift import compare, rows_for
from .history import filed_as, iso_of, local_paths, parse_iso, report_key, stamp_of
from .records import Records

REPORT_JSON = "report.json"
REPORT_PNG = "report.png"


def make_report(
    baseline: dict, records: Records, params: DriftParams, since: str | None = None, *, at: datetime | None = None
) -> dict:
    """The report of `records` against `baseline`, made `at` (default: now), kept as its generated_at_utc."""
    # a folder of damaged lines reads as too few rows: say how many lines were passed over
    skipped = f" ({records.skipped} unreadable line(s) skipped)" if records.skipped else ""
    report = compare(baseline, records.rows, params, source=f"{records.source}{skipped}")
    report = {
        **report,
        "capture": {"source": records.source, "files": records.files, "skipped_lines": records.skipped, "since": since},
    }
    report.setdefault("generated_at_utc", iso_of(at or datetime.now(timezone.utc)))
    return report


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


@dataclass
class Filed:
    """Where a run's report was filed: its copies on disk, the S3 objects it became, and the
    uploads that failed (the local copies stand; the command warns and keeps its exit status)."""

    json: Path
    png: Path
    uploaded: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def file_report(
    report: dict, json_path: str | Path, png_path: str | Path, out_dir: str | Path, capture: str | Path | None = None
) -> Filed:
    """Copy the report's two files to <out>/<model>/<version>/<stamp>.json and .png (the stamp: its
    generated_at_utc, else now) and, when `capture` is s3://bucket/prefix, upload them beside it to
    <prefix>/<model>/<version>/reports/<stamp>.png and .json (figure first: a filed JSON has its figure)."""
    at = parse_iso(report.get("generated_at_utc")) or datetime.now(timezone.utc)
    model, version, stamp = *filed_as(report), stamp_of(at)
    filed_json, filed_png = local_paths(out_dir, model, version, stamp)
    write_bytes(filed_png, Path(png_path).read_bytes())
    write_bytes(filed_json, Path(json_path).read_bytes())
    filed = Filed(filed_json, filed_png)
    if capture is not None and str(capture).startswith("s3://"):
        sink = S3Sink(str(capture))
        for path, suffix, content_type in ((filed_png, ".png", "image/png"), (filed_json, ".json", "application/json")):
            key = report_key(model, version, stamp, suffix)
            try:
                filed.uploaded.append(sink.create(key, path, content_type))
            except s3.AlreadyExists as exc:
                filed.problems.append(f"the report was not filed as {exc}: an object is already there")
            except UserError as exc:  # says which object and why
                filed.problems.append(f"the report was not filed beside the capture: {exc}")
    return filed


def _column(values: list) -> np.ndarray:
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return np.array([v for v in numbers if math.isfinite(v)])


def summary_line(report: dict, json_path: Path, png_path: Path, filed: Filed | None = None) -> str:
    """The one line the command prints: the verdict, the last report's files, and where it was filed."""
    model = report.get("model") or {}
    who = f"{model['name']} {model['version']}" if model.get("name") else f"the {report['line']} line"
    moved = list(report["drifted_features"]) + (["prediction"] if report["prediction"]["drifted"] else [])
    skipped = report["capture"]["skipped_lines"]
    verdict = f"DRIFT in {', '.join(moved)}" if report["drifted"] else "no drift"
    where = [str(filed.json), *(uri for uri in filed.uploaded if uri.endswith(".json"))] if filed else []
    return (
        f"monitor: {who}: {report['rows']} rows from {report['capture']['files']} file(s)"
        + (f" ({skipped} unreadable line(s) skipped)" if skipped else "")
        + f", {report['window']['first']} to {report['window']['last']}: {verdict} -> {json_path}, {png_path}"
        + (f" (filed as {', '.join(where)})" if where else "")
    )
