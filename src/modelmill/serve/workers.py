"""Several server processes on one listening socket (`--workers N`).

The parent has found and checked the model's files (`loading.locate`); it starts N workers
(spawned: fresh interpreters, so no OpenMP or ONNX Runtime thread pool is inherited half-alive
through fork). Each loads the model, says so through a pipe, and serves the shared socket; the
kernel hands each new connection to one of them. The server is up only once every worker has
loaded; a worker that fails to load stops them all with its one-line reason. SIGTERM (or Ctrl-C)
goes on to every worker, each answers what it has in flight, and the parent returns once all have
exited. A worker that dies on its own is replaced. The workers keep their Prometheus series in
one folder (prometheus-client's multiprocess mode), so any worker's /metrics shows the whole server.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from ..core.cli import UserError
from . import follow
from .follow import Follow
from .loading import Located
from .watch import CaptureSettings

log = logging.getLogger("modelmill.serve")
START_TIMEOUT_S = 600  # a large model downloaded by a slow disk still loads well within this


@dataclass(frozen=True)
class Settings:
    """What every worker's app is made with."""

    max_body: int
    workers: int
    threads: int  # OpenMP (torch) threads per worker: the cores shared out, never oversubscribed
    follow: Follow | None = None  # an alias each worker follows
    capture: CaptureSettings | None = None  # where each worker records what it is sent


def make_app(predictor, settings: Settings, metrics_dir: str | None = None, baseline: dict | None = None):
    """The app every server process runs, watching its traffic and following its alias if asked to."""
    from .app import create_app  # imported here: in a worker, PROMETHEUS_MULTIPROC_DIR is set by now

    app = create_app(
        predictor,
        max_body=settings.max_body,
        workers=settings.workers,
        metrics_dir=metrics_dir,
        baseline=baseline,
        capture=settings.capture,
    )
    if settings.follow:
        follow.start(app, settings.follow)
    return app


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def serve(app, sock: socket.socket) -> None:
    """Answer on `sock` until SIGTERM or SIGINT, then drain the requests in flight."""
    import uvicorn

    # After a graceful shutdown uvicorn raises the signal again for the previous handler: here
    # that is the end of a normal run, not an interruption.
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])
    if app.state.watch is not None:
        app.state.watch.close()  # the last capture file, written whole


def _stopped(signum, frame) -> None:
    pass


def _worker(located: Located, settings: Settings, sock: socket.socket, conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which passes SIGTERM on
    try:
        predictor = located.load()
    except UserError as exc:
        conn.send(f"error: {exc}")
        return
    except Exception as exc:
        conn.send(f"error: the model failed to load ({type(exc).__name__}: {exc})")
        raise
    app = make_app(predictor, settings, os.environ["PROMETHEUS_MULTIPROC_DIR"], located.baseline)
    conn.send("ready")
    conn.close()
    serve(app, sock)


class _Worker:
    def __init__(self, context, located: Located, settings: Settings, sock: socket.socket):
        self.conn, child = context.Pipe(duplex=False)
        self.process = context.Process(target=_worker, args=(located, settings, sock, child), daemon=False)
        self.process.start()
        child.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.conn.poll(0.2):
            if not self.process.is_alive() or time.monotonic() > deadline:
                raise UserError(f"a server worker exited while loading the model (exit code {self.process.exitcode})")
        try:
            message = self.conn.recv()
        except EOFError:
            raise UserError(
                f"a server worker exited while loading the model (exit code {self.process.exitcode})"
            ) from None
        if message != "ready":
            raise UserError(message.removeprefix("error: "))


def run(located: Located, settings: Settings, sock: socket.socket, on_ready) -> None:
    """Serve with `settings.workers` processes until SIGTERM/SIGINT; `on_ready()` once all answer."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="modelmill-metrics-") as metrics_dir:
        # Read by prometheus_client when each worker imports it, and by torch for its OpenMP pool.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ.setdefault("OMP_NUM_THREADS", str(settings.threads))
        stopping: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
        signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(signum))
        workers = [_Worker(context, located, settings, sock) for _ in range(settings.workers)]
        try:
            for worker in workers:
                worker.wait_ready()
            if not stopping:
                on_ready()
            while not stopping:
                wait([w.process.sentinel for w in workers], timeout=0.5)
                for i, worker in enumerate(workers):
                    if not worker.process.is_alive() and not stopping:
                        workers[i] = _replace(context, worker, located, settings, sock, metrics_dir)
        finally:
            _stop(workers, metrics_dir)


def _replace(context, dead: _Worker, located: Located, settings: Settings, sock, metrics_dir: str) -> _Worker:
    from prometheus_client import multiprocess

    print(
        f"serve: worker {dead.process.pid} exited (code {dead.process.exitcode}); starting another",
        file=sys.stderr,
        flush=True,
    )
    multiprocess.mark_process_dead(dead.process.pid, metrics_dir)
    worker = _Worker(context, located, settings, sock)
    worker.wait_ready()
    return worker


def _stop(workers: list[_Worker], metrics_dir: str) -> None:
    from prometheus_client import multiprocess

    for worker in workers:
        if worker.process.is_alive():
            os.kill(worker.process.pid, signal.SIGTERM)
    for worker in workers:
        worker.process.join()
        multiprocess.mark_process_dead(worker.process.pid, metrics_dir)
