"""What every torch line needs around its model: threads, precision, memory layout,
safe weight loading and batched prediction."""

from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .cli import UserError


def set_threads(threads: int) -> int:
    """Use `threads` intra-op threads (0: one per CPU core); returns how many."""
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def bf16_supported() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def autocast(precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CPUs with native bf16; plain fp32 otherwise."""
    if precision == "bf16" and bf16_supported():
        return torch.autocast("cpu", dtype=torch.bfloat16)
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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a plain weights file and was refused (weights_only load: {first})") from None


@torch.inference_mode()
def predict(model: nn.Module, inputs: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
            batch_size: int, precision: str, num_outputs: int) -> torch.Tensor:
    """Float32 outputs of `model` for `inputs`, `prepare`d and run in batches."""
    model.eval()
    out = []
    with autocast(precision):
        for start in range(0, len(inputs), batch_size):
            out.append(model(prepare(inputs[start:start + batch_size])).float())
    return torch.cat(out) if out else torch.empty(0, num_outputs)
