"""`make serve MODEL=… [VERSION=vN] [PORT=8080]`: serve a published model over HTTP (SageMaker's contract).

    python -m modelmill.serve --model eurosat-resnet18 [--version v3|latest] [--port 8080] [--host 127.0.0.1]
                              [--source registry|local] [--max-body-mb 16] [--model-dir /opt/ml/model]

Loads the version first (checked against its metadata.json; any problem ends here with one
`error:` line), then listens. PORT and HOST in the environment set the defaults. SIGTERM or
Ctrl-C stops it after the requests in flight are answered, with exit code 0. As a SageMaker
model container: run it with HOST=0.0.0.0; `serve`, the argument SageMaker passes, is accepted.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys

import uvicorn

from ..core.cli import UserError, cli
from . import loading
from .app import create_app

PROG = "python -m modelmill.serve"


def listen_socket(host: str, port: int) -> socket.socket:
    """The bound socket, taken before the (slow) model load so that a busy port fails at once."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
        # sockets that say they are TCP; with proto 0 every keep-alive answer waited ~40 ms for an ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port") from None
    return sock


def _stopped(signum, frame) -> None:
    """After a graceful shutdown uvicorn raises the signal again for the previous handler: here
    that is the end of a normal run, not an interruption (the stage wrapper's handler would say so)."""


@cli
def main() -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["serve"], help=argparse.SUPPRESS)
    loading.add_arguments(parser)
    parser.add_argument(
        "--host", default=os.environ.get("HOST", "127.0.0.1"), help="address to listen on (default: HOST or 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", 8080)),
        help="port (default: PORT or 8080; 0 picks a free one)",
    )
    parser.add_argument("--max-body-mb", type=float, default=16, help="larger request bodies get 413 (default: 16)")
    args = parser.parse_args()
    if args.max_body_mb <= 0:
        raise UserError(f"--max-body-mb must be > 0, got {args.max_body_mb:g}")
    sock = listen_socket(args.host, args.port)
    loaded = loading.load(args)
    app = create_app(loaded.predictor, max_body=int(args.max_body_mb * 2**20))
    info = loaded.predictor.model_info()
    host, port = sock.getsockname()[:2]
    print(
        f"serve: {info['name']} {info['version']} ({loaded.line.name}) from {loaded.source}; "
        f"listening on http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])
    print("serve: stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
