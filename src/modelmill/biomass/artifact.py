"""What the registry publishes for the biomass line, and how a downloaded copy is checked."""

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
from .predictor import model_fields
from .scoring import FLOOR_KEYS, regression_metrics
from .synthetic import render

__all__ = ["describe", "check", "figures"]  # lines.Artifact

HEADLINE_KEYS = ("model", "baseline_mean", "rmse_ratio_to_baseline", "test_images", "test_plants")


def describe(folder: Path) -> dict:
    folder = Path(folder)
    card = ModelCard.read(folder / MODEL_CARD)
    metrics = read_json_if_present(folder / METRICS_FILE)
    data = read_json_if_present(folder / DATA_REPORT)
    params = load_params(folder / PARAMS_FILE)
    return {
        "framework": f"pytorch {torch.__version__}",
        "torchvision_version": torchvision.__version__,
        **model_fields(card),
        "test_metrics": {
            **{k: metrics[k] for k in HEADLINE_KEYS},
            **{k: metrics[k] for k in FLOOR_KEYS if k in metrics},  # none for the user's own data
        }
        if metrics
        else None,
        "best_epoch": card.best_epoch,
        "trained_at_commit": card.git_commit,
        "data": {k: data[k] for k in ("sheet", "sheet_sha256", "rows", "kept", "plants")} if data else None,
        "params": {name: asdict(getattr(params, name)) for name in ("data", "verify", "split", "train")},
    }


def check(model_path: Path, metadata: dict, folder: Path, samples: int = 16) -> list[str]:
    """Load the weights as the server does (predictor.load: weights_only) and weigh a few photos."""
    predictor = predictor_load(model_path, metadata)
    images, grams, source = _sample_photos(Path(folder) / PREPARED_DIR, samples, predictor.image_size)
    predicted = torch.tensor([p["biomass_g"] for p in predictor.predict(images)], dtype=torch.float64)
    lines = [f"  weighed {len(images)} {source}: {predicted.min():.3f}..{predicted.max():.3f} g"]
    if grams is not None:
        scores = regression_metrics(grams, predicted)
        published = (metadata.get("test_metrics") or {}).get("model", {}).get("rmse_g")
        lines.append(
            f"  RMSE on them {scores['rmse_g']:.4f} g"
            + (f" (published test RMSE {published:.4f} g)" if published is not None else "")
        )
    return lines


def _sample_photos(prepared: Path, n: int, size: int) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """A few test-split photos when the data is here, else rendered ones (a load-and-run check only)."""
    test = prepared / "test.npz"
    if test.exists():
        with np.load(test) as data:
            if data["x"].shape[1] == size and len(data["y"]):
                step = max(1, len(data["y"]) // n)
                return (
                    torch.from_numpy(data["x"][::step][:n]),
                    torch.from_numpy(data["y"][::step][:n]).double(),
                    f"test photos from {test}",
                )
    rng = np.random.default_rng(0)
    grams = np.linspace(0.01, 2.0, n)
    return torch.from_numpy(np.stack([render(g, size, rng) for g in grams])), None, "rendered photos"
