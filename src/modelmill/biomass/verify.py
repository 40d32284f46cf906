"""Stage 2, verify: check the sheet and its photos, drop what cannot be used, split by plant.

Drops (and counts) rows without a weight, and rows naming a photo that is not there when
`verify.on_missing: drop` (`fail` stops on the first). Every other problem — a bad cell, a
repeated photo, an unreadable photo, too few plants to split — stops with one line naming the
file, row and column, leaving the previous outputs as they were. Photos are decoded once, to
`verify.image_size`, into data/prepared/{train,val,test}.npz; metrics/data.json counts it all.
Synthetic data brings the canopy share each photo was drawn with (synthetic.TRUTH_NAME); the
splits carry it as `canopy_share`, for evaluate's floor. The user's own data has none, and
neither have its splits.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..core.cli import UserError, cli
from ..core.io import atomic_output, file_digest, read_json, write_json
from . import imaging
from .data import MIN_PLANTS, SPLITS, split_by_plant, write_split
from .params import SplitConfig, VerifyConfig, load_params
from .paths import DATA_REPORT, PREPARED_DIR, RAW_DIR
from .sheet import IMAGE, PLANT, TRUTH_NAME, Records, find_sheet, read_records, resolve_image


def verify(
    cfg: VerifyConfig,
    split: SplitConfig,
    raw: str | Path = RAW_DIR,
    out: str | Path = PREPARED_DIR,
    report: str | Path = DATA_REPORT,
) -> dict:
    sheet = find_sheet(Path(raw))
    records = read_records(sheet)
    labelled = ~np.isnan(records.weight)
    missing, kept, paths = _rows_with_photos(sheet, records, labelled, cfg.on_missing)
    plants = sorted(set(kept.plant))
    if len(plants) < MIN_PLANTS:
        raise UserError(
            f"{sheet}, column {PLANT}: the {len(kept)} usable row(s) belong to {len(plants)} plant(s) "
            f"({', '.join(plants[:5]) or 'none'}); a split by plant needs at least {MIN_PLANTS}"
        )
    x = _decode_photos(sheet, kept, paths, cfg.image_size)
    shares = _canopy_shares(Path(raw), kept)
    parts = split_by_plant(kept.plant, split)
    _write_splits(out, parts, kept, x, shares)
    summary = {
        "sheet": str(Path(sheet).relative_to(raw)),
        "sheet_sha256": file_digest(sheet),
        "rows": len(records),
        "unlabelled_dropped": int((~labelled).sum()),
        "missing_images_dropped": len(missing),
        "missing_images": [records.image[i] for i in missing[:20]],
        "kept": len(kept),
        "kept_without_age": int(np.isnan(kept.age).sum()),
        "plants": len(plants),
        "image_size": cfg.image_size,
        "on_missing": cfg.on_missing,
        "splits": {
            name: {
                "images": int(len(parts[name])),
                "plants": len(set(kept.plant[i] for i in parts[name])),
                "mean_g": round(float(kept.weight[parts[name]].mean()), 6),
            }
            for name in SPLITS
        },
        "plant_overlap": 0,  # split_by_plant raises otherwise
    }
    write_json(report, summary)
    return summary


def _rows_with_photos(
    sheet: Path, records: Records, labelled: np.ndarray, on_missing: str
) -> tuple[list[np.signedinteger], Records, list[Path]]:
    """(the labelled rows whose photo is missing, the labelled rows whose photo is there, those photos);
    with `on_missing: fail` a missing photo stops the run instead."""
    found = [resolve_image(sheet, name) if ok else None for name, ok in zip(records.image, labelled)]
    missing = [i for i in np.flatnonzero(labelled) if found[i] is None]
    if missing and on_missing == "fail":
        i = missing[0]
        raise UserError(
            f"{sheet} row {records.row[i]}, column {IMAGE}: {records.image[i]!r} not found in "
            f"{sheet.parent / 'images'} or beside the sheet ({len(missing)} such row(s)); "
            "set verify.on_missing: drop to skip them"
        )
    keep = labelled & np.array([f is not None for f in found])
    paths = [path for path in (found[i] for i in np.flatnonzero(keep)) if path is not None]
    return missing, records.take(keep), paths


def _decode_photos(sheet: Path, kept: Records, paths: list[Path], size: int) -> np.ndarray:
    """Every photo decoded once, to `size` x `size` RGB; an unreadable one stops the run, naming its row."""
    x = np.empty((len(kept), size, size, 3), dtype=np.uint8)
    for j, path in enumerate(paths):
        try:
            x[j] = imaging.load(path, size)
        except ValueError as exc:
            raise UserError(f"{path} (sheet {sheet.name} row {kept.row[j]}, column {IMAGE}): {exc}") from None
    return x


def _canopy_shares(raw: Path, kept: Records) -> np.ndarray | None:
    """The generator's canopy share of each kept photo, or None where the generator did not make the data."""
    truth = raw / TRUTH_NAME
    if not truth.is_file():
        return None
    shares = read_json(truth, "generate")["canopy_share"]
    unknown = [name for name in kept.image if name not in shares]
    if unknown:
        raise UserError(f"{truth} has no canopy share for {unknown[0]!r} ({len(unknown)} photo(s)); run generate again")
    return np.array([shares[name] for name in kept.image], dtype=np.float64)


def _write_splits(
    out: str | Path, parts: dict[str, np.ndarray], kept: Records, x: np.ndarray, shares: np.ndarray | None
) -> None:
    with atomic_output(out, directory=True) as tmp:
        for name, rows in parts.items():
            arrays = {
                "x": x[rows],
                "y": kept.weight[rows].astype(np.float32),
                "age": kept.age[rows].astype(np.float32),
                "plant": np.array([kept.plant[i] for i in rows]),
                "image": np.array([kept.image[i] for i in rows]),
                "row": kept.row[rows],
            }
            if shares is not None:
                arrays["canopy_share"] = shares[rows]
            write_split(tmp / f"{name}.npz", arrays)


@cli
def main() -> None:
    params = load_params()
    s = verify(params.verify, params.split)
    print(
        f"verify: {s['rows']} rows, {s['unlabelled_dropped']} unlabelled and {s['missing_images_dropped']} "
        f"without a photo dropped; {s['kept']} photos of {s['plants']} plants -> "
        + ", ".join(f"{n} {s['splits'][n]['images']} ({s['splits'][n]['plants']} plants)" for n in SPLITS),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
