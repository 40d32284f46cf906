"""`make examples`: a few tiny inputs to try the served models on, at least one for every model of
every line, each made by its line's own generator (`<line>/examples.py`):

    examples/eurosat/          two 64x64 JPEG tiles (synthetic), for eurosat-resnet18 (INPUT=examples/eurosat)
    examples/fire_rows.csv     ten rows of the 18 features, with a header, for fire-ensemble
    examples/seaice_tile.npy   one 16x16 RGB tile (uint8) for seaice-classifier
    examples/seaice_history.npy  30 days of concentration (30, 64, 64) for seaice-forecaster
    examples/seaice_pair.npy   two dates of one scene (2, 64, 64, 3) for seaice-change
    examples/biomass/          two PNG photos of synthetic plants, for plant-biomass (INPUT=examples/biomass)

The same seed gives the same bytes (JPEG, PNG and CSV included), so the docs can show what they answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import lines
from .core.cli import cli

DEST = Path("examples")


def write_examples(dest: str | Path = DEST) -> list[Path]:
    return [path for line in lines.LINES.values() for paths in line.examples(Path(dest)).values() for path in paths]


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=str(DEST), help="the folder to write them into (default: examples)")
    for path in write_examples(parser.parse_args().dest):
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
