"""Train-time augmentation of uint8 NHWC batches, as whole-batch tensor ops.

A photo taken from above has no "up": flips and 90-degree turns give equally valid photos of
the same plant. Colour jitter (brightness, contrast, saturation) covers the greenhouse light.
None of it changes a plant's weight, so targets pass through untouched. Draws come from the
CPU generator, so a run is the same on any device.
"""

from __future__ import annotations

import torch

from ..core.vision import flips_and_turns


def augment(
    batch: torch.Tensor, targets: torch.Tensor, generator: torch.Generator, *, flip: bool, rotate: bool, jitter: float
) -> tuple[torch.Tensor, torch.Tensor]:
    batch, _ = flips_and_turns(batch, generator, flip=flip, rotate=rotate)
    if jitter > 0:
        batch = color_jitter(batch, generator, jitter)
    return batch, targets


def color_jitter(batch: torch.Tensor, generator: torch.Generator, strength: float) -> torch.Tensor:
    """Per-photo brightness, contrast and saturation factors in [1 - strength, 1 + strength]; 0-255 floats out."""
    n, device = batch.shape[0], batch.device

    def factors() -> torch.Tensor:
        return (1 + (torch.rand(n, generator=generator) * 2 - 1) * strength).to(device).view(-1, 1, 1, 1)

    x = batch.float() * factors()
    grey = x.mean(dim=(1, 2, 3), keepdim=True)
    x = grey + (x - grey) * factors()
    luma = (x * torch.tensor([0.299, 0.587, 0.114], device=device)).sum(-1, keepdim=True)
    x = luma + (x - luma) * factors()
    return x.clamp_(0, 255)
