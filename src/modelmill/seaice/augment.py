"""The sea-ice line's own augmentation: a brightness jitter for the optical bands (flips and turns,
alike for an image and its per-pixel target, are the core's `flips_and_turns`)."""

from __future__ import annotations

import torch


def brightness(images: torch.Tensor, amount: float, generator: torch.Generator, channels: int = 2) -> torch.Tensor:
    """uint8 NHWC images with their first `channels` (the optical bands) scaled by 1 +- amount."""
    if amount <= 0:
        return images
    scale = 1 + (torch.rand(len(images), 1, 1, 1, generator=generator) * 2 - 1) * amount
    out = images.float()
    out[..., :channels] *= scale.to(images.device)
    return out.clamp_(0, 255).round_().to(torch.uint8)
