"""Bad params and malformed archives: one `error:` line, exit 1, previous outputs untouched."""

import numpy as np
import pytest
from conftest import assert_one_line_error, run_module
from seaice_helpers import write_archive, write_line_params

DAILY = "data/daily.npz"


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        ({"data.source": "satellite"}, ("data.source must be one of generate, archive, nsidc",)),
        ({"data.grid": 8}, ("data.grid must be >= 16",)),
        ({"data.start": "2020-13-01"}, ("data.start must be a date YYYY-MM-DD",)),
        ({"data.source": "archive", "data.archive": ""}, ("data.archive is empty",)),
        ({"split.train": 0.8}, ("split fractions sum to 1.1, above 1",)),
        ({"split.pair_lag_min": 20, "split.pair_lag_max": 5}, ("split.pair_lag_max (5) is below split.pair_lag_min",)),
        (
            {"train.forecaster.hiden": 8},
            ("unknown key train.forecaster.hiden (did you mean train.forecaster.hidden?)",),
        ),
        ({"train.classifier.arch": "vgg16"}, ("train.classifier.arch must be one of",)),
        ({"publish.change": "seaice-forecaster"}, ("three distinct names",)),
        ({"split.tile_cells": 64}, ("split.tile_cells 64 is larger than the grid (data.grid: 32 cells a side)",)),
        (
            {"data.source": "nsidc", "data.archive": "x", "data.region.height": 16, "split.tile_cells": 20},
            ("split.tile_cells 20 is larger than the grid (data.region: 16 cells a side)",),
        ),
    ],
)
def test_bad_params_give_one_line(tmp_path, overrides, fragments):
    write_line_params(tmp_path, overrides)
    assert_one_line_error(run_module("modelmill.seaice.generate", tmp_path), "params.yaml", *fragments)


def _npz(path, **arrays):
    np.savez(path, **arrays)


def _broken(folder, how):
    if how == "shape":
        _npz(folder / "seaice_20210110.npz", concentration=np.zeros((20, 16)))
    elif how == "range":
        c = np.load(folder / "seaice_20210105.npz")["concentration"].copy()
        c[3, 4] = 1.7
        _npz(folder / "seaice_20210105.npz", concentration=c)
    elif how == "gap":
        (folder / "seaice_20210120.npz").unlink()
        (folder / "seaice_20210121.npz").unlink()
    elif how == "name":
        _npz(folder / "seaice_20210231.npz", concentration=np.zeros((16, 16)))
    elif how == "key":
        _npz(folder / "seaice_20210103.npz", ice=np.zeros((16, 16)))
    elif how == "land":
        c = np.load(folder / "seaice_20210107.npz")["concentration"].copy()
        c[np.isnan(c)] = 0.0
        _npz(folder / "seaice_20210107.npz", concentration=c)
    elif how == "npy":  # np.save writes one bare array, whatever the name says
        with open(folder / "seaice_20210110.npz", "wb") as f:
            np.save(f, np.zeros((16, 16)))
    elif how == "thickness-nan":
        c = np.load(folder / "seaice_20210106.npz")["concentration"].copy()
        sea = np.argwhere(~np.isnan(c))
        c[tuple(sea[0])], c[tuple(sea[1])] = 0.0, 0.8
        h = np.where(np.isnan(c), np.nan, 0.5)
        h[tuple(sea[0])] = h[tuple(sea[1])] = np.nan  # open water: no ice, fine; ice of unknown thickness: not 0 m
        _npz(folder / "seaice_20210106.npz", concentration=c, thickness=h)
    elif how == "not-npz":
        (folder / "seaice_20210104.npz").write_bytes(b"not a zip")
    return folder


@pytest.mark.parametrize(
    "how, days, fragments",
    [
        ("shape", 40, ("seaice_20210110.npz", "shape (20, 16)", "same grid")),
        ("range", 40, ("seaice_20210105.npz", "row 3, column 4 is 1.7, outside 0-1")),
        ("gap", 40, ("2 day(s) missing between 2021-01-19 and 2021-01-22",)),
        ("name", 40, ("seaice_20210231.npz", "real date")),
        ("key", 40, ("seaice_20210103.npz", "no 'concentration' array")),
        ("land", 40, ("seaice_20210107.npz", "land (NaN) cells differ")),
        ("not-npz", 40, ("seaice_20210104.npz", "not a readable .npz")),
        ("npy", 40, ("seaice_20210110.npz is not a readable .npz file (it holds one array", "np.savez")),
        (
            "thickness-nan",
            40,
            ("seaice_20210106.npz: thickness is NaN at row", "concentration is 0.8 (1 such cell(s))"),
        ),
        (None, 30, ("holds 30 days", "at least 37 consecutive days")),
    ],
)
def test_a_malformed_archive_gives_one_line_and_keeps_previous_outputs(tmp_path, how, days, fragments):
    archive = write_archive(tmp_path / "archive", days=days)
    write_line_params(tmp_path, {"data.source": "archive", "data.archive": "archive"})
    (tmp_path / "data").mkdir()
    (tmp_path / DAILY).write_bytes(b"the previous run's output")
    if how:
        _broken(archive, how)
    assert_one_line_error(run_module("modelmill.seaice.generate", tmp_path), *fragments)
    assert (tmp_path / DAILY).read_bytes() == b"the previous run's output"
    assert not list((tmp_path / "data").glob(".*partial"))


def test_a_tile_larger_than_your_own_grid_stops_split(tmp_path):
    """An archive's grid is known once generate has read it: split says the tile cannot fit."""
    write_archive(tmp_path / "archive", days=40, grid=16)
    write_line_params(tmp_path, {"data.source": "archive", "data.archive": "archive", "split.tile_cells": 20})
    assert run_module("modelmill.seaice.generate", tmp_path).returncode == 0
    assert_one_line_error(
        run_module("modelmill.seaice.split", tmp_path), "split.tile_cells 20 is larger than the grid (16x16 cells)"
    )


def test_a_missing_archive_folder_is_named(tmp_path):
    write_line_params(tmp_path, {"data.source": "archive", "data.archive": "nowhere"})
    assert_one_line_error(run_module("modelmill.seaice.generate", tmp_path), "'nowhere' is not a folder")


def test_split_too_short_for_a_window_says_what_to_change(tmp_path):
    write_line_params(tmp_path, {"data.days": 120, "split.blocks": 1})
    assert run_module("modelmill.seaice.generate", tmp_path).returncode == 0
    assert_one_line_error(run_module("modelmill.seaice.split", tmp_path), "too short for one 37-day forecast window")


def test_train_wants_a_model_name(tmp_path):
    write_line_params(tmp_path)
    assert_one_line_error(
        run_module("modelmill.seaice.train", tmp_path, args=("everything",)),
        "usage: python -m modelmill.seaice.train {classifier,forecaster,change,ceiling}",
    )
    assert_one_line_error(
        run_module("modelmill.seaice.train", tmp_path, args=("classifier",)),
        "data/sets/classifier/train.npz not found; run the split stage first",
    )
    assert_one_line_error(  # the ceiling is the change detector on its data
        run_module("modelmill.seaice.train", tmp_path, args=("ceiling",)),
        "data/sets/change/train.npz not found; run the split stage first",
    )


def test_split_without_a_class_names_it(tmp_path):
    write_line_params(tmp_path, {"split.thick_m": 9.0})  # no ice ever grows that thick
    assert run_module("modelmill.seaice.generate", tmp_path).returncode == 0
    (tmp_path / "data/split.json").write_text("previous")
    assert_one_line_error(
        run_module("modelmill.seaice.split", tmp_path),
        "the train split (2020-01-01..",
        "has no clean thick_ice tiles: its thickest ice is",
        "a thick tile needs 90% of its sea cells at 10.80 m or more and none between 7.20 and 10.80 m "
        "(split.thick_m 9.0 ± 20%)",
        "or data.seed (another simulated series)",
    )
    assert (tmp_path / "data/split.json").read_text() == "previous"


@pytest.mark.parametrize(
    "overrides, grid, tile",
    [
        ({}, (32, 32), 16),  # the tests' 32-cell grid, not the defaults' 64
        ({"split.tile_cells": 4, "split.tile_scale": 3}, (32, 32), 12),
        (
            {"data.source": "nsidc", "data.archive": "nsidc", "data.region.height": 24, "data.region.width": 40},
            (24, 40),
            16,
        ),
    ],
)
def test_make_examples_fit_the_models_the_params_train(tmp_path, overrides, grid, tile):
    """The forecaster and change detector take the grid they were trained on: the examples follow it."""
    from modelmill.seaice.examples import write_examples

    params = write_line_params(tmp_path / "pipelines/seaice", overrides)
    written = {key: np.load(paths[0]) for key, paths in write_examples(tmp_path / "examples", params).items()}
    assert written["classifier"].shape == (tile, tile, 3) and written["classifier"].dtype == np.uint8
    assert written["forecaster"].shape == (30, *grid)
    assert written["change"].shape == (2, *grid, 3)
