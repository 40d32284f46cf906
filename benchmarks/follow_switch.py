"""A server following an alias: how long it takes to switch, and how many requests the switch costs.

    python benchmarks/follow_switch.py            # about a minute on 2 cores
    python benchmarks/follow_switch.py --quick    # a smaller fire model

Publishes two fire ensembles (the line's own stages, run here on simulated rows; the second
weighed again) to a loopback S3 server, points `production` at v1, serves `production` with
FOLLOW and one worker per core, and sends one-row requests without a pause from one client
while `production` is promoted to v2, then back to v1. Measured per move: the time from the
promote's return to the first answer from the new version (the X-Model-Version header), and
the requests that failed or were answered by neither version. Figures are what this run
measured; goals are shown beside them, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import smoke_params  # noqa: E402
from serve_load import fire_workspace, server  # noqa: E402
from workspace import set_params  # noqa: E402

INTERVAL_S = 1.0


def evaluated_variant(root: Path, dest: Path, temperature: float | None) -> Path:
    """A copy of the fire workspace (reweighed when `temperature` is given), evaluated: publishable."""
    from modelmill.fire.ensemble import make_ensemble
    from modelmill.fire.evaluate import evaluate
    from modelmill.fire.params import load_params

    shutil.copytree(root / "pipelines", dest / "pipelines")
    folder = dest / "pipelines" / "fire"
    models, split = folder / "models", folder / "data" / "split"
    if temperature is not None:
        set_params(folder / "params.yaml", {"ensemble.temperature": temperature})
        params = load_params(folder / "params.yaml")
        make_ensemble(
            params.ensemble,
            params.train,
            split,
            models,
            folder / "data" / "samples.csv",
            models / "fire_ensemble.skops",
            models / "ensemble.json",
        )
    metrics = folder / "metrics"
    evaluate(
        load_params(folder / "params.yaml").evaluate,
        split,
        models / "fire_ensemble.skops",
        models / "ensemble.json",
        metrics / "metrics.json",
        metrics / "roc.csv",
        metrics / "pr.csv",
        metrics / "calibration",
    )
    return dest


class Client:
    """One keep-alive connection sending `body` without a pause; every answer's version and time."""

    def __init__(self, port: int, body: bytes):
        self.answers: list[tuple[float, int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, args=(port, body))
        self.thread.start()

    def _send(self, port: int, body: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not self.stop.is_set():
            try:
                conn.request("POST", "/invocations", body, {"Content-Type": "text/csv"})
                response = conn.getresponse()
                response.read()
                self.answers.append((time.perf_counter(), response.status, response.getheader("X-Model-Version") or ""))
            except (OSError, http.client.HTTPException):
                self.answers.append((time.perf_counter(), 0, ""))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def first_from(self, version: str, after: float, timeout: float = 120) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, status, answered in self.answers:
                if at > after and status == 200 and answered == version:
                    return at - after
            time.sleep(0.01)
        raise SystemExit(f"no answer from {version} within {timeout} s")


def rows(quick: bool = False) -> list[tuple[str, str, str]]:
    from modelmill import lines
    from modelmill.fire.simulate import generate
    from modelmill.registry.aliases import promote
    from modelmill.registry.bucket import ensure_private_bucket
    from modelmill.registry.publish import publish
    from modelmill.registry.s3local import DUMMY_CREDENTIALS, start_server
    from modelmill.registry.store import Registry
    from modelmill.serve.workers import cores

    fire = lines.get("fire")
    s3_server, url = start_server()
    saved = dict(os.environ)
    os.environ.update({**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.update({"BUCKET_NAME": "bench-follow", "MODEL_NAME": "fire-follow"})
    try:
        with tempfile.TemporaryDirectory(prefix="follow-bench-") as tmp:
            root = Path(tmp)
            fire_workspace(root / "trained", smoke_params.FIRE if quick else {"data.n_samples": 20_000})
            first = evaluated_variant(root / "trained", root / "v1", None)
            second = evaluated_variant(root / "trained", root / "v2", 100.0)
            reg = Registry.for_line(fire, first)
            import boto3

            client = boto3.client("s3", region_name="us-east-1")
            ensure_private_bucket(client, reg)
            for repo in (first, second):
                publish(reg, repo, line=fire, check_pipeline=False)
            promote(client, reg, "v1", "production")
            return measure(first, reg, client, cores(), promote, generate(1, seed=7).x[0])
    finally:
        os.environ.clear()
        os.environ.update(saved)
        s3_server.stop()


def measure(repo: Path, reg, client, workers: int, promote, row) -> list[tuple[str, str, str]]:
    body = ",".join(f"{v:.7g}" for v in row).encode()
    args = ("--pipeline", "fire", "--version", "production", "--follow", f"{INTERVAL_S:g}s")
    out = []
    with server(repo, "fire-follow", workers, args) as port:
        sender = Client(port, body)
        try:
            time.sleep(2)
            for version in ("v2", "v1"):
                promote(client, reg, version, "production")
                moved = time.perf_counter()
                took = sender.first_from(version, moved)
                out.append(
                    (
                        f"following server ({workers} workers, FOLLOW={INTERVAL_S:g}s): production -> {version}, "
                        "first answer from it",
                        f"{took:.2f} s after the promote",
                        f"<= {INTERVAL_S:g} s + load time",
                    )
                )
                time.sleep(2)
        finally:
            sender.stop.set()
            sender.thread.join()
    loads = [
        float(t) for t in re.findall(r"checked and loaded in ([\d.]+) s", (repo / "serve-fire-follow.log").read_text())
    ]
    out.append(
        (
            "… each worker's download, checks and load of the new version (from its log)",
            f"{min(loads):.2f}-{max(loads):.2f} s ({len(loads)} loads)" if loads else "none logged",
            "",
        )
    )
    lost = [a for a in sender.answers if a[1] != 200 or a[2] not in ("v1", "v2")]
    out.append((f"requests lost during the switches ({len(sender.answers)} sent)", str(len(lost)), "0"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller fire model")
    table = rows(parser.parse_args().quick)
    print("| measure | value | goal |\n| --- | --- | --- |")
    for measure_, value, goal in table:
        print(f"| {measure_} | {value} | {goal} |")


if __name__ == "__main__":
    main()
