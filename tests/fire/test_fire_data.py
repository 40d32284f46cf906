"""The fire line's data: the simulator, the CSV reader (and every way a CSV can be wrong), generate and split."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from modelmill.core.cli import UserError
from modelmill.fire import features
from modelmill.fire import predictor as predictor_module
from modelmill.fire.features import FEATURES, LABEL, Table, read_csv, write_table
from modelmill.fire.generate import make_samples
from modelmill.fire.params import DataConfig, SplitConfig
from modelmill.fire.predictor import Predictor
from modelmill.fire.simulate import generate, p_fire
from modelmill.fire.split import assign_splits, split_samples

SPLIT = SplitConfig(train=0.7, val=0.15, test=0.15, seed=3)


@pytest.fixture(scope="module")
def table() -> Table:
    return generate(4000, seed=11)


def column(table: Table, name: str) -> np.ndarray:
    return table.x[:, FEATURES.index(name)]


def test_generator_is_seeded(table):
    again, other = generate(4000, seed=11), generate(4000, seed=12)
    assert np.array_equal(table.x, again.x) and np.array_equal(table.y, again.y)
    assert not np.array_equal(table.x, other.x)


def test_generated_values_are_in_sensor_ranges(table):
    assert table.x.shape == (4000, 18) and np.isfinite(table.x).all()
    assert column(table, "co2_ppm").min() >= 400 and column(table, "co2_ppm").max() <= 40000
    assert 5 <= column(table, "scd41_humidity_pct").min() and column(table, "scd41_humidity_pct").max() <= 95
    assert (0 <= column(table, "hot_area_frac")).all() and (column(table, "hot_area_frac") <= 1).all()
    blobs = column(table, "hot_blob_count")
    assert (blobs == np.round(blobs)).all() and blobs.min() == 0
    assert (column(table, "t_max_c") >= column(table, "t_background_c") - 3).all()
    assert 0.2 < table.y.mean() < 0.5


def test_labels_follow_p_fire_which_is_informative_but_not_separable(table):
    assert np.allclose(table.p_fire, p_fire(table.x), atol=1e-6)
    assert abs(table.y.mean() - table.p_fire.mean()) < 0.03
    assert 0.85 < roc_auc_score(table.y, table.p_fire) < 0.97


def test_hard_cases_are_there(table):
    excess = column(table, "t_max_c") - column(table, "t_background_c")
    hot_non_fire = (excess > 50) & (table.p_fire < 0.2)  # glare, heaters, hobs: hot, but no flame flicker
    smouldering = (excess < 30) & (column(table, "co2_ppm") > 1500) & (table.p_fire > 0.6)
    assert hot_non_fire.sum() > 100 and smouldering.sum() > 100


def test_p_fire_needs_factors_together():
    room = np.array([[22, 21.5, 0.6, 22, 21, 0, 0, 1, 1.2, 1, 0.5, 0, 0, 0.2, 5, 600, 21, 45]], dtype=float)

    def with_(**changes):
        row = room.copy()
        for name, value in changes.items():
            row[0, FEATURES.index(name)] = value
        return float(p_fire(row)[0])

    hot = {"t_max_c": 250.0}
    assert with_() < 0.1
    assert with_(**hot) < 0.2  # a hot spot alone: a heater
    assert with_(**hot, flicker_c=5.0, flicker_freq_hz=6.0) > 0.8  # hot and flickering: flames
    assert with_(co2_ppm=3000.0) < 0.1  # CO2 alone: people
    assert with_(co2_ppm=3000.0, t_max_c=41.0) > 0.6  # CO2 and a warm spot: smouldering
    steam = with_(**hot, flicker_c=5.0, flicker_freq_hz=6.0, scd41_humidity_pct=85.0)
    assert steam < with_(**hot, flicker_c=5.0, flicker_freq_hz=6.0) - 0.3  # steam: cooking


def test_csv_round_trip_and_any_column_order(tmp_path, table):
    path = tmp_path / "t.csv"
    write_table(path, table)
    back = read_csv(path)
    assert np.array_equal(back.x, table.x) and np.array_equal(back.y, table.y)
    assert np.array_equal(back.p_fire, table.p_fire)
    lines = path.read_text().splitlines()
    cells = [line.split(",") for line in lines]
    reordered = tmp_path / "reordered.csv"
    reordered.write_text("\n".join(",".join(row[::-1]) for row in cells) + "\n")
    assert np.array_equal(read_csv(reordered).x, table.x)


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
    return path


def good_rows(n: int = 4) -> list[list[str]]:
    return [[f"{20 + i + j}" for j in range(len(FEATURES))] + [str(i % 2)] for i in range(n)]


HEADER = [*FEATURES, LABEL]


def bad_csv(case: str, tmp_path: Path) -> Path:
    rows = good_rows()
    path = tmp_path / "own.csv"
    if case == "missing column":
        return write_rows(path, HEADER[1:], [row[1:] for row in rows])
    if case == "extra column":
        return write_rows(path, [*HEADER, "camera_id"], [[*row, "7"] for row in rows])
    if case == "NaN":
        rows[2][FEATURES.index("co2_ppm")] = "nan"
    elif case == "beyond float32":
        rows[1][FEATURES.index("t_max_c")] = "1e39"
    elif case == "underscored":
        rows[1][FEATURES.index("co2_ppm")] = "7_800"
    elif case == "non-numeric":
        rows[1][FEATURES.index("t_max_c")] = "hot"
    elif case == "empty cell":
        rows[1][FEATURES.index("t_max_c")] = ""
    elif case == "label not 0/1":
        rows[3][-1] = "2"
    elif case == "one class":
        rows = [[*row[:-1], "1"] for row in rows]
    elif case == "no rows":
        rows = []
    elif case == "short row":
        rows[2] = rows[2][:-3]
    return write_rows(path, HEADER, rows)


@pytest.mark.parametrize(
    "case, fragments",
    [
        ("missing column", ["header row: missing column(s) t_max_c"]),
        ("extra column", ["header row: unknown column(s) 'camera_id'"]),
        ("NaN", ["row 3 (line 4), co2_ppm: 'nan' is not a finite number"]),
        ("beyond float32", ["row 2 (line 3), t_max_c: '1e39' is not a finite number within the models' float32"]),
        ("underscored", ["row 2 (line 3), co2_ppm: '7_800' is not a number"]),
        ("non-numeric", ["row 2 (line 3), t_max_c: 'hot' is not a number"]),
        ("empty cell", ["row 2 (line 3), t_max_c: '' is not a number"]),
        ("label not 0/1", ["row 4 (line 5), fire: 2 is not a label (0 or 1)"]),
        ("one class", ["every row has fire=1"]),
        ("no rows", ["no rows after the header"]),
        ("short row", ["row 3 (line 4) has 16 columns; expected 19, as the header"]),
    ],
)
def test_bad_csv_is_named_by_file_line_and_column(tmp_path, case, fragments):
    path = bad_csv(case, tmp_path)
    with pytest.raises(UserError) as err:
        read_csv(path, allow_p_fire=False)
    message = str(err.value)
    assert message.startswith(f"{path}:") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_spreadsheet_exports_read_or_get_a_plain_error(tmp_path, table):
    """Issue 20: "CSV UTF-8" writes a byte-order mark; some locales separate with ';', a TSV with tabs."""
    plain = tmp_path / "plain.csv"
    write_table(plain, Table(table.x[:50], table.y[:50], None))
    text = plain.read_text()
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert np.array_equal(read_csv(bom).x, read_csv(plain).x)
    old_mac = tmp_path / "old_mac.csv"  # Excel for Mac's "CSV (Macintosh)": \r alone ends each line
    old_mac.write_bytes(text.replace("\n", "\r").encode())
    assert np.array_equal(read_csv(old_mac).x, read_csv(plain).x)
    cases = {
        "semicolons": text.replace(",", ";"),
        "tabs": text.replace(",", "\t"),
        "an empty column": text.replace("\n", ",\n"),
    }
    for word, body in cases.items():
        path = tmp_path / f"{word.replace(' ', '_')}.csv"
        path.write_text(body)
        with pytest.raises(UserError) as err:
            read_csv(path)
        assert str(err.value).startswith(f"{path}: ") and word in str(err.value), str(err.value)
        assert "missing column" not in str(err.value)


def test_own_csv_may_not_carry_p_fire(tmp_path, table):
    path = tmp_path / "own.csv"
    write_table(path, table)  # with p_fire
    with pytest.raises(UserError, match="unknown column.*'p_fire'"):
        make_samples(DataConfig(source="csv", csv=str(path), n_samples=100, seed=0), tmp_path / "samples.csv")


def test_generate_imports_own_csv_in_model_order(tmp_path, table):
    own = tmp_path / "own.csv"
    write_table(own, Table(table.x[:500], table.y[:500], None))
    out = tmp_path / "data" / "samples.csv"
    make_samples(DataConfig(source="csv", csv=str(own), n_samples=100, seed=0), out)
    back = read_csv(out)
    assert back.p_fire is None and np.array_equal(back.x, table.x[:500])
    assert out.read_text().splitlines()[0] == ",".join(HEADER)


def test_generate_names_a_missing_own_csv(tmp_path):
    with pytest.raises(UserError, match=r"data.csv 'nope.csv' not found \(resolved to .*nope.csv\)"):
        make_samples(DataConfig(source="csv", csv="nope.csv", n_samples=100, seed=0), tmp_path / "samples.csv")


def test_generate_names_a_folder_given_as_own_csv(tmp_path):
    with pytest.raises(UserError, match=r"data.csv '.+' is a folder \(resolved to .+\); name the CSV file"):
        make_samples(DataConfig(source="csv", csv=str(tmp_path), n_samples=100, seed=0), tmp_path / "samples.csv")


def test_generate_failure_keeps_previous_output(tmp_path):
    out = tmp_path / "samples.csv"
    make_samples(DataConfig(source="synthetic", csv="", n_samples=200, seed=1), out)
    before = out.read_bytes()
    with pytest.raises(UserError):
        make_samples(DataConfig(source="csv", csv=str(bad_csv("NaN", tmp_path)), n_samples=200, seed=1), out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own.csv", "samples.csv"]  # no partial file left


def test_split_is_stratified_disjoint_and_seeded(table):
    split = assign_splits(table.x, table.y, SPLIT)
    assert np.array_equal(split, assign_splits(table.x, table.y, SPLIT))
    assert not np.array_equal(split, assign_splits(table.x, table.y, SplitConfig(0.7, 0.15, 0.15, seed=4)))
    counts = np.bincount(split, minlength=3)
    assert abs(counts[0] - 2800) <= 2 and abs(counts[1] - 600) <= 2 and abs(counts[2] - 600) <= 2
    for part in range(3):
        assert abs(table.y[split == part].mean() - table.y.mean()) < 0.01


def test_identical_rows_share_a_split(table):
    x = np.vstack([table.x, table.x[:300]])  # 300 rows twice
    y = np.concatenate([table.y, table.y[:300]])
    split = assign_splits(x, y, SPLIT)
    assert np.array_equal(split[:300], split[4000:])
    rows_by_split = [{row.tobytes() for row in x[split == part]} for part in range(3)]
    assert not (
        rows_by_split[0] & rows_by_split[1]
        or rows_by_split[0] & rows_by_split[2]
        or rows_by_split[1] & rows_by_split[2]
    )


def test_split_stage_writes_three_files(tmp_path, table):
    samples = tmp_path / "samples.csv"
    write_table(samples, table)
    counts = split_samples(SPLIT, samples, tmp_path / "split")
    assert counts == {"train": 2800, "val": 600, "test": 600}
    parts = [read_csv(tmp_path / "split" / f"{name}.csv") for name in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 4000 and all(p.p_fire is not None for p in parts)


def test_split_refuses_a_split_without_both_classes(tmp_path):
    samples = tmp_path / "samples.csv"
    rows = good_rows(12)
    for i, row in enumerate(rows):
        row[-1] = "1" if i == 0 else "0"  # one fire in 12 rows: val and test cannot both hold one
    write_rows(samples, HEADER, rows)
    with pytest.raises(UserError, match="split of .* lacks fire rows"):
        split_samples(SPLIT, samples, tmp_path / "split")
    assert not (tmp_path / "split").exists()


def test_empty_file_and_blank_lines(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UserError, match="empty.csv: no rows; expected a header row"):
        read_csv(empty)
    rows = good_rows()
    path = write_rows(tmp_path / "blank.csv", HEADER, [*rows[:2], [], [""] * len(HEADER), *rows[2:]])
    assert np.array_equal(read_csv(path).x, read_csv(write_rows(tmp_path / "plain.csv", HEADER, rows)).x)
    rows[3][0] = "hot"  # a blank line and a spreadsheet's empty row before it: its line is no longer row + 1
    write_rows(path, HEADER, [*rows[:2], [], [""] * len(HEADER), *rows[2:]])
    with pytest.raises(UserError, match=r"row 4 \(line 7\), t_max_c: 'hot' is not a number"):
        read_csv(path)
    path.write_text(",".join(HEADER) + "\n\n\n")
    with pytest.raises(UserError, match="blank.csv: no rows after the header"):
        read_csv(path)


@pytest.mark.parametrize("case", ["missing column", "extra column", "non-numeric", "short row"])
def test_training_serving_and_batch_predict_read_a_csv_alike(tmp_path, case):
    """One reader: the csv source, the server and batch predict get the same arrays, or the same error."""
    predictor = Predictor(SimpleNamespace(threshold=0.5), {})
    assert predictor_module.parse_csv is features.parse_csv
    assert predictor_module.parse_csv_file is features.parse_csv_file
    rows = good_rows()
    order = [*reversed(HEADER)]  # any column order, by name
    good = write_rows(tmp_path / "good.csv", order, [[row[HEADER.index(name)] for name in order] for row in rows])
    x = read_csv(good).x
    assert np.array_equal(x, np.array(rows, dtype=float)[:, : len(FEATURES)])
    assert np.array_equal(predictor.decode(good.read_bytes(), "text/csv"), x)
    assert np.array_equal(next(predictor.batches(good)[1])[1], x)

    bad = bad_csv(case, tmp_path)
    with pytest.raises(UserError) as training:
        read_csv(bad)
    with pytest.raises(ValueError) as serving:
        predictor.decode(bad.read_bytes(), "text/csv")
    with pytest.raises(UserError) as batch:
        predictor.batches(bad)
    message = str(training.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message
    assert str(batch.value) == message
    assert str(serving.value) == "the CSV body: " + message.removeprefix(f"{bad}: ")
