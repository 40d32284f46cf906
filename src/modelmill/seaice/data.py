"""The three datasets cut from the daily fields, and the time-block split they share.

The days are cut into `split.blocks` equal periods, each divided train | val | test in time
order by the split fractions. Every sample lives inside one such segment: a forecast window
(30 days in, 7 out), a change pair (its two dates and the days between) and a classifier
tile (its day). So no val or test sample shares a day with a training sample; split checks
it (`check_no_overlap`) before writing anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.cli import UserError
from .npz import load_npz
from .params import HISTORY_DAYS, LEAD_DAYS, SeaIceSplitConfig
from .paths import DAILY, DATASETS, dataset_file
from .physics import Daily, Forcing
from .render import observe, render, scene, to_uint8

SPLITS = ("train", "val", "test")
CLASSES = ("open_water", "thin_ice", "thick_ice")
WINDOW = HISTORY_DAYS + LEAD_DAYS
PURITY = 0.9  # a tile is drawn only when this share of its sea cells has its class ...
MARGIN = 0.2  # ... and no cell's thickness is within 20% of the thin/thick boundary
MAX_LAND = 0.25  # tiles with more land than this are not drawn


def load_daily(path=DAILY) -> Daily:
    data = load_npz(path, "generate")
    source = str(data["thickness_source"].reshape(-1)[0]) if "thickness_source" in data else "simulated"
    dates = data["dates"].astype("datetime64[D]")
    forcing = (
        Forcing(
            data["weather"],
            data["drift_angle"],
            data["year_anomaly"],
            float(data["drift_speed"].reshape(-1)[0]),
            float(data["diffusion"].reshape(-1)[0]),
        )
        if "weather" in data
        else None
    )
    return Daily(dates, data["concentration"], data["thickness"], data["land"].astype(bool), source, forcing)


def segments(n_days: int, cfg: SeaIceSplitConfig) -> dict[str, list[tuple[int, int]]]:
    """Each split's [start, end) day ranges."""
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in SPLITS}
    edges = np.linspace(0, n_days, cfg.blocks + 1).round().astype(int)
    for lo, hi in zip(edges, edges[1:]):
        cut_val = lo + round((hi - lo) * cfg.train)
        cut_test = cut_val + round((hi - lo) * cfg.val)
        for name, a, b in zip(SPLITS, (lo, cut_val, cut_test), (cut_val, cut_test, hi)):
            if b > a:
                out[name].append((int(a), int(b)))
    return out


def window_starts(spans: list[tuple[int, int]], stride: int) -> np.ndarray:
    """First days of the 30+7-day windows that fit inside the spans."""
    return np.array([s for a, b in spans for s in range(a, b - WINDOW + 1, stride)], dtype=np.int64)


def pair_days(spans: list[tuple[int, int]], cfg: SeaIceSplitConfig) -> np.ndarray:
    """(n, 2) first and second dates of the change pairs inside the spans; lags cycle through the range."""
    lags = range(cfg.pair_lag_min, cfg.pair_lag_max + 1)
    pairs = []
    for a, b in spans:
        for i, d1 in enumerate(range(a, b, cfg.pair_stride)):
            d2 = d1 + lags[i % len(lags)]
            if d2 < b:
                pairs.append((d1, d2))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def ice_class(c: np.ndarray, h: np.ndarray, cfg: SeaIceSplitConfig) -> np.ndarray:
    """0 open water, 1 thin ice, 2 thick ice, per cell."""
    return np.where(c < cfg.open_water, 0, np.where(h < cfg.thick_m, 1, 2))


def tile_labels(daily: Daily, day: int, cfg: SeaIceSplitConfig) -> np.ndarray:
    """(rows, cols) class of each tile of `day`, -1 where the tile is mixed, ambiguous or mostly land."""
    n = cfg.tile_cells
    rows, cols = daily.land.shape[0] // n, daily.land.shape[1] // n
    cut = (slice(0, rows * n), slice(0, cols * n))
    c, h, land = daily.concentration[day][cut], daily.thickness[day][cut], daily.land[cut]
    classes = ice_class(c, h, cfg)
    near_boundary = (classes > 0) & (np.abs(h - cfg.thick_m) < MARGIN * cfg.thick_m)
    tiles = lambda a: a.reshape(rows, n, cols, n).swapaxes(1, 2).reshape(rows, cols, n * n)  # noqa: E731
    sea = ~tiles(land)
    n_sea = sea.sum(-1)
    counts = np.stack([(tiles(classes == k) & sea).sum(-1) for k in range(len(CLASSES))], -1)
    label = counts.argmax(-1)
    clean = (
        (counts.max(-1) >= PURITY * np.maximum(n_sea, 1))
        & (n_sea >= (1 - MAX_LAND) * n * n)
        & ~(tiles(near_boundary) & sea).any(-1)
    )
    return np.where(clean, label, -1)


def make_tiles(
    daily: Daily, spans: list[tuple[int, int]], per_class: int, cfg: SeaIceSplitConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Up to `per_class` tiles of each class from the spans' days, rendered with clouds and noise."""
    found = []  # (day, row, col, label)
    for a, b in spans:
        for day in range(a, b):
            labels = tile_labels(daily, day, cfg)
            for r, c in np.argwhere(labels >= 0):
                found.append((day, r, c, labels[r, c]))
    candidates = np.array(found, dtype=np.int64).reshape(-1, 4)
    picked: list[int] = []
    for k in range(len(CLASSES)):
        members = np.flatnonzero(candidates[:, 3] == k)
        picked.extend(rng.permutation(members)[:per_class])
    chosen = candidates[np.sort(np.array(picked, dtype=np.int64))]
    n, px = cfg.tile_cells, cfg.tile_cells * cfg.tile_scale
    images = np.empty((len(chosen), px, px, 3), np.uint8)
    for i, (day, r, c, _) in enumerate(chosen):
        cells = (slice(r * n, (r + 1) * n), slice(c * n, (c + 1) * n))
        images[i] = render(
            daily.concentration[day][cells], daily.thickness[day][cells], daily.land[cells], rng, cfg.tile_scale
        )
    return {"x": images, "y": chosen[:, 3], "day": chosen[:, 0]}


def make_pairs(
    daily: Daily, pairs: np.ndarray, cfg: SeaIceSplitConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Both dates of each pair rendered (each with its own clouds and noise) and the true change map.
    With simulated fields also `before_clean` and `after_clean`: the same scenes (the same floes) as a
    perfect sensor returns them, no cloud, speckle or noise, which the change ceiling trains on."""
    before, before_clean = _scenes(daily, pairs[:, 0], rng)
    after, after_clean = _scenes(daily, pairs[:, 1], rng)
    change = np.abs(daily.concentration[pairs[:, 1]] - daily.concentration[pairs[:, 0]]) >= cfg.change
    out = {"before": before, "after": after, "change": (change & ~daily.land).astype(np.uint8), "days": pairs}
    if daily.simulated:
        out |= {"before_clean": before_clean, "after_clean": after_clean}
    return out


def _scenes(daily: Daily, days: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) each day as observed and as a perfect sensor returns the same surface."""
    observed, clean = [], []
    for d in days:
        surface = scene(daily.concentration[d], daily.thickness[d], daily.land, rng)
        observed.append(observe(surface, rng))
        clean.append(to_uint8(surface))
    empty = np.zeros((0, *daily.land.shape, 3), np.uint8)
    return (np.stack(observed), np.stack(clean)) if len(days) else (empty, empty)


def days_used(split: dict) -> dict[str, set[int]]:
    """Every day each split's samples touch: whole forecast windows, pair spans, tile days."""
    used = {}
    for name in SPLITS:
        part = split[name]
        days = {d for s in part["windows"] for d in range(s, s + WINDOW)}
        days |= {d for d1, d2 in part["pairs"] for d in range(d1, d2 + 1)}
        days |= set(part["tile_days"])
        used[name] = days
    return used


def check_no_overlap(used: dict[str, set[int]], dates: np.ndarray) -> None:
    """No two splits share a day; a UserError names the first shared one."""
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            shared = used[a] & used[b]
            if shared:
                first = min(shared)
                raise UserError(
                    f"the {a} and {b} splits share {len(shared)} day(s), first {dates[first]}; "
                    "samples must not cross time blocks"
                )


def load_set(model: str, split: str, sets_dir=None) -> dict[str, np.ndarray]:
    path = dataset_file(model, split)
    return load_npz(path if sets_dir is None else Path(sets_dir) / path.relative_to(DATASETS), "split")


def forecast_arrays(daily: Daily, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 30, H, W) histories and (n, 7, H, W) the days that followed."""
    idx = starts[:, None] + np.arange(WINDOW)
    series = daily.concentration[idx] if len(starts) else np.zeros((0, WINDOW, *daily.land.shape), np.float32)
    return series[:, :HISTORY_DAYS], series[:, HISTORY_DAYS:]
