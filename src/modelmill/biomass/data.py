"""The prepared-data format and the split by plant.

verify writes one npz per split: `x` uint8 (N, S, S, 3) photos, `y` float32 grams, `age`
float32 days (NaN: unknown), `plant` and `image` (str) and `row` (the sheet's row number); with
synthetic data also `canopy_share` float64, the share of the photo the generator drew the canopy to.
A plant's snapshots are near-copies of each other, so the split is by plant: every photo of a
plant lands in one split, and `check_disjoint` makes sure of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.cli import UserError
from ..core.io import require
from .params import SplitConfig

SPLITS = ("train", "val", "test")
MIN_PLANTS = len(SPLITS)


def split_by_plant(plants: list[str], cfg: SplitConfig) -> dict[str, np.ndarray]:
    """Row indices per split: GroupShuffleSplit for test, then again for val among the rest."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = np.asarray(plants)
    idx = np.arange(len(groups))
    first = GroupShuffleSplit(n_splits=1, test_size=cfg.test, random_state=cfg.seed)
    rest, test = next(first.split(idx, groups=groups))
    second = GroupShuffleSplit(n_splits=1, test_size=cfg.val / (cfg.train + cfg.val), random_state=cfg.seed)
    train, val = next(second.split(rest, groups=groups[rest]))
    parts = {"train": np.sort(rest[train]), "val": np.sort(rest[val]), "test": np.sort(test)}
    check_disjoint({name: groups[rows] for name, rows in parts.items()})
    return parts


def check_disjoint(groups: dict[str, np.ndarray]) -> None:
    """No plant in two splits (an error, not an assert: it must hold under python -O too)."""
    names = list(groups)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = sorted(set(groups[a].tolist()) & set(groups[b].tolist()))
            if shared:
                raise UserError(f"plant(s) {', '.join(map(str, shared[:5]))} are in both the {a} and {b} splits")
    for name, g in groups.items():
        if len(g) == 0:
            raise UserError(
                f"the {name} split holds no plant; with {sum(len(set(v.tolist())) for v in groups.values())} "
                "plants, adjust the split fractions or add plants"
            )


def write_split(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would add .npz to a temporary's name
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle


def load_arrays(prepared: str | Path, name: str) -> dict[str, np.ndarray]:
    with np.load(require(Path(prepared) / f"{name}.npz", "verify")) as data:
        return {k: data[k] for k in data.files}
