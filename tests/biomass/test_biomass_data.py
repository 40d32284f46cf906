"""The biomass line's params, metadata sheet, synthetic stand-in and split by plant."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml
from biomass_support import LINE, PARAMS, make_layout, rewrite_sheet, tiny_data, write_params
from PIL import Image

from modelmill.biomass.data import check_disjoint, split_by_plant
from modelmill.biomass.generate import generate
from modelmill.biomass.params import SplitConfig, load_params
from modelmill.biomass.scoring import paired_bootstrap_ratio
from modelmill.biomass.sheet import AGE, IMAGE, PLANT, WEIGHT, find_sheet, read_records, resolve_image
from modelmill.biomass.synthetic import (
    CANOPY_AT_MAX,
    MAX_G,
    MIN_G,
    grams_from_share,
    plant_table,
    render,
    render_with_share,
    share_of,
    snapshot_counts,
)
from modelmill.core.cli import UserError


def test_repo_params_are_the_documented_defaults():
    p = load_params(PARAMS)
    assert (p.data.source, p.data.rows, p.data.plants, p.data.max_snapshots) == ("synthetic", 4294, 168, 42)
    assert (p.split.train, p.split.val, p.split.test) == (0.7, 0.15, 0.15)
    assert (p.train.arch, p.train.pretrained, p.train.loss) == ("resnet18", "none", "mse")
    assert p.publish.model_name == "plant-biomass"


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"split.test": 0.3}, "split fractions sum to 1.15, above 1"),
        ({"data.source": "archive"}, "data.archive is empty"),
        ({"train.arch": "resnet50"}, "train.arch must be one of resnet18, resnet34"),
        ({"train.pretrained": "imagnet"}, "did you mean imagenet?"),
        ({"train.loss": "l1"}, "train.loss must be one of mse, huber"),
        ({"verify.on_missing": "skip"}, "verify.on_missing must be one of fail, drop"),
        ({"data.rows": 1000, "data.plants": 10, "data.max_snapshots": 42}, "do not fit 10 plants"),
        ({"train.freeze_backbone": "yes"}, "train.freeze_backbone must be true or false"),
    ],
)
def test_bad_params_are_one_clear_line(tmp_path, overrides, fragment):
    with pytest.raises(UserError, match=fragment.replace("?", r"\?").replace(".", r"\.")):
        load_params(write_params(tmp_path, overrides))


def test_synthetic_table_has_the_lab_sheet_statistics():
    cfg = load_params(PARAMS).data
    t = plant_table(cfg)
    w, age = np.array(t[WEIGHT], float), np.array(t[AGE], float)
    assert len(w) == 4294 and round(np.isnan(w).mean(), 3) == 0.142 and round(np.isnan(age).mean(), 3) == 0.115
    labelled = w[~np.isnan(w)]
    assert len(labelled) == 3684
    assert 0.22 < labelled.mean() < 0.30 and 0.24 < labelled.std() < 0.33
    assert labelled.min() == pytest.approx(0.002) and labelled.max() == pytest.approx(2.11)
    assert np.median(labelled) < labelled.mean()  # right-skewed
    per_plant = np.bincount(t[PLANT])[1:]
    assert len(per_plant) == 168 and per_plant.max() <= 42 and per_plant.min() >= 1


def test_snapshot_counts_respect_their_bounds():
    counts = snapshot_counts(100, 9, 12, np.random.default_rng(0))
    assert counts.sum() == 100 and counts.min() >= 1 and counts.max() <= 12


def test_canopy_in_the_photo_grows_with_biomass():
    grams = np.geomspace(0.005, 2.1, 12)
    green = []
    for i, g in enumerate(grams):
        img = render(g, 96, np.random.default_rng(i)).astype(int)
        green.append(((img[..., 1] > img[..., 0] + 25) & (img[..., 1] > img[..., 2] + 25)).mean())
    assert np.corrcoef(np.array(grams) ** (2 / 3), green)[0, 1] > 0.95
    assert max(green) < CANOPY_AT_MAX * 1.4


def test_the_drawn_share_reads_back_to_the_weight_within_the_jitter():
    grams = np.geomspace(MIN_G, MAX_G, 40)
    assert grams_from_share(share_of(grams)) == pytest.approx(grams, rel=1e-12)
    assert grams_from_share([0.0, 1.0]).tolist() == [MIN_G, MAX_G]  # read back within the generator's range
    drawn = np.array([render_with_share(g, 32, np.random.default_rng(i))[1] for i, g in enumerate(grams)])
    jitter = np.log(drawn / share_of(grams))
    assert 0.02 < jitter.std() < 0.08 and np.abs(jitter).max() < 0.25  # lognormal(0, 0.05): the floor's only noise
    for i, g in enumerate(grams[:5]):  # the photo is the one render draws
        photo, _ = render_with_share(g, 32, np.random.default_rng(i))
        assert np.array_equal(photo, render(g, 32, np.random.default_rng(i)))


def test_paired_bootstrap_ratio_resamples_plants():
    rng = np.random.default_rng(0)
    plants = np.repeat(np.arange(30), 10)
    actual = rng.uniform(0.1, 2.0, 300)
    reference = actual * np.exp(rng.normal(0, 0.05, 300))
    predicted = actual * np.exp(rng.normal(0, 0.1, 300))
    ratio, low, high = paired_bootstrap_ratio(actual, predicted, reference, plants, 500, 1)
    assert ratio == pytest.approx(np.sqrt(np.mean((predicted - actual) ** 2) / np.mean((reference - actual) ** 2)))
    assert low < ratio < high and 1.3 < low and high < 3.0
    assert paired_bootstrap_ratio(actual, predicted, reference, plants, 500, 1) == (ratio, low, high)
    assert paired_bootstrap_ratio(actual, reference, reference, plants, 50, 1) == pytest.approx((1.0, 1.0, 1.0))


def test_layout_is_the_projects_and_byte_identical(tmp_path):
    a, b = make_layout(tmp_path / "a"), make_layout(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    names = sorted(p.name for p in (tmp_path / "a/images").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b/images").iterdir())
    assert all((tmp_path / "a/images" / n).read_bytes() == (tmp_path / "b/images" / n).read_bytes() for n in names)
    assert find_sheet(tmp_path / "a") == a


def test_xlsx_fixture_with_gaps_reads_into_records(tmp_path):
    sheet = make_layout(tmp_path)
    records = read_records(sheet)
    assert len(records) == 72 and records.row[0] == 2
    assert np.isnan(records.weight).sum() == round(0.142 * 72) and np.isnan(records.age).sum() == round(0.115 * 72)
    assert {"tray", "temperature_c", "humidity_pct", "light_intensity"} <= set(records.extra)
    assert resolve_image(sheet, records.image[0]) == tmp_path / "images" / records.image[0]
    (tmp_path / "images" / records.image[0]).unlink()
    assert resolve_image(sheet, records.image[0]) is None


def test_csv_sheet_reads_like_xlsx(tmp_path):
    sheet = make_layout(tmp_path)
    xlsx = read_records(sheet)
    with open(tmp_path / "metadata.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([IMAGE, PLANT, WEIGHT, AGE])
        for i in range(len(xlsx)):
            w, a = xlsx.weight[i], xlsx.age[i]
            writer.writerow([xlsx.image[i], xlsx.plant[i], "" if np.isnan(w) else w, "" if np.isnan(a) else a])
    from_csv = read_records(tmp_path / "metadata.csv")
    assert from_csv.image == xlsx.image and from_csv.plant == xlsx.plant
    np.testing.assert_array_equal(from_csv.weight, xlsx.weight)
    np.testing.assert_array_equal(from_csv.age, xlsx.age)
    with pytest.raises(UserError, match="holds 2 sheets"):
        find_sheet(tmp_path)


def test_an_archive_with_two_sheets_is_named_as_the_user_gave_it(tmp_path):
    """Issue 20: the error names the user's archive, not the temporary folder it was unpacked into."""
    archive = tmp_path / "lab"
    (archive / "images").mkdir(parents=True)
    for name in ("metadata.csv", "old.csv"):
        (archive / name).write_text("image,plant\n")
    cfg = tiny_data(source="archive", archive=str(archive))
    with pytest.raises(UserError) as err:
        generate(cfg, tmp_path / "raw")
    assert str(err.value).startswith(f"data.archive {archive} holds 2 sheets") and ".partial" not in str(err.value)
    assert not (tmp_path / "raw").exists()


def _set(column: str, row: int, value):
    def edit(columns, rows):
        rows[row][columns.index(column)] = value

    return edit


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (
            lambda c, r: [c.__setitem__(c.index(WEIGHT), "weight")],
            "row 1: column fresh_weight_total missing from the header",
        ),
        (_set(WEIGHT, 4, "heavy"), "row 6, column fresh_weight_total: 'heavy' is not a number"),
        (_set(WEIGHT, 7, -0.5), "row 9, column fresh_weight_total: -0.5 is negative"),
        (_set(AGE, 3, "old"), "row 5, column age_days: 'old' is not a number"),
        (_set(IMAGE, 5, "plant001_01.png"), "row 7, column image: 'plant001_01.png' is also named in row 2"),
        (_set(PLANT, 2, None), "row 4, column plant_number: empty"),
    ],
)
def test_bad_sheets_name_file_row_and_column(tmp_path, edit, fragment):
    sheet = rewrite_sheet(make_layout(tmp_path), edit)
    with pytest.raises(UserError) as err:
        read_records(sheet)
    assert str(sheet) in str(err.value) and fragment in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_a_sheet_without_photo_rows_is_one_line(tmp_path):
    sheet = tmp_path / "metadata.csv"
    sheet.write_text(f"{IMAGE},{PLANT},{WEIGHT},{AGE}\n,,,\n")
    with pytest.raises(UserError, match=f"^{sheet} has no rows below its header; each photo needs a row$"):
        read_records(sheet)


def test_a_workbook_of_several_worksheets_is_refused_by_name(tmp_path):
    """Only one worksheet is read: a second one, of more photos or of notes, is not passed over in silence."""
    import openpyxl

    sheet = make_layout(tmp_path)
    book = openpyxl.load_workbook(sheet)
    book.create_sheet("Sheet2", 0)  # empty, and first: Excel's spare sheets do not count
    book.create_sheet("Sheet3")
    book.save(sheet)
    assert len(read_records(sheet)) == 72
    book.create_sheet("batch2").append([IMAGE, PLANT, WEIGHT, AGE])
    book.save(sheet)
    with pytest.raises(UserError, match="holds 2 worksheets with cells \\('.+', 'batch2'\\); keep the metadata in"):
        read_records(sheet)


def test_plant_7_and_7_0_are_one_plant_and_underscored_numbers_are_not_numbers(tmp_path):
    """A CSV written from a column with gaps holds "7.0" where the rest hold 7: split by plant must
    see one plant. Python's float() reads "1_000"; no spreadsheet does."""
    sheet = tmp_path / "metadata.csv"
    sheet.write_text(f"{IMAGE},{PLANT},{WEIGHT},{AGE}\na.png,7,0.5,3\nb.png,7.0,0.6,4\nc.png,7.00,,5\nd.png,07,0.1,1\n")
    assert read_records(sheet).plant == ["7", "7", "7", "07"]
    sheet.write_text(f"{IMAGE},{PLANT},{WEIGHT},{AGE}\na.png,7,1_000,3\n")
    with pytest.raises(UserError, match="row 2, column fresh_weight_total: '1_000' is not a number"):
        read_records(sheet)


def test_a_16_bit_greyscale_photo_keeps_its_tones():
    """convert("RGB") alone clips 16-bit values over 255 to white."""
    import io

    from modelmill.biomass.imaging import decode

    deep = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    body = io.BytesIO()
    Image.fromarray(deep).save(body, "PNG")
    pixels = decode(body.getvalue())
    assert pixels.shape == (64, 64, 3)
    np.testing.assert_allclose(pixels[..., 0], deep / 257, atol=0.5)


def test_unreadable_archive_members_are_one_line(tmp_path):
    """A damaged or encrypted zip member, or a dangling link in a folder, is named; nothing is left behind."""
    import zipfile

    make_layout(tmp_path / "lab")
    good = tmp_path / "lab.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_STORED) as z:
        for path in sorted((tmp_path / "lab").rglob("*")):
            z.write(path, path.relative_to(tmp_path / "lab"))
    raw = bytearray(good.read_bytes())
    info = zipfile.ZipFile(good).getinfo("metadata.xlsx")
    raw[info.header_offset + 30 + len(info.filename) + 10] ^= 0xFF  # a byte of its data: its CRC no longer holds
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    (tmp_path / "lab/images/dangling.png").symlink_to(tmp_path / "nowhere.png")
    for archive, fragment in (
        (damaged, "member metadata.xlsx cannot be read (Bad CRC-32"),
        (tmp_path / "lab", "dangling.png cannot be copied"),
    ):
        with pytest.raises(UserError) as err:
            generate(tiny_data(source="archive", archive=str(archive)), tmp_path / "raw")
        assert str(err.value).startswith(f"data.archive {archive}: ") and fragment in str(err.value), str(err.value)
        assert "\n" not in str(err.value) and not (tmp_path / "raw").exists()


@pytest.mark.parametrize("seed", range(5))
def test_split_by_plant_never_shares_a_plant(seed):
    rng = np.random.default_rng(seed)
    plants = [f"p{int(v)}" for v in rng.integers(0, 30, 400)]
    parts = split_by_plant(plants, SplitConfig(0.7, 0.15, 0.15, seed))
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(400))
    sets = {name: {plants[i] for i in rows} for name, rows in parts.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert all(sets.values())
    again = split_by_plant(plants, SplitConfig(0.7, 0.15, 0.15, seed))
    assert all(np.array_equal(parts[k], again[k]) for k in parts)


def test_overlap_check_refuses_a_shared_plant():
    with pytest.raises(UserError, match="plant\\(s\\) b are in both the train and test splits"):
        check_disjoint({"train": np.array(["a", "b"]), "val": np.array(["c"]), "test": np.array(["b"])})


def test_tiny_data_config_fits_its_rules():
    cfg = tiny_data()
    assert cfg.rows == 72 and cfg.plants == 8
    img = render(0.5, cfg.image_size, np.random.default_rng(0))
    assert img.shape == (24, 24, 3) and img.dtype == np.uint8
    assert Image.fromarray(img).mode == "RGB"


def test_eda_hangs_on_the_data_alone():
    """The EDA reruns when the data changes and for nothing else: no split, verify or train input."""
    eda = yaml.safe_load((LINE / "dvc.yaml").read_text())["stages"]["eda"]
    assert eda["params"] == ["eda"]
    data_deps = [d for d in eda["deps"] if not d.startswith("../../src/")]
    assert data_deps == ["data/.params-checked", "data/raw"]  # the first: a file whose bytes never change
