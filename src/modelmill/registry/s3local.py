"""`make s3-local`: a private S3 endpoint on loopback (moto's server), for trying the flow by hand.

The tests start the same server, on a free port, for every S3 test.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# This machine's own AWS settings, which would send a client elsewhere or sign as someone else.
AMBIENT = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION")


def client_env(endpoint: str, no_profiles: Path) -> dict[str, str]:
    """The environment of a client of the server at `endpoint` alone: the dummy credentials, a
    region, and `no_profiles` (written empty) as its AWS config, so no profile of this machine
    interferes. Drop AMBIENT's variables from the environment it joins."""
    no_profiles.write_text("")
    return {
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(no_profiles),
        "AWS_SHARED_CREDENTIALS_FILE": str(no_profiles),
    }


def start_server(port: int = 0):
    """Start moto's S3 server on 127.0.0.1 (never 0.0.0.0); return (server, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    return server, f"http://{host}:{bound_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5555)
    args = parser.parse_args()
    try:
        server, url = start_server(args.port)
    except ImportError:
        raise SystemExit("error: moto is not installed; run `make setup` (it installs the dev requirements)") from None
    except OSError as exc:
        raise SystemExit(f"error: cannot listen on {LOOPBACK}:{args.port} ({exc}); pass PORT=<free port>") from None
    print(f"S3 server on {url} (in memory: everything is lost when it stops). In another shell:")
    print(f"  export AWS_ENDPOINT_URL={url}")
    for name, value in DUMMY_CREDENTIALS.items():
        print(f"  export {name}={value}")
    print(f"  .venv/bin/dvc remote modify --local storage endpointurl {url}")
    print("Ctrl-C stops it.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
