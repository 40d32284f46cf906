"""What every image line does the same way around its network: torchvision backbones, freezing,
input preprocessing and flips/turns of whole batches.

Images travel as uint8 NHWC tensors (decoded once, small in memory) and become normalized
float NCHW only in `Preprocess`, batch by batch. Augmentation draws come from a CPU generator
whatever the batch's device, so a GPU run sees the augmentations a CPU run does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from .cli import UserError
from .torchkit import imagenet_state_dict, memory_format


def backbone(arch: str, choices: Sequence[str], pretrained: str = "none") -> nn.Module:
    """torchvision's `arch` (one of the line's `choices`), from scratch or with its ImageNet
    weights (IMAGENET1K_V1, through torchvision's cache; one line when they can't be had)."""
    if arch not in choices:
        raise UserError(f"unknown architecture {arch!r}; choose one of {', '.join(choices)}")
    # Each residual block starts as the identity (its last BatchNorm scale at zero): the network
    # trains as a shallow one first, which short from-scratch schedules reward. (ImageNet weights,
    # when asked, replace every initial value.)
    model = models.get_model(arch, weights=None, zero_init_residual=True)
    if pretrained == "imagenet":
        model.load_state_dict(imagenet_state_dict(arch, models.get_model_weights(arch)["IMAGENET1K_V1"]))
    return model


def freeze_backbone(model: nn.Module, head: str = "fc.") -> None:
    """Train only the parameters under `head`. The frozen part's BatchNorm layers stay in eval
    mode even while the model trains (their statistics are used as loaded rather than drifting to
    this data), kept so by a forward pre-hook, which `model.train()` cannot undo."""
    frozen_norms = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not f"{name}.".startswith(head):
            frozen_norms.append(module)
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith(head)

    def keep_frozen_norms_in_eval(module: nn.Module, args: object) -> None:
        for norm in frozen_norms:
            norm.eval()

    model.register_forward_pre_hook(keep_frozen_norms_in_eval)


class Preprocess:
    """uint8 (or 0-255 float) NHWC batches -> normalized float NCHW, resized to `input_size`
    when it is set and differs. `mean` and `std` are per channel, in units of `scale` (1/255 of
    a pixel value with scale 255, pixel values with scale 1)."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        scale: float = 255.0,
        input_size: int | None = None,
        channels_last: bool = True,
        device: torch.device | str = "cpu",
    ):
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1) * scale
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1) * scale
        self.input_size = input_size
        self.memory_format = memory_format(channels_last)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self.mean.device != batch.device:
            self.mean, self.std = self.mean.to(batch.device), self.std.to(batch.device)
        x = (batch.permute(0, 3, 1, 2).float() - self.mean) / self.std
        if self.input_size is not None and x.shape[-1] != self.input_size:
            x = F.interpolate(
                x,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                align_corners=False,
                antialias=x.shape[-1] > self.input_size,
            )
        return x.contiguous(memory_format=self.memory_format)


def flips_and_turns(
    images: torch.Tensor,
    generator: torch.Generator,
    maps: torch.Tensor | None = None,
    *,
    flip: bool = True,
    rotate: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A random vertical flip, horizontal flip and transpose per sample of NHWC `images` and,
    alike, of their NHW `maps` (per-pixel targets) when given: together the eight symmetries of a
    square, each with probability 1/8. Overhead imagery has no "up": each is an equally valid
    sample. `rotate`: the transposes (the turns), for square images only. Three draws per sample
    are made whatever is switched off, so the stream does not depend on the switches or the shape."""
    draws = (torch.rand(len(images), 3, generator=generator) < 0.5).to(images.device)
    steps: list[tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]] = []
    if flip:
        steps += [(draws[:, 0], lambda t: t.flip(1)), (draws[:, 1], lambda t: t.flip(2))]
    if rotate and images.shape[1] == images.shape[2]:
        steps.append((draws[:, 2], lambda t: t.transpose(1, 2)))
    for chosen, move in steps:
        images = _where(chosen, move(images), images)
        maps = _where(chosen, move(maps), maps) if maps is not None else None
    return images, maps


def _where(chosen: torch.Tensor, moved: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    return torch.where(chosen.view(-1, *([1] * (moved.ndim - 1))), moved, kept)


@torch.no_grad()
def whiten_first_conv(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Start `conv` (the network's first convolution) as a whitening of its input patches: each
    pair of filters is a principal component of the patches, with both signs, scaled to unit
    variance, strongest components first (the CIFAR-10 speed runs' patch-whitening start).
    `images`: a sample of normalized float NCHW training images. Every first-layer feature then
    carries its own share of what varies between patches, where random filters start mostly
    alike; the filters go on training as usual."""
    kernel = conv.weight.shape[1:]
    if conv.groups != 1 or conv.out_channels % 2 or conv.out_channels > 2 * kernel.numel():
        raise ValueError(f"cannot whiten {conv}: needs an even number of filters, at most twice the patch size")
    patches = F.unfold(images.float(), conv.kernel_size, stride=conv.stride, padding=conv.padding)
    patches = patches.transpose(1, 2).reshape(-1, kernel.numel()).double()
    patches -= patches.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / (len(patches) - 1))
    half = conv.out_channels // 2
    top = (eigenvectors[:, -half:] / (eigenvalues[-half:] + eps).sqrt()).flip(1).T  # strongest first
    conv.weight.copy_(torch.cat([top, -top]).reshape(conv.weight.shape).to(conv.weight.dtype))
