"""The biomass regressor behind the serving front doors: a photo of a plant in, grams out.

`python -m modelmill.serve` (HTTP) and `python -m modelmill.serve.predict` (batch) both go
through `decode` and `predict` here. A photo of any size and mode is resized exactly as verify
resized the training photos (imaging.py). Bad input raises ValueError with a message meant
for the caller; the weights load with weights_only=True (no code runs from the file).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..core.cli import UserError
from ..core.hardware import pick_device
from ..core.io import image_bytes
from ..core.metadata import identity
from ..core.summaries import IMAGES
from . import imaging
from .card import ModelCard
from .model import INFERENCE_PRECISION, Target, load_model, predict_target, preprocess

CONTENT_TYPES = {
    "image/png": "one RGB (or greyscale/RGBA, converted) PNG photo of a plant from above, any size",
    "image/jpeg": "one JPEG photo of a plant from above, any size",
}
IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
BATCH = 256


class Predictor:
    content_types = CONTENT_TYPES
    id_column = "file"
    summaries = IMAGES  # decode gives a (1, S, S, 3) uint8 photo

    def __init__(self, model: torch.nn.Module, metadata: dict, device: torch.device):
        self.model, self.metadata = model.to(device).eval(), metadata
        self.image_size = int(metadata["image_size"])
        self.preprocess = preprocess(int(metadata["input_size"]), device)
        self.target = Target(**metadata["target"])
        self.views = int(metadata.get("views", 1))  # versions published before train.tta: one view

    def decode(self, body: bytes, content_type: str) -> torch.Tensor:
        """(1, S, S, 3) uint8 from one photo's bytes."""
        if content_type not in CONTENT_TYPES:
            raise ValueError(f"content type {content_type} is not accepted; send one of {', '.join(CONTENT_TYPES)}")
        return torch.from_numpy(imaging.decode(body, self.image_size))[None]

    def encode(self, photos, content_type: str) -> bytes:
        return image_bytes(np.asarray(photos)[0], content_type)

    def predict(self, images: torch.Tensor) -> list[dict]:
        z = predict_target(self.model, images, self.preprocess, BATCH, INFERENCE_PRECISION, self.views)
        grams = self.target.decode(z) if len(z) else torch.empty(0)
        return [{"biomass_g": round(float(g), 6)} for g in grams]

    def model_info(self) -> dict:
        meta = self.metadata
        return {
            **identity(meta, "biomass"),
            "architecture": meta.get("architecture"),
            "input": {
                "content_types": CONTENT_TYPES,
                "resized_to": self.image_size,
                "model_input_size": meta["input_size"],
                "normalization": meta.get("normalization"),
            },
            "output": {"biomass_g": "predicted fresh weight of the plant, grams (>= 0)"},
            "metrics": {"test": meta.get("test_metrics"), "val_rmse_g": meta.get("val_rmse_g")},
        }

    def batches(self, path: Path) -> tuple[int, Iterator[tuple[list[str], torch.Tensor]]]:
        """The photos under folder `path` (.png, .jpg, .jpeg, any depth), in batches, named relative to it."""
        if not path.is_dir():
            raise UserError(f"{path} is not a folder; the biomass line predicts on a folder of PNG/JPEG plant photos")
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not files:
            raise UserError(f"{path} holds no .png, .jpg or .jpeg files")

        def read() -> Iterator[tuple[list[str], torch.Tensor]]:
            for start in range(0, len(files), BATCH):
                chunk, photos = files[start : start + BATCH], []
                for f in chunk:
                    try:
                        photos.append(self.decode(f.read_bytes(), IMAGE_SUFFIXES[f.suffix.lower()]))
                    except ValueError as exc:
                        raise UserError(f"{f}: {exc}") from None
                yield [f.relative_to(path).as_posix() for f in chunk], torch.cat(photos)

        return len(files), read()


def load(model_path: Path, metadata: dict) -> Predictor:
    """Weights (weights_only) into a fresh network described by `metadata`."""
    for key in ("architecture", "hidden", "image_size", "input_size", "target"):
        if key not in metadata:
            raise UserError(
                f"metadata for {Path(model_path).name} lacks {key!r}; it was not published by the biomass line"
            )
    model = load_model(model_path, metadata["architecture"], int(metadata["hidden"]))
    return Predictor(model, metadata, pick_device("auto"))


def model_fields(card: ModelCard) -> dict:
    """What a predictor needs to know of a model, from its card (metadata.json carries the same)."""
    return {
        "architecture": card.arch,
        "head": card.head,
        "hidden": card.hidden,
        "image_size": card.image_size,
        "input_size": card.input_size,
        "normalization": card.normalization,
        "target": card.target,
        "views": card.views,
        "train_mean_g": card.train_mean_g,
        "val_rmse_g": card.val_rmse_g,
    }
