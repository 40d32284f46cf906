"""Data capture for a served model: a sample of what it sees and answers, as JSON Lines files.

The server owns one `Capture` and calls `record(rows, predictions)` (or `record_batch(inputs,
predictions)`, which leaves summarising the decoded inputs to the writer) after each answer.
A request is kept with probability `rate`; each of its input rows becomes one line:

    {"time": "2025-05-01T12:00:03.120415Z", "model": "fire-ensemble", "version": "v3", "line": "fire",
     "request": "5f0c9a1e-17", "features": {"t_max_c": 41.2, ...},
     "prediction": {"fire_probability": 0.12, "fire": false}}

`features` is the line's summary of the row (its predictor's `summaries`, core/summaries.py: a
fire row's 18 features, a tile's channel means, brightness and contrast, never its pixels);
`prediction` keeps the answer's plain values (a tile's class, not its ten probabilities), after
`summarise_answers` where one is given (the sea-ice forecaster's maps become their mean and ice
share).

Nothing is written on the request path: `record` puts the request on a bounded queue and a
background thread encodes and writes. When the queue is full the request is dropped and counted.
Files are cut at `max_bytes` or `max_seconds`, whichever comes first, and each appears complete
or not at all (a local file is written under a temporary name and renamed; an S3 object is one
PUT), laid out as SageMaker's data capture lays out its own:

    <destination>/<model>/<version>/<yyyy>/<mm>/<dd>/<hh>/<yyyymmddThhmmss.ffffffZ>-<uuid>.jsonl

A failed write (a full disk, an unreachable bucket) never reaches the caller: its records are
counted in `failures` and the first such failure is logged. Counters are plain ints, and
`on_count(name, n)` (if given) hears each increment: the server turns them into Prometheus counters.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core import s3
from ..core.cli import UserError
from ..core.io import atomic_output

log = logging.getLogger("modelmill.monitor")

COUNTERS = ("sampled", "written", "dropped", "failures")
MAX_BYTES = 1 << 20
MAX_SECONDS = 60.0
QUEUE_SIZE = 1000  # requests waiting for the writer; beyond it they are dropped
_STOP = object()
PAUSE_S = 0.01


def record_time(seconds: float) -> str:
    """A record's timestamp: ISO 8601, UTC, microseconds (records sort by it as text)."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_key(model_name: str, version: str, started: float) -> str:
    """Where a file whose first record came at `started` goes, under the destination."""
    at = datetime.fromtimestamp(started, timezone.utc)
    stamp = at.strftime("%Y%m%dT%H%M%S.%fZ")  # microseconds: one process's files sort in order
    return f"{model_name}/{version}/{at:%Y/%m/%d/%H}/{stamp}-{uuid.uuid4().hex}.jsonl"


class LocalSink:
    """Files under a folder, each written beside its place under a temporary name, then renamed."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        with atomic_output(self.root / key) as tmp:
            write_bytes(tmp, data)

    def describe(self) -> str:
        return str(self.root)


def write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


class S3Sink:
    """Objects under s3://bucket/prefix, each one PUT (visible only once whole)."""

    def __init__(self, uri: str):
        self.bucket, _, self.prefix = uri[len("s3://") :].partition("/")
        if not self.bucket:
            raise UserError(f"capture destination {uri!r} names no bucket; expected s3://bucket/prefix")
        self.prefix = self.prefix.strip("/")
        self._client: Any = None
        # What every object written here carries besides its own content type: no per-object
        # encryption is asked for, so the bucket's default encryption applies (`make bucket` sets
        # SSE-S3, or SSE-KMS with a key id), to capture files and the reports filed beside them alike.
        self.extra: dict[str, str] = {}

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def client(self) -> Any:
        if self._client is None:
            self._client = s3.client()
        return self._client

    def put(self, key: str, data: bytes) -> None:
        full = self.full_key(key)
        with s3.errors("capture to", self.bucket, full):
            self.client().put_object(
                Bucket=self.bucket, Key=full, Body=data, ContentType="application/jsonl", **self.extra
            )

    def create(self, key: str, path: str | Path, content_type: str) -> str:
        """Upload the file at `path` to `key`, never over an object already there (a conditional
        create with checksums, core/s3.py's upload_file: s3.AlreadyExists if one is); its s3 URI."""
        full = self.full_key(key)
        s3.upload_file(self.client(), path, self.bucket, full, {**self.extra, "ContentType": content_type})
        return f"s3://{self.bucket}/{full}"

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def sink_for(destination: str | Path) -> LocalSink | S3Sink:
    text = str(destination)
    if not text:
        raise UserError("capture destination is empty; give a folder or s3://bucket/prefix")
    return S3Sink(text) if text.startswith("s3://") else LocalSink(text)


@dataclass
class _File:
    """The records of the file being filled (kept in memory: at most max_bytes)."""

    first_time: float  # wall clock of its first record: names the file
    started: float  # monotonic clock at its first record: its age, immune to clock jumps
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    records: int = 0


class Capture:
    """Samples requests at `rate` and writes them to `destination` (a folder or s3://bucket/prefix)."""

    def __init__(
        self,
        destination: str | Path,
        rate: float,
        model_name: str,
        version: str,
        line: str,
        *,
        max_bytes: int = MAX_BYTES,
        max_seconds: float = MAX_SECONDS,
        queue_size: int = QUEUE_SIZE,
        seed: int | None = None,
        summarise: Callable[[Any], list[dict]] | None = None,
        summarise_answers: Callable[[list[dict]], list[dict]] | None = None,
        on_count: Callable[[str, int], None] | None = None,
        listener: Callable[[list[dict], list[dict]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if not 0.0 <= rate <= 1.0:
            raise UserError(f"capture rate must be between 0 and 1, got {rate:g}")
        self.sink = sink_for(destination)
        self.rate, self.model_name, self.version, self.line = rate, model_name, version, line
        self.max_bytes, self.max_seconds = max_bytes, max_seconds
        self.summarise, self.on_count, self.listener, self.clock = summarise, on_count, listener, clock
        self.summarise_answers = summarise_answers
        self.sampled = self.written = self.dropped = self.failures = 0
        self._random = random.Random(seed)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._session, self._requests = uuid.uuid4().hex[:8], 0
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="modelmill-capture", daemon=True)
        self._thread.start()
        # A server that exits without close() still writes what it holds (a weak reference:
        # registering the object itself would keep every Capture ever made alive).
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- the request path ------------------------------------------------------------------

    def record(self, rows: list[dict], predictions: list[dict]) -> bool:
        """Queue one request's summarised input rows and its answers, if sampled. True: queued."""
        return self._offer(rows, predictions, None)

    def record_batch(self, inputs: Any, predictions: list[dict]) -> bool:
        """As `record`, with the decoded inputs: the writer summarises them (`summarise`)."""
        if self.summarise is None:
            raise ValueError("record_batch needs a Capture made with summarise=")
        return self._offer(inputs, predictions, self.summarise)

    def _offer(self, inputs: Any, predictions: list[dict], summarise: Callable | None) -> bool:
        if self._closed or not (self.rate >= 1.0 or self._random.random() < self.rate):
            return False
        try:
            self._queue.put_nowait((self.clock(), inputs, predictions, summarise))
        except queue.Full:
            self._count("dropped", len(predictions))
            self._warn_once("dropped", f"capture: the writer is behind; dropping records ({self.dropped} so far)")
            return False
        self._count("sampled", len(predictions))
        return True

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        current: _File | None = None
        while True:
            timeout = None if current is None else max(0.0, current.started + self.max_seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(current)
                return
            if item is not None:
                current = self._add(current, *item)
                if self._queue.empty():
                    # Let requests pile up before waking again: one wake-up per PAUSE rather than per
                    # request keeps this thread from taking the GIL between a worker's requests.
                    time.sleep(PAUSE_S)
            if current is not None and (
                current.size >= self.max_bytes or time.monotonic() >= current.started + self.max_seconds
            ):
                self._flush(current)
                current = None

    def _add(self, current: _File | None, at: float, inputs: Any, predictions: list[dict], summarise) -> _File | None:
        try:
            rows = summarise(inputs) if summarise else inputs
            if self.summarise_answers is not None:
                predictions = self.summarise_answers(predictions)
            lines = self._encode(at, rows, predictions)
        except Exception as exc:  # a summary or a value that cannot be written: lose this request only
            self._fail(len(predictions), f"capture: a request could not be recorded ({type(exc).__name__}: {exc})")
            return current
        self._tell_listener(rows, predictions)
        size = sum(len(line) for line in lines)
        if current is not None and current.size + size > self.max_bytes:
            self._flush(current)
            current = None
        if current is None:
            current = _File(first_time=at, started=time.monotonic())
        current.lines.extend(lines)
        current.size += size
        current.records += len(lines)
        return current

    def _tell_listener(self, rows: list[dict], predictions: list[dict]) -> None:
        if self.listener is None:
            return
        try:
            self.listener(rows, predictions)
        except Exception as exc:  # live gauges going wrong must not cost the capture
            self._warn_once("listener", f"capture: the listener failed ({type(exc).__name__}: {exc})")

    def _encode(self, at: float, rows: list[dict], predictions: list[dict]) -> list[bytes]:
        if len(rows) != len(predictions):
            raise ValueError(f"{len(rows)} input rows but {len(predictions)} predictions")
        with self._lock:
            self._requests += 1
            request = f"{self._session}-{self._requests}"
        common = {"time": record_time(at), "model": self.model_name, "version": self.version, "line": self.line}
        return [
            (
                json.dumps(
                    {**common, "request": request, "features": row, "prediction": _plain_values(answer)},
                    default=_number,
                    allow_nan=False,
                )
                + "\n"
            ).encode()
            for row, answer in zip(rows, predictions)
        ]

    def _flush(self, current: _File | None) -> None:
        if current is None or not current.lines:
            return
        key = file_key(self.model_name, self.version, current.first_time)
        try:
            self.sink.put(key, b"".join(current.lines))
        except Exception as exc:  # UserError from s3.errors, OSError from a full or read-only disk, ...
            self._fail(current.records, f"capture: cannot write to {self.sink.describe()}: {exc}")
            return
        self._count("written", current.records)

    # -- counters, logging, closing ----------------------------------------------------------

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)
        if self.on_count is not None:
            try:
                self.on_count(name, n)
            except Exception:  # a broken metrics hook must not break capture, nor the request
                self._warn_once("on_count", "capture: the on_count callback failed")

    def _fail(self, records: int, message: str) -> None:
        self._count("failures", records)
        self._warn_once("failures", f"{message}; {records} record(s) lost (counted in failures, logged once)")

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning(message)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in COUNTERS}

    def close(self, timeout: float = 30.0) -> dict[str, int]:
        """Stop taking requests, write what is queued, and return the counters."""
        if not self._closed:
            self._closed = True
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                self._warn_once("close", "capture: the writer did not drain its queue in time")
            self._thread.join(timeout)
        return self.counts()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_at_exit(ref: weakref.ref) -> None:
    capture = ref()
    if capture is not None:
        capture.close(timeout=5.0)


def _plain_values(answer: dict) -> dict:
    """The answer's plain values (numbers, strings, booleans): a tile's class, not its probabilities."""
    return {key: value for key, value in answer.items() if not isinstance(value, (dict, list, tuple))}


def _number(value: Any) -> Any:
    """numpy scalars (and anything else with .item()) as plain numbers for json."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
