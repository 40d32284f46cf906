"""Photos in, uint8 RGB arrays of one side out: the one decoder of verify, the EDA and the predictor,
so a photo sent to the served model is resized exactly as the training photos were."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.cli import first_line

MAX_PIXELS = 50_000_000  # a photo's declared size is checked before its pixels are decoded


def decode(body: bytes, size: int | None = None) -> np.ndarray:
    """(size, size, 3) uint8 from PNG/JPEG/... bytes (any mode and size; None: the photo's own size).
    Raises ValueError naming what is wrong with the bytes."""
    try:
        with Image.open(io.BytesIO(body)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ValueError(f"image is {img.width}x{img.height}, over {MAX_PIXELS:,} pixels")
            if img.mode == "I" or img.mode.startswith("I;16"):
                # 16-bit greyscale: convert("RGB") would clip every value over 255 to white
                deep = np.asarray(img, dtype=np.float64)
                img = Image.fromarray(np.clip(np.rint(deep / 257), 0, 255).astype(np.uint8), "L")
            img = img.convert("RGB")
            if size is not None and img.size != (size, size):
                # Bilinear with antialiasing (PIL filters over the whole footprint when shrinking).
                img = img.resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8).copy()
    except ValueError:
        raise
    except UnidentifiedImageError:
        raise ValueError("not a decodable image (unknown format)") from None
    except Exception as exc:  # PIL raises many kinds of errors on damaged files
        reason = first_line(exc)
        raise ValueError(f"not a decodable image ({reason})") from None


def load(path: Path, size: int | None = None) -> np.ndarray:
    return decode(Path(path).read_bytes(), size)
