"""What the registry publishes for the EuroSAT line, and how a downloaded copy is checked."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torchvision

from ..core.io import read_json_if_present
from .artifact_figures import figures
from .card import ModelCard
from .params import PARAMS_FILE, load_params
from .paths import DATA_REPORT, METRICS_FILE, MODEL_CARD, PREPARED_DIR
from .predictor import load as predictor_load
from .synthetic import synthetic_image

__all__ = ["describe", "check", "figures"]  # lines.Artifact


def describe(folder: Path) -> dict:
    folder = Path(folder)
    card = ModelCard.read(folder / MODEL_CARD)
    metrics = read_json_if_present(folder / METRICS_FILE)
    data = read_json_if_present(folder / DATA_REPORT)
    params = load_params(folder / PARAMS_FILE)
    return {
        "framework": f"pytorch {torch.__version__}",
        "architecture": card.arch,
        "dataset": "EuroSAT RGB",
        "num_classes": len(card.classes),
        "val_accuracy": card.val_accuracy,
        "trained_at_utc": card.trained_at_utc,
        "class_names": card.classes,
        "test_metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "loss", "test_images")} if metrics else None,
        "params": {name: asdict(getattr(params, name)) for name in ("data", "train", "evaluate")},
        "dataset_sha256": data["archive_sha256"] if data else None,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "input_size": card.input_size,
        "normalization": {"mean": card.mean, "std": card.std},
        "precision": card.precision,  # evaluate's, which the server uses too
    }


def check(model_path: Path, metadata: dict, folder: Path, samples: int = 8) -> list[str]:
    """Load the weights as the server does (predictor.load: weights_only) and classify a few tiles."""
    predictor = predictor_load(model_path, metadata)
    names = metadata["class_names"]
    images, labels = _sample_images(Path(folder) / PREPARED_DIR, samples, names)
    answers = predictor.predict(images)
    return [
        f"  image {i}: {answer['class']}" + (f" (label {names[labels[i]]})" if labels is not None else "")
        for i, answer in enumerate(answers)
    ]


def _sample_images(prepared: Path, n: int, classes: list[str]) -> tuple[torch.Tensor, list[int] | None]:
    """A few test-split images when the data is here, else generated tiles (shape check only)."""
    test = prepared / "test.npz"
    if test.exists():
        with np.load(test) as data:
            step = max(1, len(data["y"]) // n)
            return torch.from_numpy(data["x"][::step][:n]), data["y"][::step][:n].tolist()
    rng = np.random.default_rng(0)
    return torch.from_numpy(np.stack([synthetic_image(i % len(classes), rng) for i in range(n)])), None
