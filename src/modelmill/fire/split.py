"""Stage 2, split: data/samples.csv into data/split/{train,val,test}.csv.

Stratified by label in the `split` fractions, in an order fixed by `split.seed`. Rows with
identical features form one group that always lands in one split, so no row (and no copy
of it) is in two splits; every split must hold both classes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..core.cli import UserError, cli
from ..core.io import atomic_output, require
from .features import SPLITS, read_csv, write_table
from .params import SplitConfig, load_params
from .paths import SAMPLES, SPLIT_DIR


def assign_splits(x: np.ndarray, y: np.ndarray, cfg: SplitConfig) -> np.ndarray:
    """The split index (0 train, 1 val, 2 test) of each row."""
    _, group = np.unique(x, axis=0, return_inverse=True)
    group = group.ravel()
    first = np.full(group.max() + 1, len(group))
    np.minimum.at(first, group, np.arange(len(group)))  # each group's first row gives its label
    group_label = y[first]
    group_split = np.empty(len(first), dtype=np.int64)
    rng = np.random.default_rng(cfg.seed)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(group_label == label))
        n_train = round(len(members) * cfg.train)
        n_val = round(len(members) * cfg.val)
        group_split[members[:n_train]] = 0
        group_split[members[n_train : n_train + n_val]] = 1
        group_split[members[n_train + n_val :]] = 2
    return group_split[group]


def split_samples(cfg: SplitConfig, samples: str | Path = SAMPLES, out_dir: str | Path = SPLIT_DIR) -> dict:
    start = time.perf_counter()
    table = read_csv(require(samples, "generate"))
    split = assign_splits(table.x, table.y, cfg)
    parts = {name: table.rows(np.flatnonzero(split == i)) for i, name in enumerate(SPLITS)}
    for name, part in parts.items():
        if len(np.unique(part.y)) < 2:
            raise UserError(
                f"the {name} split of {samples} ({len(part)} rows) lacks "
                f"{'fire' if not part.y.any() else 'non-fire'} rows; use more data or a larger "
                f"split.{name}"
            )
    with atomic_output(out_dir, directory=True) as tmp:
        for name, part in parts.items():
            write_table(tmp / f"{name}.csv", part)
    counts = {name: len(part) for name, part in parts.items()}
    print(
        "split: "
        + ", ".join(f"{name} {n} ({int(parts[name].y.sum())} fires)" for name, n in counts.items())
        + f" -> {out_dir} in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    return counts


@cli
def main() -> None:
    split_samples(load_params().split)


if __name__ == "__main__":
    main()
