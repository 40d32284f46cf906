"""A server that follows an alias (`make serve MODEL=… VERSION=production FOLLOW=30s`).

Every interval, a thread in each server process reads what the alias names. When it names
another version, the thread downloads that version, checks it against its metadata.json and
loads it beside the one answering, then switches the app to it with one assignment between
requests: /ping never fails, a request in flight finishes on the version it started with, and no
request meets a half-loaded model. A version that fails its checks or its load is not switched
to: the old one keeps answering, the failure is logged once and counted in /metrics
(modelmill_model_switches_total{outcome="failed"}), and it is not tried again until the alias
moves once more. A registry that can't be reached is logged and retried at the next interval.
"""

from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from ..core import s3
from ..core.cli import UserError
from ..registry.aliases import resolve
from ..registry.fetch import download_version
from ..registry.store import Registry, parse_version
from .loading import Located
from .watch import baseline_beside

INTERVAL = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m)?")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def parse_interval(text: str) -> float:
    """Seconds from `30s`, `2m`, `500ms` or a plain number of seconds."""
    match = INTERVAL.fullmatch(text.strip())
    if not match or float(match.group(1)) * _SCALE[match.group(2)] <= 0:
        raise UserError(f"FOLLOW must be an interval such as 30s, 2m or 500ms, got {text!r}")
    return float(match.group(1)) * _SCALE[match.group(2)]


@dataclass(frozen=True)
class Follow:
    """What a server process follows: `target` (an alias or latest) of the model `located` loaded."""

    located: Located
    registry: Registry
    target: str
    interval: float


def plan(located: Located, target: str, interval: float) -> Follow:
    """Only a registry model named by an alias (or latest) can move under a running server."""
    if located.registry is None:
        raise UserError(f"FOLLOW needs a model from the registry; {located.source} never moves")
    check_target(target)
    return Follow(located, located.registry, target, interval)


def check_target(target: str) -> None:
    """A version number never moves: refused at start-up, before the model is looked for."""
    if parse_version(target) is not None:
        raise UserError(
            f"FOLLOW with VERSION={target}: a version never changes; follow an alias (VERSION=production) or latest"
        )


def start(app, follow: Follow) -> threading.Thread:
    """The following thread (a daemon: it holds nothing a stopping server must wait for)."""
    thread = threading.Thread(target=_run, args=(app, follow), name="follow", daemon=True)
    thread.start()
    return thread


def _run(app, follow: Follow) -> None:
    reg, target = follow.registry, follow.target
    client = s3.client(reg.region)
    refused: int | None = None  # the version that failed: not tried again until the alias moves
    unreachable = False
    while True:
        time.sleep(follow.interval)
        current = app.state.predictor.metadata["version"]
        try:
            version = resolve(client, reg, target)
            unreachable = False
        except UserError as exc:
            if not unreachable:  # logged once per outage, not every interval
                _log(f"{target} of {reg.model_name} could not be read ({exc}); still answering with {current}")
            unreachable = True
            continue
        if f"v{version}" == current or version == refused:
            continue
        refused = None if _switch(app, follow, version, current) else version


def _switch(app, follow: Follow, version: int, current: str) -> bool:
    """Load `version` beside the answering one and switch to it; False (logged, counted) if it fails."""
    located = follow.located
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="modelmill-follow-") as tmp:
            metadata, path = download_version(follow.registry, tmp, version, line=located.line)
            predictor = located.model.predictor().load(path, metadata)
            baseline = baseline_beside(path, metadata)
    except Exception as exc:  # whatever is wrong with the new version, the old one keeps serving
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        app.state.metrics.switches.labels("failed").inc()
        _log(f"{follow.target} -> v{version} was not loaded ({reason}); still answering with {current}")
        return False
    app.state.set_predictor(predictor, baseline)
    app.state.metrics.switches.labels("loaded").inc()
    _log(
        f"{follow.target} moved {current} -> v{version}; answering with v{version} "
        f"(downloaded, checked and loaded in {time.perf_counter() - start:.1f} s)"
    )
    return True


def _log(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)
