"""Train-time augmentation and test-time views of uint8 NHWC batches, side by side.

Overhead imagery has no "up": flips and 90-degree rotations give new, equally valid
tiles for training, and the 8 dihedral views of a tile give test-time augmentation.
All of it runs on whole batches as tensor ops, never per image.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..core.vision import flips_and_turns


def augment(batch: torch.Tensor, generator: torch.Generator, translate: int = 0) -> torch.Tensor:
    """Random flips, 90-degree rotations and shifts of up to `translate` pixels (edges
    mirrored) of a uint8 NHWC batch. The draws come from `generator` on the CPU whatever
    the batch's device, so a GPU run sees the same augmentations as a CPU run."""
    batch, _ = flips_and_turns(batch, generator)
    if translate:
        batch = shift(batch, torch.randint(-translate, translate + 1, (len(batch), 2), generator=generator))
    return batch


def shift(batch: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Move each NHWC image by its (dy, dx), mirroring at the edges, in one gather:
    a mirrored edge keeps the texture of a tile, where zero padding or wrap-around would not."""
    n, h, w, _ = batch.shape
    device, offsets = batch.device, offsets.to(batch.device)
    rows = _mirror(torch.arange(h, device=device).view(1, h) + offsets[:, :1], h)
    cols = _mirror(torch.arange(w, device=device).view(1, w) + offsets[:, 1:], w)
    return batch[torch.arange(n, device=device).view(n, 1, 1), rows.view(n, h, 1), cols.view(n, 1, w)]


def _mirror(index: torch.Tensor, size: int) -> torch.Tensor:
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def dihedral_views(images: torch.Tensor) -> Iterator[torch.Tensor]:
    """The 8 flips/rotations of each tile of a uint8 NHWC batch, one batch at a time."""
    for flip in (False, True):
        flipped = images.flip(2) if flip else images
        for k in range(4):
            yield torch.rot90(flipped, k, dims=(1, 2)).contiguous()
