"""The line's three networks and how each is rebuilt from its card (models/<name>.json).

- classifier: a torchvision ResNet with a 3-class head, on 3-channel image tiles;
- forecaster: a ConvLSTM over the 30-day history (at quarter resolution, after two strided
  convolutions), whose last state a small head turns into 7 daily increments added to the
  last observed day, so an untrained model is exactly persistence and training learns
  what persistence misses (drift, freezing, melting);
- change: a Siamese U-Net: one encoder applied to both dates, the absolute differences of
  their features at three scales, a decoder to one change logit per pixel.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..core.cli import UserError
from ..core.torchkit import load_into
from ..core.vision import backbone
from .params import HISTORY_DAYS, LEAD_DAYS

RESNETS = ("resnet18", "resnet34", "resnet50")


def build_classifier(arch: str, num_classes: int = 3) -> nn.Module:
    model = backbone(arch, RESNETS)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


class ConvLSTMCell(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(channels + hidden, 4 * hidden, 3, padding=1)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class Forecaster(nn.Module):
    """(B, 30, H, W) concentration -> (B, 7, H, W) the next 7 days."""

    def __init__(self, hidden: int, layers: int):
        super().__init__()
        self.encode = nn.Sequential(
            nn.Conv2d(2, hidden, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.cells = nn.ModuleList(ConvLSTMCell(hidden, hidden) for _ in range(layers))
        self.head = nn.Sequential(
            nn.Conv2d(hidden + 3, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, LEAD_DAYS, 3, padding=1)
        )
        # The recent trends, straight to each lead day: extrapolation is learnt in a few steps,
        # the recurrent path learns what it misses (drift, the turn of the season).
        self.trend = nn.Conv2d(2, LEAD_DAYS, 1)
        for layer in (self.head[-1], self.trend):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        b, t, height, width = history.shape
        states = None
        previous = history[:, :1]
        for step in range(t):
            day = history[:, step : step + 1]
            x = self.encode(torch.cat([day, day - previous], 1))  # the level and its daily change
            previous = day
            if states is None:
                zeros = x.new_zeros(b, self.cells[0].hidden, *x.shape[-2:])
                states = [(zeros, zeros) for _ in self.cells]
            for k, cell in enumerate(self.cells):
                states[k] = cell(x, states[k])
                x = states[k][0]
        last = history[:, -1:]
        trends = torch.cat([last - history[:, -2:-1], (last - history[:, -8:-7]) / 7], 1)
        up = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        return last + self.head(torch.cat([up, last, trends], 1)) + self.trend(trends)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SiameseChange(nn.Module):
    """(B, 6, H, W): the two dates' 3 channels stacked -> (B, H, W) change logits."""

    def __init__(self, width: int):
        super().__init__()
        w = width
        self.enc1, self.enc2, self.enc3 = _block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.dec2, self.dec1 = _block(4 * w + 2 * w, 2 * w), _block(2 * w + w, w)
        self.out = nn.Conv2d(w, 1, 1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        f1 = self.enc1(x)
        f2 = self.enc2(F.max_pool2d(f1, 2))
        return [f1, f2, self.enc3(F.max_pool2d(f2, 2))]

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        a, b = self.features(pair[:, :3]), self.features(pair[:, 3:])  # one encoder, shared weights
        d1, d2, d3 = (torch.abs(x - y) for x, y in zip(a, b))
        x = self.dec2(torch.cat([F.interpolate(d3, size=d2.shape[-2:]), d2], 1))
        x = self.dec1(torch.cat([F.interpolate(x, size=d1.shape[-2:]), d1], 1))
        return self.out(x)[:, 0]


def build(card: dict) -> nn.Module:
    """The untrained network a card describes."""
    kind = card.get("model")
    if kind == "classifier":
        return build_classifier(card["arch"], len(card["classes"]))
    if kind == "forecaster":
        return Forecaster(card["hidden"], card["layers"])
    if kind == "change":
        return SiameseChange(card["width"])
    raise UserError(f"the model card names model {kind!r}; expected classifier, forecaster or change")


def load_trained(model_path: str | Path, card: dict, stage: str = "train") -> nn.Module:
    """The network of `card` with the weights in `model_path`, loaded safely (weights_only)."""
    return load_into(build(card), model_path, f"the {card['model']} its card describes", stage)


def check_history(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != HISTORY_DAYS:
        raise UserError(f"the forecaster takes (n, {HISTORY_DAYS}, H, W) histories, got {tuple(x.shape)}")
