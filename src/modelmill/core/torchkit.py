"""What every torch line needs around its model: threads, precision, memory layout, safe
weight loading, batched prediction and one epoch of (data-parallel) training.

The loop is plain and explicit, in the style of torchvision's reference scripts. Data stays
as tensors on the training device (uint8 images are small), each batch is augmented as a
whole, and with several processes every rank draws the same global batch and augmentation
from the same seeded generator and trains on its own disjoint part of it: the number of
processes changes the speed, not the recipe.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from .averaging import WeightAverage
from .cli import UserError, first_line
from .distributed import SINGLE, Group
from .hardware import cpu_bf16_supported
from .io import atomic_output
from .progress import bar


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's cpuset, `taskset`),
    which can be fewer than the machine's `os.cpu_count()`."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS and Windows
        return os.cpu_count() or 1


def set_threads(threads: int) -> int:
    """Use `threads` intra-op threads; 0: this process's share of its cores (the cores it may
    run on, divided among the processes torchrun started here, never oversubscribed)."""
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    n = threads or max(1, available_cores() // local_processes)
    torch.set_num_threads(n)
    return n


def autocast(precision: str, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """bf16 autocast where asked and the device has it; plain fp32 otherwise."""
    device_type = torch.device(device).type
    if precision == "bf16" and (device_type == "cuda" or cpu_bf16_supported()):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(channels_last: bool) -> torch.memory_format:
    """The layout for activations and weights: NHWC (channels_last) or torch's default NCHW."""
    return torch.channels_last if channels_last else torch.contiguous_format


def load_weights(path: str | Path, stage: str = "train") -> dict[str, torch.Tensor]:
    """Load a state_dict without running any code a pickle might carry (weights_only=True)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path} not found; run the {stage} stage first (dvc repro)") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = first_line(exc)
        raise UserError(f"{path} is not a plain weights file and was refused (weights_only load: {first})") from None


def load_into(model: nn.Module, path: str | Path, what: str, stage: str = "train") -> nn.Module:
    """`model` (described by `what`, e.g. "a resnet18 with 10 classes") with the weights in `path`,
    loaded safely (`load_weights`), in eval mode; a file that does not fit it is one line."""
    try:
        model.load_state_dict(load_weights(path, stage))
    except RuntimeError as exc:
        raise UserError(f"{Path(path).name} does not fit {what}: {str(exc).splitlines()[0]}") from None
    return model.eval()


def imagenet_state_dict(arch: str, weights) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet `weights` (a WeightsEnum member) for `arch`, from its cache
    ($TORCH_HOME/hub/checkpoints) or a download; one line when neither works."""
    try:
        return weights.get_state_dict(progress=sys.stderr.isatty(), check_hash=True)
    except Exception as exc:  # network, cache and hash errors all mean "no usable weights"
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(
            f"ImageNet weights for {arch} could not be loaded ({type(exc).__name__}: {reason}); "
            f"go online once, or place {weights.url} at {cache}, or set train.pretrained: none"
        ) from None


def save_weights(state: dict[str, torch.Tensor], dest: str | Path) -> None:
    """A state_dict as a plain weights file (contiguous CPU tensors: loads anywhere, with
    `load_weights`), appearing complete or not at all."""
    with atomic_output(dest) as tmp:
        torch.save({k: v.contiguous().cpu() for k, v in state.items()}, tmp)


@torch.inference_mode()
def predict(
    model: nn.Module,
    inputs: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    precision: str,
    num_outputs: int,
) -> torch.Tensor:
    """Float32 outputs of `model` for `inputs`, `prepare`d and run in batches on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    with autocast(precision, device):
        for start in range(0, len(inputs), batch_size):
            out.append(model(prepare(inputs[start : start + batch_size].to(device, non_blocking=True))).float())
    return torch.cat(out) if out else torch.empty(0, num_outputs, device=device)


@dataclass
class Run:
    """What one training run carries from step to step."""

    model: nn.Module  # wrapped for DDP when there are several processes
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    criterion: nn.Module
    generator: torch.Generator  # on the CPU: draws the epoch order and the augmentations
    precision: str = "fp32"
    group: Group = SINGLE
    average: WeightAverage | None = None  # an EMA of the weights, updated after every step


def count_correct(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """How many class scores' argmax equal the labels (a classifier's accuracy numerator)."""
    return (outputs.argmax(1) == targets).sum()


Augment = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def train_one_epoch(
    run: Run,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    augment: Augment | None,
    preprocess: Callable[[torch.Tensor], torch.Tensor],
    desc: str = "train",
    unit: str = "img",
    correct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = count_correct,
) -> tuple[float, float | None]:
    """One pass over (x, y) in global batches of `batch_size`; returns the mean loss and the
    fraction `correct` counts (None without it) over every rank's samples.

    `augment(inputs, targets, generator)` transforms a batch's inputs and targets together, so
    a flip can move an image and its per-pixel target alike. `y` may hold any per-sample
    target the criterion takes: class labels, values, maps."""
    run.model.train()
    group, device = run.group, x.device
    order = torch.randperm(len(x), generator=run.generator)
    # Summed on the device: reading a number back each step would stall a GPU.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    matched = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    with bar(len(x) if group.is_main else None, desc, unit=unit) as progress:
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size].to(device)
            images, labels = x[idx], y[idx]
            if augment is not None:
                images, labels = augment(images, labels, run.generator)
            images, labels = group.shard(images), group.shard(labels)
            with autocast(run.precision, device):
                logits = run.model(preprocess(images))
                loss = run.criterion(logits.float(), labels)
            # DDP averages gradients over ranks; weighting each rank's mean by its share of the
            # global batch makes that the global batch's mean (the factor is 1.0 with one process).
            scaled = loss * (len(labels) * group.world / len(idx)) if group.world > 1 else loss
            run.optimizer.zero_grad(set_to_none=True)
            scaled.backward()
            run.optimizer.step()
            run.schedule.step()
            if run.average is not None:
                run.average.update()
            loss_sum += loss.detach().double() * len(labels)
            if correct is not None:
                matched += correct(logits, labels)
            seen += len(labels)
            progress.update(len(idx))
    totals = torch.stack([loss_sum, matched.double(), torch.tensor(float(seen), dtype=torch.float64, device=device)])
    if group.world > 1:
        dist.all_reduce(totals)
    loss_total, matched_total, seen_total = totals.tolist()
    return loss_total / seen_total, (matched_total / seen_total if correct is not None else None)
