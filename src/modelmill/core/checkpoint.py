"""End-of-epoch checkpoints, so a run killed part-way (a preempted GPU, a spot node) resumes.

A checkpoint lives outside the stage's outputs (DVC neither caches nor deletes it) and is
keyed by a fingerprint of everything that decides the result: the params and the input
data. A rerun with the same fingerprint continues after the last complete epoch; any
change starts over. Each one is written atomically, and removed once the run's outputs
are in place. It is a file in the line's .checkpoints/ folder, or, with the training
section's `checkpoint_uri: s3://bucket/prefix`, an S3 object a replacement machine can read
(one PUT or a completed multipart upload: either way it appears whole or not at all).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Protocol

import torch

from .io import atomic_output, file_digest

CHECKPOINT_DIR = Path(".checkpoints")


def inputs_digest(inputs: list[Path]) -> str:
    """A digest of every file under `inputs` (names and contents)."""
    h = hashlib.sha256()
    for path in sorted(inputs):
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            h.update(f"{file.name}:{file_digest(file)}".encode())
    return h.hexdigest()


def fingerprint(params: dict, data: str) -> str:
    """What a checkpoint is keyed by: the params and the inputs' digest."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode() + data.encode()).hexdigest()


def rng_state(generator: torch.Generator) -> dict:
    """The random streams training draws from (it uses no numpy or Python randomness)."""
    return {"generator": generator.get_state(), "torch": torch.get_rng_state()}


def restore_rng(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])


def location(local: Path, uri: str) -> str:
    """Where a checkpoint named like `local` goes: `local` itself, or under `uri` (s3://bucket/prefix)."""
    return f"{uri.rstrip('/')}/{local.name}" if uri else str(local)


class Checkpoint:
    def __init__(self, where: str | Path, fingerprint: str):
        self.where, self.fingerprint = str(where), fingerprint
        self.storage: _Storage = _S3Object(self.where) if self.where.startswith("s3://") else _File(Path(self.where))

    def load(self) -> dict | None:
        """The saved state of this very run (same fingerprint), or None to start over."""
        data = self.storage.read()
        if data is None:
            return None
        try:
            # Our own file, but still loaded without running code: tensors, numbers and strings only.
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # a file from another torch, or damaged: starting over is always safe
            print(f"checkpoint {self.where} unreadable ({type(exc).__name__}); starting over", file=sys.stderr)
            return None
        if state.get("fingerprint") != self.fingerprint:
            print(f"checkpoint {self.where} is from other params or data; starting over", file=sys.stderr)
            return None
        return state

    def save(self, state: dict) -> None:
        buffer = io.BytesIO()
        torch.save({**state, "fingerprint": self.fingerprint}, buffer)
        self.storage.write(buffer.getvalue())

    def clear(self) -> None:
        self.storage.delete()


class _Storage(Protocol):
    def read(self) -> bytes | None: ...
    def write(self, data: bytes) -> None: ...
    def delete(self) -> None: ...


class _File:
    def __init__(self, path: Path):
        self.path = path

    def read(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None

    def write(self, data: bytes) -> None:
        with atomic_output(self.path) as tmp:
            tmp.write_bytes(data)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


class _S3Object:
    def __init__(self, uri: str):
        from . import s3

        self.bucket, self.key = s3.parse_uri(uri)
        self.s3 = s3

    def read(self) -> bytes | None:
        with self.s3.errors("read the checkpoint", self.bucket, self.key):
            response = self.s3.or_none(self.s3.client().get_object, Bucket=self.bucket, Key=self.key)
            return None if response is None else response["Body"].read()

    def write(self, data: bytes) -> None:
        # upload_fileobj goes multipart above 8 MB; S3 shows the object only once it is complete.
        with self.s3.errors("write the checkpoint", self.bucket, self.key):
            self.s3.client().upload_fileobj(io.BytesIO(data), self.bucket, self.key)

    def delete(self) -> None:
        with self.s3.errors("remove the checkpoint", self.bucket, self.key):
            self.s3.client().delete_object(Bucket=self.bucket, Key=self.key)
