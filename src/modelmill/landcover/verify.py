"""Stage 2, verify: check the archive, decode every image once, split, and report.

Checks the layout and class list, decodes every image (naming the ones that fail),
finds exact duplicates by pixel content, makes a deterministic stratified split in
which no image content is in two splits, and writes:

- data/prepared/: the splits and the train split's per-channel mean/std (what training
  normalizes with), in the format data.py writes and reads;
- metrics/data.json: counts per class and split, duplicates, dropped files, stats.
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
import warnings
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..core.cli import UserError, cli, first_line
from ..core.io import atomic_output, file_digest, require, write_json
from ..core.progress import bar
from .data import CLASSES, IMAGE_SIZE, SPLITS, class_members, write_prepared
from .params import DataConfig, load_params
from .paths import DATA_REPORT, PREPARED_DIR, RAW_ARCHIVE


@dataclass
class Decoded:
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64
    names: list[str]
    corrupt: list[str]  # "member: reason"


def verify(
    cfg: DataConfig,
    archive: str | Path = RAW_ARCHIVE,
    out_dir: str | Path = PREPARED_DIR,
    report_path: str | Path = DATA_REPORT,
) -> dict:
    archive = Path(archive)
    decoded = decode_archive(archive)
    if decoded.corrupt:
        listing = ", ".join(decoded.corrupt[:5]) + (
            f" and {len(decoded.corrupt) - 5} more" if len(decoded.corrupt) > 5 else ""
        )
        if cfg.on_corrupt == "fail":
            raise UserError(
                f"{len(decoded.corrupt)} image(s) in {archive} cannot be used: {listing}; "
                "fix the archive or set data.on_corrupt: drop"
            )
        print(f"verify: dropping {len(decoded.corrupt)} unusable image(s): {listing}", file=sys.stderr)
    _require_every_class(decoded.labels)

    hashes = [hashlib.sha256(img.tobytes()).hexdigest() for img in decoded.images]
    split = stratified_split(decoded.labels, hashes, cfg.split.train, cfg.split.val, cfg.split.test, cfg.seed)
    _check_disjoint(split, hashes)
    _require_every_split(split, decoded.labels, hashes, cfg)

    train_idx = np.flatnonzero(split == SPLITS.index("train"))
    mean, std = channel_stats(decoded.images[train_idx])
    out_dir = Path(out_dir)
    parts = {}
    for i, name in enumerate(SPLITS):
        idx = np.flatnonzero(split == i)
        parts[name] = (decoded.images[idx], decoded.labels[idx], [decoded.names[j] for j in idx])
    with atomic_output(out_dir, directory=True) as tmp:
        write_prepared(tmp, parts, {"classes": list(CLASSES), "image_size": IMAGE_SIZE, "mean": mean, "std": std})

    report: dict[str, Any] = {
        "archive_sha256": file_digest(archive),
        "images": int(len(decoded.labels)),
        "per_class": {c: int(n) for c, n in zip(CLASSES, np.bincount(decoded.labels, minlength=len(CLASSES)))},
        "splits": {
            name: {
                "images": int((split == i).sum()),
                "per_class": {c: int(((split == i) & (decoded.labels == k)).sum()) for k, c in enumerate(CLASSES)},
            }
            for i, name in enumerate(SPLITS)
        },
        "unused": int((split < 0).sum()),
        "duplicates": duplicate_groups(hashes, decoded.names),
        "dropped": decoded.corrupt,
        "train_mean": mean,
        "train_std": std,
    }
    write_json(report_path, report)
    counts = ", ".join(f"{s} {report['splits'][s]['images']}" for s in SPLITS)
    print(
        f"verify: {report['images']} images, {len(report['duplicates'])} duplicate group(s); {counts}", file=sys.stderr
    )
    return report


def decode_archive(path: Path) -> Decoded:
    """Decode every image of a EuroSAT-layout archive into one uint8 array."""
    try:
        archive = zipfile.ZipFile(require(path, "ingest"))
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{path} is not a readable zip archive ({exc}); re-run ingest") from None
    with archive:
        members, stray = class_members(archive)
        _check_layout(path, members, stray)
        total = sum(len(v) for v in members.values())
        images = np.empty((total, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        labels: list[int] = []
        names: list[str] = []
        corrupt: list[str] = []
        with bar(total, "verify: decode", unit="img") as progress:
            for cls, files in members.items():
                for name in files:
                    progress.update(1)
                    try:
                        pixels = _decode(archive.read(name))
                    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError) as exc:
                        # RuntimeError: an encrypted member
                        corrupt.append(f"{name}: {_reason(exc)}")
                        continue
                    images[len(labels)] = pixels
                    labels.append(CLASSES.index(cls))
                    names.append(name)
    return Decoded(images[: len(labels)], np.array(labels, dtype=np.int64), names, corrupt)


def _decode(data: bytes) -> np.ndarray:
    try:
        with warnings.catch_warnings():  # PIL warns of, then refuses, a header declaring too many pixels
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(
            f"declares over {Image.MAX_IMAGE_PIXELS:,} pixels, expected {IMAGE_SIZE}x{IMAGE_SIZE} RGB"
        ) from None
    with opened as img:
        img.load()
        if img.mode != "RGB" or img.size != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"{img.size[0]}x{img.size[1]} {img.mode}, expected {IMAGE_SIZE}x{IMAGE_SIZE} RGB")
        return np.asarray(img)


def _reason(exc: Exception) -> str:
    text = first_line(exc)
    return "not an image" if text.startswith("cannot identify image file") else text


def _check_layout(path: Path, members: dict[str, list[str]], stray: list[str]) -> None:
    if not members:
        raise UserError(
            f"{path} has no class folders; expected <Class>/<image>.jpg (as in EuroSAT.zip's 2750/<Class>/)"
        )
    unexpected = sorted(set(members) - set(CLASSES))
    missing = sorted(set(CLASSES) - set(members))
    if unexpected or missing:
        raise UserError(
            f"{path}: class folders do not match EuroSAT's 10 classes"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unexpected: {', '.join(unexpected)}" if unexpected else "")
        )
    empty = [c for c, files in members.items() if not files]
    if empty:
        raise UserError(f"{path}: class folder(s) with no images: {', '.join(empty)}")
    if stray:
        raise UserError(f"{path}: {len(stray)} file(s) outside the class folders, e.g. {stray[0]}")


def _require_every_class(labels: np.ndarray) -> None:
    counts = np.bincount(labels, minlength=len(CLASSES))
    empty = [c for c, n in zip(CLASSES, counts) if n == 0]
    if empty:
        raise UserError(f"no usable images left for class(es) {', '.join(empty)}")


def _require_every_split(split: np.ndarray, labels: np.ndarray, hashes: list[str], cfg: DataConfig) -> None:
    """Train learns from train, picks its epoch on val; evaluate reads test: none may be empty.
    stratified_split rounds each class's share of its distinct images, so a split is empty when
    even the class with the most of them rounds to 0."""
    for i, name in enumerate(SPLITS):
        if not (split == i).any():
            fraction = getattr(cfg.split, name)
            most = max(len({h for h, k in zip(hashes, labels) if k == cls}) for cls in set(labels.tolist()))
            raise UserError(
                f"the {name} split would hold no images (data.split.{name} {fraction:g} of the largest class's "
                f"{most} distinct images rounds to 0; a class needs {math.floor(0.5 / fraction) + 1} or more to "
                f"give it one); use more images or a larger data.split.{name}"
            )


def stratified_split(
    labels: np.ndarray, hashes: list[str], train: float, val: float, test: float, seed: int
) -> np.ndarray:
    """Assign each image a split index (0 train, 1 val, 2 test, -1 unused).

    Images with identical pixels form one group and always land in the same split.
    Groups are split per class (by their first member's label) in the given
    fractions, in an order fixed by `seed`, so the result depends only on the data.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        groups[h].append(i)
    by_class: dict[int, list[list[int]]] = defaultdict(list)
    for members in groups.values():  # insertion order follows the archive: deterministic
        by_class[int(labels[members[0]])].append(members)
    split = np.full(len(labels), -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for cls in sorted(by_class):
        cls_groups = by_class[cls]
        order = rng.permutation(len(cls_groups))
        n = len(cls_groups)
        n_val, n_test = round(n * val), round(n * test)
        n_train = min(round(n * train), n - n_val - n_test)
        bounds = (n_train, n_train + n_val, n_train + n_val + n_test)
        for rank, g in enumerate(order):
            part = next((i for i, b in enumerate(bounds) if rank < b), -1)
            split[cls_groups[g]] = part
    return split


def _check_disjoint(split: np.ndarray, hashes: list[str]) -> None:
    seen: dict[str, int] = {}
    for part, h in zip(split.tolist(), hashes):
        if part >= 0 and seen.setdefault(h, part) != part:
            raise AssertionError(f"image content {h[:12]} is in two splits")  # a bug, not a user error


def duplicate_groups(hashes: list[str], names: list[str]) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for h, name in zip(hashes, names):
        groups[h].append(name)
    return [members for members in groups.values() if len(members) > 1]


def channel_stats(images: np.ndarray, chunk: int = 2048) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units, exact, from per-channel histograms of the
    uint8 values (counting 256 levels is far faster than summing a float copy)."""
    counts = np.zeros((3, 256), dtype=np.int64)
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].reshape(-1, 3)
        for c in range(3):
            counts[c] += np.bincount(block[:, c], minlength=256)
    levels = np.arange(256, dtype=np.float64) / 255
    total = counts.sum(1)
    mean = counts @ levels / total
    std = np.sqrt(np.maximum(counts @ (levels * levels) / total - mean * mean, 0))
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


@cli
def main() -> None:
    verify(load_params().data)


if __name__ == "__main__":
    main()
