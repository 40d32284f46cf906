"""The three sea-ice models behind the serving front doors (HTTP and batch).

Bodies are arrays, as .npy (`application/x-npy`) or nested JSON lists (`application/json`):
- classifier: one tile (px, px, 3) uint8 or a stack (n, px, px, 3) -> class and probabilities;
- forecaster: one 30-day history (30, H, W) of concentration 0-1 or (n, 30, H, W) -> 7 days;
- change: one pair (2, H, W, 3) uint8 (date 1, date 2) or (n, 2, H, W, 3) -> a change map.
Bad bodies raise ValueError with a message for the caller. Weights load only through
torch.load(weights_only=True); the network is rebuilt from the card in the metadata.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..core.cli import UserError
from ..core.io import npy_bytes, read_npy
from ..core.metadata import identity
from ..core.summaries import IMAGES, Summaries
from ..core.torchkit import predict as run_batches
from ..core.vision import Preprocess
from .models import load_trained
from .params import HISTORY_DAYS, LEAD_DAYS
from .paths import MODELS
from .summaries import FORECASTS
from .tasks import EVAL_BATCH

CONTENT_TYPES = {
    "application/x-npy": "a .npy array (numpy.save, no pickles)",
    "application/json": "the same array as nested JSON lists",
}


class Predictor:
    content_types = CONTENT_TYPES
    id_column = "sample"
    kind = ""
    called = ""  # the model in messages, where its kind is a word of the model key ("change")
    summaries: Summaries | None = None  # the change detector: not monitored (line.py says why)

    def __init__(self, net: torch.nn.Module, card: dict, metadata: dict):
        self.net, self.model_card, self.metadata = net, card, metadata

    @property
    def what(self) -> str:
        return self.called or self.kind

    # The shape of one sample, without the batch axis; each model says what it takes.
    def sample_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def check_values(self, x: np.ndarray) -> np.ndarray:
        return x

    def predict(self, x: np.ndarray) -> list[dict]:
        raise NotImplementedError

    def decode(self, body: bytes, content_type: str) -> np.ndarray:
        if content_type == "application/x-npy":
            x = read_npy(body)
        else:
            try:
                x = np.array(json.loads(body.decode("utf-8-sig")), dtype=np.float64)
            except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as exc:
                raise ValueError(f"body is not a JSON array of numbers ({type(exc).__name__}: {exc})") from None
        shape = self.sample_shape()
        if x.shape == shape:
            x = x[None]
        if x.ndim != len(shape) + 1 or x.shape[1:] != shape or len(x) == 0:
            raise ValueError(
                f"the {self.what} takes arrays of shape {shape} or (n, {', '.join(map(str, shape))}); got {x.shape}"
            )
        if x.dtype.kind not in "iuf":  # complex would lose its imaginary part, bool is no reading
            raise ValueError(f"the array must hold real numbers (integers or floats), not {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("the array must hold finite numbers")
        return self.check_values(x)

    def encode(self, x, content_type: str) -> bytes:
        x = np.asarray(x)
        return npy_bytes(x) if content_type == "application/x-npy" else json.dumps(x.tolist()).encode()

    def model_info(self) -> dict:
        meta = self.metadata
        return {
            **identity(meta, "seaice"),
            "model": self.kind,
            "input": {"content_types": CONTENT_TYPES, "shape": list(self.sample_shape())},
            "metrics": {"test": meta.get("test_metrics")},
            "best_epoch": self.model_card.get("best_epoch"),
        }

    def batches(self, path: Path) -> tuple[int, Iterator[tuple[list[str], np.ndarray]]]:
        """The samples of a .npy file, in chunks, named by their index (1 = first)."""
        if not Path(path).exists():
            raise UserError(f"{path} not found; the {self.what} predicts on a .npy array")
        if not Path(path).is_file() or Path(path).suffix != ".npy":
            raise UserError(
                f"{path} is not a .npy file; the {self.what} predicts on one .npy array (stack a folder's "
                "samples along a first axis: np.save('all.npy', np.stack([...])))"
            )
        try:
            x = self.decode(Path(path).read_bytes(), "application/x-npy")
        except ValueError as exc:
            raise UserError(f"{path}: {exc}") from None

        def read():
            for start in range(0, len(x), EVAL_BATCH):
                yield [str(i + 1) for i in range(start, min(start + EVAL_BATCH, len(x)))], x[start : start + EVAL_BATCH]

        return len(x), read()


class ClassifierPredictor(Predictor):
    kind = "classifier"
    summaries = IMAGES

    def sample_shape(self):
        return (self.model_card["tile_px"], self.model_card["tile_px"], 3)

    def check_values(self, x):
        return uint8_imagery(x, "tile")

    def predict(self, x: np.ndarray) -> list[dict]:
        pre = Preprocess(self.model_card["mean"], self.model_card["std"], scale=1.0)
        classes = self.model_card["classes"]
        p = torch.softmax(run_batches(self.net, torch.from_numpy(x), pre, EVAL_BATCH, "fp32", len(classes)), 1).numpy()
        return [
            {
                "class": classes[int(row.argmax())],
                "probabilities": {c: round(float(v), 6) for c, v in zip(classes, row)},
            }
            for row in p
        ]


class ForecasterPredictor(Predictor):
    kind = "forecaster"
    summaries = FORECASTS

    def sample_shape(self):
        return (HISTORY_DAYS, *self.model_card["grid"])

    def check_values(self, x):
        if x.min() < 0 or x.max() > 1:
            raise ValueError("concentration must be 0-1")
        return x.astype(np.float32)

    def predict(self, x: np.ndarray) -> list[dict]:
        out = run_batches(self.net, torch.from_numpy(x), lambda b: b, EVAL_BATCH, "fp32", LEAD_DAYS).numpy()
        land = np.array(self.model_card["land"], dtype=bool)
        out = np.where(land, 0.0, np.clip(out, 0, 1))
        return [{"lead_days": LEAD_DAYS, "forecast": np.round(f, 4).tolist()} for f in out]


class ChangePredictor(Predictor):
    kind = "change"
    called = "change detector"

    def sample_shape(self):
        grid = self.model_card.get("grid") or [64, 64]
        return (2, *grid, 3)

    def check_values(self, x):
        return uint8_imagery(x, "image")

    def predict(self, x: np.ndarray) -> list[dict]:
        pairs = np.concatenate([x[:, 0], x[:, 1]], axis=-1)
        pre = Preprocess(self.model_card["mean"], self.model_card["std"], scale=1.0)
        logits = run_batches(self.net, torch.from_numpy(pairs), pre, EVAL_BATCH, "fp32", 0).numpy()
        maps = logits > 0
        return [{"change_fraction": round(float(m.mean()), 6), "change_map": m.astype(int).tolist()} for m in maps]


PREDICTORS = {"classifier": ClassifierPredictor, "forecaster": ForecasterPredictor, "change": ChangePredictor}


def load(model_path: Path, metadata: dict) -> Predictor:
    """The model in `model_path` (its kind from the file name, its card from `metadata`)."""
    kind = Path(model_path).stem
    card = metadata.get("card")
    if kind not in PREDICTORS or not isinstance(card, dict) or card.get("model") != kind:
        raise UserError(
            f"{Path(model_path).name}: not one of the sea-ice models ({', '.join(MODELS)}) "
            "with its card in the metadata"
        )
    return PREDICTORS[kind](load_trained(model_path, card, f"train@{kind}"), card, metadata)


def uint8_imagery(x: np.ndarray, what: str) -> np.ndarray:
    """`x` as the uint8 imagery the networks were trained on; casting fractions would truncate
    them (a 0-1 scaled tile would become black and still get an answer)."""
    if x.min() < 0 or x.max() > 255:
        raise ValueError(f"{what} values must be 0-255 (uint8 imagery)")
    if x.dtype.kind == "f" and not np.array_equal(x, np.round(x)):
        scaled = " (these look scaled to 0-1: multiply by 255)" if x.max() <= 1 else ""
        raise ValueError(f"{what} values must be whole numbers 0-255 (uint8 imagery){scaled}")
    return x.astype(np.uint8)
