"""`make replay MODEL=… [PORT=8080] [ROWS=N]`: a model's reference inputs sent to a running server
as a client sends them, one per request.

    python -m modelmill.serve.replay --model fire-ensemble --url http://127.0.0.1:8080

The inputs are the ones the model's baseline describes, from this workspace's pipeline outputs
(the test split; the sea-ice forecaster's train and test windows), encoded by the line's own
predictor in the first content type the model accepts that carries them unchanged (PNG, not
JPEG, for a tile: a lossy encoding would itself read as drift). It cycles through them until at least the
line's `monitor.min_rows` were sent, so what a capturing server records is enough for
`make monitor` and reads as no drift: a smoke check of a deployment, its capture and its
monitoring, end to end. Any answer but 200 stops it with the server's one-line error.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np

from ..core.cli import UserError, cli
from ..core.drift_params import load_drift_params
from ..core.progress import bar
from ..registry.find import find_line
from . import loading

PROG = "python -m modelmill.serve.replay"
# Only the server named: a proxy in the environment must not see (or answer for) local traffic.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send(url: str, body: bytes, content_type: str) -> str:
    """POST one body to `url`/invocations; the version that answered (X-Model-Version)."""
    request = urllib.request.Request(url.rstrip("/") + "/invocations", data=body)
    request.add_header("Content-Type", content_type)
    try:
        with HTTP.open(request, timeout=120) as response:
            response.read()
            return response.headers.get("X-Model-Version", "?")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            text = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            pass
        raise UserError(f"{url} answered {exc.code}: {text}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"no server answers at {url} ({reason}); start one with make serve MODEL=… PORT=…") from None


def lossless_type(predictor, inputs) -> str:
    """The first content type the predictor decodes back to exactly the item it encoded; the
    first it accepts when none does."""
    item = inputs[:1]
    for content_type in predictor.content_types:
        decoded = predictor.decode(predictor.encode(item, content_type), content_type)
        if np.array_equal(np.asarray(decoded), np.asarray(item)):
            return content_type
    return next(iter(predictor.content_types))


def replay(predictor, inputs, url: str, rows: int, content_type: str) -> Counter:
    """Send `rows` items of `inputs` (cycling), one per request; answers counted per version."""
    versions: Counter = Counter()
    with bar(rows, "replay", unit=predictor.id_column) as progress:
        for i in range(rows):
            item = inputs[i % len(inputs) : i % len(inputs) + 1]
            versions[send(url, predictor.encode(item, content_type), content_type)] += 1
            progress.update(1)
    return versions


@cli
def main() -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the registry model name, e.g. fire-ensemble")
    parser.add_argument("--pipeline", help="the line, needed only when several lines publish under --model's name")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the server (default: http://127.0.0.1:8080)")
    parser.add_argument("--rows", help="how many to send (default: every input, at least monitor.min_rows)")
    args = parser.parse_args()
    if args.rows is not None:
        try:
            rows = int(args.rows)
        except ValueError:
            rows = 0
        if rows < 1:
            raise UserError(f"--rows must be a whole number, at least 1, got {args.rows!r}")
        args.rows = rows
    line, model, reg = find_line(args.model, ".", args.pipeline)
    folder = Path(line.folder)
    # the inputs replayed are the test split this workspace's pipeline made, read beside its model
    predictor = loading.from_workspace(line, reg, ".", model, with_baseline=False, instead="").load()
    inputs = model.modules.baseline().reference_inputs(folder, model.key)
    if len(inputs) == 0:
        raise UserError(f"{args.model}: the workspace's {line.name} outputs hold no reference inputs")
    rows = args.rows or max(len(inputs), load_drift_params(folder / "params.yaml").min_rows)
    content_type = lossless_type(predictor, inputs)
    versions = replay(predictor, inputs, args.url, rows, content_type)
    answered = ", ".join(f"{n} by {version}" for version, n in sorted(versions.items()))
    print(f"replay: {rows} {predictor.id_column}(s) of {args.model} as {content_type} to {args.url}: {answered}")


if __name__ == "__main__":
    main()
