"""The network, its input pipeline and its target scale, shared by train, evaluate and the predictor.

A torchvision ResNet whose classifier is replaced by the regression head
Dropout -> Linear(hidden) -> ReLU -> Linear(1). The head predicts a standardized target
(log1p(grams) when `log_target`, else grams); `Target` turns it back into grams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from ..core.cli import UserError
from ..core.torchkit import imagenet_state_dict, load_weights

ARCHITECTURES = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
}
# ImageNet's channel statistics: what pretrained weights expect, and a fine scale from scratch too.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# Evaluate and the predictor both score in fp32, whatever precision trained the model, so a
# served model answers what evaluate scored on every CPU kind (bf16 kernels differ between them).
INFERENCE_PRECISION = "fp32"


class Regressor(nn.Module):
    """A backbone with the regression head as its `fc`; one output per image, shape (N,).

    With `frozen`, only the head trains and the backbone's BatchNorm layers stay in eval mode,
    so their ImageNet statistics are used as they are rather than drifting to this data."""

    def __init__(self, net: nn.Module, frozen: bool = False):
        super().__init__()
        self.net, self.frozen = net, frozen
        if frozen:
            for name, param in net.named_parameters():
                param.requires_grad = name.startswith("fc.")

    def train(self, mode: bool = True) -> Regressor:
        super().train(mode)
        if self.frozen:
            for module in self.net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build_model(arch: str, hidden: int, dropout: float, pretrained: str = "none", frozen: bool = False) -> Regressor:
    if arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    factory, weights = ARCHITECTURES[arch]
    # Residual blocks start as the identity (last BatchNorm scale 0): short from-scratch runs train faster.
    net = factory(weights=None, zero_init_residual=pretrained == "none")
    if pretrained == "imagenet":
        net.load_state_dict(imagenet_state_dict(arch, weights))
    net.fc = nn.Sequential(
        nn.Dropout(dropout), nn.Linear(net.fc.in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1)
    )
    return Regressor(net, frozen)


def load_model(path: str | Path, arch: str, hidden: int) -> Regressor:
    model = build_model(arch, hidden, 0.0)
    try:
        model.load_state_dict(load_weights(path))
    except RuntimeError as exc:
        raise UserError(
            f"{Path(path).name} does not load into a {arch} with a {hidden}-unit head: {str(exc).splitlines()[0]}"
        ) from None
    return model.eval()


class Preprocess:
    """uint8 (or 0-255 float) NHWC batches -> normalized float NCHW at the model's input size."""

    def __init__(self, input_size: int, device: torch.device | str = "cpu"):
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
        self.input_size = input_size

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = (batch.permute(0, 3, 1, 2).float() - self.mean) / self.std
        if x.shape[-1] != self.input_size:
            x = F.interpolate(
                x,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                align_corners=False,
                antialias=x.shape[-1] > self.input_size,
            )
        return x.contiguous()


@dataclass(frozen=True)
class Target:
    """grams <-> the standardized value the head predicts."""

    log1p: bool
    mean: float
    std: float

    @classmethod
    def fit(cls, grams: torch.Tensor, log1p: bool) -> Target:
        t = torch.log1p(grams.double()) if log1p else grams.double()
        return cls(log1p, round(float(t.mean()), 8), round(max(float(t.std()), 1e-6), 8))

    def encode(self, grams: torch.Tensor) -> torch.Tensor:
        t = torch.log1p(grams) if self.log1p else grams
        return ((t - self.mean) / self.std).float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        t = z.double() * self.std + self.mean
        return (torch.expm1(t) if self.log1p else t).clamp_min(0.0)


def check_finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise UserError(f"{what} became {value}; lower train.lr")
    return value
