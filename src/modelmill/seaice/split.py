"""Stage 2, split: time blocks -> the three datasets, checked for shared days.

Writes data/split.json (each split's day ranges and sample days), data/sets/<model>/<split>.npz
(classifier: rendered tiles and labels; change: rendered date pairs and true change maps;
forecaster: the first days of its 30+7 windows, read from data/daily.npz) and
metrics/data.json (sizes, class counts, the no-overlap check). Validation and test get
tiles in proportion to their share of the days.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.cli import UserError, cli
from ..core.io import atomic_output, write_json
from .data import (
    CLASSES,
    MARGIN,
    PURITY,
    SPLITS,
    WINDOW,
    check_no_overlap,
    days_used,
    load_daily,
    make_pairs,
    make_tiles,
    pair_days,
    segments,
    window_starts,
)
from .npz import save_npz
from .params import SeaIceSplitConfig, load_params
from .paths import DAILY, DATA_METRICS, DATASETS, MODELS, SPLIT_FILE
from .physics import Daily


def split_days(
    cfg: SeaIceSplitConfig,
    daily_path: str | Path = DAILY,
    split_out: str | Path = SPLIT_FILE,
    sets_out: str | Path = DATASETS,
    metrics_out: str | Path = DATA_METRICS,
) -> dict:
    start = time.perf_counter()
    daily = load_daily(daily_path)
    if cfg.tile_cells > min(daily.land.shape):  # your own grids: params could not know their size
        raise UserError(
            f"split.tile_cells {cfg.tile_cells} is larger than the grid ({daily.land.shape[0]}x{daily.land.shape[1]} "
            "cells): no tile fits; make it smaller"
        )
    spans = segments(len(daily), cfg)
    windows = {name: window_starts(spans[name], cfg.window_stride) for name in SPLITS}
    pairs = {name: pair_days(spans[name], cfg) for name in SPLITS}
    for name in SPLITS:  # checked for every split before any slow work
        _check_long_enough(name, spans[name], windows[name], pairs[name], len(daily), cfg)
    plan, sets = {}, {}
    for i, name in enumerate(SPLITS):
        rng = np.random.default_rng([cfg.seed, i])
        sets[name], plan[name] = _draw_split(name, daily, spans[name], windows[name], pairs[name], cfg, rng)
    used = days_used(plan)
    check_no_overlap(used, daily.dates)
    for name in SPLITS:  # what the classifier's thin/thick labels rest on, for its card
        sets[name]["classifier"]["thickness_source"] = np.array(daily.thickness_source)
    _write_sets(sets, plan, daily.dates, sets_out, split_out)
    summary = {**_summary(spans, plan, sets, used), "thickness": daily.thickness_source}
    write_json(metrics_out, summary)
    print(_summary_line(summary, sets_out, start), file=sys.stderr)
    return summary


def _check_long_enough(
    name: str, spans: list[tuple[int, int]], windows: np.ndarray, pairs: np.ndarray, days: int, cfg: SeaIceSplitConfig
) -> None:
    if len(windows) == 0 or len(pairs) == 0:
        longest = max((b - a for a, b in spans), default=0)
        raise UserError(
            f"the {name} split's longest time segment is {longest} days, too short for one "
            f"{WINDOW}-day forecast window and a change pair; use more days "
            f"({days} now), fewer split.blocks ({cfg.blocks}) or a larger split.{name}"
        )


def _draw_split(
    name: str,
    daily: Daily,
    spans: list[tuple[int, int]],
    windows: np.ndarray,
    pairs: np.ndarray,
    cfg: SeaIceSplitConfig,
    rng: np.random.Generator,
) -> tuple[dict[str, dict], dict[str, Any]]:
    """The split's three datasets (by model) and its entry in split.json."""
    per_class = max(1, round(cfg.tiles_per_class * getattr(cfg, name) / cfg.train))
    tiles = make_tiles(daily, spans, per_class, cfg, rng)
    missing = [CLASSES[k] for k in range(len(CLASSES)) if not (tiles["y"] == k).any()]
    if missing:
        raise UserError(_missing_classes(name, missing, daily, spans, cfg))
    sets = {
        "classifier": tiles,
        "change": make_pairs(daily, pairs, cfg, rng),
        "forecaster": {"starts": windows},
    }
    plan = {
        "segments": spans,
        "windows": windows.tolist(),
        "pairs": pairs.tolist(),
        "tile_days": sorted(set(tiles["day"].tolist())),
    }
    return sets, plan


def _missing_classes(
    name: str, missing: list[str], daily: Daily, spans: list[tuple[int, int]], cfg: SeaIceSplitConfig
) -> str:
    """Why a split holds no clean tile of some class, and what would change that."""
    days = ", ".join(f"{daily.dates[a]}..{daily.dates[b - 1]}" for a, b in spans)
    why = ""
    if "thick_ice" in missing:  # most often: the split's season grows no ice that thick
        thickest = max(float(daily.thickness[a:b].max()) for a, b in spans)
        low, high = cfg.thick_m * (1 - MARGIN), cfg.thick_m * (1 + MARGIN)
        why = (
            f": its thickest ice is {thickest:.2f} m, and a thick tile needs {PURITY:.0%} of its sea cells at "
            f"{high:.2f} m or more and none between {low:.2f} and {high:.2f} m "
            f"(split.thick_m {cfg.thick_m} ± {MARGIN:.0%})"
        )
    more = "data.seed (another simulated series)" if daily.simulated else "more days"
    # thick_m parts thin from thick ice; open water is open water whatever it is
    levers = ("split.thick_m, " if set(missing) - {"open_water"} else "") + "split.blocks or the split fractions"
    return (
        f"the {name} split ({days}) has no clean {', '.join(missing)} tiles{why}; change {levers} "
        f"(which days each split gets), or {more}"
    )


def _write_sets(sets: dict, plan: dict, dates: np.ndarray, sets_out: str | Path, split_out: str | Path) -> None:
    for model in MODELS:
        with atomic_output(Path(sets_out) / model, directory=True) as tmp:
            for name in SPLITS:
                save_npz(tmp / f"{name}.npz", **sets[name][model])
    with atomic_output(split_out) as tmp:
        tmp.write_text(json.dumps({"first_day": str(dates[0]), "days": len(dates), **plan}) + "\n")


def _summary(spans: dict, plan: dict, sets: dict, used: dict) -> dict[str, Any]:
    """metrics/data.json: each split's sizes and class counts."""
    summary: dict[str, Any] = {
        name: {
            "days": len(used[name]),
            "segments": len(spans[name]),
            "forecast_windows": len(plan[name]["windows"]),
            "change_pairs": len(plan[name]["pairs"]),
            "tiles": {c: int((sets[name]["classifier"]["y"] == k).sum()) for k, c in enumerate(CLASSES)},
            "change_fraction": round(float(sets[name]["change"]["change"].mean()), 4),
        }
        for name in SPLITS
    }
    summary["shared_days"] = 0  # check_no_overlap raised otherwise
    return summary


def _summary_line(summary: dict[str, Any], sets_out: str | Path, start: float) -> str:
    return (
        "split: "
        + "; ".join(
            f"{n} {s['forecast_windows']} windows, {s['change_pairs']} pairs, {sum(s['tiles'].values())} tiles"
            for n, s in summary.items()
            if n in SPLITS
        )
        + f"; no shared days -> {sets_out} in {time.perf_counter() - start:.1f}s"
    )


@cli
def main() -> None:
    split_days(load_params().split)


if __name__ == "__main__":
    main()
