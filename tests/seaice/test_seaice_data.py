"""The time-block split (no day in two splits), the three datasets and the archive reader."""

import dataclasses
import json

import numpy as np
import pytest
from conftest import run_module
from seaice_helpers import write_archive, write_line_params

from modelmill.core.cli import UserError
from modelmill.seaice.archive import read_archive
from modelmill.seaice.data import (
    SPLITS,
    WINDOW,
    check_no_overlap,
    days_used,
    load_daily,
    load_set,
    make_pairs,
    pair_days,
    segments,
    window_starts,
)
from modelmill.seaice.generate import make_daily
from modelmill.seaice.params import load_params
from modelmill.seaice.physics import Daily, simulate
from modelmill.seaice.render import LAND, WATER, ice_signature
from modelmill.seaice.split import _missing_classes, split_days


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    """A tiny line folder after generate and split."""
    folder = tmp_path_factory.mktemp("seaice-data")
    params = load_params(write_line_params(folder))
    make_daily(params.data, folder / "data/daily.npz")
    summary = split_days(
        params.split,
        folder / "data/daily.npz",
        folder / "data/split.json",
        folder / "data/sets",
        folder / "metrics/data.json",
    )
    return folder, params, summary


def test_segments_are_contiguous_blocks_in_the_fractions(tmp_path):
    cfg = load_params(write_line_params(tmp_path)).split
    spans = segments(1000, dataclasses.replace(cfg, blocks=2))
    assert spans == {
        "train": [(0, 350), (500, 850)],
        "val": [(350, 425), (850, 925)],
        "test": [(425, 500), (925, 1000)],
    }


def test_windows_and_pairs_stay_inside_their_segment(tmp_path):
    cfg = load_params(write_line_params(tmp_path)).split
    spans = [(0, 100), (200, 260)]
    for s in window_starts(spans, 3):
        assert any(a <= s and s + WINDOW <= b for a, b in spans)
    for d1, d2 in pair_days(spans, cfg):
        assert any(a <= d1 < d2 < b for a, b in spans)
        assert cfg.pair_lag_min <= d2 - d1 <= cfg.pair_lag_max


def test_split_writes_three_datasets_and_no_day_is_in_two_splits(line):
    folder, params, summary = line
    plan = json.loads((folder / "data/split.json").read_text())
    used = days_used(plan)
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not used[a] & used[b], (a, b)
    # Every test window and pair lies apart from every training window, day by day.
    train_days = {d for s in plan["train"]["windows"] for d in range(s, s + WINDOW)}
    assert all(not set(range(s, s + WINDOW)) & train_days for s in plan["test"]["windows"])
    assert all(not set(range(d1, d2 + 1)) & train_days for d1, d2 in plan["test"]["pairs"])
    assert summary["shared_days"] == 0
    metrics = json.loads((folder / "metrics/data.json").read_text())
    assert metrics["test"]["forecast_windows"] == len(plan["test"]["windows"]) > 0
    tiles = load_set("classifier", "train", folder / "data/sets")
    assert tiles["x"].dtype == np.uint8 and tiles["x"].shape[1:] == (16, 16, 3)
    assert set(np.unique(tiles["y"])) == {0, 1, 2}
    pairs = load_set("change", "test", folder / "data/sets")
    daily = load_daily(folder / "data/daily.npz")
    truth = (
        np.abs(daily.concentration[pairs["days"][:, 1]] - daily.concentration[pairs["days"][:, 0]])
        >= params.split.change
    )
    assert np.array_equal(pairs["change"].astype(bool), truth & ~daily.land)


def test_change_pairs_carry_clean_renders_of_the_same_scenes(line):
    """The ceiling's input: each date as a perfect sensor returns it. Where the cell is all water or all
    ice the floes do not vary, so the clean pixel is the surface's exact signature; the observed image
    is that scene under clouds, speckle and noise."""
    folder, _, _ = line
    pairs = load_set("change", "test", folder / "data/sets")
    daily = load_daily(folder / "data/daily.npz")
    clean, observed = pairs["before_clean"], pairs["before"]
    assert clean.shape == observed.shape and clean.dtype == np.uint8
    c, h = daily.concentration[pairs["days"][:, 0]], daily.thickness[pairs["days"][:, 0]]
    water, ice = (c == 0) & ~daily.land, (c == 1) & ~daily.land
    assert water.any() and ice.any()
    assert (clean[water] == np.round(WATER * 255)).all()
    assert (clean[ice] == np.round(ice_signature(h[ice]).astype(np.float64) * 255)).all()
    assert (clean[:, daily.land] == np.round(LAND * 255)).all()
    # Sensor noise and speckle differ pixel by pixel; the clean renders have none of either.
    assert np.abs(observed.astype(int) - clean).mean() > 5
    assert np.array_equal(load_set("change", "train", folder / "data/sets")["after_clean"].shape[1:], clean.shape[1:])


def test_pairs_of_the_users_own_fields_have_no_clean_renders(line):
    folder, params, _ = line
    daily = dataclasses.replace(load_daily(folder / "data/daily.npz"), thickness_source="from the archive")
    pairs = make_pairs(daily, np.array([[0, 5]]), params.split, np.random.default_rng(0))
    assert set(pairs) == {"before", "after", "change", "days"}
    simulated = make_pairs(
        load_daily(folder / "data/daily.npz"), np.array([[0, 5]]), params.split, np.random.default_rng(0)
    )
    assert np.array_equal(simulated["before"], pairs["before"]) and "before_clean" in simulated


def test_the_overlap_check_names_the_first_shared_day():
    dates = np.datetime64("2021-01-01") + np.arange(100)
    check_no_overlap({"train": {1, 2}, "val": {3}, "test": {4}}, dates)
    with pytest.raises(UserError, match="train and test splits share 2 day.*2021-01-04"):
        check_no_overlap({"train": {1, 2, 3, 4}, "val": {10}, "test": {3, 4}}, dates)


def test_split_reruns_write_identical_bytes(line, tmp_path):
    folder, params, _ = line
    split_days(
        params.split, folder / "data/daily.npz", tmp_path / "split.json", tmp_path / "sets", tmp_path / "data.json"
    )
    for path in sorted((folder / "data/sets").rglob("*.npz")):
        again = tmp_path / "sets" / path.relative_to(folder / "data/sets")
        assert again.read_bytes() == path.read_bytes(), path
    assert (tmp_path / "split.json").read_bytes() == (folder / "data/split.json").read_bytes()


def test_generated_daily_keeps_the_simulators_forcing_and_an_archive_has_none(line, tmp_path):
    folder, params, _ = line
    d = params.data
    simulated = simulate(d.grid, d.days, d.start, d.drift_speed, d.diffusion, d.seed).forcing
    forcing = load_daily(folder / "data/daily.npz").forcing
    assert forcing is not None and simulated is not None
    for name in ("weather", "angle", "year_anomaly"):
        assert np.array_equal(getattr(forcing, name), getattr(simulated, name)), name
    assert (forcing.drift_speed, forcing.diffusion) == (d.drift_speed, d.diffusion)
    archive = write_line_params(
        tmp_path, {"data.source": "archive", "data.archive": str(write_archive(tmp_path / "a"))}
    )
    make_daily(load_params(archive).data, tmp_path / "daily.npz")
    assert load_daily(tmp_path / "daily.npz").forcing is None


def test_archive_reads_the_documented_layout(tmp_path):
    folder = write_archive(tmp_path / "archive", days=40)
    daily = read_archive(folder)
    assert len(daily) == 40 and daily.concentration.shape == (40, 16, 16)
    assert str(daily.dates[0]) == "2021-01-01" and np.all(np.diff(daily.dates).astype(int) == 1)
    assert daily.land.any() and not daily.concentration[:, daily.land].any()
    assert 0 <= daily.concentration.min() and daily.concentration.max() <= 1
    assert (daily.thickness[daily.concentration >= 0.15] > 0).all()  # estimated from ice-covered days
    with_h = read_archive(write_archive(tmp_path / "with-h", days=40, thickness=True))
    assert not np.array_equal(with_h.thickness, daily.thickness)


def test_generate_from_an_archive_writes_daily(tmp_path):
    folder = write_archive(tmp_path / "archive", days=40)
    write_line_params(tmp_path, {"data.source": "archive", "data.archive": str(folder)})
    result = run_module("modelmill.seaice.generate", tmp_path)
    assert result.returncode == 0, result.stderr
    daily = load_daily(tmp_path / "data/daily.npz")
    assert len(daily) == 40 and daily.land.shape == (16, 16)


def test_a_split_without_thick_ice_in_your_own_data_says_why_and_what_to_change(tmp_path):
    """Your own grids have no data.seed to change: the way out is more days (or other splits)."""
    days, side = 60, 16
    ice = np.full((days, side, side), 0.9, np.float32)  # all of it ice, none thicker than 0.5 m
    daily = Daily(
        np.datetime64("2021-01-01") + np.arange(days),
        ice,
        np.full_like(ice, 0.5),
        np.zeros((side, side), bool),
        "the archive's",
    )
    cfg = load_params(write_line_params(tmp_path)).split
    message = _missing_classes("test", ["open_water", "thick_ice"], daily, [(50, 60)], cfg)
    assert message.startswith("the test split (2021-02-20..2021-03-01) has no clean open_water, thick_ice tiles")
    assert "its thickest ice is 0.50 m" in message
    assert message.endswith("or more days") and "split.thick_m, split.blocks" in message
    # No open water is no matter of thickness: thick_m is not offered as a way out.
    message = _missing_classes("test", ["open_water"], daily, [(50, 60)], cfg)
    assert message.startswith("the test split (2021-02-20..2021-03-01) has no clean open_water tiles; change ")
    assert "thick_m" not in message and "split.blocks or the split fractions" in message
