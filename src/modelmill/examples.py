"""`make examples`: a few tiny inputs to try the served models on, made by the lines' own generators.

    examples/eurosat/          two 64x64 JPEG tiles (synthetic), for eurosat-resnet18 (INPUT=examples/eurosat)
    examples/fire_rows.csv     ten rows of the 18 features, with a header, for fire-ensemble
    examples/seaice_tile.npy   one 16x16 RGB tile (uint8) for seaice-classifier
    examples/seaice_history.npy  30 days of concentration (30, 64, 64) for seaice-forecaster
    examples/seaice_pair.npy   two dates of one scene (2, 64, 64, 3) for seaice-change

The same seed gives the same bytes (JPEG and CSV included), so the docs can show what they answer.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .core.cli import cli
from .core.io import atomic_output, npy_bytes

DEST = Path("examples")
SEED = 7


def eurosat_tiles(dest: Path) -> list[Path]:
    from .landcover.data import CLASSES
    from .landcover.synthetic import synthetic_image

    written = []
    for name in ("Forest", "SeaLake"):
        buffer = io.BytesIO()
        Image.fromarray(synthetic_image(CLASSES.index(name), np.random.default_rng([SEED, 0]))).save(
            buffer, format="JPEG", quality=90
        )
        written.append(_write(dest / "eurosat" / f"{name}.jpg", buffer.getvalue()))
    return written


def fire_rows(dest: Path, rows: int = 10) -> Path:
    from .fire.features import FEATURES
    from .fire.simulate import generate

    table = generate(200, SEED)
    lines = [",".join(FEATURES)] + [",".join(f"{v:.7g}" for v in row) for row in table.x[:rows]]
    return _write(dest / "fire_rows.csv", ("\n".join(lines) + "\n").encode())


def seaice_arrays(dest: Path) -> list[Path]:
    from .seaice.physics import simulate
    from .seaice.render import render

    daily = simulate(64, 40, "2021-01-01", 0.5, 0.05, SEED)
    rng = np.random.default_rng(SEED)
    tile = render(daily.concentration[30][:8, 40:48], daily.thickness[30][:8, 40:48], daily.land[:8, 40:48], rng, 2)
    pair = np.stack([render(daily.concentration[d], daily.thickness[d], daily.land, rng) for d in (25, 39)])
    return [
        _write(dest / "seaice_tile.npy", npy_bytes(tile)),
        _write(dest / "seaice_history.npy", npy_bytes(daily.concentration[:30].astype(np.float32))),
        _write(dest / "seaice_pair.npy", npy_bytes(pair)),
    ]


def write_examples(dest: str | Path = DEST) -> list[Path]:
    dest = Path(dest)
    return [*eurosat_tiles(dest), fire_rows(dest), *seaice_arrays(dest)]


def _write(path: Path, data: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=str(DEST), help="the folder to write them into (default: examples)")
    for path in write_examples(parser.parse_args().dest):
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
