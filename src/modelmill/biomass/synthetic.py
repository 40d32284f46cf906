"""A seeded stand-in for the FarmBot biomass data, written in the project's exact layout.

Plants follow logistic growth curves over age with their own size and pace, photographed on
consecutive days (up to `max_snapshots` each); a share of rows lacks the weighing or the age,
as in the lab's sheet. Each photo shows a canopy whose area grows as biomass^(2/3) (mass ~
volume, area ~ volume^(2/3)), with a leaf count, shape, shade and position of its own, over
soil of varied colour and texture, sometimes framed by a tray, under brightness, colour cast
and a gradient that change from photo to photo: the image carries the weight, and nothing
else in it does.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.io import write_json
from .params import DataConfig
from .sheet import AGE, IMAGE, IMAGES_FOLDER, PLANT, TRUTH_NAME, WEIGHT

SHEET_NAME = "metadata.xlsx"
ENVIRONMENT = ("tray", "temperature_c", "humidity_pct", "light_intensity")
COLUMNS = (IMAGE, PLANT, AGE, WEIGHT, *ENVIRONMENT)
MIN_G, MAX_G = 0.002, 2.11  # the lab data's range of fresh_weight_total
CANOPY_AT_MAX = 0.55  # share of the photo a plant of MAX_G covers


def snapshot_counts(rows: int, plants: int, most: int, rng: np.random.Generator) -> np.ndarray:
    """Snapshots per plant: at least one, at most `most`, uneven, summing to `rows`."""
    counts = np.ones(plants, dtype=np.int64)
    appetite = rng.gamma(2.0, 1.0, plants)
    while (left := rows - counts.sum()) > 0:
        room = counts < most
        w = np.where(room, appetite, 0.0)
        counts = np.minimum(counts + rng.multinomial(left, w / w.sum()), most)
    return counts


def plant_table(cfg: DataConfig) -> dict[str, list]:
    """The sheet's columns, one entry per snapshot (NaN where the lab has no value)."""
    rng = np.random.default_rng(cfg.seed)
    counts = snapshot_counts(cfg.rows, cfg.plants, cfg.max_snapshots, rng)
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    for p, n in enumerate(counts, 1):
        size = rng.lognormal(np.log(0.87), 0.45)  # the weight this plant would level off at
        pace = rng.uniform(0.10, 0.20)  # logistic growth rate per day
        midpoint = rng.uniform(28, 40)  # age of half its final weight
        first = int(rng.integers(3, max(4, 48 - n)))
        tray = int(rng.integers(1, 5))
        light = rng.normal(300, 40)
        for k in range(n):
            age = first + k
            grams = size / (1 + np.exp(-pace * (age - midpoint))) * rng.lognormal(0, 0.06)
            cols[IMAGE].append(f"plant{p:03d}_{k + 1:02d}.png")
            cols[PLANT].append(p)
            cols[AGE].append(float(age))
            cols[WEIGHT].append(float(np.clip(grams, MIN_G, MAX_G)))
            cols["tray"].append(tray)
            cols["temperature_c"].append(round(float(rng.normal(22.0, 1.5)), 1))
            cols["humidity_pct"].append(round(float(rng.normal(55.0, 6.0)), 1))
            cols["light_intensity"].append(round(float(light + rng.normal(0, 15)), 1))
    for column, share in ((WEIGHT, cfg.missing_label), (AGE, cfg.missing_age)):
        for i in rng.choice(cfg.rows, size=round(share * cfg.rows), replace=False):
            cols[column][i] = float("nan")
    cols[WEIGHT] = [round(w, 4) if w == w else w for w in cols[WEIGHT]]
    return cols


def share_of(grams: float | np.ndarray) -> float | np.ndarray:
    """The canopy's share of the photo for a plant of `grams`, before the render's jitter: mass ~
    volume, area ~ volume^(2/3)."""
    return CANOPY_AT_MAX * (np.asarray(grams) / MAX_G) ** (2 / 3)


def grams_from_share(share: np.ndarray) -> np.ndarray:
    """`share_of` read backwards, within the generator's weight range: the grams a canopy share shows."""
    return np.clip(MAX_G * (np.asarray(share, dtype=np.float64) / CANOPY_AT_MAX) ** 1.5, MIN_G, MAX_G)


def render(grams: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """One top-down photo (uint8 HxWx3) of a plant of `grams` on its soil, tray and light."""
    return render_with_share(grams, size, rng)[0]


def render_with_share(grams: float, size: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """`render`'s photo and the canopy share it was drawn with (the render's jitter included): the
    most the photo can tell of the weight."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    # Soil: a brown of its own, low-frequency patches and grain.
    soil = np.array([rng.uniform(85, 135), rng.uniform(60, 95), rng.uniform(38, 70)], dtype=np.float32)
    patches = _smooth_noise(size, 6, rng) * rng.uniform(10, 30)
    img = soil + patches[..., None] + rng.normal(0, 6, (size, size, 1)).astype(np.float32)
    # Tray: a dark plastic frame on some photos, of varying width and sides.
    if rng.random() < 0.6:
        width = rng.uniform(0.03, 0.12)
        tone = rng.uniform(20, 60)
        frame = np.zeros((size, size), dtype=bool)
        for side, on in zip(("top", "bottom", "left", "right"), rng.random(4) < 0.6):
            if on:
                frame |= {"top": yy < width, "bottom": yy > 1 - width, "left": xx < width, "right": xx > 1 - width}[
                    side
                ]
        img[frame] = tone
    # Weeds and pebbles: small green and grey specks that are not the plant.
    for _ in range(int(rng.integers(0, 4))):
        cy, cx, r = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95), rng.uniform(0.008, 0.025)
        speck = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[speck] = [70, 130, 50] if rng.random() < 0.5 else [150, 150, 145]
    # The canopy: area = share * side^2 with share ~ grams^(2/3), lobed into leaves.
    share = float(share_of(grams)) * rng.lognormal(0, 0.05)
    leaves, depth = int(rng.integers(3, 8)), rng.uniform(0.15, 0.35)
    r0 = np.sqrt(share / np.pi / (1 + depth * depth / 2))  # the lobes' mean area matches `share`
    cy, cx = 0.5 + rng.normal(0, 0.06), 0.5 + rng.normal(0, 0.06)
    dy, dx = yy - cy, xx - cx
    radius = np.sqrt(dy * dy + dx * dx)
    angle = np.arctan2(dy, dx)
    edge = r0 * (1 + depth * np.cos(leaves * angle + rng.uniform(0, 2 * np.pi)))
    canopy = radius < edge
    green = np.array([rng.uniform(40, 90), rng.uniform(120, 175), rng.uniform(30, 70)], dtype=np.float32)
    shade = 0.7 + 0.3 * np.clip(radius / np.maximum(edge, 1e-6), 0, 1)  # leaves lighter toward their tips
    img[canopy] = (green * shade[canopy, None]) + rng.normal(0, 5, (int(canopy.sum()), 1))
    # Light: brightness, a colour cast and a gradient across the bed.
    cast = rng.uniform(-0.08, 0.08)
    light = rng.uniform(0.75, 1.25) * np.array([1 + cast, 1, 1 - cast], dtype=np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    gradient = 1 + rng.uniform(0, 0.25) * ((xx - 0.5) * np.cos(direction) + (yy - 0.5) * np.sin(direction))
    img = img * light * gradient[..., None] + rng.normal(0, 3, (size, size, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), share


def _smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    coarse = Image.fromarray(rng.uniform(-1, 1, (cells, cells)).astype(np.float32), mode="F")
    return np.asarray(coarse.resize((size, size), Image.BICUBIC), dtype=np.float32)


def write_raw(dest: Path, cfg: DataConfig) -> int:
    """metadata.xlsx and images/ under `dest`, as the lab's project lays them out; returns the rows."""
    cols = plant_table(cfg)
    images = Path(dest) / IMAGES_FOLDER
    images.mkdir(parents=True, exist_ok=True)
    weights = _true_weights(cfg)
    shares = {}
    for i, name in enumerate(cols[IMAGE]):
        # Each photo from its own seed: the picture of a row never depends on the others.
        rng = np.random.default_rng([cfg.seed, 1, i])
        photo, shares[name] = render_with_share(weights[i], cfg.image_size, rng)
        Image.fromarray(photo).save(images / name, format="PNG")
    write_xlsx(Path(dest) / SHEET_NAME, COLUMNS, list(zip(*(cols[c] for c in COLUMNS))))
    write_json(Path(dest) / TRUTH_NAME, {"canopy_share": shares})
    return len(cols[IMAGE])


def _true_weights(cfg: DataConfig) -> list[float]:
    """The weight every photo shows, unlabelled rows included (the table before its gaps)."""
    full = plant_table(DataConfig(**{**cfg.__dict__, "missing_label": 0.0, "missing_age": 0.0}))
    return full[WEIGHT]


def write_xlsx(path: Path, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """An .xlsx whose bytes depend only on its cells: openpyxl stamps the save time into the
    properties and every zip entry, so both are pinned here."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("plants")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([None if isinstance(v, float) and v != v else v for v in row])
    raw = io.BytesIO()
    book.save(raw)
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            out.writestr(
                zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)),
                data,
                compress_type=zipfile.ZIP_DEFLATED,
            )
