"""Serving speed: requests/s and p50/p95/p99 latency of `python -m modelmill.serve`, on loopback.

    python benchmarks/serve_load.py            # about 5 minutes on 2 cores
    python benchmarks/serve_load.py --quick    # fewer requests, a smaller fire training set

Old and new paths side by side, in one run: the fire ensemble answered by scikit-learn (as
before its ONNX export) and by ONNX Runtime, with one worker process and with one per core, and
with every request captured (CAPTURE_RATE=1, into a scratch folder);
the EuroSAT server with one worker and with one per core. Workloads: one fire CSV row, one
EuroSAT JPEG tile, a batch of 256 EuroSAT tiles as .npy, each at concurrency 1 and 8; and fire
batch scoring in process (what `make predict` runs per 10,000-row chunk). The models are made
here, in a scratch workspace, and served with `--source local` on a free 127.0.0.1 port:
- fire: the line's default params (200 trees, 200 boosting rounds, the logistic model) trained
  on 20,000 simulated rows instead of 100,000: the same kind and size of ensemble as the one
  published, fitted faster;
- EuroSAT: a freshly initialised ResNet18 and its model card. It costs what a trained one does
  per tile; its answers mean nothing. It runs in the precision train.precision `auto` picks here.
The load comes from this process (one thread and one keep-alive connection per concurrent
client) on the same cores as the server, so the figures include the client's share. Request
counts and time per measurement are bounded. Figures are what this run measured; targets are
shown beside them, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import smoke_params  # noqa: E402
from workspace import set_params  # noqa: E402

FIRE_ROW_TARGET = ("p50 <= 2 ms, p99 <= 5 ms", ">= 1,000 req/s")
FIRE_BATCH_TARGET = ">= 500,000 rows/s"
JPEG_TARGET = ("p50 <= 15 ms", ">= 120 req/s")
NPY_TARGET = ">= 800 images/s"
BATCH = 256
CONCURRENCY = (1, 8)
FIRE_BATCH_ROWS = 100_000
CHUNK = 10_000  # modelmill.fire.predictor's: what batch predict hands the model at a time


def fire_workspace(root: Path, overrides: dict) -> None:
    """pipelines/fire's params (with `overrides`) and its ensemble, trained here (the stages' own
    functions, no dvc)."""
    from modelmill.fire.ensemble import make_ensemble
    from modelmill.fire.generate import make_samples
    from modelmill.fire.params import MODEL_NAMES, load_params
    from modelmill.fire.split import split_samples
    from modelmill.fire.train import train_model

    folder = root / "pipelines" / "fire"
    folder.mkdir(parents=True)
    shutil.copy(REPO / "pipelines" / "fire" / "params.yaml", folder / "params.yaml")
    set_params(folder / "params.yaml", overrides)
    params = load_params(folder / "params.yaml")
    samples, split = folder / "data" / "samples.csv", folder / "data" / "split"
    make_samples(params.data, samples)
    split_samples(params.split, samples, split)
    for name in MODEL_NAMES:
        train_model(name, params.train, split, folder / "models" / f"{name}.skops")
    make_ensemble(
        params.ensemble,
        params.train,
        split,
        folder / "models",
        samples,
        folder / "models" / "fire_ensemble.skops",
        folder / "models" / "ensemble.json",
    )


def landcover_workspace(root: Path) -> str:
    """params.yaml, a freshly initialised ResNet18 and its card; returns the precision it will run in."""
    import torch

    from modelmill.core.hardware import place
    from modelmill.landcover.card import ModelCard
    from modelmill.landcover.data import CLASSES
    from modelmill.landcover.model import build_model
    from modelmill.landcover.params import load_params

    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    train = load_params(root / "params.yaml").train
    torch.manual_seed(0)
    (root / "models").mkdir()
    torch.save(build_model(train.arch, len(CLASSES)).state_dict(), root / "models" / "satellite_model.pt")
    placement = place("auto", train.precision)
    ModelCard(
        arch=train.arch,
        classes=list(CLASSES),
        input_size=train.input_size,
        mean=[0.344, 0.380, 0.408],
        std=[0.203, 0.137, 0.116],
        best_epoch=0,
        val_accuracy=0.0,
        val_loss=0.0,
        train_params=dataclasses.asdict(train),
        runtime={"device": placement.device.type, "precision": placement.precision},
        trained_at_utc="1970-01-01T00:00:00+00:00",
    ).write(root / "models" / "model.json")
    return placement.precision


def without_onnx(root: Path, dest: Path) -> Path:
    """A copy of the fire workspace as it was before the ONNX export: served by scikit-learn."""
    folder = dest / "pipelines" / "fire"
    (folder / "models").mkdir(parents=True)
    shutil.copy(root / "pipelines" / "fire" / "params.yaml", folder / "params.yaml")
    for name in ("fire_ensemble.skops", "ensemble.json"):
        shutil.copy(root / "pipelines" / "fire" / "models" / name, folder / "models" / name)
    return dest


@contextlib.contextmanager
def server(root: Path, model: str, workers: int, args: tuple[str, ...] = ("--source", "local")):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = root / f"serve-{model}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelmill.serve",
                "--model",
                model,
                *args,
                "--port",
                str(port),
                "--model-dir",
                str(root / "no-model-dir"),
                "--workers",
                str(workers),
            ],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {model} server did not start:\n{log.read_text()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def load(port: int, body: bytes, content_type: str, concurrency: int, requests: int, seconds: float) -> dict:
    """`requests` POSTs of `body` (or as many as fit in `seconds`) from `concurrency` clients, after a warm-up."""
    latencies: list[float] = []
    failures: list[str] = []
    deadline = 0.0

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.connect()
        # http.client writes the head and the body separately: without TCP_NODELAY, Nagle's
        # algorithm holds the body back until the server's delayed ACK (~40 ms per request).
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(n):
            if i and time.perf_counter() > deadline:  # each client's first request counts, however slow
                break
            start = time.perf_counter()
            conn.request("POST", "/invocations", body, {"Content-Type": content_type})
            response = conn.getresponse()
            answer = response.read()
            latencies.append(time.perf_counter() - start)
            if response.status != 200:
                failures.append(f"{response.status}: {answer[:200]!r}")
        conn.close()

    deadline = time.perf_counter() + 60
    client(max(3, concurrency))  # warm-up: first calls pay for lazy initialisation
    latencies.clear()
    threads = [threading.Thread(target=client, args=(max(1, requests // concurrency),)) for _ in range(concurrency)]
    start = time.perf_counter()
    deadline = start + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} request(s) failed, e.g. {failures[0]}")
    p50, p95, p99 = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": p50, "p95": p95, "p99": p99}


def _value(m: dict, per_request: int = 1) -> str:
    rate = f"{m['rps']:.1f} req/s" + (f" = {m['rps'] * per_request:.0f} images/s" if per_request > 1 else "")
    return f"{rate}; p50 {m['p50']:.1f} ms, p95 {m['p95']:.1f} ms, p99 {m['p99']:.1f} ms ({m['requests']} requests)"


def fire_batch_rate(root: Path) -> float:
    """Rows/s of the fire Predictor over FIRE_BATCH_ROWS simulated rows in CHUNK-row calls (best of 3)."""
    from modelmill import lines
    from modelmill.fire.simulate import generate
    from modelmill.registry.store import Registry
    from modelmill.serve.loading import from_workspace

    fire = lines.get("fire")
    predictor = from_workspace(fire, Registry.for_line(fire, root), root).load()
    x = generate(FIRE_BATCH_ROWS, seed=2024).x
    predictor.predict(x[:1000])  # warm-up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(0, len(x), CHUNK):
            predictor.predict(x[i : i + CHUNK])
        best = min(best, time.perf_counter() - start)
    return FIRE_BATCH_ROWS / best


def capture_overhead(root: Path, row: bytes, workers: int, scale: float, plain: tuple, capture: tuple, pairs: int = 3):
    """p50 at concurrency 1 without and with CAPTURE_RATE=1, in alternating runs: this machine's
    run-to-run spread is larger than the difference, so one pair would say little."""
    p50 = {False: [], True: []}
    for _ in range(pairs):
        for captured in (False, True):
            with server(root, "fire-ensemble", workers, (*plain, *capture) if captured else plain) as port:
                p50[captured].append(load(port, row, "text/csv", 1, int(2000 * scale), 10 * scale)["p50"])
    off, on = float(np.median(p50[False])), float(np.median(p50[True]))
    return (
        f"fire capture overhead, one CSV row, concurrency 1, {pairs} alternating pairs",
        f"p50 {on:.2f} ms captured vs {off:.2f} ms not ({(on / off - 1) * 100:+.0f}%; medians; "
        f"runs {', '.join(f'{a:.2f}/{b:.2f}' for a, b in zip(p50[True], p50[False]))})",
        "<= +5%",
    )


def fire_rows(root: Path, scale: float, workers: int) -> list[tuple[str, str, str]]:
    from modelmill.fire.features import FEATURES
    from modelmill.fire.simulate import generate

    old = without_onnx(root, root / "before-onnx")
    row = ",".join(f"{v:.7g}" for v in generate(1, seed=7).x[0]).encode()
    assert row.count(b",") == len(FEATURES) - 1
    out = []
    local, capture = ("--source", "local"), ("--capture", str(root / "capture"), "--capture-rate", "1")
    for label, folder, n, args in (
        ("scikit-learn (before), 1 worker", old, 1, local),
        ("ONNX Runtime, 1 worker", root, 1, local),
        (f"ONNX Runtime, {workers} workers", root, workers, local),
        (f"ONNX Runtime, {workers} workers, CAPTURE_RATE=1", root, workers, (*local, *capture)),
    ):
        with server(folder, "fire-ensemble", n, args) as port:
            for c, target in zip(CONCURRENCY, FIRE_ROW_TARGET):
                m = load(port, row, "text/csv", c, int(3000 * scale), 20 * scale)
                out.append((f"fire, one CSV row, {label}, concurrency {c}", _value(m), target))
    out.append(capture_overhead(root, row, workers, scale, local, capture, pairs=3 if scale >= 1 else 1))
    for label, folder in (("scikit-learn (before)", old), ("ONNX Runtime", root)):
        rate = fire_batch_rate(folder)
        out.append((f"fire batch scoring, {label}, {CHUNK:,}-row chunks", f"{rate:,.0f} rows/s", FIRE_BATCH_TARGET))
    return out


def eurosat_rows(root: Path, scale: float, workers: int, precision: str) -> list[tuple[str, str, str]]:
    from PIL import Image

    from modelmill.landcover.synthetic import synthetic_image

    rng = np.random.default_rng(0)
    tiles = np.stack([synthetic_image(i % 10, rng) for i in range(BATCH)])
    jpeg = io.BytesIO()
    Image.fromarray(tiles[0]).save(jpeg, format="JPEG", quality=95)
    batch = io.BytesIO()
    np.save(batch, tiles)
    out = []
    for n in sorted({1, workers}):
        label = f"{n} worker{'s' if n > 1 else ''}, {precision}"
        with server(root, "eurosat-resnet18", n) as port:
            for c, target in zip(CONCURRENCY, JPEG_TARGET):
                m = load(port, jpeg.getvalue(), "image/jpeg", c, int(1000 * scale), 20 * scale)
                out.append((f"EuroSAT, one JPEG tile, {label}, concurrency {c}", _value(m), target))
            for c in CONCURRENCY:
                m = load(port, batch.getvalue(), "application/x-npy", c, int(64 * scale), 30 * scale)
                out.append((f"EuroSAT, {BATCH} tiles as .npy, {label}, concurrency {c}", _value(m, BATCH), NPY_TARGET))
    return out


def rows(quick: bool = False) -> list[tuple[str, str, str]]:
    """(measure, value, target) for the serving workloads."""
    from modelmill.serve.workers import cores

    scale = 0.05 if quick else 1.0
    workers = cores()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        root = Path(tmp)
        precision = landcover_workspace(root)
        fire_workspace(root, smoke_params.FIRE if quick else {"data.n_samples": 20_000})
        return fire_rows(root, scale, workers) + eurosat_rows(root, scale, workers, precision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and a smaller fire training set")
    args = parser.parse_args()
    table = rows(args.quick)
    print(f"serving on {os.cpu_count()} CPU core(s), server and load generator on the same machine\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    for measure, value, target in table:
        print(f"| {measure} | {value} | {target} |")


if __name__ == "__main__":
    main()
