"""Where training runs and in which precision, decided from what the machine has.

The rule reads the CPU's vendor and flags (never a timing taken at start, so reruns on one
machine make the same choice and stay byte-identical):
- CUDA: bf16 autocast when the GPU supports it (Ampere and later), else fp32;
- an Intel CPU with AMX (amx_bf16): bf16; measured on a 2-core Xeon with AMX, ResNet18 at
  64 px trained at 324 img/s in bf16 against 245 in fp32;
- an AMD CPU with AVX-512 bf16 (Zen 4): bf16; stock torchvision ran 267-299 img/s in bf16 +
  channels_last there, against 212 for fp32;
- anything else, an Intel CPU with AVX-512 bf16 but no AMX included: fp32 (254 against 164
  img/s measured on one).

One exception keeps the promise of byte-identical reruns: on an AMD EPYC with AVX-512 bf16, a
ResNet18 trained under bf16 autocast at 16x16 px gave a different parameter hash in every
fresh process (fp32 at 16 px, and bf16 at 32, 48 and 64 px, gave the same hash every time).
So `auto` picks bf16 on a CPU only for runs whose smallest input side is at least
BF16_CPU_MIN_SIDE, and says why in the card when it falls back. tests/test_bf16_reruns.py
retrains at that floor on every CPU with bf16 kernels, so a CPU kind where the floor is not
enough fails there the first day it runs the suite.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .cli import UserError

BF16_CPU_MIN_SIDE = 32


@dataclass(frozen=True)
class CpuInfo:
    vendor: str  # GenuineIntel, AuthenticAMD, ... ("" when unknown)
    flags: frozenset  # /proc/cpuinfo's flags
    model: str = ""

    @classmethod
    def read(cls, path: str | Path = "/proc/cpuinfo") -> CpuInfo:
        fields = {}
        try:
            for line in Path(path).read_text().splitlines():
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("vendor_id", "flags", "model name") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:
                    break  # the first processor says it for all
        except OSError:
            pass
        return cls(
            fields.get("vendor_id", ""), frozenset(fields.get("flags", "").split()), fields.get("model name", "")
        )


@dataclass(frozen=True)
class Placement:
    device: torch.device
    precision: str  # fp32 | bf16
    reason: str  # why this precision, for logs, the model card and the bench
    name: str  # the device's name: a CPU model or a GPU's

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.precision == "bf16" else None


def cpu_precision(cpu: CpuInfo) -> tuple[str, str]:
    """The precision `auto` picks on this CPU, and why."""
    if cpu.vendor == "GenuineIntel" and "amx_bf16" in cpu.flags:
        return "bf16", "Intel CPU with AMX (amx_bf16): bf16 trains faster"
    if cpu.vendor == "AuthenticAMD" and "avx512_bf16" in cpu.flags:
        return "bf16", "AMD CPU with AVX-512 bf16: bf16 trains faster"
    if "avx512_bf16" in cpu.flags:
        return "fp32", "AVX-512 bf16 without AMX: fp32 measured faster"
    return "fp32", "no native bf16 matrix units: fp32"


def cpu_bf16_supported() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def pick_device(device: str = "auto") -> torch.device:
    """`auto`: this process's CUDA GPU when there is one (one per rank under torchrun), else the CPU."""
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device is cuda but no CUDA GPU is available here; set train.device: auto or cpu")
    if device in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def place(device: str, precision: str, cpu: CpuInfo | None = None, min_side: int | None = None) -> Placement:
    """Resolve `device` (auto|cpu|cuda) and `precision` (auto|fp32|bf16); a request this machine
    cannot honour is a UserError, raised before any work; auto never fails. `min_side`: the
    smallest image side the run trains at (None: no images), for the CPU bf16 floor."""
    dev = pick_device(device)
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        bf16_ok = torch.cuda.is_bf16_supported()
        if precision == "bf16" and not bf16_ok:
            raise UserError(
                f"train.precision is bf16 but {name} does not support it; set train.precision: auto or fp32"
            )
        if precision == "auto":
            return Placement(
                dev, "bf16" if bf16_ok else "fp32", f"CUDA GPU {'with' if bf16_ok else 'without'} bf16", name
            )
        return Placement(dev, precision, "as set in params", name)
    cpu = cpu or CpuInfo.read()
    name = cpu.model or "CPU"
    if precision == "bf16" and not cpu_bf16_supported():
        raise UserError("train.precision is bf16 but this CPU has no native bf16; set train.precision: auto or fp32")
    below_floor = min_side is not None and min_side < BF16_CPU_MIN_SIDE
    if precision == "auto":
        chosen, reason = cpu_precision(cpu)
        if chosen == "bf16" and not cpu_bf16_supported():
            chosen, reason = "fp32", "this torch build has no CPU bf16 kernels: fp32"
        if chosen == "bf16" and below_floor:
            reason = (
                f"{reason}, but this run trains at {min_side} px and CPU bf16 reruns below "
                f"{BF16_CPU_MIN_SIDE} px are not byte-identical: fp32"
            )
            chosen = "fp32"
        return Placement(torch.device("cpu"), chosen, reason, name)
    reason = "as set in params"
    if precision == "bf16" and below_floor:
        reason += f" (below {BF16_CPU_MIN_SIDE} px, CPU bf16 reruns may not be byte-identical)"
    return Placement(torch.device("cpu"), precision, reason, name)


def check_placement(
    device: str, precision: str, processes: int = 1, sync_batchnorm: bool = False, min_side: int | None = None
) -> Placement:
    """`place`, and the requests no placement here can honour: each fails with one line, before any work
    (the lines' `params` stages call this, so a bad request never reaches a stage that removes outputs)."""
    placement = place(device, precision, min_side=min_side)
    if sync_batchnorm and processes > 1 and placement.device.type != "cuda":
        raise UserError(
            "train.sync_batchnorm needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU kernels); "
            "set it to false for CPU processes"
        )
    return placement
