"""Issue 43: the sea-ice line reads NSIDC's daily NetCDF files as NSIDC ships them (G02202 v4 and
v5, NSIDC-0051 v2): a window of the grid, land from the product's flags, the pole hole and missing
cells filled, short gaps interpolated; every bad folder is one `error:` line naming the file, with
nothing written. End to end, the line trains on such a folder."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from conftest import dvc, line_project, run_module
from nsidc_files import AT, COAST, LAYOUTS, MISSING, POLE_HOLE, write_day, write_folder
from seaice_helpers import TINY, write_line_params

from modelmill.core.cli import UserError
from modelmill.core.io import flatten
from modelmill.registry.compare import differences
from modelmill.registry.listing import headline_metrics
from modelmill.seaice.artifact import ModelArtifact
from modelmill.seaice.nsidc import read_nsidc
from modelmill.seaice.params import RegionConfig
from modelmill.seaice.physics import simulate

REGION = RegionConfig(row=AT[0], col=AT[1], height=16, width=16)
DAYS = 40


@pytest.fixture(scope="module")
def sim():
    return simulate(16, DAYS, "2021-01-01", 0.5, 0.05, 0)


@pytest.mark.parametrize("product", list(LAYOUTS))
def test_each_product_reads_back_as_the_simulated_days(sim, tmp_path, product):
    layout = LAYOUTS[product]
    folder = write_folder(tmp_path / product, layout, sim.concentration, sim.land)
    daily = read_nsidc(folder, REGION, 1)
    assert daily.dates[0] == np.datetime64("2021-01-01") and len(daily) == DAYS
    assert np.array_equal(daily.land, sim.land)
    sea = ~sim.land
    assert np.abs(daily.concentration[:, sea] - sim.concentration[:, sea]).max() <= layout.scale / 2 + 1e-6
    assert (daily.concentration[:, sim.land] == 0).all() and (daily.thickness[:, sim.land] == 0).all()
    assert "estimated" in daily.thickness_source


def test_a_flag_inside_the_window_becomes_land_and_holes_are_filled_in_time(sim, tmp_path):
    conc = sim.concentration.copy()
    sea = np.argwhere(~sim.land)
    (cr, cc), (pr, pc), (mr, mc) = sea[0], sea[len(sea) // 2], sea[-1]
    conc[:, cr, cc] = COAST  # a coast cell every day: land for the line
    conc[10:13, pr, pc] = POLE_HOLE  # three days of pole hole, one day missing: filled in time
    conc[20, mr, mc] = MISSING
    daily = read_nsidc(write_folder(tmp_path / "nc", LAYOUTS["g02202-v4"], conc, sim.land), REGION, 1)
    assert daily.land[cr, cc] and daily.land.sum() == sim.land.sum() + 1
    q = np.round(sim.concentration / 0.01) * 0.01  # what the files hold
    expected = np.interp([10, 11, 12], [9, 13], [q[9, pr, pc], q[13, pr, pc]])
    assert np.allclose(daily.concentration[10:13, pr, pc], expected, atol=1e-6)
    assert np.isclose(daily.concentration[20, mr, mc], (q[19, mr, mc] + q[21, mr, mc]) / 2, atol=1e-6)


def test_a_short_gap_is_interpolated_and_a_longer_one_refused(sim, tmp_path):
    layout = LAYOUTS["nsidc-0051"]  # before August 1987 it holds every other day
    folder = write_folder(tmp_path / "gap", layout, sim.concentration, sim.land, skip=(5,))
    daily = read_nsidc(folder, REGION, 1)
    assert len(daily) == DAYS
    sea = ~sim.land
    middle = (daily.concentration[4, sea] + daily.concentration[6, sea]) / 2
    assert np.allclose(daily.concentration[5, sea], middle, atol=1e-6)
    longer = write_folder(tmp_path / "longer", layout, sim.concentration, sim.land, skip=(5, 6))
    with pytest.raises(UserError, match=r"2 day\(s\) missing from 2021-01-06 to 2021-01-07, more than"):
        read_nsidc(longer, REGION, 1)


def _other_hemisphere(folder, sim):
    write_day(folder, LAYOUTS["g02202-v4"], date(2021, 3, 1), sim.concentration[0], sim.land, north=False)
    return "seaice_conc_daily_sh_20210301_f17_v04r00.nc: a file of the southern hemisphere among northern"


def _other_product(folder, sim):
    write_day(folder, LAYOUTS["g02202-v5"], date(2021, 3, 1), sim.concentration[0], sim.land)
    return "sic_psn25_20210301_F17_v05r00.nc: a G02202 version 5 file among G02202 version 4 files"


def _no_variable(folder, sim):
    import netCDF4

    path = folder / "seaice_conc_daily_nh_20210110_f17_v04r00.nc"
    with netCDF4.Dataset(path, "a") as nc:
        nc.renameVariable("cdr_seaice_conc", "something_else")
    return "seaice_conc_daily_nh_20210110_f17_v04r00.nc: no cdr_seaice_conc variable"


def _truncated(folder, sim):
    path = folder / "seaice_conc_daily_nh_20210110_f17_v04r00.nc"
    path.write_bytes(path.read_bytes()[:1000])
    return "seaice_conc_daily_nh_20210110_f17_v04r00.nc is not a readable NetCDF file of G02202 version 4"


def _gap(folder, sim):
    for day in (10, 11, 12):
        (folder / f"seaice_conc_daily_nh_202101{day}_f17_v04r00.nc").unlink()
    return "3 day(s) missing from 2021-01-10 to 2021-01-12, more than data.max_gap_days (1)"


def _land_moves(folder, sim):
    conc = sim.concentration[9].copy()
    row, col = np.argwhere(~sim.land)[0]
    conc[row, col] = COAST
    write_day(folder, LAYOUTS["g02202-v4"], date(2021, 1, 10), conc, sim.land)
    return "seaice_conc_daily_nh_20210110_f17_v04r00.nc: land, coast and lake cells differ from"


def _other_grid(folder, sim):
    """The window fits both grids: only their shapes tell the days apart."""
    write_day(folder, LAYOUTS["g02202-v4"], date(2021, 1, 10), sim.concentration[9], sim.land, grid=(48, 44))
    return (
        "seaice_conc_daily_nh_20210110_f17_v04r00.nc: a 48x44 grid, "
        "but seaice_conc_daily_nh_20210101_f17_v04r00.nc is on a 44x40 one"
    )


def _region_outside(folder, sim):
    return "data.region (rows 6-21, columns 30-45) is outside its 44x40 grid"


@pytest.mark.parametrize(
    "spoil",
    [_other_hemisphere, _other_product, _no_variable, _truncated, _gap, _land_moves, _other_grid, _region_outside],
)
def test_a_bad_folder_is_one_error_line_naming_the_file_and_writes_nothing(sim, tmp_path, spoil):
    folder = write_folder(tmp_path / "pipelines/seaice/nsidc", LAYOUTS["g02202-v4"], sim.concentration, sim.land)
    expected = spoil(folder, sim)
    line = tmp_path / "pipelines/seaice"
    region = {"data.region.row": AT[0], "data.region.col": 30 if spoil is _region_outside else AT[1]}
    sizes = {"data.region.height": 16, "data.region.width": 16, "data.max_gap_days": 1}
    write_line_params(line, {"data.source": "nsidc", "data.archive": "nsidc", **region, **sizes})
    result = run_module("modelmill.seaice.generate", cwd=line)
    errors = [text for text in result.stderr.splitlines() if text.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert not (line / "data/daily.npz").exists()


@pytest.mark.e2e
def test_the_line_trains_end_to_end_on_nsidc_files(tmp_path_factory):
    """Two years of G02202 v4 files, a 32x32 window: every stage runs, and the classifier's card
    says its thin/thick labels rest on estimated thickness."""
    days = TINY["data.days"]
    sim = simulate(32, days, "2019-01-01", 0.5, 0.05, 3)
    folder = write_folder(
        tmp_path_factory.mktemp("nsidc") / "files", LAYOUTS["g02202-v4"], sim.concentration, sim.land, date(2019, 1, 1)
    )
    overrides = {
        **TINY,
        "data.source": "nsidc",
        "data.archive": str(folder),
        "data.region.row": AT[0],
        "data.region.col": AT[1],
        "data.region.height": 32,
        "data.region.width": 32,
    }
    stages = {
        "params",
        "generate",
        "split",
        "train@classifier",
        "train@forecaster",
        "train@change",
        "ceiling",
        "evaluate",
    }
    repo = line_project(tmp_path_factory.mktemp("nsidc-e2e") / "project", "pipelines/seaice", overrides, stages)
    line = repo / "pipelines/seaice"
    card = json.loads((line / "models/classifier.json").read_text())
    assert card["thickness"].startswith("estimated")
    data = json.loads((line / "metrics/data.json").read_text())
    assert data["thickness"].startswith("estimated") and data["shared_days"] == 0
    metrics = json.loads((line / "metrics/metrics.json").read_text())
    assert set(metrics) >= {"classifier", "forecaster", "change"}
    # No true state behind observed data: no ceiling fields at all (not 0), its plot column empty.
    assert not {"ceiling", "gap_closed", "gap_closed_mean"} & set(metrics["forecaster"])
    assert set(metrics["forecaster"]["rmse_mean"]) == {"model", "best_baseline"}
    assert "forecaster_closes_half_the_gap_to_ceiling" not in metrics["targets"]
    assert len(metrics["forecaster"]["damped_persistence"]["rmse"]) == 7
    rows = (line / "metrics/forecast_rmse.csv").read_text().splitlines()
    assert rows[0].endswith(",damped_persistence,ceiling") and all(row.endswith(",") for row in rows[1:])
    plots = dvc(repo, "plots", "show", "--json", "-o", str(tmp_path_factory.mktemp("plots")))
    shown = json.loads(plots.stdout)
    assert shown["data"]["seaice forecast RMSE by lead day (test)"][0]["content"]["data"]["values"]
    assert not [e for e in shown.get("errors", []) if "forecast" in str(e)], shown["errors"]
    # The user's own data: no clean renders, so no ceiling; its keys are absent, not null or 0.
    assert not {"ceiling", "ceiling_gap"} & set(metrics["change"])
    assert {p.name for p in (line / "models/ceiling").iterdir()} == {"absent.txt"}
    assert "before_clean" not in np.load(line / "data/sets/change/train.npz").files
    # What reads the metrics downstream takes the absence in its stride: the published metadata,
    # the registry listing's headline metrics (make models, the UI) and compare.
    meta = {**ModelArtifact("change").describe(line), "line": "seaice"}
    assert not {"ceiling", "ceiling_gap"} & set(meta["test_metrics"])
    assert headline_metrics(meta) == {"model.iou": metrics["change"]["model"]["iou"]}
    simulated = {**meta["test_metrics"], "ceiling": {"iou": 0.8}, "ceiling_gap": 0.1}
    rows = {row["key"]: row for row in differences(flatten(meta["test_metrics"]), flatten(simulated))}
    assert rows["ceiling.iou"] == {"key": "ceiling.iou", "a": None, "b": 0.8, "change": None}
    assert rows["ceiling_gap"]["a"] is None
