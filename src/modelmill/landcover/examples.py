"""The EuroSAT line's example inputs (`make examples`): two 64x64 JPEG tiles, synthetic, in
examples/eurosat/ (INPUT=examples/eurosat for eurosat-resnet18). The same seed gives the same bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.io import write_bytes
from .data import CLASSES
from .synthetic import synthetic_image

SEED = 7


def write_examples(dest: Path) -> dict[str, list[Path]]:
    written = []
    for name in ("Forest", "SeaLake"):
        buffer = io.BytesIO()
        Image.fromarray(synthetic_image(CLASSES.index(name), np.random.default_rng([SEED, 0]))).save(
            buffer, format="JPEG", quality=90
        )
        written.append(write_bytes(Path(dest) / "eurosat" / f"{name}.jpg", buffer.getvalue()))
    return {"": written}
