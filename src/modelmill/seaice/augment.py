"""Batch augmentations as tensor ops: the eight flips/rotations of a square (each sample its own),
applied alike to an image and its per-pixel target, and a brightness jitter for the optical bands."""

from __future__ import annotations

import torch


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, *([1] * (a.ndim - 1))), a, b)


def dihedral(images: torch.Tensor, maps: torch.Tensor | None, generator: torch.Generator):
    """A random flip/rotation per sample of NHWC `images` and, alike, of NHW `maps` (or None).
    Rotations (a transpose) only for square images."""
    n = len(images)
    draws = torch.rand(n, 3, generator=generator) < 0.5
    square = images.shape[1] == images.shape[2]
    for k, (img_dims, map_dims) in enumerate((((1,), (1,)), ((2,), (2,)))):
        flip = draws[:, k].to(images.device)
        images = _where(flip, images.flip(img_dims), images)
        if maps is not None:
            maps = _where(flip, maps.flip(map_dims), maps)
    if square:
        turn = draws[:, 2].to(images.device)
        images = _where(turn, images.transpose(1, 2), images)
        if maps is not None:
            maps = _where(turn, maps.transpose(1, 2), maps)
    return images, maps


def brightness(images: torch.Tensor, amount: float, generator: torch.Generator, channels: int = 2) -> torch.Tensor:
    """uint8 NHWC images with their first `channels` (the optical bands) scaled by 1 +- amount."""
    if amount <= 0:
        return images
    scale = 1 + (torch.rand(len(images), 1, 1, 1, generator=generator) * 2 - 1) * amount
    out = images.float()
    out[..., :channels] *= scale.to(images.device)
    return out.clamp_(0, 255).round_().to(torch.uint8)
