"""Shared helpers of the biomass line's tests: small params, a line folder, a fixture in the project's layout."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from conftest import REPO, set_dotted
from smoke_params import BIOMASS

from modelmill.biomass.params import DataConfig, load_params
from modelmill.biomass.sheet import TRUTH_NAME, read_sheet
from modelmill.biomass.synthetic import write_raw, write_xlsx

LINE = REPO / "pipelines/biomass"
PARAMS = LINE / "params.yaml"
# A few plants, tiny photos, one short epoch: the whole folder stays within its time budget.
TINY = {**BIOMASS, "train.threads": 1}


def write_params(folder: Path, overrides: dict | None = None) -> Path:
    raw = yaml.safe_load(PARAMS.read_text())
    for key, value in {**TINY, **(overrides or {})}.items():
        set_dotted(raw, key, value)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder / "params.yaml"


def tiny_data(seed: int = 3, **changes) -> DataConfig:
    with tempfile.TemporaryDirectory() as folder:
        cfg = load_params(write_params(Path(folder), {"data.seed": seed})).data
    return DataConfig(**{**cfg.__dict__, **changes})


def make_layout(dest: Path, seed: int = 3, **changes) -> Path:
    """A small data set in the project's exact layout (metadata.xlsx + images/), as a user's export
    has it: without the generator's truth file; returns the sheet."""
    write_raw(dest, tiny_data(seed, **changes))
    (dest / TRUTH_NAME).unlink()
    return dest / "metadata.xlsx"


def rewrite_sheet(sheet: Path, edit) -> Path:
    """Apply `edit(columns, rows)` (rows: lists, in place) to an .xlsx sheet, write it back."""
    table = read_sheet(sheet)
    columns, rows = list(table.columns), [list(r) for r in table.rows]
    edit(columns, rows)
    write_xlsx(sheet, tuple(columns), [tuple(r) for r in rows])
    return sheet


def labelled_rows(sheet: Path) -> list[int]:
    table = read_sheet(sheet)
    w = table.columns.index("fresh_weight_total")
    return [i for i, r in enumerate(table.rows) if r[w] is not None]
