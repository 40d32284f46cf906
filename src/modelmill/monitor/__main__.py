"""`make monitor`: a drift report of what a served model captured, against its published baseline.

    python -m modelmill.monitor --model fire-ensemble [--version v3|production|latest] --capture <folder|s3://…>
    python -m modelmill.monitor --baseline baseline.json --capture <folder|s3://bucket/prefix>
                                [--out monitor/] [--since 24h|2025-05-01T12:00] [--params params.yaml]

With --model, the baseline is the one published with that version (downloaded from the registry and
checked against its metadata.json) and the thresholds are the model's line's `monitor:` params; a
model its line does not monitor (the sea-ice change detector) is refused in one line saying why.

Reads every captured record of the baseline's model version (capture.py's files; unreadable lines
are skipped and counted), tests each feature and the prediction (drift.py, thresholds from the
`monitor:` section of --params, else the defaults), and writes <out>/report.json and report.png
(the last report), filed as well under <out>/<model>/<version>/<stamp>.json and .png and, for an
s3:// capture, beside it under <prefix>/<model>/<version>/reports/ (history.py: the layout and
the reader; an upload that fails is a `warning:` line, not an error).
Exit status: 0 no drift, 3 drift past the thresholds (for cron or Airflow to alert on), 1 an error
(one `error:` line: a missing or foreign baseline, too few rows, an unreadable capture). This is
the command schedulers run: `make monitor` runs it too, but make exits 2 for any failed recipe,
drift or error alike, so it only says which on its last line.
"""

from __future__ import annotations

import argparse
import sys

from ..core.baseline import read_baseline
from ..core.cli import cli
from ..core.drift_params import DriftParams, load_drift_params
from ..registry.fetch import fetch_baseline
from .records import parse_since, read_records
from .report import file_report, make_report, summary_line, write_report

PROG = "python -m modelmill.monitor"
DRIFT_EXIT = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a registry model: the baseline published with --version of it")
    source.add_argument("--baseline", help="a baseline.json file")
    parser.add_argument("--version", default="latest", help="vN, latest or an alias (with --model; default latest)")
    parser.add_argument("--pipeline", help="the line, when several lines publish under --model's name")
    parser.add_argument("--capture", required=True, help="the capture destination: a folder or s3://bucket/prefix")
    parser.add_argument("--out", default="monitor", help="where the reports go (default: monitor/)")
    parser.add_argument("--since", help="only records from this time (ISO 8601, UTC) or this long ago (90m, 24h, 7d)")
    parser.add_argument("--params", help="a params.yaml whose monitor: section sets the thresholds")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    """The command's work; its exit status."""
    args = parse_args(argv)
    since = parse_since(args.since) if args.since else None
    params_file = args.params
    if args.model:
        baseline, line = fetch_baseline(args.model, args.version, args.pipeline)
        params_file = params_file or str(line.folder / "params.yaml")
    else:
        baseline = read_baseline(args.baseline)
    params = load_drift_params(params_file) if params_file else DriftParams()
    records = read_records(args.capture, since)
    report = make_report(baseline, records, params, since)
    json_path, png_path = write_report(report, baseline, records, args.out)
    filed = file_report(report, json_path, png_path, args.out, args.capture)
    for problem in filed.problems:  # the report stands on disk; the verdict's exit status is kept
        print(f"warning: {problem}", file=sys.stderr)
    print(summary_line(report, json_path, png_path, filed), file=sys.stderr)
    return DRIFT_EXIT if report["drifted"] else 0


@cli
def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
