"""Byte-identical .npz files: numpy's own writer stamps each member with the current time."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..core.cli import UserError
from ..core.io import atomic_output, npy_bytes, require

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def save_npz(dest: str | Path, **arrays: np.ndarray) -> None:
    with atomic_output(dest) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, npy_bytes(array), compresslevel=1)


def load_npz(path: str | Path, stage: str) -> dict[str, np.ndarray]:
    """Every array of the .npz `path` (written by `stage`), without pickles."""
    path = require(path, stage)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npz file ({exc}); rerun the {stage} stage") from None
