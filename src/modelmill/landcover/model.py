"""The network, its weights and its input pipeline, shared by train, evaluate and verify-download."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from ..core import torchkit
from ..core.cli import UserError
from ..core.torchkit import imagenet_state_dict, load_weights, memory_format
from .small_maps import use_small_maps

ARCHITECTURES = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
}


def build_model(arch: str, num_classes: int, pretrained: str = "none", small_maps: bool = True) -> nn.Module:
    """A torchvision ResNet with a fresh `num_classes` head; ImageNet weights if asked.

    small_maps: 3x3 convolutions on maps of 2x2 or less run as one matrix product
    (small_maps.py): the same model and state_dict, faster on a CPU.

    ImageNet weights come through torchvision's own loading and cache ($TORCH_HOME/hub/
    checkpoints); when they can't be had the run stops with one line, never silently
    training from scratch instead.
    """
    if arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    factory, weights = ARCHITECTURES[arch]
    # Each residual block starts as the identity (its last BatchNorm scale at zero): the
    # network trains as a shallow one first, which short from-scratch schedules reward.
    model = factory(weights=None, zero_init_residual=True)
    if pretrained == "imagenet":
        model.load_state_dict(imagenet_state_dict(arch, weights))
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    if small_maps:
        use_small_maps(model)
    return model


def freeze_backbone(model: nn.Module) -> None:
    """Train only the classifier head."""
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("fc.")


def load_model(path: str | Path, arch: str, classes: Sequence[str]) -> nn.Module:
    model = build_model(arch, len(classes))
    try:
        model.load_state_dict(load_weights(path))
    except RuntimeError as exc:
        raise UserError(
            f"{path} does not fit a {arch} with {len(classes)} classes: {str(exc).splitlines()[0]}"
        ) from None
    return model.eval()


class Preprocess:
    """uint8 NHWC batches -> normalized float NCHW at the model's input size."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        input_size: int,
        channels_last: bool = True,
        device: torch.device | str = "cpu",
    ):
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        self.input_size = input_size
        self.memory_format = memory_format(channels_last)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.permute(0, 3, 1, 2).float()
        x = (x - self.mean) / self.std
        if x.shape[-1] != self.input_size:
            x = F.interpolate(
                x,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                align_corners=False,
                antialias=x.shape[-1] > self.input_size,
            )
        return x.contiguous(memory_format=self.memory_format)


def predict(
    model: nn.Module, images: torch.Tensor, preprocess: Preprocess, batch_size: int, precision: str
) -> torch.Tensor:
    """Logits (float32) for uint8 NHWC `images`, in batches."""
    return torchkit.predict(model, images, preprocess, batch_size, precision, model.fc.out_features)
