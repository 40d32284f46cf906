"""Stage 1, generate: the table every later stage reads, data/samples.csv.

`data.source: synthetic` draws `data.n_samples` rows from simulate.py (seeded by `data.seed`),
with the true probability `p_fire` beside the label. `data.source: csv` imports the file
`data.csv` instead: exactly the 18 feature columns (any order) and a 0/1 `fire` column,
checked cell by cell. Either way the output has the same columns, in model order.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..core.cli import UserError, cli
from ..core.io import atomic_output
from .features import Table, read_csv, write_table
from .params import DataConfig, load_params
from .paths import SAMPLES
from .simulate import generate


def make_samples(cfg: DataConfig, out: str | Path = SAMPLES) -> Table:
    start = time.perf_counter()
    if cfg.source == "csv":
        if Path(cfg.csv).is_dir():
            raise UserError(
                f"data.csv {cfg.csv!r} is a folder (resolved to {Path(cfg.csv).resolve()}); name the CSV file"
            )
        if not Path(cfg.csv).is_file():
            raise UserError(
                f"data.csv {cfg.csv!r} not found (resolved to {Path(cfg.csv).resolve()}); "
                "a relative path is taken from pipelines/fire"
            )
        table, origin = read_csv(Path(cfg.csv), allow_p_fire=False), cfg.csv
    else:
        table, origin = generate(cfg.n_samples, cfg.seed), f"the simulator (seed {cfg.seed})"
    with atomic_output(out) as tmp:
        write_table(tmp, table)
    fires = int(table.y.sum())
    print(
        f"generate: {len(table)} rows from {origin}, {fires} fires ({fires / len(table):.1%}) -> {out} "
        f"in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    return table


@cli
def main() -> None:
    make_samples(load_params().data)


if __name__ == "__main__":
    main()
