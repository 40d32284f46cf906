"""The model card (models/card.json): written by train, read by evaluate, the registry and the predictor.
It holds what it takes to use the weights file, and where they came from (params, git commit)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..core.io import JsonRecord
from .model import Target, views


@dataclass(frozen=True)
class ModelCard(JsonRecord):
    arch: str
    head: str
    hidden: int
    image_size: int  # verify's side: photos are resized to it first, as in training
    input_size: int  # the network's input side
    normalization: dict
    target: dict  # Target's fields: log1p, mean, std
    train_mean_g: float  # the mean baseline's prediction
    best_epoch: int
    val_rmse_g: float
    train_images: int
    train_params: dict
    git_commit: str
    artifacts: dict  # paths relative to the line's folder
    runtime: dict

    @property
    def scale(self) -> Target:
        return Target(**self.target)

    @property
    def views(self) -> int:
        """How many views of a photo its prediction averages (`train.tta`; 1 for cards from before it)."""
        return views(bool(self.train_params.get("tta", False)))


def git_commit(cwd: str | Path = ".") -> str:
    """The checked-out commit (runs are logged against it); "unknown" outside a git repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
