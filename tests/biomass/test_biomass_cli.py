"""The biomass line's data stages as DVC runs them (python -m, in the line's folder): generate,
verify and eda on a small data set in the project's layout, the archive source, and every
bad input as one `error:` line that leaves the previous outputs as they were."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
from biomass_support import labelled_rows, make_layout, rewrite_sheet, write_params
from conftest import assert_one_line_error, run_module

from modelmill.biomass.data import load_arrays
from modelmill.biomass.eda import FIGURES
from modelmill.biomass.sheet import AGE, IMAGE, PLANT, TRUTH_NAME, WEIGHT, read_sheet
from modelmill.biomass.synthetic import share_of

RAW_SHEET = "data/raw/metadata.xlsx"


def stage(name: str, folder, **env):
    return run_module(f"modelmill.biomass.{name}", folder, env=env or None, timeout=300)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A line folder whose synthetic generate and verify have run once (copied per test)."""
    folder = tmp_path_factory.mktemp("biomass-line")
    write_params(folder)
    for name in ("generate", "verify"):
        result = stage(name, folder)
        assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def line(generated, tmp_path):
    folder = tmp_path / "line"
    shutil.copytree(generated, folder)
    return folder


def test_generate_writes_the_projects_layout(line):
    sheet = read_sheet(line / RAW_SHEET)
    assert sheet.columns[:4] == [IMAGE, PLANT, AGE, WEIGHT]
    assert len(sheet.rows) == 72
    assert sorted(p.name for p in (line / "data/raw/images").iterdir()) == sorted(r[0] for r in sheet.rows)


def test_verify_drops_and_counts_then_splits_by_plant(line):
    sheet = read_sheet(line / RAW_SHEET)
    gone = sheet.rows[labelled_rows(line / RAW_SHEET)[0]][0]
    (line / "data/raw/images" / gone).unlink()
    result = stage("verify", line)
    assert result.returncode == 0, result.stderr
    report = json.loads((line / "metrics/data.json").read_text())
    assert report["rows"] == 72 and report["unlabelled_dropped"] == round(0.142 * 72)
    assert report["missing_images_dropped"] == 1 and report["missing_images"] == [gone]
    assert report["kept"] == 72 - round(0.142 * 72) - 1
    splits = {name: load_arrays(line / "data/prepared", name) for name in ("train", "val", "test")}
    assert sum(len(s["y"]) for s in splits.values()) == report["kept"]
    plants = {name: set(s["plant"].tolist()) for name, s in splits.items()}
    assert not (plants["train"] & plants["val"] or plants["train"] & plants["test"] or plants["val"] & plants["test"])
    assert splits["train"]["x"].shape[1:] == (16, 16, 3) and splits["train"]["x"].dtype == np.uint8
    assert gone not in np.concatenate([s["image"] for s in splits.values()]).tolist()
    assert np.isnan(np.concatenate([s["age"] for s in splits.values()])).sum() == report["kept_without_age"]


def test_verify_carries_the_generators_canopy_share_to_every_split(line):
    truth = json.loads((line / "data/raw" / TRUTH_NAME).read_text())["canopy_share"]
    sheet = read_sheet(line / RAW_SHEET)
    labels = {r[sheet.columns.index(IMAGE)]: r[sheet.columns.index(WEIGHT)] for r in sheet.rows}
    for name in ("train", "val", "test"):
        split = load_arrays(line / "data/prepared", name)
        assert split["canopy_share"].tolist() == [truth[str(image)] for image in split["image"]]
        # each share is the label's through the generator's relation, within the render's jitter
        drawn = share_of(np.array([labels[str(image)] for image in split["image"]], dtype=np.float64))
        assert np.all(np.abs(np.log(split["canopy_share"] / drawn)) < 0.3)


def test_missing_image_with_on_missing_fail_is_one_line(line):
    write_params(line, {"verify.on_missing": "fail"})
    row = labelled_rows(line / RAW_SHEET)[2]
    name = read_sheet(line / RAW_SHEET).rows[row][0]
    (line / "data/raw/images" / name).unlink()
    before = (line / "data/prepared/train.npz").read_bytes()
    result = stage("verify", line)
    assert_one_line_error(result, "metadata.xlsx", f"row {row + 2}, column image", name, "verify.on_missing: drop")
    assert (line / "data/prepared/train.npz").read_bytes() == before


def _unreadable(line):
    row = labelled_rows(line / RAW_SHEET)[1]
    name = read_sheet(line / RAW_SHEET).rows[row][0]
    (line / "data/raw/images" / name).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return [name, f"row {row + 2}, column image", "not a decodable image"]


def _edit(column, value, index=0):
    def apply(line):
        row = labelled_rows(line / RAW_SHEET)[index]

        def edit(columns, rows):
            rows[row][columns.index(column)] = value(rows) if callable(value) else value

        rewrite_sheet(line / RAW_SHEET, edit)
        return ["metadata.xlsx", f"row {row + 2}, column {column}"]

    return apply


def _drop_column(line):
    def edit(columns, rows):
        i = columns.index(AGE)
        del columns[i]
        for r in rows:
            del r[i]

    rewrite_sheet(line / RAW_SHEET, edit)
    return ["metadata.xlsx", "row 1", "age_days missing from the header"]


def _one_plant(line):
    rewrite_sheet(line / RAW_SHEET, lambda columns, rows: [r.__setitem__(columns.index(PLANT), 7) for r in rows])
    return ["metadata.xlsx", "column plant_number", "1 plant(s) (7)", "at least 3"]


@pytest.mark.parametrize(
    "damage",
    [
        _drop_column,
        _edit(WEIGHT, "n/a"),
        _edit(WEIGHT, -0.25, 3),
        _edit(IMAGE, lambda rows: rows[0][0], 5),
        _one_plant,
        _unreadable,
    ],
    ids=["missing-column", "non-numeric-weight", "negative-weight", "duplicate-image", "one-plant", "unreadable-image"],
)
def test_bad_input_is_one_line_and_keeps_previous_outputs(line, damage):
    before = {
        p: (line / p).read_bytes() for p in ("data/prepared/train.npz", "data/prepared/test.npz", "metrics/data.json")
    }
    fragments = damage(line)
    result = stage("verify", line)
    assert_one_line_error(result, *fragments)
    assert {p: (line / p).read_bytes() for p in before} == before


def test_archive_source_zip_and_folder(tmp_path):
    layout = tmp_path / "FarmBot"
    make_layout(layout, seed=5)
    (
        layout / "images" / read_sheet(layout / "metadata.xlsx").rows[labelled_rows(layout / "metadata.xlsx")[0]][0]
    ).unlink()
    zipped = tmp_path / "farmbot.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for p in sorted(layout.rglob("*")):
            z.write(p, p.relative_to(tmp_path).as_posix())
    for source in (zipped, layout):
        line = tmp_path / f"line-{source.suffix or 'folder'}"
        write_params(line, {"data.source": "archive", "data.archive": str(source)})
        assert stage("generate", line).returncode == 0
        result = stage("verify", line)
        assert result.returncode == 0, result.stderr
        report = json.loads((line / "metrics/data.json").read_text())
        assert report["missing_images_dropped"] == 1 and report["sheet"].endswith("metadata.xlsx")
        # the user's own photos have no generator behind them: no share, so evaluate reports no floor
        assert all("canopy_share" not in load_arrays(line / "data/prepared", n) for n in ("train", "val", "test"))
    (layout / TRUTH_NAME).write_text("{}")
    reserved = tmp_path / "line-reserved"
    write_params(reserved, {"data.source": "archive", "data.archive": str(layout)})
    assert_one_line_error(stage("generate", reserved), "data.archive", TRUTH_NAME, "rename or remove it")
    bad = tmp_path / "line-bad"
    write_params(bad, {"data.source": "archive", "data.archive": str(tmp_path / "nowhere.zip")})
    assert_one_line_error(stage("generate", bad), "data.archive", "nowhere.zip", "does not exist")


def test_eda_writes_five_figures_and_a_summary(line):
    (line / "data/raw/images" / read_sheet(line / RAW_SHEET).rows[0][0]).unlink()  # a gap the EDA survives
    result = stage("eda", line)
    assert result.returncode == 0, result.stderr
    for name in FIGURES:
        assert (line / "metrics/eda" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    summary = json.loads((line / "metrics/eda/eda_summary.json").read_text())
    assert summary["rows"] == 72 and summary["labelled"] == 72 - round(0.142 * 72)
    assert summary["missing_fraction"] == {
        WEIGHT: round(round(0.142 * 72) / 72, 6),
        AGE: round(round(0.115 * 72) / 72, 6),
    }
    assert summary["correlations"][WEIGHT][AGE] > 0.3
    assert summary["snapshots_per_plant"]["max"] <= 14
    first = {name: (line / "metrics/eda" / name).read_bytes() for name in (*FIGURES, "eda_summary.json")}
    assert stage("eda", line).returncode == 0
    assert {name: (line / "metrics/eda" / name).read_bytes() for name in first} == first  # byte-identical rerun
