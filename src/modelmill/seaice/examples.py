"""The sea-ice line's example inputs (`make examples`), one per model, from the line's simulator:

    examples/seaice_tile.npy     one 16x16 RGB tile (uint8) for seaice-classifier
    examples/seaice_history.npy  30 days of concentration (30, 64, 64) for seaice-forecaster
    examples/seaice_pair.npy     two dates of one scene (2, 64, 64, 3) for seaice-change

The same seed gives the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.io import npy_bytes, write_bytes
from .physics import simulate
from .render import render

SEED = 7


def write_examples(dest: Path) -> dict[str, list[Path]]:
    dest = Path(dest)
    daily = simulate(64, 40, "2021-01-01", 0.5, 0.05, SEED)
    rng = np.random.default_rng(SEED)
    tile = render(daily.concentration[30][:8, 40:48], daily.thickness[30][:8, 40:48], daily.land[:8, 40:48], rng, 2)
    pair = np.stack([render(daily.concentration[d], daily.thickness[d], daily.land, rng) for d in (25, 39)])
    return {
        "classifier": [write_bytes(dest / "seaice_tile.npy", npy_bytes(tile))],
        "forecaster": [
            write_bytes(dest / "seaice_history.npy", npy_bytes(daily.concentration[:30].astype(np.float32)))
        ],
        "change": [write_bytes(dest / "seaice_pair.npy", npy_bytes(pair))],
    }
