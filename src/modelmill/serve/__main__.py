"""`make serve MODEL=… [VERSION=vN] [PORT=8080] [WORKERS=N]`: serve a published model over HTTP (SageMaker's contract).

    python -m modelmill.serve --model eurosat-resnet18 [--version v3|latest] [--port 8080] [--host 127.0.0.1]
                              [--workers N] [--source registry|local] [--max-body-mb 16] [--model-dir /opt/ml/model]

Checks every setting first, whether or not the feature it tunes is on (CAPTURE_RATE without
CAPTURE too), then finds the version and checks its files (against its metadata.json; any
problem ends here with one `error:` line), then starts the workers, each of which loads the
model, then listens.
Defaults from the environment: PORT (or SAGEMAKER_BIND_TO_PORT), HOST, and the worker count
from WORKERS or SAGEMAKER_MODEL_SERVER_WORKERS, else one per core. SIGTERM or Ctrl-C stops it
after the requests in flight are answered, with exit code 0. As a SageMaker model container:
run it with HOST=0.0.0.0; `serve`, the argument SageMaker passes, is accepted.
With --follow INTERVAL and an alias as --version (production, or latest), every worker switches to
the version the alias moves to, between requests, once it has loaded and checked it (follow.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import NoReturn

from ..core.cli import UserError, cli
from ..core.listen import listen_socket
from . import follow, loading, watch, workers

PROG = "python -m modelmill.serve"


def worker_count(env=os.environ) -> int:
    """WORKERS, else SAGEMAKER_MODEL_SERVER_WORKERS (as SageMaker's inference toolkit reads it),
    else one per core."""
    for name in ("WORKERS", "SAGEMAKER_MODEL_SERVER_WORKERS"):
        if env.get(name):
            return positive_int(env[name], name)
    return workers.cores()


def positive_int(text: str, name: str = "--workers") -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise UserError(f"{name} must be a whole number >= 1, got {text!r}")
    return int(text)


def default_port(env=os.environ) -> int:
    return port_number(env.get("SAGEMAKER_BIND_TO_PORT") or env.get("PORT") or "8080", "PORT or SAGEMAKER_BIND_TO_PORT")


def port_number(text: str, given_as: str = "--port; make serve: PORT") -> int:
    if not text.strip().isdigit() or int(text) > 65535:
        raise UserError(f"port must be a number 0..65535, got {text!r} ({given_as})")
    return int(text)


def body_limit(text: str) -> float:
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not megabytes > 0 or megabytes == float("inf"):
        raise UserError(f"--max-body-mb must be a number of megabytes > 0, got {text!r}")
    return megabytes


class OneLineParser(argparse.ArgumentParser):
    """argparse's own refusals (an unknown --source, a missing value) as the one `error:` line
    every other bad setting gets, not its usage text."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see {PROG} --help)")


def parse_args() -> argparse.Namespace:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["serve"], help=argparse.SUPPRESS)
    loading.add_arguments(parser)
    parser.add_argument(
        "--host", default=os.environ.get("HOST", "127.0.0.1"), help="address to listen on (default: HOST or 127.0.0.1)"
    )
    parser.add_argument("--port", help="port (default: SAGEMAKER_BIND_TO_PORT, PORT or 8080; 0 picks a free one)")
    parser.add_argument(
        "--workers", help="server processes (default: WORKERS, SAGEMAKER_MODEL_SERVER_WORKERS, else one per core)"
    )
    parser.add_argument(
        "--follow",
        metavar="INTERVAL",
        help="poll the alias --version names every INTERVAL (30s, 2m) and switch to the version it moves to",
    )
    parser.add_argument(
        "--capture",
        default=os.environ.get("CAPTURE") or None,
        metavar="DIR|s3://BUCKET/PREFIX",
        help="record a sample of requests and answers there as JSON Lines (default: CAPTURE; off)",
    )
    parser.add_argument(
        "--capture-rate",
        default=os.environ.get("CAPTURE_RATE") or "1",
        help="the share of requests recorded, 0..1 (default: CAPTURE_RATE or 1)",
    )
    parser.add_argument("--max-body-mb", default="16", help="larger request bodies get 413 (default: 16)")
    return check_settings(parser.parse_args())


def check_settings(args: argparse.Namespace) -> argparse.Namespace:
    """Every setting checked, whether or not the feature it tunes is on (a CAPTURE_RATE without
    CAPTURE is a mistake worth one line, not a value silently ignored), and before the model is
    looked for: a typo costs a second, not a download."""
    args.max_body_mb = body_limit(args.max_body_mb)
    args.workers = worker_count() if args.workers is None else positive_int(args.workers)
    args.port = default_port() if args.port is None else port_number(args.port)
    args.follow = None if args.follow is None else follow.parse_interval(args.follow)
    if args.follow is not None:
        follow.check_target(args.version)
    rate = watch.parse_rate(args.capture_rate)
    args.capture = watch.CaptureSettings(args.capture, rate) if args.capture else None
    return args


@cli
def main() -> None:
    args = parse_args()
    sock = listen_socket(args.host, args.port)
    with tempfile.TemporaryDirectory(prefix="modelmill-serve-") as tmp:
        located = loading.locate(args, tmp)
        if args.capture and located.model.unmonitored:  # it would capture nothing, saying it did
            raise UserError(
                f"{located.metadata['model_name']} is not monitored: {located.model.unmonitored}; "
                "serve it without CAPTURE"
            )
        following = follow.plan(located, args.version, args.follow) if args.follow else None
        settings = workers.Settings(
            max_body=int(args.max_body_mb * 2**20),
            workers=args.workers,
            threads=max(1, workers.cores() // args.workers),
            follow=following,
            capture=args.capture,
        )
        host, port = sock.getsockname()[:2]
        meta = located.metadata
        started = (
            f"serve: {meta['model_name']} {meta['version']} ({located.line.name}) from {located.source}; "
            f"{args.workers} worker{'s' if args.workers > 1 else ''}; listening on http://{host}:{port}"
        )
        if following:
            started += f"; following {args.version} every {args.follow:g} s"
        if args.capture:
            started += f"; capturing {args.capture.rate:g} of requests to {args.capture.destination}"
        if args.workers == 1:  # in this process: no second interpreter to start
            app = workers.make_app(located.load(), settings, baseline=located.baseline)
            print(started, file=sys.stderr, flush=True)
            workers.serve(app, sock)
        else:
            workers.run(located, settings, sock, lambda: print(started, file=sys.stderr, flush=True))
    print("serve: stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
