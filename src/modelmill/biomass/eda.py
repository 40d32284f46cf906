"""Stage 3, eda: the raw data described, before anything is dropped: five figures and eda_summary.json.

Reads data/raw only (not verify's output), so it reruns when the data changes and never for a
split or training param. Figures: target distribution, sample photos, correlation heatmap,
age vs biomass, per-channel pixel intensities.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..core.cli import UserError, cli
from ..core.io import atomic_output, write_json
from . import figures, imaging
from .params import EdaConfig, load_params
from .paths import EDA_DIR, RAW_DIR
from .sheet import AGE, IMAGE, WEIGHT, Records, find_sheet, read_records, resolve_image

FIGURES = (
    "target_distribution.png",
    "sample_images.png",
    "correlation_heatmap.png",
    "age_vs_biomass.png",
    "pixel_intensities.png",
)


def summarize(records: Records) -> dict:
    w, age = records.weight, records.age
    labelled = w[~np.isnan(w)]
    per_plant = np.unique(np.array(records.plant), return_counts=True)[1] if len(records) else np.zeros(1)
    names, matrix = correlations(records)
    return {
        "rows": len(records),
        "labelled": int(len(labelled)),
        "plants": int(len(per_plant)),
        "missing_fraction": {WEIGHT: _r(np.isnan(w).mean()), AGE: _r(np.isnan(age).mean())},
        "target_g": _stats(labelled),
        "age_days": _stats(age[~np.isnan(age)]),
        "snapshots_per_plant": {
            "min": int(per_plant.min()),
            "median": float(np.median(per_plant)),
            "mean": _r(per_plant.mean()),
            "max": int(per_plant.max()),
        },
        "correlations": {
            a: {b: (None if np.isnan(matrix[i, j]) else _r(matrix[i, j])) for j, b in enumerate(names)}
            for i, a in enumerate(names)
        },
    }


def correlations(records: Records) -> tuple[list[str], np.ndarray]:
    """Pearson r between the numeric columns, each pair over the rows that have both."""
    cols = {WEIGHT: records.weight, AGE: records.age, **records.extra}
    names = list(cols)
    matrix = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            both = ~np.isnan(cols[a]) & ~np.isnan(cols[b])
            x, y = cols[a][both], cols[b][both]
            if both.sum() > 2 and x.std() > 0 and y.std() > 0:
                matrix[i, j] = float(np.corrcoef(x, y)[0, 1])
    return names, matrix


def eda(cfg: EdaConfig, raw: str | Path = RAW_DIR, out: str | Path = EDA_DIR) -> dict:
    sheet = find_sheet(Path(raw))
    records = read_records(sheet)
    summary = summarize(records)
    rng = np.random.default_rng(cfg.seed)
    labelled = np.flatnonzero(~np.isnan(records.weight))
    present = [i for i in labelled if resolve_image(sheet, records.image[i]) is not None]
    if not present:
        raise UserError(f"{sheet}: no labelled row names a photo that is there; nothing to describe")
    shown = sorted(
        rng.choice(present, size=min(cfg.sample_images, len(present)), replace=False), key=lambda i: records.weight[i]
    )
    pixels = rng.choice(present, size=min(cfg.pixel_images, len(present)), replace=False)
    counts = np.zeros((3, 256), dtype=np.int64)
    for i in pixels:
        img = _photo(records, sheet, i)
        for c in range(3):
            counts[c] += np.bincount(img[..., c].ravel(), minlength=256)
    summary["photos_checked"] = {
        "sample": len(shown),
        "pixel_histogram": len(pixels),
        "missing": len(labelled) - len(present),
    }
    names, matrix = correlations(records)
    both = ~np.isnan(records.weight) & ~np.isnan(records.age)
    figs = (
        figures.target_distribution(records.weight[labelled]),
        figures.sample_images(
            [_photo(records, sheet, i) for i in shown],
            [f"{records.image[i]}\n{records.weight[i]:.3f} g" for i in shown],
        ),
        figures.heatmap(names, matrix),
        figures.age_vs_biomass(records.age[both], records.weight[both]),
        figures.channel_histograms(counts),
    )
    with atomic_output(out, directory=True) as tmp:
        for name, fig in zip(FIGURES, figs):
            figures.save_figure(fig, tmp / name)
        write_json(tmp / "eda_summary.json", summary)
    return summary


def _photo(records: Records, sheet: Path, i: int) -> np.ndarray:
    path = resolve_image(sheet, records.image[i])
    where = f"sheet {Path(sheet).name} row {records.row[i]}, column {IMAGE}"
    if path is None:
        raise UserError(f"{records.image[i]} ({where}): no such photo beside the sheet")
    try:
        return imaging.load(path)
    except ValueError as exc:
        raise UserError(f"{path} ({where}): {exc}") from None


def _stats(x: np.ndarray) -> dict:
    if not len(x):
        return {"count": 0}
    return {
        "count": int(len(x)),
        "mean": _r(x.mean()),
        "std": _r(x.std()),
        "min": _r(x.min()),
        "median": _r(np.median(x)),
        "max": _r(x.max()),
    }


def _r(value) -> float:
    return round(float(value), 6)


@cli
def main() -> None:
    s = eda(load_params().eda)
    print(f"eda: {s['rows']} rows, {s['labelled']} labelled, {s['plants']} plants -> {EDA_DIR}/", file=sys.stderr)


if __name__ == "__main__":
    main()
