"""Data capture (monitor/capture.py) and reading it back (monitor/records.py): layout, rotation,
atomic files, sampling, and failures that are counted, never raised."""

from __future__ import annotations

import errno
import json
import logging
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
from conftest import SRC

from modelmill.core.cli import UserError
from modelmill.core.summaries import IMAGE_FEATURES, tile_rows
from modelmill.fire.simulate import generate
from modelmill.fire.summaries import fire_rows
from modelmill.landcover.synthetic import synthetic_image
from modelmill.monitor import capture as capture_module
from modelmill.monitor.capture import Capture
from modelmill.monitor.records import parse_since, read_records

LAYOUT = re.compile(r"^fire-ensemble/v3/\d{4}/\d{2}/\d{2}/\d{2}/\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{32}\.jsonl$")
X = generate(200, seed=5).x


def answer(i: int) -> list[dict]:
    return [{"fire_probability": i / 200, "fire": i >= 100}]


def fire_capture(destination, **options) -> Capture:
    return Capture(destination, options.pop("rate", 1.0), "fire-ensemble", "v3", "fire", **options)


def capture_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_records_land_as_json_lines_in_the_layout_rotated_by_size(tmp_path):
    capture = fire_capture(tmp_path, max_bytes=4000)
    for i in range(100):
        assert capture.record(fire_rows(X[i : i + 1]), answer(i))
    assert capture.close() == {"sampled": 100, "written": 100, "dropped": 0, "failures": 0}

    files = capture_files(tmp_path)
    assert len(files) > 10 and all(LAYOUT.match(name) for name in files), files
    assert all((tmp_path / name).stat().st_size <= 4000 for name in files)
    records = read_records(tmp_path)
    assert (len(records.rows), records.files, records.skipped) == (100, len(files), 0)
    first = records.rows[0]
    assert set(first) == {"time", "model", "version", "line", "request", "features", "prediction"}
    assert (first["model"], first["version"], first["line"]) == ("fire-ensemble", "v3", "fire")
    assert first["features"]["co2_ppm"] == X[0, 15] and first["prediction"] == answer(0)[0]
    assert [r["prediction"]["fire_probability"] for r in records.rows] == [i / 200 for i in range(100)]
    assert first["time"].endswith("Z") and first["time"] <= records.rows[-1]["time"]


def test_a_quiet_server_still_writes_after_max_seconds(tmp_path):
    capture = fire_capture(tmp_path, max_seconds=0.2)
    capture.record(fire_rows(X[:3]), answer(0) * 3)
    deadline = time.monotonic() + 10
    while not capture_files(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(capture_files(tmp_path)) == 1  # written without close(), nor any further request
    capture.record(fire_rows(X[3:4]), answer(3))
    capture.close()
    assert len(capture_files(tmp_path)) == 2 and len(read_records(tmp_path).rows) == 4


def test_files_appear_whole_or_not_at_all(tmp_path):
    capture = fire_capture(tmp_path, max_bytes=2000)
    seen_partial, stop = [], threading.Event()

    def watch():  # a reader listing the folder while the writer writes
        while not stop.is_set():
            for path in tmp_path.rglob("*.jsonl"):
                text = path.read_text()
                if not text.endswith("\n") or any(not json.loads(line) for line in text.splitlines()):
                    seen_partial.append(path)

    watcher = threading.Thread(target=watch)
    watcher.start()
    for i in range(200):
        capture.record(fire_rows(X[i : i + 1]), answer(i))
    capture.close()
    stop.set()
    watcher.join()
    assert not seen_partial and len(read_records(tmp_path).rows) == 200


def test_a_write_that_fails_midway_leaves_nothing_and_is_counted(tmp_path, monkeypatch, caplog):
    def disk_full(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(capture_module, "write_bytes", disk_full)
    capture = fire_capture(tmp_path, max_bytes=1500)
    with caplog.at_level(logging.WARNING, logger="modelmill.monitor"):
        for i in range(20):
            assert capture.record(fire_rows(X[i : i + 1]), answer(i))  # never raises
        capture.close()
    assert capture.failures == 20 and capture.written == 0
    assert capture_files(tmp_path) == []  # no complete file, no temporary left behind
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]


def test_an_unwritable_destination_never_raises_and_is_counted(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    counted: list[tuple[str, int]] = []
    capture = fire_capture(blocker / "capture", on_count=lambda name, n: counted.append((name, n)), max_bytes=500)
    for i in range(10):
        capture.record(fire_rows(X[i : i + 1]), answer(i))
    counts = capture.close()
    assert counts["failures"] == 10 and counts["written"] == 0
    assert sum(n for name, n in counted if name == "failures") == 10


def test_requests_are_sampled_at_the_rate(tmp_path):
    capture = fire_capture(tmp_path, rate=0.25, seed=0)
    kept = sum(capture.record(fire_rows(X[:1]), answer(0)) for _ in range(2000))
    capture.close()
    assert 400 <= kept <= 600 and capture.sampled == capture.written == kept
    none = fire_capture(tmp_path / "off", rate=0.0)
    assert not any(none.record(fire_rows(X[:1]), answer(0)) for _ in range(100))
    none.close()
    assert not (tmp_path / "off").exists()
    with pytest.raises(UserError, match="capture rate must be between 0 and 1, got 1.5"):
        fire_capture(tmp_path, rate=1.5)


def test_a_full_queue_drops_and_counts(tmp_path, monkeypatch):
    release = threading.Event()
    real_put = capture_module.LocalSink.put

    def slow_put(self, key, data):
        release.wait(10)
        real_put(self, key, data)

    monkeypatch.setattr(capture_module.LocalSink, "put", slow_put)
    capture = fire_capture(tmp_path, queue_size=2, max_bytes=1)  # every request its own file
    outcomes = [capture.record(fire_rows(X[i : i + 1]), answer(i)) for i in range(10)]
    assert outcomes.count(False) >= 6 and capture.dropped == outcomes.count(False)
    release.set()
    counts = capture.close()
    assert counts["written"] + counts["dropped"] == 10 and counts["failures"] == 0


def test_tiles_are_captured_as_summaries_never_pixels(tmp_path):
    rng = np.random.default_rng(0)
    tiles = np.stack([synthetic_image(i % 10, rng) for i in range(4)])
    answers = [{"class": "Forest", "probabilities": {"Forest": 0.9, "River": 0.1}}] * 4
    capture = Capture(tmp_path, 1.0, "eurosat-resnet18", "v1", "landcover", summarise=tile_rows)
    capture.record_batch(tiles, answers)
    capture.close()
    rows = read_records(tmp_path).rows
    assert len(rows) == 4 and set(rows[0]["features"]) == set(IMAGE_FEATURES)
    assert rows[0]["prediction"] == {"class": "Forest"}
    assert rows[2]["features"]["brightness"] == pytest.approx(tiles[2].mean())
    assert rows[2]["features"]["contrast"] == pytest.approx(tiles[2].astype(float).std())


def test_reading_skips_and_counts_lines_that_are_not_records(tmp_path):
    hour = tmp_path / "fire-ensemble" / "v3" / "2025" / "05" / "01" / "12"
    hour.mkdir(parents=True)
    good = {"time": "2025-05-01T12:00:00.000000Z", "features": {"co2_ppm": 500.0}, "prediction": {"fire": False}}
    line = json.dumps(good)
    (hour / "a.jsonl").write_text(f"{line}\n{{not json\n[1, 2]\n\n{line}\n{line[:30]}")
    (hour / ".b.jsonl.partial").write_text("a file still being written is not read\n")
    records = read_records(tmp_path)
    assert (len(records.rows), records.skipped, records.files) == (2, 3, 1)
    with pytest.raises(UserError, match="capture folder .*nowhere not found"):
        read_records(tmp_path / "nowhere")


def test_since_keeps_later_records_and_skips_earlier_hours(tmp_path):
    for hour, minute in (("10", "59"), ("12", "30")):
        folder = tmp_path / "m" / "v1" / "2025" / "05" / "01" / hour
        folder.mkdir(parents=True)
        record = {"time": f"2025-05-01T{hour}:{minute}:00.000000Z", "features": {}, "prediction": {}}
        (folder / "f.jsonl").write_text(json.dumps(record) + "\n")
    since = parse_since("2025-05-01T11:00")
    records = read_records(tmp_path, since)
    assert [r["time"][:16] for r in records.rows] == ["2025-05-01T12:30"] and records.files == 1
    assert parse_since("2h", now=parse_now("2025-05-01T12:00:00+00:00")) == "2025-05-01T10:00:00.000000Z"
    with pytest.raises(UserError, match="--since 'yesterday' is neither a time"):
        parse_since("yesterday")
    with pytest.raises(UserError, match="--since '99999999d' reaches back before the calendar starts"):
        parse_since("99999999d")


def parse_now(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_capture_to_s3_and_read_it_back(s3_env):
    bucket = s3_env["bucket"]
    boto3.client("s3").create_bucket(Bucket=bucket)
    capture = fire_capture(f"s3://{bucket}/capture", max_bytes=3000)
    for i in range(30):
        capture.record(fire_rows(X[i : i + 1]), answer(i))
    assert capture.close()["written"] == 30
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) > 1 and all(LAYOUT.match(key.removeprefix("capture/")) for key in keys), keys
    assert len(read_records(f"s3://{bucket}/capture").rows) == 30

    missing = fire_capture(f"s3://{bucket}-missing/capture")
    missing.record(fire_rows(X[:2]), answer(0) * 2)
    assert missing.close()["failures"] == 2  # no such bucket: counted, never raised


def test_reading_a_capture_ignores_the_reports_filed_beside_it(tmp_path, s3_env):
    """monitor files its reports as <model>/<version>/reports/<stamp>.json and .png beside an S3
    capture (and as <model>/<version>/<stamp>.json under --out, which may be the capture folder):
    reading the capture takes .jsonl files only."""
    bucket = s3_env["bucket"]
    boto3.client("s3").create_bucket(Bucket=bucket)
    for destination in (str(tmp_path), f"s3://{bucket}/capture"):
        capture = fire_capture(destination)
        for i in range(20):
            capture.record(fire_rows(X[i : i + 1]), answer(i))
        assert capture.close()["written"] == 20
        sink = capture_module.sink_for(destination)
        report = b'{"time": "2025-05-01T12:00:00.000000Z", "features": {}, "prediction": {}}\n'  # record-like
        for key in ("reports/20261207T153012123456Z.json", "20261207T153012123456Z.json", "reports/x.png"):
            sink.put(f"fire-ensemble/v3/{key}", report)
        records = read_records(destination)
        assert (len(records.rows), records.files, records.skipped) == (20, 1, 0), destination


def test_a_process_that_exits_without_close_still_writes(tmp_path):
    script = (
        "from modelmill.monitor.capture import Capture\n"
        f"c = Capture({str(tmp_path)!r}, 1.0, 'fire-ensemble', 'v3', 'fire')\n"
        "c.record([{'co2_ppm': 500.0}], [{'fire_probability': 0.1, 'fire': False}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env={"PYTHONPATH": str(SRC)}, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert len(read_records(tmp_path).rows) == 1


def test_the_listener_hears_every_sampled_request_off_the_request_path(tmp_path):
    heard: list[tuple[list[dict], list[dict]]] = []

    def listener(rows, predictions):
        heard.append((rows, predictions))
        raise RuntimeError("a broken gauge")  # logged once; the records are still written

    capture = fire_capture(tmp_path, listener=listener)
    for i in range(5):
        capture.record(fire_rows(X[i : i + 1]), answer(i))
    assert capture.close()["written"] == 5
    assert [p for _, p in heard] == [answer(i) for i in range(5)]
