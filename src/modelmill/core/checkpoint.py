"""End-of-epoch checkpoints, so a run killed part-way (a preempted GPU, a spot node) resumes.

A checkpoint lives outside the stage's outputs (DVC neither caches nor deletes it) and is
keyed by a fingerprint of everything that decides the result: the params and the input
data. A rerun with the same fingerprint continues after the last complete epoch; any
change starts over. Each one is written atomically, and removed once the run's outputs
are in place.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from .io import atomic_output, file_digest

CHECKPOINT_DIR = Path(".checkpoints")


def fingerprint(params: dict, inputs: list[Path]) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for path in sorted(inputs):
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            h.update(f"{file.name}:{file_digest(file)}".encode())
    return h.hexdigest()


def rng_state(generator: torch.Generator) -> dict:
    """The random streams training draws from (it uses no numpy or Python randomness)."""
    return {"generator": generator.get_state(), "torch": torch.get_rng_state()}


def restore_rng(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])


class Checkpoint:
    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    def load(self) -> dict | None:
        """The saved state of this very run (same fingerprint), or None to start over."""
        if not self.path.exists():
            return None
        try:
            # Our own file, but still loaded without running code: tensors, numbers and strings only.
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a file from another torch, or damaged: starting over is always safe
            print(f"checkpoint {self.path} unreadable ({type(exc).__name__}); starting over", file=sys.stderr)
            return None
        if state.get("fingerprint") != self.fingerprint:
            print(f"checkpoint {self.path} is from other params or data; starting over", file=sys.stderr)
            return None
        return state

    def save(self, state: dict) -> None:
        with atomic_output(self.path) as tmp:
            torch.save({**state, "fingerprint": self.fingerprint}, tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
