"""What EuroSAT RGB is, where it lives, how its archive is laid out, and the prepared-data format."""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from ..core.io import read_json, require

if TYPE_CHECKING:
    import torch

# The archive torchvision.datasets.EuroSAT downloads, with the md5 it checks.
EUROSAT_URL = (
    "https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip"
)
EUROSAT_MD5 = "c8fa014336c82ac7804f0398fcb19387"

CLASSES = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
IMAGE_SIZE = 64  # EuroSAT tiles are 64x64 RGB
TOP_FOLDER = "2750"  # the official archive's top folder

# Entries that archivers add and that are no part of the data.
_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db")


def class_members(archive: zipfile.ZipFile) -> tuple[dict[str, list[str]], list[str]]:
    """Group the archive's files by class folder: `[top/]<Class>/<file>`.

    Returns ({class folder: sorted member names}, files that sit outside any class
    folder). Class folders that hold no file still appear, with an empty list, when
    the archive has an entry for the folder itself.
    """
    members: dict[str, list[str]] = defaultdict(list)
    stray: list[str] = []
    for info in archive.infolist():
        name = info.filename
        if any(junk in name for junk in _JUNK):
            continue
        parts = PurePosixPath(name).parts
        if info.is_dir():
            if parts and parts[-1] in CLASSES:
                members.setdefault(parts[-1], [])
            continue
        if len(parts) < 2 or (len(parts) == 2 and parts[0] == TOP_FOLDER):
            stray.append(name)
            continue
        members[parts[-2]].append(name)
    return {cls: sorted(names) for cls, names in sorted(members.items())}, stray


# The prepared-data format, written by verify and read by train, evaluate, the registry's
# check and the bench: one npz per split (`x` uint8 (N, 64, 64, 3), `y` int64 labels,
# `names` archive member names) and meta.json (classes, image size, train mean/std).
SPLITS = ("train", "val", "test")


def write_prepared(out_dir: Path, splits: dict[str, tuple[np.ndarray, np.ndarray, list[str]]], meta: dict) -> None:
    for name, (x, y, names) in splits.items():
        np.savez(out_dir / f"{name}.npz", x=x, y=y, names=np.array(names))
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def load_tensors(prepared: str | Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's images (uint8 NHWC) and labels, as tensors."""
    import torch  # here, so that ingest and verify, which use this module too, never load torch

    with np.load(require(Path(prepared) / f"{name}.npz", "verify")) as data:
        return torch.from_numpy(data["x"]), torch.from_numpy(data["y"])


def load_meta(prepared: str | Path) -> dict:
    return read_json(Path(prepared) / "meta.json", "verify")
