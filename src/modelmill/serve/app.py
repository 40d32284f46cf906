"""The HTTP app: SageMaker's inference-container contract around one loaded predictor.

    GET  /ping                  200 once a model is loaded, 503 before
    POST /invocations           the body in one of the predictor's content types -> {"predictions": [...]}
                                (Accept: text/csv for a tabular model: one CSV line per input row);
                                the X-Model-Version header names the version that answered
    GET  /execution-parameters  what SageMaker batch transform asks first: concurrency, batch
                                strategy and payload limit, from this server's settings
    GET  /model                 what answers: name, version, input content types, metrics
    GET  /metrics               Prometheus text: requests by route and status, latency, batch sizes

Every error is JSON, {"error": "..."}, never a traceback: 400 bad input (the message names the
problem), 406 an Accept the model can't answer in, 413 body over the limit, 415 content type not
accepted, 500 a failure in the model (its traceback goes to the server's log).

With several worker processes the metrics are prometheus-client's multiprocess ones: each worker
writes its series to files in one shared folder and /metrics, from any worker, sums them.
"""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .answers import answer_types, encode, negotiate
from .watch import CaptureSettings, Watch

log = logging.getLogger("modelmill.serve")

ROUTES = ("/ping", "/invocations", "/execution-parameters", "/model", "/metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)


class Metrics:
    """The server's Prometheus series: in its own registry (not the process-global one: one app,
    one set of series), or, across worker processes, in `multiprocess_dir` (the folder that
    PROMETHEUS_MULTIPROC_DIR named before prometheus_client was imported)."""

    def __init__(self, multiprocess_dir: str | None = None):
        self.multiprocess_dir = multiprocess_dir
        # In multiprocess mode the series are registered nowhere: /metrics reads every worker's files.
        self.registry = None if multiprocess_dir else CollectorRegistry()
        self.requests = Counter(
            "modelmill_requests", "HTTP requests by route and status code", ("route", "status"), registry=self.registry
        )
        self.latency = Histogram(
            "modelmill_request_duration_seconds",
            "Time from request to response, by route",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "modelmill_batch_size",
            "Samples (tiles or rows) per successful invocation",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model = Gauge(
            "modelmill_model_info",
            "The model being served (value 1; 0 once another version replaced it)",
            ("name", "version", "line"),
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.answered = Counter(
            "modelmill_predictions",
            "Successful invocations, by the model version that answered",
            ("version",),
            registry=self.registry,
        )
        self.capture = Counter(
            "modelmill_capture_records",
            "Captured input rows (CAPTURE=) by outcome: sampled, written, dropped (writer behind), failures",
            ("outcome",),
            registry=self.registry,
        )
        self.drift = Gauge(
            "modelmill_feature_drift",
            "KS statistic of the last requests' rows against the version's baseline, per feature "
            "(prediction: of the answers)",
            ("feature",),
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.switches = Counter(
            "modelmill_model_switches",
            "Versions a following server tried to switch to (outcome: loaded, or failed: the old one kept serving)",
            ("outcome",),
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)


class _Measure:
    """ASGI middleware counting every response by route and status and timing it (plain ASGI:
    Starlette's BaseHTTPMiddleware costs more than the fire model's prediction)."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status, counted = time.perf_counter(), 500, False

        def count() -> None:
            nonlocal counted
            counted = True
            route = scope["path"] if scope["path"] in ROUTES else "other"  # bounded label values
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                count()  # before the last byte leaves: a client never sees /metrics lag its own answer
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not counted:  # no complete answer went out
                count()


VERSION_HEADER = "X-Model-Version"  # on every answer: the version that computed it
# Bodies that hold several records: batch transform may pack several per request.
MULTI_RECORD_TYPES = ("text/csv", "application/x-npy")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    predictor=None,
    *,
    max_body: int = 16 << 20,
    workers: int = 1,
    metrics_dir: str | None = None,
    baseline: dict | None = None,
    capture: CaptureSettings | None = None,
) -> FastAPI:
    """The app around `predictor` (None: still loading; set `app.state.predictor` once loaded),
    in one of `workers` processes that share `metrics_dir` (None: this process alone), watching
    its traffic against `baseline` and capturing it as `capture` says (watch.py)."""
    metrics = Metrics(metrics_dir)
    app = FastAPI(title="modelmill", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.predictor = None
    app.state.metrics = metrics
    app.state.watch = None

    def set_predictor(p, baseline: dict | None = None) -> None:
        """Answer with `p` from the next request on (one assignment: a request in flight keeps the
        predictor it started with, so no answer mixes two versions)."""
        if app.state.watch is None and (baseline or capture):
            info = p.model_info()
            app.state.watch = Watch(metrics, info["line"], capture, p.summaries)
        if app.state.watch is not None:
            app.state.watch.start(p.metadata, baseline)
        old, app.state.predictor = app.state.predictor, p
        info = p.model_info()
        metrics.model.labels(info["name"], info["version"], info["line"]).set(1)
        if old is not None:
            was = old.model_info()
            if was["version"] != info["version"]:
                metrics.model.labels(was["name"], was["version"], was["line"]).set(0)

    app.state.set_predictor = set_predictor
    if predictor is not None:
        set_predictor(predictor, baseline)
    _add_error_handlers(app)
    _add_status_routes(app, metrics)
    _add_execution_parameters(app, workers, max_body)
    _add_invocations(app, metrics, max_body)
    app.add_middleware(_Measure, metrics=metrics)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        return error(500, "internal error; see the server log")


def _add_status_routes(app: FastAPI, metrics: Metrics) -> None:
    """/ping, /model and /metrics."""

    @app.get("/ping")
    async def ping():
        if app.state.predictor is None:
            return error(503, "the model is still loading")
        return Response(status_code=200)

    @app.get("/model")
    async def model():
        if app.state.predictor is None:
            return error(503, "the model is still loading")
        return JSONResponse(app.state.predictor.model_info())

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def _add_execution_parameters(app: FastAPI, workers: int, max_body: int) -> None:
    """SageMaker batch transform's first call: one request in flight per worker (each answers one
    at a time), payloads up to the body limit, and several records per request where a body can
    hold several (CSV rows, .npy arrays); one image per request otherwise."""

    @app.get("/execution-parameters")
    async def execution_parameters():
        p = app.state.predictor
        if p is None:
            return error(503, "the model is still loading")
        multi = any(kind in p.content_types for kind in MULTI_RECORD_TYPES)
        return JSONResponse(
            {
                "MaxConcurrentTransforms": workers,
                "BatchStrategy": "MULTI_RECORD" if multi else "SINGLE_RECORD",
                "MaxPayloadInMB": max(1, int(max_body / 2**20)),
            }
        )


def _add_invocations(app: FastAPI, metrics: Metrics, max_body: int) -> None:
    lock = threading.Lock()  # one prediction at a time: each already uses every core it should

    @app.post("/invocations")
    async def invocations(request: Request):
        p = app.state.predictor
        if p is None:
            return error(503, "the model is still loading")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in p.content_types:
            return error(
                415,
                f"content type {content_type or '(none)'!s} is not accepted; send one of: {', '.join(p.content_types)}",
            )
        offered = answer_types(p.content_types)
        answer_type = negotiate(request.headers.get("accept", ""), offered)
        if answer_type is None:
            return error(
                406, f"cannot answer in {request.headers['accept']}; this model answers in: {', '.join(offered)}"
            )
        body, size = bytearray(), 0
        # An oversized body is read to its end but not kept: most clients send the whole body
        # before reading the answer, and would see a broken pipe instead of the 413.
        async for chunk in request.stream():
            size += len(chunk)
            if size <= max_body:
                body += chunk
        if size > max_body:
            return error(
                413,
                f"body of {size / 2**20:.1f} MB is over the {max_body / 2**20:g} MB limit "
                "(--max-body-mb); send fewer samples per request",
            )
        if not body:
            return error(400, f"empty body; send {p.content_types[content_type]}")
        status, payload = await run_in_threadpool(invoke, p, bytes(body), content_type, lock, app.state.watch)
        if status != 200:
            return error(status, payload)
        metrics.batch.observe(len(payload))
        version = p.metadata.get("version", "")
        metrics.answered.labels(version).inc()
        return Response(encode(payload, answer_type), media_type=answer_type, headers={VERSION_HEADER: version})


def invoke(p, body: bytes, content_type: str, lock: threading.Lock, watch: Watch | None = None) -> tuple[int, object]:
    """(200, predictions), or (status, message) for a body the model can't take."""
    try:
        inputs = p.decode(body, content_type)
    except ValueError as exc:
        return 400, str(exc)
    except Exception as exc:  # an input that trips the decoder in some other way is still the input's fault
        return 400, f"body could not be read as {content_type} ({type(exc).__name__})"
    try:
        with lock:
            predictions = p.predict(inputs)
    except Exception:
        log.exception("prediction failed")
        return 500, "prediction failed; see the server log"
    if watch is not None:
        watch.record(inputs, predictions)
    return 200, predictions
