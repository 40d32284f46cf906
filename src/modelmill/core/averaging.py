"""An exponential moving average of a model's weights (EMA), updated after every optimizer step.

Weights still jitter from the steps' noise while the learning rate is high; their running
average smooths that out (what it bought on EuroSAT: the README's recipe table) and is what
validate scores, the best epoch keeps and the stage saves (the same architecture and
state_dict keys as the trained model). BatchNorm's running statistics are averaged alike, so
the averaged model needs no extra pass over the data.

The average is bias-corrected as Adam's moments are: after n updates it weighs the n weights seen
by decay**age, normalised to sum to one, so it never remembers the random initialisation and
`decay` means the same from the first step to the last (a TensorFlow-style warm-up, min(decay,
(1+n)/(10+n)), would cap every decay above ~0.997 through a 3,000-step run).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """The running average of `model`'s floating-point parameters and buffers, held in `averaged`,
    a copy of `model`; integer buffers (BatchNorm's batch counter) are copied as they are."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.averaged = copy.deepcopy(model).eval()
        for param in self.averaged.parameters():
            param.requires_grad_(False)
        # The same tensors for the whole run: loading a state_dict copies into them in place.
        mine, theirs = [*self.averaged.parameters(), *self.averaged.buffers()], [*model.parameters(), *model.buffers()]
        pairs = list(zip(mine, theirs, strict=True))
        self._floats = [(mine, theirs) for mine, theirs in pairs if mine.is_floating_point()]
        self._counts = [(mine, theirs) for mine, theirs in pairs if not mine.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the model's current weights (after an optimizer step)."""
        self.updates += 1
        weight = (1.0 - self.decay) / (1.0 - self.decay**self.updates)  # 1 at the first update: a copy
        torch._foreach_lerp_([mine for mine, _ in self._floats], [theirs for _, theirs in self._floats], weight)
        for mine, theirs in self._counts:
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        return {"updates": self.updates, "averaged": self.averaged.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]
        self.averaged.load_state_dict(state["averaged"])
