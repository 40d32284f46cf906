"""Data-parallel training with PyTorch's own engine: torchrun (torch.distributed.run) and DDP.

A stage whose params ask for N > 1 processes relaunches its own module under torchrun's
standalone rendezvous on this machine; under torchrun (launched by itself or by a user
across nodes) each process joins the group, trains its shard and rank 0 alone writes.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .cli import LAUNCHED, UserError


@dataclass(frozen=True)
class Group:
    rank: int
    world: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's disjoint part of a global batch (every world-th row from its rank on)."""
        return batch[self.rank :: self.world]


SINGLE = Group(0, 1, 0)


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)


def join(device: torch.device) -> Group:
    """Join the process group torchrun set up (nccl on GPUs, gloo on CPUs); SINGLE outside torchrun."""
    if not under_torchrun():
        return SINGLE
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, group: Group, device: torch.device, sync_batchnorm: bool) -> nn.Module:
    """The model as DDP sees it (gradients averaged across ranks); the model itself with one process."""
    if group.world == 1:
        return model
    if sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def launch(module: str, nproc: int, args: Sequence[str] = ()) -> None:
    """Run `python -m module args...` in `nproc` processes under torchrun --standalone, here; a
    rank that fails stops them all, and that becomes one UserError naming the rank."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, get_args_parser

    run = get_args_parser().parse_args([f"--nproc-per-node={nproc}", "--max-restarts=0", "--module", module, *args])
    # What torchrun --standalone does, with the rendezvous on loopback only.
    run.rdzv_backend, run.rdzv_endpoint, run.rdzv_id = "c10d", "127.0.0.1:0", str(uuid.uuid4())
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # each rank sets its own share; this only quiets torchrun
    config, cmd, cmd_args = config_from_args(run)
    os.environ[LAUNCHED] = "1"  # the ranks leave reporting a failure to this process: one line, not N
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        elastic_launch(config=config, entrypoint=cmd)(*cmd_args)
    except ChildFailedError as exc:
        # The ranks the launcher stopped after the first failure exit 130 (or die by its SIGTERM
        # when it lands as they leave); name the cause.
        stopped = (130, -signal.SIGTERM)
        causes = {r: f for r, f in exc.failures.items() if f.exitcode not in stopped} or exc.failures
        rank, failure = min(causes.items(), key=lambda item: (item[1].timestamp, item[0]))
        raise UserError(
            f"training stopped: rank {rank} of {nproc} failed ({_describe(failure.exitcode)}); "
            "every rank was stopped and nothing was written"
        ) from None
    except SignalException:  # Ctrl-C or SIGTERM to the launcher: it stopped the ranks first
        raise KeyboardInterrupt from None
    finally:
        os.environ.pop(LAUNCHED, None)


def _describe(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
