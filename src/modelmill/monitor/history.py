"""Every drift report a model has had: where `python -m modelmill.monitor` files them, and reading them back.

Each run writes the last report, `<out>/report.json` and `report.png`, and files the same two
under the report's model and version, named by the run's UTC time:

    <out>/<model>/<version>/<stamp>.json and <stamp>.png          stamp: 20261207T153012123456Z

and, when the capture it read is `s3://bucket/prefix`, beside that capture:

    s3://bucket/prefix/<model>/<version>/reports/<stamp>.json and <stamp>.png

(capture files are `.jsonl` under `<model>/<version>/<yyyy>/…`, so neither reader sees the other's).
A report of a baseline that names no published model (one built from a workspace) is filed under
its line's name and the version `unknown`.

Reading is for a page that shows a model's history, read-only:

    reports("fire-ensemble", "monitor", "s3://bucket/capture")   # newest first, one dict per report
    latest("fire-ensemble", "monitor")                          # the newest, or None
    figure_bytes(item)                                          # its report.png, from disk or S3

A file that is not a readable report (cut short, not JSON, not a report) is skipped, logged and
listed in `scan(...).skipped`, never raised; an unreachable bucket is one UserError line. This
module imports the core only, and capture.py (the capture's bucket and prefix).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core import s3
from ..core.cli import UserError
from .capture import S3Sink

log = logging.getLogger("modelmill.monitor")

REPORTS = "reports"  # the folder beside a version's capture hours that holds its filed reports
UNKNOWN_VERSION = "unknown"
STAMP = re.compile(r"^\d{8}T\d{12}Z$")  # 20261207T153012123456Z
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


# -- the layout --------------------------------------------------------------------------------


def stamp_of(at: datetime) -> str:
    """A report's file name (without suffix): its UTC time to the microsecond, sortable as text."""
    return at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def iso_of(at: datetime) -> str:
    """The same time as the report's `generated_at_utc`: ISO 8601, UTC, with a Z."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: object) -> datetime | None:
    """A `generated_at_utc` value as a UTC datetime, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def part(name: str) -> str:
    """`name` as one path segment: anything but letters, digits, '.', '_' and '-' becomes '_'
    (a model called '../x' cannot file outside its folder)."""
    safe = _UNSAFE.sub("_", name) or "_"
    return "_" * len(safe) if set(safe) == {"."} else safe


def filed_as(report: dict) -> tuple[str, str]:
    """The (model, version) folder names a report is filed under."""
    model = report.get("model") or {}
    if model.get("name"):
        return part(str(model["name"])), part(str(model.get("version") or UNKNOWN_VERSION))
    return part(str(report.get("line") or "unknown")), UNKNOWN_VERSION


def local_paths(out: str | Path, model: str, version: str, stamp: str) -> tuple[Path, Path]:
    folder = Path(out) / part(model) / part(version)
    return folder / f"{stamp}.json", folder / f"{stamp}.png"


def report_key(model: str, version: str, stamp: str, suffix: str) -> str:
    """The key of a filed report (suffix: '.json' or '.png') under a capture's s3 prefix."""
    return f"{part(model)}/{part(version)}/{REPORTS}/{stamp}{suffix}"


# -- reading -----------------------------------------------------------------------------------


@dataclass
class History:
    reports: list[dict] = field(default_factory=list)  # newest first
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path or s3 uri, why)


def scan(model: str, folder: str | Path | None = "monitor", capture: str | None = None) -> History:
    """Every filed report of `model` under `folder` and, when `capture` is s3://…, beside that
    capture; newest first. A report filed both locally and in S3 by one run is listed once (the
    local copy). Unreadable files are in `skipped`."""
    history = History()
    found: dict[tuple[str, str], dict] = {}
    if capture and str(capture).startswith("s3://"):
        for item in _s3_reports(model, str(capture), history.skipped):
            found[(item["version"], item["stamp"])] = item
    if folder is not None:
        for item in _local_reports(model, Path(folder), history.skipped):
            found[(item["version"], item["stamp"])] = item
    history.reports = sorted(found.values(), key=lambda item: (item["stamp"], item["version"]), reverse=True)
    for where, why in history.skipped:
        log.warning("monitor history: skipped %s (%s)", where, why)
    return history


def reports(model: str, folder: str | Path | None = "monitor", capture: str | None = None) -> list[dict]:
    """Every filed report of `model`, newest first (see `scan`; skipped files are logged):

    {"version": "v3", "stamp": "20261207T153012123456Z", "generated_at_utc": "2026-12-07T15:30:12.123456Z",
     "drifted": False, "rows": 1000, "report": {...}, "json": path or s3 uri, "png": path, s3 uri or None,
     "source": "local" or "s3"}
    """
    return scan(model, folder, capture).reports


def latest(model: str, folder: str | Path | None = "monitor", capture: str | None = None) -> dict | None:
    """The newest filed report of `model`, or None when it has none."""
    found = reports(model, folder, capture)
    return found[0] if found else None


def figure_bytes(item: dict | str | Path) -> bytes:
    """The PNG of a report (an item of `reports`, or its png path or s3 uri)."""
    where = item.get("png") if isinstance(item, dict) else item
    if not where:
        raise UserError(f"report {item.get('json') if isinstance(item, dict) else item} has no figure")
    return read_bytes(where)


def read_bytes(where: str | Path) -> bytes:
    """A filed file's bytes: a local path or an s3://bucket/key uri."""
    text = str(where)
    if text.startswith("s3://"):
        bucket, key = s3.parse_uri(text)
        with s3.errors("read", bucket, key):
            return s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise UserError(f"{text} cannot be read ({exc.strerror or exc})") from None


def _local_reports(model: str, folder: Path, skipped: list[tuple[str, str]]) -> list[dict]:
    root = folder / part(model)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.glob("*/*.json")):
        if path.name.startswith(".") or not STAMP.match(path.stem):
            continue  # a temporary being written, or a file that is not a filed report
        try:
            data = path.read_bytes()
        except OSError as exc:
            skipped.append((str(path), f"cannot be read: {exc.strerror or exc}"))
            continue
        png = path.with_suffix(".png")
        item = _item(data, path.parent.name, path.stem, str(path), str(png) if png.is_file() else None, "local")
        if isinstance(item, str):
            skipped.append((str(path), item))
        else:
            found.append(item)
    return found


def _s3_reports(model: str, capture: str, skipped: list[tuple[str, str]]) -> list[dict]:
    sink = S3Sink(capture)  # the capture's bucket and prefix, read as the server writes them
    bucket, base, client = sink.bucket, sink.full_key(f"{part(model)}/"), sink.client()
    paginator = client.get_paginator("list_objects_v2")
    keys: set[str] = set()
    # The model's versions first, then each one's reports/ only: never the capture files beside them.
    with s3.errors("list", bucket, base):
        pages = paginator.paginate(Bucket=bucket, Prefix=base, Delimiter="/")
        versions = [item["Prefix"] for page in pages for item in page.get("CommonPrefixes", [])]
        for version_prefix in versions:
            pages = paginator.paginate(Bucket=bucket, Prefix=f"{version_prefix}{REPORTS}/")
            keys.update(item["Key"] for page in pages for item in page.get("Contents", []))
    found = []
    for key in sorted(keys):
        parts = key[len(base) :].split("/")  # <version>/reports/<stamp>.json
        if len(parts) != 3 or parts[1] != REPORTS or not parts[2].endswith(".json"):
            continue  # capture files, figures, anything else
        version, stem = parts[0], parts[2][: -len(".json")]
        if not STAMP.match(stem):
            continue
        uri = f"s3://{bucket}/{key}"
        try:
            with s3.errors("read", bucket, key):
                data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except UserError as exc:  # gone since the listing, or not ours to read: this one only
            skipped.append((uri, str(exc)))
            continue
        png_key = f"{key[: -len('.json')]}.png"
        png = f"s3://{bucket}/{png_key}" if png_key in keys else None
        item = _item(data, version, stem, uri, png, "s3")
        if isinstance(item, str):
            skipped.append((uri, item))
        else:
            found.append(item)
    return found


def _item(data: bytes, version: str, stamp: str, where: str, png: str | None, source: str) -> dict | str:
    """A history item, or why the bytes are not a report."""
    try:
        report: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON: {exc}"
    if not isinstance(report, dict):
        return "not a report (not a JSON object)"
    drifted, rows = report.get("drifted"), report.get("rows")
    if not isinstance(drifted, bool) or not isinstance(rows, int) or isinstance(rows, bool):
        return "not a report (no drifted and rows fields)"
    at = parse_iso(report.get("generated_at_utc")) or datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(
        tzinfo=timezone.utc
    )
    return {
        "version": version,
        "stamp": stamp,
        "generated_at_utc": iso_of(at),
        "drifted": drifted,
        "rows": rows,
        "report": report,
        "json": where,
        "png": png,
        "source": source,
    }
