"""Heartbeats through torchrun's own store: how a rank tells a slow peer from a lost one.

A collective waits on every rank, so a rank whose machine lost its network would leave the
others blocked until the process group's timeout. That timeout is the training section's
`peer_timeout`, and no healthy collective comes near it: rank 0 alone validates and
checkpoints, and the other ranks wait for it here, as long as its heartbeat moves, however long
that takes. When a collective does fail (a peer died, or the timeout passed), the heartbeats name
the rank that went silent; the stage then ends with one line, instead of a stack of gloo errors.

Each rank adds 1 to its own counter in the store every `interval` seconds from a thread; a
rank is lost when its counter stops moving. Counters are compared on one clock (the reader's),
so machines' clocks never matter. The store is served by one of the processes: when its machine is
the one cut off, a store call can block far past the client's timeout, so every read here runs
in a thread that is given up on after a few intervals (it is left behind; the process is ending).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import torch.distributed as dist

from .cli import UserError


def store(timeout: float, prefix: str) -> dist.Store:
    """A client of the store torchrun serves the workers of this run, its keys under `prefix`
    (a name for this round of the run: the store outlives a relaunch after a failure)."""
    client = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timedelta(seconds=timeout)
    )
    return dist.PrefixStore(f"modelmill/{prefix}", client)


class Lost(UserError):
    """A peer went silent: the run stops, naming it."""


class Unreachable(Exception):
    """The store did not answer in time."""


def bounded(call, seconds: float):
    """`call()`'s result, or Unreachable when it fails or has not returned within `seconds`."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="modelmill-store-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if "value" not in outcome:
        raise Unreachable
    return outcome["value"]


class Liveness:
    def __init__(self, rank: int, world: int, timeout: float, store_prefix: str):
        self.rank, self.world, self.timeout = rank, world, timeout
        self.interval = min(2.0, max(0.2, timeout / 10))
        self.names: dict[int, str] = {}  # rank -> "node 1 (host)", once the ranks have met
        self._stopped = threading.Event()
        # Each thread its own client: a store client is one connection, not to be shared.
        self._beats = store(max(self.interval * 4, 2), store_prefix)
        self._reads = store(max(self.interval * 4, 2), store_prefix)
        self._beats.add(self._key(rank), 1)
        self._thread = threading.Thread(target=self._beat, name="modelmill-heartbeat", daemon=True)
        self._thread.start()

    @staticmethod
    def _key(rank: int) -> str:
        return f"alive/{rank}"

    def _beat(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self._beats.add(self._key(self.rank), 1)
            except Exception:  # the store's host is gone: the collectives will say so
                return

    def stop(self) -> None:
        self._stopped.set()

    def name(self, rank: int) -> str:
        return self.names.get(rank, f"rank {rank}")

    def _read(self, call):
        return bounded(call, self.interval * 2)

    def release(self, key: str) -> None:
        """Rank 0: the others may go on past `key`."""
        try:
            self._read(lambda: self._reads.set(f"go/{key}", "1"))
        except Unreachable:
            raise Lost(self._lost_message(self.silent(), None)) from None

    def wait_for_main(self, key: str) -> None:
        """Every other rank: wait until rank 0 releases `key`, for as long as its heartbeat moves."""
        last, changed = None, time.monotonic()
        while True:
            try:
                if self._read(lambda: self._reads.check([f"go/{key}"])):
                    return
                beats = self._read(lambda: self._reads.add(self._key(0), 0))
            except Unreachable:
                beats = last  # the store is unreachable: its machine, or this one, is cut off
            now = time.monotonic()
            if beats != last:
                last, changed = beats, now
            elif now - changed > self.timeout:
                raise Lost(self._lost_message([0], now - changed))
            time.sleep(0.1)

    def silent(self) -> list[int]:
        """The ranks whose heartbeat stopped (watched for a few intervals); every other rank when
        the store cannot be reached (its machine is cut off, or this one)."""
        others = [r for r in range(self.world) if r != self.rank]
        try:
            before = self._read(lambda: [self._reads.add(self._key(r), 0) for r in range(self.world)])
            time.sleep(self.interval * 3)
            after = self._read(lambda: [self._reads.add(self._key(r), 0) for r in range(self.world)])
        except Unreachable:
            return others
        return [r for r in others if before[r] == after[r]]

    def stopped(self, exc: BaseException) -> BaseException:
        """What to raise when a collective failed with `exc`: one line naming the silent peers,
        or `exc` itself when every peer is alive (then the cause is elsewhere)."""
        lost = self.silent()
        if not lost:
            return exc
        return Lost(self._lost_message(lost, None))

    def _lost_message(self, ranks: list[int], seconds: float | None) -> str:
        names = sorted({self.name(r) for r in ranks})
        quiet = f"no heartbeat for {seconds:.0f} s" if seconds is not None else "its heartbeat stopped"
        return (
            f"training stopped: lost {', '.join(names)} ({quiet}: its process ended or its network is down); "
            "run it again, on a replacement node if need be, to resume from the last checkpoint"
        )
