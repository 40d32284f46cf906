"""Data-parallel training with PyTorch's own engine: torchrun (torch.distributed.run) and DDP.

A stage whose params ask for N > 1 processes relaunches its own module under torchrun's
standalone rendezvous on this machine. Across machines (`make repro NNODES=…` on the head,
`make join` on each other node: the MODELMILL_NODES/MODELMILL_HEAD variables below) every node
launches it under torchrun's c10d rendezvous, hosted by the head. Under torchrun (launched by
itself or by a user) each process joins the group, trains its shard, and rank 0, which is always
on the head, alone writes. Every collective and every wait on a peer is bounded by the training
section's `peer_timeout` (see liveness.py), so a lost node stops the run, named, in seconds.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn

from .cli import LAUNCHED, REPORTED, UserError, first_line

if TYPE_CHECKING:
    from .liveness import Liveness

# How a launch spans machines: set by `make repro NNODES=… HEAD=…` (the head) and `make join`.
NODES_ENV = "MODELMILL_NODES"  # how many machines the run spans
HEAD_ENV = "MODELMILL_HEAD"  # host:port of the head's rendezvous, reachable from every node
ROLE_ENV = "MODELMILL_NODE_ROLE"  # head | join
RESTARTS_ENV = "MODELMILL_MAX_RESTARTS"  # torchrun's --max-restarts: relaunches after a failure
JOIN_TIMEOUT_ENV = "MODELMILL_JOIN_TIMEOUT"  # seconds the nodes have to meet (torchrun's join_timeout)
DEFAULT_PORT = 29400
DEFAULT_JOIN_TIMEOUT = 600  # torchrun's own: time to start the other machines by hand


@dataclass(frozen=True)
class Group:
    rank: int
    world: int
    local_rank: int
    local_world: int = 1
    # Heartbeats through torchrun's store, with several processes: how a rank tells a slow
    # peer from a lost one.
    liveness: Liveness | None = field(default=None, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's disjoint part of a global batch (every world-th row from its rank on)."""
        return batch[self.rank :: self.world]

    def release(self, key: str) -> None:
        """Rank 0: tell the ranks waiting on `key` that its work (validation, a checkpoint) is done."""
        if self.liveness is not None:
            self.liveness.release(key)

    def wait_for_main(self, key: str) -> None:
        """The other ranks: wait for rank 0's release of `key` as long as its heartbeat goes on,
        not in a collective bounded by peer_timeout."""
        if self.liveness is not None:
            self.liveness.wait_for_main(key)


SINGLE = Group(0, 1, 0)


@dataclass(frozen=True)
class Nodes:
    """The machines a launch spans, as the environment tells this one."""

    count: int = 1
    head: str = ""  # host:port
    role: str = "head"
    max_restarts: int = 0
    join_timeout: int = DEFAULT_JOIN_TIMEOUT

    @classmethod
    def from_env(cls) -> Nodes:
        count = _env_int(NODES_ENV, 1, low=1)
        restarts = _env_int(RESTARTS_ENV, 0, low=0)
        join_timeout = _env_int(JOIN_TIMEOUT_ENV, DEFAULT_JOIN_TIMEOUT, low=1)
        role = os.environ.get(ROLE_ENV, "head") or "head"
        if role not in ("head", "join"):
            raise UserError(f"{ROLE_ENV} must be head or join, got {role!r}")
        head = os.environ.get(HEAD_ENV, "")
        if count > 1:
            head = head or f"{socket.gethostname()}:{DEFAULT_PORT}"
            host, _, port = head.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise UserError(f"HEAD must be host:port (the head node's address and a free port), got {head!r}")
        elif role == "join":
            raise UserError("joining needs NNODES=N (N >= 2: the head and the nodes that join it)")
        return cls(count, head, role, restarts, join_timeout)

    @property
    def head_address(self) -> tuple[str, int]:
        """HEAD as (host, port); from_env has checked its form."""
        host, _, port = self.head.rpartition(":")
        return host, int(port)

    def join_command(self) -> str:
        """The `make join` line for the other nodes: under `dvc repro` (DVC names the running stage
        in DVC_STAGE and the project in DVC_ROOT; the stage runs in its line's folder) it names the
        line and the stage this head trains, which `make join` would otherwise take as the
        land-cover line's `train`."""
        words = [f"HEAD={self.head}", f"NNODES={self.count}"]
        root, stage = os.environ.get("DVC_ROOT"), os.environ.get("DVC_STAGE")
        if root and stage:
            folder = os.path.relpath(os.getcwd(), root).replace(os.sep, "/")
            if folder.startswith("pipelines/") and folder.count("/") == 1:
                words.append(f"PIPELINE={folder.split('/')[1]}")
            name = stage.rpartition(":")[2]
            if name != "train":
                words.append(f"STAGE={name}")
        return "make join " + " ".join(words)

    def address(self) -> str:
        """This node's address as the others reach it: the head's is HEAD's host; a joining
        node's, the one its packets to the head leave from. torchrun's workers find their
        store there (a host name alone can resolve to an address only this machine knows)."""
        if self.role == "head":
            return self.head_address[0]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(self.head_address)  # picks a route; sends nothing
                return probe.getsockname()[0]
        except OSError as exc:
            raise UserError(f"no route to the head at {self.head} ({exc.strerror or exc})") from None


def _interface(address: str) -> str | None:
    """The network interface that holds `address` (a host name is resolved first), if any here."""
    import psutil

    try:
        ip = socket.gethostbyname(address)
    except OSError:
        return None
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == ip for a in addresses):
            return name
    return None


def _env_int(name: str, default: int, *, low: int) -> int:
    raw = os.environ.get(name, "") or str(default)
    if not raw.isdigit() or int(raw) < low:
        raise UserError(f"{name.removeprefix('MODELMILL_')} must be an integer >= {low}, got {raw!r}")
    return int(raw)


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)


def should_launch(processes: int) -> bool:
    """Whether this stage starts torchrun itself: several processes here, or several machines."""
    return not under_torchrun() and (processes > 1 or Nodes.from_env().count > 1)


def join(device: torch.device, peer_timeout: float = 1800) -> Group:
    """Join the process group torchrun set up (nccl on GPUs, gloo on CPUs); SINGLE outside torchrun.
    Every collective gives up after `peer_timeout` seconds."""
    if not under_torchrun():
        return SINGLE
    from .liveness import Liveness, store

    local_rank, local_world = int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    backend, timeout = ("nccl" if device.type == "cuda" else "gloo"), timedelta(seconds=peer_timeout)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timeout)
    world = dist.get_world_size()
    if world == 1:
        return Group(0, 1, local_rank, local_world)
    # A name for this round of the run, the same on every node: keys in torchrun's store (which
    # outlives a relaunch) never mix with an earlier round's.
    run = [uuid.uuid4().hex]
    dist.broadcast_object_list(run, src=0)
    rank = _head_first(dist.get_rank(), local_rank, local_world)
    if _any_moved(rank):
        # The store this group met through is served by one of its processes; it must outlive
        # the group, for the regrouped one meets through it too.
        _KEPT.append(dist.distributed_c10d._get_default_store())
        dist.destroy_process_group()
        dist.init_process_group(
            backend, store=store(peer_timeout, f"{run[0]}/ranks/"), rank=rank, world_size=world, timeout=timeout
        )
    return Group(rank, world, local_rank, local_world, Liveness(rank, world, peer_timeout, store_prefix=f"{run[0]}/"))


_KEPT: list = []


def _any_moved(rank: int) -> bool:
    """Whether any process's rank changes (every process gets the same answer)."""
    moved = torch.tensor([int(rank != dist.get_rank())])
    dist.all_reduce(moved)
    return bool(moved.item())


def _head_first(rank: int, local_rank: int, local_world: int) -> int:
    """This process's rank, numbered so that the head's processes come first. torchrun's c10d
    rendezvous orders nodes by address and process id, which puts the head anywhere; the head is
    where the outputs and dvc.lock are written, so its first process must be rank 0."""
    if os.environ.get(ROLE_ENV) not in ("head", "join") or int(os.environ.get("GROUP_WORLD_SIZE", 1)) == 1:
        return rank  # one machine, or torchrun started by hand: its own numbering
    nodes: list = [None] * dist.get_world_size()
    dist.all_gather_object(nodes, (os.environ[ROLE_ENV] == "head", int(os.environ["GROUP_RANK"])))
    heads = {node for is_head, node in nodes if is_head}
    order = sorted({node for _, node in nodes}, key=lambda node: (node not in heads, node))
    return order.index(int(os.environ["GROUP_RANK"])) * local_world + local_rank


def leave(group: Group = SINGLE) -> None:
    if group.liveness is not None:
        group.liveness.stop()
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
    """Run `python -m module args...` in `nproc` processes under torchrun: here alone (its
    standalone rendezvous, on loopback), or as one of the machines MODELMILL_NODES names. A
    process that fails stops them all, and that becomes one line naming it."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError, RendezvousTimeoutError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, get_args_parser

    nodes = Nodes.from_env()
    launcher = [f"--nproc-per-node={nproc}", f"--max-restarts={nodes.max_restarts}"]
    if nodes.count == 1:
        run = get_args_parser().parse_args([*launcher, "--module", module, *args])
        # What torchrun --standalone does, with the rendezvous on loopback only.
        run.rdzv_backend, run.rdzv_endpoint, run.rdzv_id = "c10d", "127.0.0.1:0", str(uuid.uuid4())
    else:
        address = nodes.address()
        run = get_args_parser().parse_args(
            [
                *launcher,
                f"--nnodes={nodes.count}",
                f"--local-addr={address}",
                "--rdzv-backend=c10d",
                f"--rdzv-endpoint={nodes.head}",
                f"--rdzv-id={re.sub(r'[^A-Za-z0-9]+', '-', ' '.join([module, *args]))}",
                f"--rdzv-conf=is_host={int(nodes.role == 'head')},join_timeout={nodes.join_timeout}",
                "--module",
                module,
                *args,
            ]
        )
        # Each round of the rendezvous (a relaunch after a failure is a new one) gets a new store
        # for the processes, served by its first one: torchrun's shared store would outlive the
        # round, and a relaunched process could read a peer's address from the round before.
        os.environ.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
        # gloo and NCCL pick their interface by this machine's host name, which often resolves to
        # 127.0.1.1 (Debian's default) or an address another node cannot reach: name the
        # interface that holds the address the other nodes reach this one at, unless the user did.
        interface = _interface(address)
        if interface:
            os.environ.setdefault("GLOO_SOCKET_IFNAME", interface)
            os.environ.setdefault("NCCL_SOCKET_IFNAME", interface)
        if nodes.role == "head":
            print(
                f"{module}: waiting for {nodes.count - 1} more node(s) at {nodes.head} (up to {nodes.join_timeout} s, "
                f"JOIN_TIMEOUT); on each, run {nodes.join_command()}",
                file=sys.stderr,
            )
        else:
            wait_for_head(nodes, module)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # each rank sets its own share; this only quiets torchrun
    config, cmd, cmd_args = config_from_args(run)
    os.environ[LAUNCHED] = "1"  # the ranks leave reporting a failure to this process: one line, not N
    os.environ[ROLE_ENV] = nodes.role  # tells the ranks where rank 0 belongs
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        elastic_launch(config=config, entrypoint=cmd)(*cmd_args)
    except ChildFailedError as exc:
        # The ranks the launcher stopped after the first failure exit 130 (or die by its SIGTERM
        # when it lands as they leave); name the cause, unless that rank said it already.
        stopped = (130, -signal.SIGTERM)
        causes = {r: f for r, f in exc.failures.items() if f.exitcode not in stopped} or exc.failures
        rank, failure = min(causes.items(), key=lambda item: (item[1].timestamp, item[0]))
        if failure.exitcode == REPORTED:
            raise SystemExit(1) from None
        who = f"rank {rank} of {nproc}" if nodes.count == 1 else f"process {failure.local_rank} of {nproc} here"
        raise UserError(
            f"training stopped: {who} failed ({_describe(failure.exitcode)}); "
            "every rank was stopped and nothing was written"
        ) from None
    except RendezvousTimeoutError:
        raise not_met(
            nodes,
            f"fewer than {nodes.count} nodes joined; on each other node run {nodes.join_command()}"
            if nodes.role == "head"
            else f"the head never let this node in; check NNODES ({nodes.count} here) on every node",
        ) from None
    except RendezvousError as exc:
        reason = first_line(exc)
        raise UserError(
            f"the nodes did not meet at {nodes.head} ({type(exc).__name__}: {reason}); check that the head runs "
            f"make repro NNODES={nodes.count}, that every node can reach that address, and NNODES on each"
        ) from None
    except SignalException:  # Ctrl-C or SIGTERM to the launcher: it stopped the ranks first
        raise KeyboardInterrupt from None
    finally:
        os.environ.pop(LAUNCHED, None)
        os.environ.pop(ROLE_ENV, None)


def wait_for_head(nodes: Nodes, module: str) -> None:
    """Wait up to the join timeout for the head's rendezvous port to accept a connection: torchrun's
    own client would give up after a minute or two and print C++ stack frames instead of a reason."""
    deadline = time.monotonic() + nodes.join_timeout
    told = False
    while True:
        try:
            with socket.create_connection(nodes.head_address, timeout=5):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise not_met(
                    nodes,
                    f"no head answered ({exc.strerror or exc}); run make repro NNODES={nodes.count} "
                    f"HEAD={nodes.head} on the head, and check that this node can reach that address",
                ) from None
            if not told:
                print(
                    f"{module}: waiting for the head at {nodes.head} (up to {nodes.join_timeout} s, JOIN_TIMEOUT)",
                    file=sys.stderr,
                )
                told = True
            time.sleep(1)


def not_met(nodes: Nodes, why: str) -> UserError:
    return UserError(f"the nodes did not meet at {nodes.head} within {nodes.join_timeout} s (JOIN_TIMEOUT): {why}")


def _describe(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
