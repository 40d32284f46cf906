"""The biomass line's example inputs (`make examples`): two 96x96 PNG photos of synthetic plants,
a small and a large one, in examples/biomass/ (INPUT=examples/biomass for plant-biomass). The
same seed gives the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.io import image_bytes, write_bytes
from .synthetic import render

SEED = 7
SIZE = 96


def write_examples(dest: Path) -> dict[str, list[Path]]:
    written = []
    for i, grams in enumerate((0.1, 1.5)):
        photo = image_bytes(render(grams, SIZE, np.random.default_rng([SEED, i])), "image/png")
        written.append(write_bytes(Path(dest) / "biomass" / f"plant_{grams:g}g.png", photo))
    return {"": written}
