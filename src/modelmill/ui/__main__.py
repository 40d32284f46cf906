"""`make ui [PORT=8090] [CAPTURE=s3://…]`: the registry in a browser, read-only.

    python -m modelmill.ui [--host 127.0.0.1] [--port 8090] [--reports monitor] [--capture s3://bucket/prefix]

Reads the buckets and prefixes the lines publish to (their params.yaml `publish:` sections and
the environment: BUCKET_NAME, REGISTRY_PREFIX, AWS_ENDPOINT_URL, the AWS credential chain), as
`make models` does, and the drift reports `make monitor` filed under --reports (and beside
--capture when that is in S3). Listens on 127.0.0.1 only unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import sys

from ..core.cli import UserError, cli

PROG = "python -m modelmill.ui"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="where to listen (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", default="8090", help="the port (default: 8090; 0 picks a free one)")
    parser.add_argument("--reports", default="monitor", help="where make monitor filed its reports (default: monitor/)")
    parser.add_argument("--capture", help="a capture destination in S3 whose reports/ the drift pages show too")
    args = parser.parse_args(argv)
    try:
        args.port = int(args.port)
    except ValueError:
        raise UserError(f"--port must be a number, got {args.port!r}") from None
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    if args.capture and not args.capture.startswith("s3://"):
        raise UserError(
            f"--capture must be an s3:// URI, got {args.capture!r}; the reports make monitor files locally "
            "(monitor/, --reports) are shown without it"
        )
    return args


@cli
def main() -> None:
    import uvicorn

    from ..core.listen import listen_socket
    from .app import create_app
    from .view import Catalog

    args = parse_args()
    sock = listen_socket(args.host, args.port)  # a busy port fails before the catalogue is read
    sock.listen()  # from the start line on, a browser's connection waits for the app instead of being refused
    app = create_app(Catalog(".", args.reports, args.capture))
    print(f"ui: the registry on http://{args.host}:{sock.getsockname()[1]}/ (Ctrl-C stops it)", file=sys.stderr)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
