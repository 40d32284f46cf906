"""Atomic file output, JSON, hashing and "run stage X first": shared by every stage that writes or checks a file."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np

from .cli import UserError

PARTIAL_SUFFIX = ".partial"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


@contextlib.contextmanager
def atomic_output(dest: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; move it into place only if the block succeeds.

    A failure (or Ctrl-C, or SIGTERM, which the CLI turns into KeyboardInterrupt) removes
    the temporary, so `dest` is either the old output, absent, or the complete new one.
    The temporary has a fixed name so that a run killed with SIGKILL leaves at most one
    hidden leftover, which the next run replaces. With `directory`, the temporary is
    created as an empty folder.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}{PARTIAL_SUFFIX}")
    _remove(tmp)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if directory:
            _remove(dest)  # a folder cannot be swapped in one rename; it is never half-written
        os.replace(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_bytes(dest: str | Path, data: bytes) -> Path:
    """`data` at `dest`, written whole or not at all."""
    with atomic_output(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_json(dest: str | Path, data: object) -> None:
    with atomic_output(dest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_csv(dest: str | Path, rows: list[dict], fields: Sequence[str] | None = None) -> None:
    """Rows of dicts as a CSV with a header (`fields`, default: the first row's keys)."""
    with atomic_output(dest) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields or list(rows[0] if rows else ()), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def flatten(tree: Mapping, prefix: str = "") -> dict:
    """{"a.b": leaf} for a nested mapping (a prediction as CSV columns, metrics as dotted paths)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def require(path: str | Path, stage: str, how: str = "dvc repro") -> Path:
    """`path`, which an earlier stage writes; if it is missing, say which stage to run."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} not found; run the {stage} stage first ({how})")
    return path


def read_json(path: str | Path, stage: str, how: str = "dvc repro") -> dict:
    """The JSON file an earlier stage wrote (see `require`)."""
    return json.loads(require(path, stage, how).read_text())


class JsonRecord:
    """A dataclass kept as one JSON file (a model card): `write` it, `read` it back with exactly
    its fields (extra keys in the file are ignored, a missing one is a KeyError)."""

    def write(self, path: str | Path) -> None:
        write_json(path, dataclasses.asdict(self))  # type: ignore[call-overload]  # subclasses are dataclasses

    @classmethod
    def read(cls, path: str | Path, stage: str = "train") -> Self:
        raw = read_json(path, stage)
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def read_json_if_present(path: str | Path) -> dict | None:
    """The JSON file at `path`, or None while the stage that writes it has not run (a model
    described before it is evaluated: served from the workspace, never published)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def npy_bytes(array: np.ndarray) -> bytes:
    """`array` as the bytes of a .npy file, in C order and without pickles: the same array, the same bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}  # the image content types the lines accept


def image_bytes(pixels: np.ndarray, content_type: str) -> bytes:
    """One uint8 HxWx3 image as a file of `content_type` (a key of IMAGE_FORMATS)."""
    from PIL import Image  # only where an image is written

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format=IMAGE_FORMATS[content_type])
    return buffer.getvalue()


def read_npy(body: bytes) -> np.ndarray:
    """The one array in the bytes of a .npy file, never unpickled. A ValueError says what is wrong
    in words for whoever sent the bytes: numpy's own advice ("load it unsafely using
    allow_pickle") is for a Python caller and means nothing to an HTTP client."""
    if body.startswith(ZIP_MAGIC):
        raise ValueError("body is a .npz archive; send one .npy array")
    if not body.startswith(NPY_MAGIC):
        raise ValueError("body is not a .npy array (no .npy header; write it with numpy.save)")
    try:
        return np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError("body is a .npy array of Python objects, which is never loaded; send numbers") from None
        raise ValueError(f"body is not a readable .npy array ({str(exc).splitlines()[0]})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"body is not a readable .npy array ({type(exc).__name__}: {exc})") from None
