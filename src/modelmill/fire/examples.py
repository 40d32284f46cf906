"""The fire line's example input (`make examples`): examples/fire_rows.csv, ten rows of the 18
features with a header, for fire-ensemble. The same seed gives the same bytes."""

from __future__ import annotations

from pathlib import Path

from ..core.io import write_bytes
from .features import FEATURES
from .simulate import generate

SEED = 7


def write_examples(dest: Path, rows: int = 10) -> dict[str, list[Path]]:
    table = generate(200, SEED)
    lines = [",".join(FEATURES)] + [",".join(f"{v:.7g}" for v in row) for row in table.x[:rows]]
    return {"": [write_bytes(Path(dest) / "fire_rows.csv", ("\n".join(lines) + "\n").encode())]}
