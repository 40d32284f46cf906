"""What the served model sees: data capture (CAPTURE=) and live drift gauges, for the version answering.

Both work off the request path. A request hands its decoded inputs and answers over (a queue
put, a few µs); a background thread summarises them (core/summaries.py: the features of a
fire row, the channel means, brightness and contrast of a tile or photo, a forecast's input and
output summaries; never pixels or maps), writes the
sampled ones as JSON Lines (monitor/capture.py) and feeds a rolling window whose KS statistics
against the version's baseline.json become `modelmill_feature_drift{feature=…}` in /metrics. A
full queue, a full disk or an unreachable bucket drops records and counts them
(`modelmill_capture_records_total{outcome=…}`), never a request. A version published without a
baseline still captures; it just has no gauges. When a following server switches versions, the
watch starts over on the new version's baseline and capture files.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.baseline import FILE_NAME, read_baseline
from ..core.cli import UserError
from ..core.summaries import Summaries
from ..monitor.capture import PAUSE_S, Capture
from ..monitor.live import LiveDrift

QUEUE = 1000  # requests waiting for the live window; beyond this they are left out of it, not waited on


@dataclass(frozen=True)
class CaptureSettings:
    destination: str  # a folder or s3://bucket/prefix
    rate: float  # the share of requests recorded, 0..1


def parse_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"CAPTURE_RATE must be a share between 0 and 1, e.g. 0.1, got {text!r}")
    return rate


def baseline_beside(model_path: Path, metadata: dict) -> dict | None:
    """The baseline.json downloaded (and checked) beside a version's model; None for a version
    published without one."""
    if not metadata.get("baseline"):
        return None
    return read_baseline(Path(model_path).with_name(metadata["baseline"].get("file", FILE_NAME)))


class Watch:
    """The capture and the live window of the version answering (`start` moves them to another)."""

    def __init__(self, metrics, line: str, capture: CaptureSettings | None, summaries: Summaries | None):
        """`summaries`: the served model's (its predictor's); None: a model its line does not
        monitor, whose traffic is neither captured nor scored."""
        self.metrics, self.line, self.settings = metrics, line, capture
        self.summarise = summaries.inputs if summaries else None
        self.summarise_answers = summaries.answers if summaries else None  # forecasts are maps: kept as summaries
        self.capture: Capture | None = None
        self.live: LiveDrift | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE)
        self._lock = threading.Lock()
        self._failed = False
        threading.Thread(target=self._feed_live, name="modelmill-live-drift", daemon=True).start()

    def start(self, metadata: dict, baseline: dict | None) -> None:
        """Watch the version `metadata` describes from the next request on."""
        capture = None
        if self.settings and self.summarise:
            capture = Capture(
                self.settings.destination,
                self.settings.rate,
                metadata["model_name"],
                metadata["version"],
                self.line,
                summarise=self.summarise,
                summarise_answers=self.summarise_answers,
                on_count=lambda outcome, n: self.metrics.capture.labels(outcome).inc(n),
            )
        with self._lock:
            old, self.capture = self.capture, capture
            self.live = LiveDrift(baseline) if baseline and self.summarise else None
        if old is not None:
            old.close()

    def record(self, inputs, predictions: list[dict]) -> None:
        """From the request path: hand the request over, never wait, never raise."""
        capture, live = self.capture, self.live
        if capture is not None:
            capture.record_batch(inputs, predictions)
        if live is not None:
            try:
                self._queue.put_nowait((live, inputs, predictions))
            except queue.Full:
                pass  # the gauges are a rolling sample: a request left out changes nothing

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()

    def _feed_live(self) -> None:
        while True:
            if self._queue.empty():
                time.sleep(PAUSE_S)  # one wake-up per pause, not one per request (the GIL, between requests)
            live, inputs, predictions = self._queue.get()
            try:
                assert self.summarise is not None
                answers = self.summarise_answers(predictions) if self.summarise_answers else predictions
                live.update(self.summarise(inputs), answers)
                for feature, score in live.scores().items():
                    self.metrics.drift.labels(feature).set(score)
            except Exception as exc:  # a gauge going wrong must never reach a request
                if not self._failed:  # said once: the same fault would repeat on every request
                    print(f"serve: live drift update failed ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
                self._failed = True
