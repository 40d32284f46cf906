"""Issue 19: byte-identical reruns wherever `precision: auto` trains.

On an AMD EPYC with AVX-512 bf16, ResNet18 under CPU bf16 autocast gave a different parameter
hash in every fresh process at 16 px and the same hash at 32 px and above; `auto` therefore
picks bf16 on a CPU only at BF16_CPU_MIN_SIDE and above. These tests train each network the
lines use for a few steps in two fresh processes and compare the bytes: in bf16 at the floor
(on every CPU whose torch has bf16 kernels, so a new CPU kind where the floor is not enough
fails the day it runs the suite), and in fp32 at the smallest size any line trains at.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import SRC

from modelmill.core.hardware import BF16_CPU_MIN_SIDE, cpu_bf16_supported

# One script, run in a fresh process each time: a kernel's run-to-run difference shows only there.
PROBE = """
import hashlib, sys
import torch
from torch import nn
from modelmill.core.torchkit import autocast
from modelmill.landcover.model import build_model
from modelmill.seaice.models import Forecaster, SiameseChange


def train(net, side, precision):
  torch.manual_seed(0)
  g = torch.Generator().manual_seed(1)
  if net == "resnet18":
    model = build_model("resnet18", 10).to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, side, side, generator=g).to(memory_format=torch.channels_last)
    loss_of = lambda out: nn.functional.cross_entropy(out.float(), torch.arange(8) % 10)
  elif net == "siamese":
    model = SiameseChange(8)
    x = torch.randn(4, 6, side, side, generator=g)
    loss_of = lambda out: out.float().square().mean()
  else:
    model = Forecaster(8, 1)
    x = torch.rand(2, 30, side, side, generator=g)
    loss_of = lambda out: out.float().square().mean()
  optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
  for _ in range(3):
    with autocast(precision):
        loss = loss_of(model(x))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
  digest = hashlib.sha256()
  for value in model.state_dict().values():
    digest.update(value.detach().contiguous().numpy().tobytes())
  return digest.hexdigest()

torch.set_num_threads(1)
side, precision = int(sys.argv[1]), sys.argv[2]
for net in ("resnet18", "siamese", "forecaster"):
    print(net, train(net, side, precision))
"""

needs_bf16 = pytest.mark.skipif(not cpu_bf16_supported(), reason="this CPU's torch has no bf16 kernels")


def fresh_process_hashes(side: int, precision: str) -> dict[str, str]:
    """{network: sha256 of its parameters after 3 steps}, trained in a new process."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(side), precision],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split() for line in result.stdout.splitlines())


def differing(first: dict[str, str], second: dict[str, str]) -> list[str]:
    assert first.keys() == second.keys() and len(first) == 3
    return [net for net in first if first[net] != second[net]]


@pytest.mark.e2e
@needs_bf16
def test_bf16_reruns_are_byte_identical_at_the_floor():
    first, second = (fresh_process_hashes(BF16_CPU_MIN_SIDE, "bf16") for _ in range(2))
    assert not differing(first, second), (
        f"bf16 training at {BF16_CPU_MIN_SIDE} px is not byte-identical between processes on this CPU for "
        f"{differing(first, second)}; raise BF16_CPU_MIN_SIDE (core/hardware.py) to a size where it is"
    )


@pytest.mark.e2e
def test_fp32_reruns_are_byte_identical_at_the_smallest_size():
    first, second = (fresh_process_hashes(16, "fp32") for _ in range(2))
    assert not differing(first, second)
