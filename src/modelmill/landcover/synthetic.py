"""A small deterministic stand-in for EuroSAT: same archive layout, same class names.

Each class has its own colour and stripe direction, so a model can separate them in a
few epochs; per-image noise, phase and brightness keep the task from being trivial.
The archive's bytes depend only on (per_class, seed) and the Pillow version.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from .data import CLASSES, IMAGE_SIZE, TOP_FOLDER

_FIXED_TIME = (2017, 8, 31, 0, 0, 0)  # EuroSAT's own archive date: no clock in the bytes


def synthetic_image(class_index: int, rng: np.random.Generator) -> np.ndarray:
    hue = np.array([(37 * class_index) % 256, (91 * class_index + 60) % 256, (53 * class_index + 120) % 256])
    angle = np.pi * class_index / len(CLASSES)
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 0.35 + rng.uniform(0, 2 * np.pi))
    brightness = rng.uniform(0.8, 1.2)
    img = hue[None, None, :] * brightness + 45 * wave[..., None] + rng.normal(0, 12, (IMAGE_SIZE, IMAGE_SIZE, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_synthetic_archive(dest: str | Path, per_class: int, seed: int) -> None:
    """Write `per_class` JPEGs for each class into a zip laid out like EuroSAT.zip."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as archive:
        for class_index, name in enumerate(CLASSES):
            rng = np.random.default_rng([seed, class_index])
            for n in range(1, per_class + 1):
                buf = io.BytesIO()
                Image.fromarray(synthetic_image(class_index, rng)).save(buf, format="JPEG", quality=90)
                info = zipfile.ZipInfo(f"{TOP_FOLDER}/{name}/{name}_{n}.jpg", date_time=_FIXED_TIME)
                archive.writestr(info, buf.getvalue())
