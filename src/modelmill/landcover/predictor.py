"""The EuroSAT classifier behind the serving front doors: request bodies in, classes out.

`python -m modelmill.serve` (HTTP) and `python -m modelmill.serve.predict` (batch) both go
through `decode` and `predict` here, so a tile gets the same answer through either. Bad input
raises ValueError with a message meant for the caller.

The network answers through `answering`: the trained one with its small-map convolutions
(small_maps.py) keeping their gathered matrices, the same answers bit for bit. Measured on a 2-core
Xeon (AVX-512, no AMX), fp32, one thread, ResNet18 at 64 px: `predict` of one tile went from ~9.5
to ~6 ms; 256 tiles take ~615 ms either way. The network is nearly all of it: decoding a JPEG
tile takes ~0.1 ms and Preprocess ~0.03 ms (~0.3 and ~5.5 ms for 256 tiles as .npy), so those
stay as they were.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from ..core.cli import UserError, first_line
from ..core.hardware import pick_device, place
from ..core.io import IMAGE_FORMATS, image_bytes, npy_bytes, read_npy
from ..core.metadata import identity
from ..core.summaries import IMAGES
from ..core.torchkit import load_into, memory_format
from ..core.vision import Preprocess
from .data import IMAGE_SIZE
from .model import build_model, predict
from .small_maps import MAX_SIDE, SmallMapConv2d, _tap_index

SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
CONTENT_TYPES = {
    "image/jpeg": f"one {IMAGE_SIZE}x{IMAGE_SIZE} RGB JPEG tile",
    "image/png": f"one {IMAGE_SIZE}x{IMAGE_SIZE} RGB PNG tile",
    "application/x-npy": f"a .npy uint8 array of N tiles, shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), RGB",
}
IMAGE_SUFFIXES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
BATCH = 256


class Predictor:
    content_types = CONTENT_TYPES
    id_column = "file"
    summaries = IMAGES  # decode gives uint8 NHWC tiles

    def __init__(self, model: torch.nn.Module, metadata: dict, device: torch.device, precision: str):
        # A copy whose small-map convolutions keep their matrices (`answering`); `model` is left as it was.
        self.model, self.metadata, self.precision = answering(model), metadata, precision
        self.classes = list(metadata["class_names"])
        norm = metadata["normalization"]
        channels_last = metadata.get("params", {}).get("train", {}).get("channels_last", False)
        self.model.to(device, memory_format=memory_format(channels_last)).eval()
        self.preprocess = Preprocess(
            norm["mean"], norm["std"], input_size=metadata["input_size"], channels_last=channels_last, device=device
        )

    def decode(self, body: bytes, content_type: str) -> torch.Tensor:
        """uint8 NHWC tiles from a request body."""
        if content_type == "application/x-npy":
            return torch.from_numpy(_decode_npy(body))
        return torch.from_numpy(_decode_image(body, IMAGE_FORMATS[content_type]))[None]

    def encode(self, tiles, content_type: str) -> bytes:
        tiles = np.asarray(tiles, dtype=np.uint8)
        return npy_bytes(tiles) if content_type == "application/x-npy" else image_bytes(tiles[0], content_type)

    def predict(self, images: torch.Tensor) -> list[dict]:
        logits = predict(self.model, images, self.preprocess, BATCH, self.precision)
        best = logits.argmax(1).tolist()  # on the logits, as evaluate: softmax can round two apart to a tie
        probabilities = logits.softmax(1).cpu().tolist()
        return [
            {"class": self.classes[i], "probabilities": dict(zip(self.classes, p))} for i, p in zip(best, probabilities)
        ]

    def model_info(self) -> dict:
        meta = self.metadata
        return {
            **identity(meta, "landcover"),
            "architecture": meta["architecture"],
            "input": {
                "content_types": CONTENT_TYPES,
                "tile": list(SHAPE),
                "dtype": "uint8",
                "normalization": meta["normalization"],
                "model_input_size": meta["input_size"],
            },
            "output": {"class": "one of classes", "probabilities": "per class, summing to 1"},
            "classes": self.classes,
            "precision": self.precision,
            "metrics": {"test": meta.get("test_metrics"), "val_accuracy": meta.get("val_accuracy")},
        }

    def batches(self, path: Path) -> tuple[int, Iterator[tuple[list[str], torch.Tensor]]]:
        """The images under folder `path` (.jpg, .jpeg, .png, any depth), in batches, named relative to it."""
        if not path.is_dir():
            raise UserError(
                f"{path} is not a folder; the landcover line predicts on a folder of "
                f"{IMAGE_SIZE}x{IMAGE_SIZE} RGB JPEG/PNG tiles"
            )
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not files:
            raise UserError(f"{path} holds no .jpg, .jpeg or .png files")

        def read() -> Iterator[tuple[list[str], torch.Tensor]]:
            for start in range(0, len(files), BATCH):
                chunk = files[start : start + BATCH]
                tiles = []
                for f in chunk:
                    try:
                        tiles.append(self.decode(f.read_bytes(), IMAGE_SUFFIXES[f.suffix.lower()]))
                    except ValueError as exc:
                        raise UserError(f"{f}: {exc}") from None
                yield [f.relative_to(path).as_posix() for f in chunk], torch.cat(tiles)

        return len(files), read()


def load(model_path: Path, metadata: dict) -> Predictor:
    """Weights (weights_only: no code runs from the file) into a fresh network described by `metadata`."""
    device = pick_device("auto")
    arch, classes = metadata["architecture"], metadata["num_classes"]
    model = load_into(build_model(arch, classes), model_path, f"a {arch} with {classes} classes")
    # Evaluate's precision (the card's, train.precision as resolved where it trained), so the
    # server and the line's own evaluate give the same answers; bf16 where it can't run falls
    # back to fp32. Versions published before metadata named it: train.precision, `auto` resolved here.
    precision = metadata.get("precision") or metadata.get("params", {}).get("train", {}).get("precision", "fp32")
    if precision not in ("fp32", "bf16"):
        precision = place(device.type, "auto").precision
    return Predictor(model, metadata, device, precision)


def answering(model: nn.Module) -> nn.Module:
    """A copy of trained `model` whose small-map convolutions (small_maps.py) keep their gathered
    matrices: the same sums in the same order as `model`'s, so the same answers bit for bit."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if type(module) is SmallMapConv2d:
            module.__class__ = _KeptMatrixConv2d
    return model


class _KeptMatrixConv2d(SmallMapConv2d):
    """small_maps.py's matrix path with the matrix gathered once per map size instead of at every
    call (a served model's weights never change), the product left channels-last when x is.
    Where gradients are recorded, on a GPU, under autocast or on larger maps it is SmallMapConv2d.

    At 64 px a ResNet18 spent over a third of a one-tile answer gathering its three 512-channel
    matrices (16 MB each) again; kept, the product costs no more than the convolution at batch 1
    and an eighth of it at 256 (one thread, 2-core AVX-512 Xeon)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            torch.is_grad_enabled()
            or x.dim() != 4
            or x.shape[-2] > MAX_SIDE
            or x.shape[-1] > MAX_SIDE
            or x.device.type != "cpu"
            or not x.dtype == self.weight.dtype == torch.float32
            or torch.is_autocast_enabled("cpu")
        ):
            return super().forward(x)
        n, c, h, w = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(n, h * w * c)  # a view of a channels-last x
        out = (flat @ self._matrix(h, w).t()).view(n, h, w, self.out_channels).permute(0, 3, 1, 2)
        # In x's layout: the layers after it then run the very kernels they run after SmallMapConv2d.
        return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()

    def _matrix(self, h: int, w: int) -> torch.Tensor:
        """M[(i,j,o), (p,q,c)] = W[o, c, tap(i,p), tap(j,q)]: small_maps.py's matrix with its rows
        in channels-last order. An ordinary tensor even when first built under inference_mode."""
        kept: dict[tuple[int, int], torch.Tensor] = self.__dict__.setdefault("_kept", {})
        if (h, w) not in kept:
            with torch.inference_mode(False), torch.no_grad():
                o, c = self.out_channels, self.in_channels
                taps = self.weight.permute(0, 2, 3, 1).reshape(o, 9, c).index_select(1, _tap_index(h, w))
                kept[h, w] = taps.view(o, h * w, h * w * c).transpose(0, 1).reshape(h * w * o, h * w * c)
        return kept[h, w]


def _decode_image(body: bytes, fmt: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(body), formats=[fmt]) as img:
            # Checked before decoding the pixels: a tiny file may declare a huge image.
            if img.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise ValueError(
                    f"image is {img.size[0]}x{img.size[1]}; expected a {IMAGE_SIZE}x{IMAGE_SIZE} EuroSAT tile"
                )
            if img.mode != "RGB":
                bands = len(img.getbands())
                raise ValueError(
                    f"image has {bands} channel{'s' if bands != 1 else ''} (mode {img.mode}); expected 3 (RGB)"
                )
            return np.array(img, dtype=np.uint8)
    except ValueError:
        raise
    except UnidentifiedImageError:
        raise ValueError(f"body is not a decodable {fmt} image (not {fmt} data)") from None
    except Exception as exc:  # PIL raises a variety of errors on damaged or foreign files
        reason = first_line(exc)
        raise ValueError(f"body is not a decodable {fmt} image ({reason})") from None


def _decode_npy(body: bytes) -> np.ndarray:
    array = read_npy(body)
    if array.dtype != np.uint8:
        raise ValueError(f"array has dtype {array.dtype}; expected uint8")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[1:] != SHAPE:
        raise ValueError(f"array has shape {array.shape}; expected (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) RGB tiles")
    if len(array) == 0:
        raise ValueError("array holds no tiles")
    return np.ascontiguousarray(array)
