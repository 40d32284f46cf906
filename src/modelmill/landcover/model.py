"""The network, its weights and its input pipeline, shared by train, evaluate and verify-download."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..core import torchkit
from ..core.torchkit import load_into
from ..core.vision import Preprocess, backbone
from .small_maps import use_small_maps

ARCHITECTURES = ("resnet18", "resnet34")


def build_model(arch: str, num_classes: int, pretrained: str = "none", small_maps: bool = True) -> nn.Module:
    """A torchvision ResNet with a fresh `num_classes` head; ImageNet weights if asked.

    small_maps: 3x3 convolutions on maps of 2x2 or less run as one matrix product
    (small_maps.py): the same model and state_dict, faster on a CPU.

    ImageNet weights come through torchvision's own loading and cache ($TORCH_HOME/hub/
    checkpoints); when they can't be had the run stops with one line, never silently
    training from scratch instead.
    """
    model = backbone(arch, ARCHITECTURES, pretrained)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    if small_maps:
        use_small_maps(model)
    return model


def load_model(path: str | Path, arch: str, classes: Sequence[str]) -> nn.Module:
    return load_into(build_model(arch, len(classes)), path, f"a {arch} with {len(classes)} classes")


def predict(
    model: nn.Module, images: torch.Tensor, preprocess: Preprocess, batch_size: int, precision: str
) -> torch.Tensor:
    """Logits (float32) for uint8 NHWC `images`, in batches."""
    return torchkit.predict(model, images, preprocess, batch_size, precision, model.fc.out_features)
