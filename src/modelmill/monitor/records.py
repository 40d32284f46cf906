"""Reading captured records back: every .jsonl file under a folder or s3://bucket/prefix
(capture.py's layout, or any folder of such files).

A line that is not a whole record (a file cut short, a line of something else) is skipped and
counted, never fatal: a capture is evidence, and one bad line should not hide the rest.
`since` keeps records at or after a time (ISO 8601, or a duration back from now: 90m, 24h, 7d);
hour folders that end before it are not read at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..core import s3
from ..core.cli import UserError
from .capture import record_time

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HOUR_FOLDERS = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]*$")


@dataclass(frozen=True)
class Records:
    rows: list[dict]
    skipped: int  # lines that were not whole records
    files: int
    source: str


def read_records(source: str | Path, since: str | None = None) -> Records:
    """The records under `source` (a folder or s3://bucket/prefix), oldest first."""
    text = str(source)
    files = _s3_files(text, since) if text.startswith("s3://") else _local_files(Path(text), since)
    rows: list[dict] = []
    skipped = count = 0
    for data in files:
        count += 1
        found, bad = parse_lines(data, since)
        rows.extend(found)
        skipped += bad
    rows.sort(key=lambda row: row["time"])  # stable: a file's own order where times tie
    return Records(rows, skipped, count, text)


def parse_lines(data: bytes, since: str | None = None) -> tuple[list[dict], int]:
    """The records in one file's bytes (at or after `since`), and how many lines were not records."""
    rows, skipped = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            skipped += 1
            continue
        if not _is_record(record):
            skipped += 1
        elif since is None or record["time"] >= since:
            rows.append(record)
    return rows, skipped


def _is_record(record: object) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("time"), str)
        and isinstance(record.get("features"), dict)
        and isinstance(record.get("prediction"), dict)
    )


def parse_since(text: str, now: datetime | None = None) -> str:
    """A --since value as a record timestamp: ISO 8601 (UTC unless it says otherwise) or a duration."""
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(text.strip())
    if match:
        try:
            at = now - timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        except OverflowError:  # before year 1
            raise UserError(
                f"--since {text!r} reaches back before the calendar starts; give a shorter duration"
            ) from None
    else:
        try:
            at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UserError(
                f"--since {text!r} is neither a time (2025-05-01T12:00, UTC) nor a duration (90m, 24h, 7d)"
            ) from None
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return record_time(at.timestamp())


def _before_since(name: str, since: str | None) -> bool:
    """Whether the file `name` lies in an hour folder that ends before `since`."""
    match = _HOUR_FOLDERS.search(name)
    if since is None or match is None:
        return False
    return "{}-{}-{}T{}".format(*match.groups()) < since[:13]


def _local_files(root: Path, since: str | None) -> Iterator[bytes]:
    if not root.is_dir():
        raise UserError(f"capture folder {root} not found (or not a folder)")
    for path in sorted(root.rglob("*.jsonl")):
        relative = path.relative_to(root).as_posix()
        if path.name.startswith(".") or _before_since(relative, since):  # a file still being written
            continue
        try:
            yield path.read_bytes()
        except OSError as exc:
            raise UserError(f"{path} cannot be read ({exc.strerror or exc})") from None


def _s3_files(uri: str, since: str | None) -> Iterator[bytes]:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise UserError(f"capture {uri!r} names no bucket; expected s3://bucket/prefix")
    client = s3.client()
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    with s3.errors("list", bucket, prefix):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    for key in keys:
        if key.endswith(".jsonl") and not _before_since(key, since):
            with s3.errors("read", bucket, key):
                yield client.get_object(Bucket=bucket, Key=key)["Body"].read()
