"""What capture costs a request on the server's path, for the benchmark table.

    cd benchmarks && python -c "from capture_cost import capture_overhead; print(capture_overhead())"

Measured in process: `Capture.record` of a one-row fire request at rate 1 (its summary made
beforehand, as the server would with `fire_rows`), the summary itself, and `record_batch`, which
leaves the summary to the writer thread. The writer runs meanwhile, writing to a temporary
folder, as it would in service: the request path and the writer share the interpreter.
"""

from __future__ import annotations

import tempfile
import time

from modelmill.fire.simulate import generate
from modelmill.fire.summaries import fire_rows
from modelmill.monitor.capture import Capture


def capture_overhead(requests: int = 20_000, repeats: int = 3) -> dict:
    """Median µs per one-row request of: record(), fire_rows(), record_batch(); and the counters."""
    x = generate(1, seed=0).x
    answer = [{"fire_probability": 0.12, "fire": False}]
    rows = fire_rows(x)
    timings: dict[str, list[float]] = {"record_us": [], "summarise_us": [], "record_batch_us": []}
    with tempfile.TemporaryDirectory(prefix="modelmill-capture-") as folder:
        capture = Capture(
            folder, 1.0, "fire-ensemble", "v0", "fire", queue_size=2 * requests * repeats, summarise=fire_rows
        )
        for _ in range(repeats):
            timings["record_us"].append(_per_call(lambda: capture.record(rows, answer), requests))
            timings["summarise_us"].append(_per_call(lambda: fire_rows(x), requests))
            timings["record_batch_us"].append(_per_call(lambda: capture.record_batch(x, answer), requests))
        counts = capture.close()
    return {**{name: round(sorted(values)[len(values) // 2], 2) for name, values in timings.items()}, **counts}


def _per_call(call, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6
