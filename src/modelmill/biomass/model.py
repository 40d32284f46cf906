"""The network, its input pipeline and its target scale, shared by train, evaluate and the predictor.

A torchvision ResNet whose classifier is replaced by the regression head
Dropout -> Linear(hidden) -> ReLU -> Linear(1). The head predicts a standardized target
(log1p(grams) when `log_target`, else grams); `Target` turns it back into grams.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..core.torchkit import load_into, predict
from ..core.vision import Preprocess, backbone, freeze_backbone

ARCHITECTURES = ("resnet18", "resnet34")
# ImageNet's channel statistics: what pretrained weights expect, and a fine scale from scratch too.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# Evaluate and the predictor both score in fp32, whatever precision trained the model, so a
# served model answers what evaluate scored on every CPU kind (bf16 kernels differ between them).
INFERENCE_PRECISION = "fp32"


class Regressor(nn.Module):
    """A backbone with the regression head as its `fc`; one output per image, shape (N,)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build_model(arch: str, hidden: int, dropout: float, pretrained: str = "none", frozen: bool = False) -> Regressor:
    """With `frozen`, only the head trains (core.vision.freeze_backbone: BatchNorm included)."""
    net = backbone(arch, ARCHITECTURES, pretrained)
    net.fc = nn.Sequential(
        nn.Dropout(dropout), nn.Linear(net.fc.in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1)
    )
    if frozen:
        freeze_backbone(net)
    return Regressor(net)


def load_model(path: str | Path, arch: str, hidden: int) -> Regressor:
    return load_into(build_model(arch, hidden, 0.0), path, f"a {arch} with a {hidden}-unit head")


def preprocess(input_size: int, device: torch.device | str = "cpu") -> Preprocess:
    """uint8 (or 0-255 float) NHWC photos -> normalized float NCHW at the network's input size."""
    return Preprocess(MEAN, STD, input_size=input_size, channels_last=False, device=device)


# `train.tta`: the prediction is the mean over the eight symmetries of the square photo (four
# turns, each also flipped), as train's val, evaluate and the predictor all score it.
TTA_VIEWS = 8


def views(tta: bool) -> int:
    return TTA_VIEWS if tta else 1


def predict_target(
    model: nn.Module, images: torch.Tensor, pre: Preprocess, batch_size: int, precision: str, n_views: int = 1
) -> torch.Tensor:
    """The standardized target predicted for uint8 NHWC `images`, shape (N,) on the CPU; with
    `n_views` 8, the mean over the photo turned 0, 1, 2 and 3 times, each as it is and flipped:
    a photo from above has no "up", and the mean's error is smaller than one view's."""
    if n_views == 1:
        return predict(model, images, pre, batch_size, precision, 1).reshape(-1).cpu()
    if n_views != TTA_VIEWS:
        raise ValueError(f"views must be 1 or {TTA_VIEWS}, got {n_views}")
    outs = []
    for turns in range(4):
        turned = torch.rot90(images, turns, (1, 2))
        for view in (turned, turned.flip(2)):
            outs.append(predict(model, view.contiguous(), pre, batch_size, precision, 1).reshape(-1).cpu())
    return torch.stack(outs).mean(0)


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
