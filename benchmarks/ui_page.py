"""`make ui`'s model page for a model with many versions: how long it takes to render, warm.

    python benchmarks/ui_page.py            # 50 versions
    python benchmarks/ui_page.py --quick    # 10 versions

Writes the versions' objects (metadata.json in the fire line's shape, a model file, latest.json,
an alias moved once per ten versions) straight into a loopback S3 server, serves the app with
uvicorn on loopback, and times GET /models/fire-ensemble over HTTP: the first request (cold: every
metadata.json read) and then 20 more (warm: versions never change, so only the listing, latest
and the aliases are read again). Figures are what this run measured; the goal is shown beside
them, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from workspace import print_table  # noqa: E402

MODEL = "fire-ensemble"
GOAL_MS = 300
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fill(client, reg, versions: int) -> None:
    """`versions` complete versions of the model, and an alias that moved every ten."""
    for v in range(1, versions + 1):
        metadata = {
            "model_name": MODEL,
            "version": f"v{v}",
            "line": "fire",
            "artifact_key": reg.model_key(v),
            "sha256": f"{v:064x}",
            "published_at_utc": f"2026-12-07T00:{v % 60:02d}:00+00:00",
            "git_commit": f"{v:040x}",
            "framework": "scikit-learn",
            "data_sha256": f"{v:064x}",
            "params": {"ensemble": {"temperature": 0.003 * v}},
            "test_metrics": {"ensemble": {"roc_auc": 0.9 + v / 10_000, "f1": 0.78}},
        }
        client.put_object(Bucket=reg.bucket, Key=reg.model_key(v), Body=b"model")
        client.put_object(Bucket=reg.bucket, Key=reg.metadata_key(v), Body=json.dumps(metadata).encode())
    client.put_object(Bucket=reg.bucket, Key=reg.latest_key, Body=json.dumps({"version": versions}).encode())
    moves = list(range(10, versions + 1, 10)) or [versions]
    for seq, v in enumerate(moves, 1):
        record = {
            "alias": "production",
            "version": v,
            "from_version": moves[seq - 2] if seq > 1 else None,
            "seq": seq,
            "updated_at_utc": "2026-12-07T01:00:00+00:00",
            "by": "bench",
            "reason": "bench",
        }
        body = json.dumps(record).encode()
        client.put_object(Bucket=reg.bucket, Key=f"{reg.root}aliases/production/history/{seq:06d}.json", Body=body)
    client.put_object(Bucket=reg.bucket, Key=f"{reg.root}aliases/production.json", Body=body)


def timed_get(url: str) -> float:
    start = time.perf_counter()
    with HTTP.open(url, timeout=60) as response:
        response.read()
        assert response.status == 200
    return (time.perf_counter() - start) * 1000


def rows(quick: bool = False) -> list[tuple[str, str, str]]:
    import uvicorn

    from modelmill import lines
    from modelmill.registry.bucket import ensure_private_bucket
    from modelmill.registry.s3local import DUMMY_CREDENTIALS, start_server
    from modelmill.registry.store import Registry
    from modelmill.ui.app import create_app
    from modelmill.ui.view import Catalog

    versions = 10 if quick else 50
    s3_server, url = start_server()
    saved = dict(os.environ)
    os.environ.update({**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.update({"BUCKET_NAME": "bench-ui"})
    os.environ.pop("MODEL_NAME", None)
    try:
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        reg = Registry.for_line(lines.get("fire"), REPO)
        ensure_private_bucket(client, reg)
        fill(client, reg, versions)
        sock = socket.create_server(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(Catalog(REPO, None)), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        page = f"http://127.0.0.1:{sock.getsockname()[1]}/models/{MODEL}"
        cold = timed_get(page)
        warm = [timed_get(page) for _ in range(22)][2:]
        server.should_exit = True
        thread.join(10)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        s3_server.stop()
    label = f"a model's page, {versions} versions, loopback S3, 1 worker"
    warm.sort()
    return [
        (
            f"{label}: warm, median of {len(warm)}",
            f"{statistics.median(warm):.0f} ms (p90 {warm[int(0.9 * len(warm)) - 1]:.0f} ms)",
            f"<= {GOAL_MS} ms with 50 versions",
        ),
        (f"{label}: the first request (every metadata.json read)", f"{cold:.0f} ms", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 versions instead of 50")
    print_table("The registry page (make ui)", rows(parser.parse_args().quick))


if __name__ == "__main__":
    main()
