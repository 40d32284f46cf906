"""Monitoring: baselines, drift tests and reports (monitor/), on simulated fire rows and synthetic tiles.

Fast: no pipeline runs, no servers. The fire "model" here is the simulator's own p(fire) (the
Bayes-optimal score), so predictions move exactly as the inputs do.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pytest
from capture_cost import capture_overhead
from conftest import SRC, assert_one_line_error

from modelmill import lines
from modelmill.core import baseline as baselines
from modelmill.core.cli import UserError
from modelmill.core.drift_params import DriftParams, load_drift_params
from modelmill.core.summaries import IMAGE_FEATURES, IMAGES, Summaries, tile_rows
from modelmill.fire import simulate
from modelmill.fire.baseline import tabular_baseline
from modelmill.fire.features import FEATURES, write_table
from modelmill.fire.summaries import SUMMARIES as FIRE_SUMMARIES
from modelmill.fire.summaries import fire_rows
from modelmill.landcover.baseline import image_baseline
from modelmill.landcover.data import CLASSES, write_prepared
from modelmill.landcover.synthetic import synthetic_image
from modelmill.monitor import history
from modelmill.monitor.__main__ import DRIFT_EXIT, run
from modelmill.monitor.capture import Capture
from modelmill.monitor.drift import compare, outside_range
from modelmill.monitor.live import PREDICTION, LiveDrift
from modelmill.monitor.records import read_records
from modelmill.monitor.report import file_report
from modelmill.seaice.summaries import FORECAST_OUTPUTS, HISTORY_FEATURES

THRESHOLD = 0.5
WINDOW = 1000  # fire rows in a report: a camera answering every few seconds for an hour or so
TILE_WINDOW = 500
TEMPERATURES = ("t_max_c", "t_mean_c", "t_p95_c", "t_background_c", "scd41_temperature_c")
MODEL = {"model_name": "fire-ensemble", "version": "v3", "sha256": "0" * 64}


def build_baseline(line: str, folder, key: str = "") -> dict | None:
    """The baseline publish would write for `line`'s model `key` from the outputs in `folder`."""
    return lines.get(line).model_keyed(key).baseline(folder)


def summaries_of(line: str, key: str = "") -> Summaries | None:
    """What the predictor of `line`'s model `key` summarises traffic with (a class attribute: no
    model is loaded)."""
    module = lines.get(line).model_keyed(key).predictor()
    return module.PREDICTORS[key].summaries if key else module.Predictor.summaries  # type: ignore[attr-defined]


def summariser(line: str, key: str = ""):
    summaries = summaries_of(line, key)
    return summaries.inputs if summaries else None


def answer_summariser(line: str, key: str = ""):
    summaries = summaries_of(line, key)
    return summaries.answers if summaries else None


@pytest.fixture(scope="module")
def fire_baseline() -> dict:
    """The baseline of a simulated training split (30,000 rows) and test split (6,000 rows)."""
    train, test = simulate.generate(30_000, seed=1), simulate.generate(6_000, seed=2)
    return baselines.stamp(tabular_baseline(train.x, test.p_fire, THRESHOLD), MODEL)


def fire_records(x: np.ndarray, version: str = "v3") -> list[dict]:
    """Records as capture writes them, with the simulator's p(fire) as the model's answer."""
    p = simulate.p_fire(x)
    return [
        {
            "time": f"2025-05-01T12:{i // 60 % 60:02d}:{i % 60:02d}.000000Z",
            "model": "fire-ensemble",
            "version": version,
            "line": "fire",
            "features": row,
            "prediction": {"fire_probability": float(q), "fire": bool(q >= THRESHOLD)},
        }
        for i, (row, q) in enumerate(zip(fire_rows(x), p))
    ]


def alarm_margin(report: dict) -> tuple[float, float]:
    """The largest KS statistic of a report's features and the lowest threshold among them."""
    features = report["features"].values()
    return max(f["statistic"] for f in features), min(f["threshold"] for f in features)


# -- fire: no false alarms, real drift caught ----------------------------------------------------


def test_the_training_distribution_never_raises_an_alarm(fire_baseline):
    margins = []
    for seed in range(100, 110):  # 10 windows
        report = compare(fire_baseline, fire_records(simulate.generate(WINDOW, seed=seed).x))
        assert not report["drifted"], (seed, report["drifted_features"], report["prediction"])
        assert not any(f["out_of_range"] > 0.005 for f in report["features"].values())
        margins.append(alarm_margin(report))
    highest, threshold = max(m[0] for m in margins), min(m[1] for m in margins)
    assert highest < 0.7 * threshold, (highest, threshold)  # a wide margin, not a near miss


def test_a_co2_sensor_offset_is_caught_on_co2_alone(fire_baseline):
    x = simulate.generate(WINDOW, seed=200).x
    x[:, FEATURES.index("co2_ppm")] += 200  # a drifting SCD41 reading 200 ppm high
    report = compare(fire_baseline, fire_records(x))
    assert report["drifted"]
    assert report["drifted_features"] == ["co2_ppm"]
    co2 = report["features"]["co2_ppm"]
    assert co2["statistic"] > 2 * co2["threshold"] and co2["p_value"] < 1e-10
    assert co2["mean"] - co2["baseline_mean"] == pytest.approx(200, abs=60)


def test_a_colder_room_is_caught_on_the_temperatures_only(fire_baseline):
    # The simulator has no knob for the room's temperature: every absolute temperature the camera
    # and the SCD41 read drops by 6 °C, while differences (spread, gradients, hot area) stay.
    x = simulate.generate(WINDOW, seed=300).x
    for name in TEMPERATURES:
        x[:, FEATURES.index(name)] -= 6.0
    report = compare(fire_baseline, fire_records(x))
    moved = set(report["drifted_features"])
    assert {"t_background_c", "t_mean_c", "scd41_temperature_c"} <= moved <= set(TEMPERATURES), moved
    assert report["features"]["t_background_c"]["statistic"] > 0.5


def test_more_sun_glare_is_caught(fire_baseline, monkeypatch):
    # Sun glare from 8% to 40% of scenes (a west window in summer), the other scenes in proportion.
    shares = np.array(simulate.SCENE_SHARES)
    glare = simulate.SCENES.index("sun_glare")
    others = np.delete(shares, glare)
    shares = np.insert(others / others.sum() * 0.6, glare, 0.4)
    monkeypatch.setattr(simulate, "SCENE_SHARES", tuple(shares))
    report = compare(fire_baseline, fire_records(simulate.generate(WINDOW, seed=400).x))
    assert report["drifted"]
    moved = set(report["drifted_features"])
    # Glare: hot (t_max), sharp-edged (gradients), flickering at low frequency, a warmer room.
    assert {"t_max_c", "grad_max_c_per_px", "flicker_freq_hz", "t_background_c"} <= moved, moved
    assert "scd41_humidity_pct" not in moved  # co2 moves a little too: glare burns nothing


def test_a_shift_in_what_the_model_answers_is_caught(fire_baseline):
    records = fire_records(simulate.generate(WINDOW, seed=500).x)
    for record in records:  # a model that says fire far more often, on the same inputs
        p = min(1.0, record["prediction"]["fire_probability"] + 0.3)
        record["prediction"] = {"fire_probability": p, "fire": p >= THRESHOLD}
    report = compare(fire_baseline, records)
    assert report["drifted_features"] == []
    assert report["prediction"]["drifted"] and report["drifted"]
    assert report["prediction"]["positive_rate"]["drifted"]
    assert report["prediction"]["positive_rate"]["shift"] > 0.1


def test_rows_outside_the_training_range_flag_a_feature(fire_baseline):
    x = simulate.generate(WINDOW, seed=600).x
    x[:50, FEATURES.index("flicker_freq_hz")] = 40.0  # 5% of rows at a frequency never trained on
    report = compare(fire_baseline, fire_records(x))
    result = report["features"]["flicker_freq_hz"]
    assert result["out_of_range"] == pytest.approx(0.05)
    assert "out_of_range" in result["reasons"] and report["drifted_features"] == ["flicker_freq_hz"]


# -- errors ------------------------------------------------------------------------------------


def test_too_few_rows_says_how_many_are_needed(fire_baseline):
    records = fire_records(simulate.generate(50, seed=7).x)
    with pytest.raises(UserError, match=r"holds 50 captured row\(s\) for fire-ensemble v3; .* at least 200"):
        compare(fire_baseline, records)


def test_records_of_another_version_are_refused(fire_baseline):
    records = fire_records(simulate.generate(300, seed=7).x, version="v4")
    with pytest.raises(UserError, match=r"baseline is for fire-ensemble v3 but .* fire-ensemble v4 \(300 rows\)"):
        compare(fire_baseline, records)


def test_a_missing_or_foreign_baseline_is_one_line(tmp_path):
    with pytest.raises(UserError, match="not found; it is published beside metadata.json"):
        baselines.read_baseline(tmp_path / "baseline.json")
    (tmp_path / "other.json").write_text('{"model_name": "fire-ensemble"}')
    with pytest.raises(UserError, match="is not a monitoring baseline"):
        baselines.read_baseline(tmp_path / "other.json")
    (tmp_path / "cut.json").write_text('{"format": "modelmill-base')
    with pytest.raises(UserError, match="is not JSON"):
        baselines.read_baseline(tmp_path / "cut.json")


def test_thresholds_come_from_a_params_section(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        "data: {}\nmonitor:\n  alpha: 0.05\n  min_statistic: 0.2\n  max_out_of_range: 0.01\n"
        "  max_rate_shift: 0.1\n  min_class_distance: 0.2\n  min_rows: 500\n"
    )
    assert load_drift_params(path) == DriftParams(0.05, 0.2, 0.01, 0.1, 0.2, 500)
    path.write_text("monitor:\n  alpha: 2\n  min_statistc: 0.2\n")
    with pytest.raises(UserError) as caught:
        load_drift_params(path)
    message = str(caught.value)
    assert "monitor.alpha must be <= 1" in message and "did you mean monitor.min_statistic?" in message
    assert "\n" not in message


# -- images ----------------------------------------------------------------------------------


def synthetic_tiles(n: int, seed: int, classes: list[int] | None = None) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(CLASSES), n) if classes is None else rng.choice(classes, n)
    return np.stack([synthetic_image(int(c), rng) for c in picked]), [CLASSES[c] for c in picked]


@pytest.fixture(scope="module")
def tile_baseline() -> dict:
    tiles, classes = synthetic_tiles(2000, seed=1)
    return image_baseline(tiles, classes, CLASSES)


def tile_records(tiles: np.ndarray, classes: list[str]) -> list[dict]:
    return [
        {"time": "2025-05-01T12:00:00.000000Z", "line": "landcover", "features": row, "prediction": {"class": c}}
        for row, c in zip(tile_rows(tiles), classes)
    ]


def test_tiles_like_the_test_split_raise_no_alarm(tile_baseline):
    for seed in range(10, 15):
        report = compare(tile_baseline, tile_records(*synthetic_tiles(TILE_WINDOW, seed)))
        assert not report["drifted"], (report["drifted_features"], report["prediction"])


def test_darker_tiles_are_flagged(tile_baseline):
    tiles, classes = synthetic_tiles(TILE_WINDOW, seed=20)
    report = compare(tile_baseline, tile_records((tiles * 0.75).astype(np.uint8), classes))  # haze, dusk
    assert {"brightness", "mean_red", "mean_green", "mean_blue"} <= set(report["drifted_features"])
    assert not report["prediction"]["drifted"]


def test_a_contrast_change_is_flagged_on_contrast_not_brightness(tile_baseline):
    tiles, classes = synthetic_tiles(TILE_WINDOW, seed=21)
    mean = tiles.reshape(len(tiles), -1).mean(axis=1)[:, None, None, None]
    flat = np.clip((tiles - mean) * 0.6 + mean, 0, 255).astype(np.uint8)  # a hazier sensor
    report = compare(tile_baseline, tile_records(flat, classes))
    assert "contrast" in report["drifted_features"] and "brightness" not in report["drifted_features"]
    assert report["features"]["contrast"]["statistic"] > 0.4


def test_a_changed_class_mix_is_flagged_in_the_prediction(tile_baseline):
    report = compare(tile_baseline, tile_records(*synthetic_tiles(TILE_WINDOW, seed=22, classes=[1, 9])))
    prediction = report["prediction"]
    assert prediction["drifted"] and prediction["distance"] > 0.5
    assert prediction["shares"]["Forest"] + prediction["shares"]["SeaLake"] == pytest.approx(1.0)


# -- baselines from a line's folder ---------------------------------------------------------


def test_fire_baseline_from_the_lines_outputs_is_deterministic(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    from modelmill.fire.models import fit, save_model, with_threshold

    split = tmp_path / "data" / "split"
    split.mkdir(parents=True)
    train, test = simulate.generate(800, seed=1), simulate.generate(300, seed=2)
    write_table(split / "train.csv", train)
    write_table(split / "test.csv", test)
    tree = fit(DecisionTreeClassifier(max_depth=3, random_state=0), train.x, train.y)
    save_model(with_threshold(tree, 0.4, train.x, train.y), tmp_path / "models" / "fire_ensemble.skops")

    first = baselines.dumps(build_baseline("fire", tmp_path))
    assert baselines.dumps(build_baseline("fire", tmp_path)) == first
    baseline = json.loads(first)
    assert baseline["kind"] == "tabular" and baseline["feature_order"] == list(FEATURES)
    assert baseline["features"]["co2_ppm"]["rows"] == 800
    assert baseline["prediction"]["threshold"] == 0.4 and baseline["prediction"]["rows"] == 300
    assert baseline["features"]["co2_ppm"]["min"] == pytest.approx(train.x[:, FEATURES.index("co2_ppm")].min())


def test_fire_baseline_says_which_stage_to_run(tmp_path):
    with pytest.raises(UserError, match="train.csv not found; run the split stage first"):
        build_baseline("fire", tmp_path)


def test_landcover_baseline_reads_evaluates_predictions(tmp_path):
    tiles, classes = synthetic_tiles(40, seed=3)
    prepared = tmp_path / "data" / "prepared"
    prepared.mkdir(parents=True)
    labels = np.array([CLASSES.index(c) for c in classes])
    write_prepared(prepared, {"test": (tiles, labels, [f"t{i}.jpg" for i in range(40)])}, {})
    (tmp_path / "metrics").mkdir()
    predicted = ["Forest"] * 10 + classes[10:]
    csv_text = "actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in zip(classes, predicted))
    (tmp_path / "metrics" / "test_predictions.csv").write_text(csv_text)

    baseline = build_baseline("landcover", tmp_path)
    assert baseline is not None and baseline["kind"] == "image"
    assert baseline["feature_order"] == list(IMAGE_FEATURES)
    assert baseline["prediction"]["counts"]["Forest"] == predicted.count("Forest")
    assert baseline["channels"]["red"]["mean"] == pytest.approx(tiles[..., 0].mean(), rel=1e-6)
    assert baselines.dumps(baseline) == baselines.dumps(build_baseline("landcover", tmp_path))

    (tmp_path / "metrics" / "test_predictions.csv").write_text("actual,predicted\nForest,Forest\n")
    with pytest.raises(UserError, match="has 1 rows but the test split 40 tiles"):
        build_baseline("landcover", tmp_path)


def test_the_sea_ice_change_detector_has_no_baseline(tmp_path):
    assert build_baseline("seaice", tmp_path, "change") is None
    with pytest.raises(UserError, match="publishes no model 'nope'"):
        build_baseline("seaice", tmp_path, "nope")


def test_a_baseline_is_json_with_rounded_floats(fire_baseline):
    text = baselines.dumps(fire_baseline)
    assert json.loads(text) == fire_baseline
    summary = fire_baseline["features"]["t_max_c"]
    assert len(summary["cdf"]["points"]) == 101 and summary["cdf"]["shares"][-1] == 1.0
    assert sum(summary["histogram"]["counts"]) + summary["histogram"]["below"] + summary["histogram"]["above"] == 30_000
    assert all(len(repr(v)) <= 16 for v in summary["cdf"]["points"])


# -- the command ------------------------------------------------------------------------------


def write_capture(folder, records: list[dict]) -> None:
    hour = folder / "fire-ensemble" / "v3" / "2025" / "05" / "01" / "12"
    hour.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) + "\n" for r in records]
    (hour / "20250501T120000.000Z-a.jsonl").write_text("".join(lines[: len(lines) // 2]))
    # the second file cut short mid-line, plus a line that is not JSON at all
    (hour / "20250501T120500.000Z-b.jsonl").write_text("".join(lines[len(lines) // 2 :]) + "not json\n" + lines[0][:40])


def test_the_command_writes_the_report_and_exits_3_on_drift(fire_baseline, tmp_path):
    baselines.write_baseline(tmp_path / "baseline.json", fire_baseline)
    x = simulate.generate(WINDOW, seed=200).x
    x[:, FEATURES.index("co2_ppm")] += 200
    write_capture(tmp_path / "capture", fire_records(x))
    args = ["--baseline", str(tmp_path / "baseline.json"), "--capture", str(tmp_path / "capture")]
    assert run([*args, "--out", str(tmp_path / "out")]) == DRIFT_EXIT
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["drifted_features"] == ["co2_ppm"] and report["rows"] == WINDOW
    assert report["capture"]["skipped_lines"] == 2 and report["capture"]["files"] == 2
    assert (tmp_path / "out" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    write_capture(tmp_path / "quiet", fire_records(simulate.generate(WINDOW, seed=201).x))
    quiet = ["--baseline", str(tmp_path / "baseline.json"), "--capture", str(tmp_path / "quiet")]
    assert run([*quiet, "--out", str(tmp_path / "out2")]) == 0
    # --since after every record: nothing left to test
    with pytest.raises(UserError, match="holds 0 captured row"):
        run([*quiet, "--out", str(tmp_path / "out3"), "--since", "2025-05-02T00:00"])
    # a folder of damaged lines alone: the too-few-rows line says they were there and passed over
    hour = tmp_path / "damaged" / "fire-ensemble" / "v3" / "2025" / "05" / "01" / "12"
    hour.mkdir(parents=True)
    (hour / "20250501T120000.000Z-a.jsonl").write_bytes(b"\x00\x01 not json\n")
    damaged = ["--baseline", str(tmp_path / "baseline.json"), "--capture", str(tmp_path / "damaged")]
    with pytest.raises(UserError, match=r"\(1 unreadable line\(s\) skipped\) holds 0 captured row"):
        run([*damaged, "--out", str(tmp_path / "out4")])


def test_the_command_fails_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "modelmill.monitor", "--baseline", str(tmp_path / "nope.json"), "--capture", "."],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
        timeout=120,
    )
    assert result.returncode == 1
    assert_one_line_error(result, "nope.json not found")


# -- the history of reports ---------------------------------------------------------------------

STAMPED = re.compile(r"^\d{8}T\d{12}Z$")


def fire_capture_of(folder, model: str, version: str, seed: int) -> None:
    write_capture(
        folder, [{**r, "model": model} for r in fire_records(simulate.generate(WINDOW, seed=seed).x, version)]
    )


def filed(out) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def test_each_run_is_filed_by_model_and_version_and_the_last_is_report_json(fire_baseline, tmp_path, capsys):
    other = {"model_name": "fire-tree", "version": "v1", "sha256": "1" * 64}
    baselines.write_baseline(tmp_path / "ensemble.json", fire_baseline)
    baselines.write_baseline(tmp_path / "tree.json", baselines.stamp(fire_baseline, other))
    unnamed = {**fire_baseline, "model": None}  # one built from a workspace: filed under its line
    baselines.write_baseline(tmp_path / "unnamed.json", unnamed)
    fire_capture_of(tmp_path / "ensemble", "fire-ensemble", "v3", seed=210)
    fire_capture_of(tmp_path / "tree", "fire-tree", "v1", seed=211)
    out = tmp_path / "out"
    runs = [("ensemble", "ensemble"), ("tree", "tree"), ("unnamed", "tree")]
    lines = []
    for baseline, capture in runs:
        args = ["--baseline", str(tmp_path / f"{baseline}.json"), "--capture", str(tmp_path / capture)]
        assert run([*args, "--out", str(out)]) == 0
        lines.append(capsys.readouterr().err.strip().splitlines()[-1])

    names = filed(out)
    assert names[-2:] == ["report.json", "report.png"], names
    by_folder = {}
    for name in names[:-2]:
        folder, _, file = name.rpartition("/")
        stem, _, suffix = file.partition(".")
        assert STAMPED.match(stem) and suffix in ("json", "png"), name
        by_folder.setdefault(folder, set()).add(file)
    assert {folder: len(files) for folder, files in by_folder.items()} == {
        "fire-ensemble/v3": 2,  # a JSON and a PNG
        "fire-tree/v1": 2,
        "fire/unknown": 2,
    }
    last = json.loads((out / "report.json").read_text())
    assert last["model"] is None and last["generated_at_utc"].endswith("Z")
    [unknown] = [name for name in names if name.startswith("fire/unknown/") and name.endswith(".json")]
    assert (out / unknown).read_bytes() == (out / "report.json").read_bytes()  # the same report, filed
    assert (out / unknown.replace(".json", ".png")).read_bytes() == (out / "report.png").read_bytes()

    # the one line keeps its wording and names the filed report
    assert lines[1].startswith(f"monitor: fire-tree v1: {WINDOW} rows from 2 file(s) (2 unreadable line(s) skipped), ")
    assert f": no drift -> {out}/report.json, {out}/report.png (filed as {out}/fire-tree/v1/" in lines[1], lines[1]
    assert lines[2].startswith("monitor: the fire line: ") and f"(filed as {out}/fire/unknown/" in lines[2]

    [newest] = history.reports("fire-ensemble", out)
    assert (
        newest["version"] == "v3"
        and newest["json"] in lines[0]
        and newest["source"] == "local"
        and newest["rows"] == WINDOW
    )
    assert newest["drifted"] is False and newest["generated_at_utc"] == newest["report"]["generated_at_utc"]
    assert history.figure_bytes(newest)[:8] == b"\x89PNG\r\n\x1a\n"
    assert history.latest("fire-ensemble", out) == newest and history.latest("fire-forest", out) is None
    assert [item["version"] for item in history.reports("fire", out)] == ["unknown"]


def test_a_bad_report_file_is_skipped_and_counted_never_raised(tmp_path, caplog):
    out, made = tmp_path / "out", []
    for version, at in (("v4", "2026-12-07T15:30:12.000001Z"), ("v3", "2026-12-07T15:30:12Z")):
        report = {"model": {"name": "fire-ensemble", "version": version}, "line": "fire", "rows": 9, "drifted": True}
        (tmp_path / "report.json").write_text(json.dumps({**report, "generated_at_utc": at}))
        (tmp_path / "report.png").write_bytes(b"\x89PNG\r\n\x1a\n" + version.encode())
        paths = tmp_path / "report.json", tmp_path / "report.png"
        made.append(file_report(report | {"generated_at_utc": at}, *paths, out).json)
    assert [path.relative_to(out).as_posix() for path in made] == [
        "fire-ensemble/v4/20261207T153012000001Z.json",
        "fire-ensemble/v3/20261207T153012000000Z.json",
    ]
    folder = out / "fire-ensemble" / "v3"
    (folder / "20300101T000000000000Z.json").write_text(made[1].read_text()[:20])  # cut short
    (folder / "20300101T000000000001Z.json").write_text("[1, 2]")  # JSON, not a report
    (folder / "20300101T000000000002Z.json").write_bytes(b"\xff\xfe not text")
    (folder / "20300101T000000000003Z.json").write_text('{"rows": 5}')  # no verdict
    (folder / "notes.json").write_text("{}")  # not named as a report: not one
    (out / "fire-ensemble" / "v5").mkdir()

    with caplog.at_level(logging.WARNING, logger="modelmill.monitor"):
        found = history.scan("fire-ensemble", out)
    assert [item["json"] for item in found.reports] == [str(path) for path in made]  # newest first
    assert [item["generated_at_utc"] for item in found.reports] == [
        "2026-12-07T15:30:12.000001Z",
        "2026-12-07T15:30:12.000000Z",
    ]
    assert history.figure_bytes(found.reports[1]).endswith(b"v3") and found.reports[0]["drifted"] is True
    assert sorted(Path(where).name for where, _ in found.skipped) == [
        f"20300101T00000000000{i}Z.json" for i in range(4)
    ]
    assert caplog.text.count("monitor history: skipped") == 4
    made[0].with_suffix(".png").unlink()
    assert history.latest("fire-ensemble", out)["png"] is None
    assert history.reports("fire-ensemble", tmp_path / "nowhere") == []


def test_reports_are_filed_beside_an_s3_capture_and_read_back(fire_baseline, s3_env, tmp_path):
    bucket, client = s3_env["bucket"], boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_encryption(  # what `make bucket` sets
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    uri = f"s3://{bucket}/capture"
    with Capture(uri, 1.0, "fire-ensemble", "v3", "fire", seed=0) as capture:
        for record in fire_records(simulate.generate(WINDOW, seed=213).x):
            capture.record([record["features"]], [record["prediction"]])
    before = read_records(uri)
    baselines.write_baseline(tmp_path / "baseline.json", fire_baseline)
    first = tmp_path / "first"
    assert run(["--baseline", str(tmp_path / "baseline.json"), "--capture", uri, "--out", str(first)]) == 0
    # a later run's report (filed as the command files it; without drawing its figure again)
    report = json.loads((first / "report.json").read_text())
    an_hour_on = datetime.fromisoformat(report["generated_at_utc"][:-1]) + timedelta(hours=1)
    later = {**report, "generated_at_utc": an_hour_on.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "report.json").write_text(json.dumps(later))
    (tmp_path / "later" / "report.png").write_bytes((first / "report.png").read_bytes() + b"later")
    paths = tmp_path / "later" / "report.json", tmp_path / "later" / "report.png"
    assert file_report(later, *paths, tmp_path / "later", uri).problems == []

    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="capture/")["Contents"])
    reports = [key for key in keys if "/reports/" in key]
    assert len(reports) == 4 and all(
        re.match(r"^capture/fire-ensemble/v3/reports/\d{8}T\d{12}Z\.(json|png)$", key) for key in reports
    ), reports
    capture_key = next(key for key in keys if key.endswith(".jsonl"))
    encryption = client.head_object(Bucket=bucket, Key=capture_key)["ServerSideEncryption"]
    for key in reports:  # encrypted as the capture files are: by the bucket's default
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == encryption == "AES256"
        assert head["ContentType"] == ("image/png" if key.endswith(".png") else "application/json")
    after = read_records(uri)  # the capture reads as it did: the reports are not records
    assert (after.rows, after.files, after.skipped) == (before.rows, before.files, 0)

    found = history.scan("fire-ensemble", folder=None, capture=uri)
    assert found.skipped == [] and [item["source"] for item in found.reports] == ["s3", "s3"]
    newest, older = found.reports
    assert newest["stamp"] > older["stamp"] and newest["json"] == f"s3://{bucket}/{reports[2]}"
    assert newest["png"] == f"s3://{bucket}/{reports[3]}" and newest["version"] == "v3"
    assert newest["report"] == later and older["report"] == report
    assert newest["generated_at_utc"] == later["generated_at_utc"] and newest["rows"] == WINDOW
    assert history.figure_bytes(newest) == paths[1].read_bytes()
    assert history.figure_bytes(older) == (first / "report.png").read_bytes()
    # the same run filed on disk and in S3 is one report (the local copy); S3 adds the later one
    both = history.reports("fire-ensemble", first, uri)
    assert [(item["stamp"], item["source"]) for item in both] == [(newest["stamp"], "s3"), (older["stamp"], "local")]

    # a bad object beside them is skipped; a report is never written over (a conditional create)
    client.put_object(Bucket=bucket, Key="capture/fire-ensemble/v3/reports/20300101T000000000000Z.json", Body=b"{")
    found = history.scan("fire-ensemble", None, uri)
    assert [item["stamp"] for item in found.reports] == [newest["stamp"], older["stamp"]] and len(found.skipped) == 1
    again = file_report(later, paths[0], first / "report.png", tmp_path / "again", uri)
    assert len(again.problems) == 2 and all("an object is already there" in p for p in again.problems), again
    assert history.figure_bytes(newest) == paths[1].read_bytes()

    with pytest.raises(UserError, match="does not exist"):
        history.reports("fire-ensemble", None, f"s3://{bucket}-missing/capture")


# -- live gauges -----------------------------------------------------------------------------


def test_live_scores_follow_the_window(fire_baseline):
    live = LiveDrift(fire_baseline, window=1000, every=100)
    quiet = fire_records(simulate.generate(1000, seed=700).x)
    assert live.scores() == {}
    for start in range(0, 1000, 10):  # requests of 10 rows
        chunk = quiet[start : start + 10]
        live.update([r["features"] for r in chunk], [r["prediction"] for r in chunk])
    scores = live.scores()
    assert set(scores) == {*FEATURES, PREDICTION} and max(scores.values()) < 0.1
    x = simulate.generate(600, seed=701).x
    x[:, FEATURES.index("co2_ppm")] += 200
    moved = fire_records(x)
    live.update([r["features"] for r in moved], [r["prediction"] for r in moved])
    assert live.scores()["co2_ppm"] > 0.15 and live.scores()["t_max_c"] < 0.1


def test_live_scores_for_an_image_model(tile_baseline):
    live = LiveDrift(tile_baseline, window=500, every=50)
    records = tile_records(*synthetic_tiles(500, seed=30, classes=[1]))
    live.update([r["features"] for r in records], [r["prediction"] for r in records])
    assert live.scores()[PREDICTION] > 0.5


# -- the benchmark helper --------------------------------------------------------------------


def test_capture_overhead_measures_the_request_path():
    figures = capture_overhead(requests=200, repeats=1)
    assert figures["record_us"] > 0 and figures["summarise_us"] > 0 and figures["record_batch_us"] > 0
    assert figures["written"] == figures["sampled"] == 400 and figures["failures"] == figures["dropped"] == 0


def test_fire_rows_keep_every_feature_by_name():
    x = simulate.generate(3, seed=0).x
    rows = fire_rows(x)
    assert [list(r) for r in rows] == [list(FEATURES)] * 3 and rows[1]["co2_ppm"] == x[1, FEATURES.index("co2_ppm")]


# -- continuous outputs: the biomass regressor and the sea-ice forecaster ---------------------


def synthetic_photos(n: int, seed: int, side: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Green plants of random size on brown soil, and grams growing with the plant's size."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.1, 0.9, n)
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(yy - side / 2, xx - side / 2) / (side / 2)
    leaf = (r[None] < size[:, None, None]) & (rng.random((n, side, side)) < 0.9)
    photos = np.where(leaf[..., None], [60, 150, 50], [120, 90, 60]) + rng.normal(0, 12, (n, side, side, 3))
    return np.clip(photos, 0, 255).astype(np.uint8), 40 * size**2 * rng.lognormal(0, 0.1, n)


def value_records(rows: list[dict], answers: list[dict], line: str) -> list[dict]:
    return [
        {"time": f"2025-05-01T12:00:{i % 60:02d}.000000Z", "line": line, "features": row, "prediction": answer}
        for i, (row, answer) in enumerate(zip(rows, answers))
    ]


@pytest.fixture(scope="module")
def biomass_baseline() -> dict:
    from modelmill.biomass.baseline import photo_baseline

    return photo_baseline(*synthetic_photos(1000, seed=1))


def photo_records(photos: np.ndarray, grams: np.ndarray) -> list[dict]:
    return value_records(summariser("biomass")(photos), [{"biomass_g": float(g)} for g in grams], "biomass")


def test_a_regressors_output_is_a_value_prediction(biomass_baseline):
    prediction = biomass_baseline["prediction"]
    assert biomass_baseline["kind"] == "image" and biomass_baseline["feature_order"] == list(IMAGE_FEATURES)
    assert prediction["kind"] == "value" and prediction["fields"] == ["biomass_g"]
    grams = prediction["outputs"]["biomass_g"]
    assert grams["rows"] == 1000 and len(grams["cdf"]["points"]) == 101 and set(grams["quantiles"]) >= {"0.5"}
    assert json.loads(baselines.dumps(biomass_baseline)) == biomass_baseline


def test_photos_like_the_test_split_raise_no_alarm_on_grams(biomass_baseline):
    for seed in range(10, 15):
        report = compare(biomass_baseline, photo_records(*synthetic_photos(TILE_WINDOW, seed)))
        grams = report["prediction"]["outputs"]["biomass_g"]
        assert not report["drifted"], (report["drifted_features"], grams)
        assert grams["statistic"] < 0.7 * grams["threshold"], grams
    assert report["tests"] == len(IMAGE_FEATURES) + 1


def test_a_shift_in_predicted_grams_is_caught(biomass_baseline):
    photos, grams = synthetic_photos(TILE_WINDOW, seed=20)
    report = compare(biomass_baseline, photo_records(photos, grams * 1.5))  # same photos, heavier answers
    result = report["prediction"]["outputs"]["biomass_g"]
    assert report["drifted"] and report["drifted_features"] == []
    assert report["prediction"]["drifted_outputs"] == ["biomass_g"]
    assert result["statistic"] > 1.5 * result["threshold"] and result["mean"] > result["baseline_mean"]


def test_biomass_baseline_reads_evaluates_predictions(tmp_path):
    from modelmill.biomass.data import write_split

    photos, grams = synthetic_photos(30, seed=3)
    prepared = tmp_path / "data" / "prepared"
    prepared.mkdir(parents=True)
    names = np.array([f"p{i // 3}/{i}.png" for i in range(30)])
    write_split(
        prepared / "test.npz",
        {
            "x": photos,
            "y": grams.astype(np.float32),
            "age": np.full(30, np.nan, np.float32),
            "plant": np.array([f"p{i // 3}" for i in range(30)]),
            "image": names,
            "row": np.arange(30),
        },
    )
    (tmp_path / "metrics").mkdir()
    lines = "".join(f"{n},{n.split('/')[0]},{g:.6f},{g * 0.9:.6f}\n" for n, g in zip(names, grams))
    (tmp_path / "metrics" / "predictions.csv").write_text("image,plant,actual_g,predicted_g\n" + lines)

    baseline = build_baseline("biomass", tmp_path)
    assert baseline is not None and baseline["line"] == "biomass" and baseline["prediction"]["kind"] == "value"
    assert baseline["prediction"]["outputs"]["biomass_g"]["mean"] == pytest.approx((grams * 0.9).mean(), rel=1e-4)
    assert baseline["features"]["brightness"]["rows"] == 30
    assert baselines.dumps(baseline) == baselines.dumps(build_baseline("biomass", tmp_path))

    (tmp_path / "metrics" / "predictions.csv").write_text("image,plant,actual_g,predicted_g\nx.png,p,1,1\n")
    with pytest.raises(UserError, match="has 1 rows but the test split 30 photos"):
        build_baseline("biomass", tmp_path)


GRID = (8, 8)


def synthetic_windows(n: int, seed: int, days: int = 30) -> np.ndarray:
    """(n, days, 8, 8) concentration: a seasonal level per window, a slow trend, noisy cells."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.1, 0.9, n)[:, None, None, None]
    trend = rng.normal(0, 0.004, n)[:, None, None, None] * np.arange(days)[None, :, None, None]
    cells = rng.normal(0, 0.15, (n, days, *GRID))
    return np.clip(level + trend + cells, 0, 1).astype(np.float32)


def toy_forecast(histories: np.ndarray) -> np.ndarray:
    """A persistence 'forecaster': the last history day, for 7 days."""
    return np.repeat(histories[:, -1:], 7, axis=1)


@pytest.fixture(scope="module")
def forecaster_baseline() -> dict:
    from modelmill.seaice.baseline import forecaster_baseline as make

    return make(synthetic_windows(600, seed=1), toy_forecast(synthetic_windows(400, seed=2)))


def forecaster_records(histories: np.ndarray, forecasts: np.ndarray | None = None) -> list[dict]:
    forecasts = toy_forecast(histories) if forecasts is None else forecasts
    answers = [{"lead_days": 7, "forecast": np.round(f, 4).tolist()} for f in forecasts]  # as the predictor answers
    rows = summariser("seaice", "forecaster")(histories)
    return value_records(rows, answer_summariser("seaice", "forecaster")(answers), "seaice")


def test_forecaster_windows_like_training_raise_no_alarm(forecaster_baseline):
    assert forecaster_baseline["kind"] == "sequence" and forecaster_baseline["feature_order"] == list(HISTORY_FEATURES)
    assert forecaster_baseline["prediction"]["fields"] == list(FORECAST_OUTPUTS)
    margins = []
    for seed in range(30, 35):
        report = compare(forecaster_baseline, forecaster_records(synthetic_windows(300, seed)))
        assert not report["drifted"], (report["drifted_features"], report["prediction"])
        statistics = [*report["features"].values(), *report["prediction"]["outputs"].values()]
        margins.append(max(r["statistic"] / r["threshold"] for r in statistics))
    assert max(margins) < 0.8, margins


def test_more_ice_in_the_forecasters_inputs_is_caught(forecaster_baseline):
    histories = np.clip(synthetic_windows(300, seed=40) + 0.15, 0, 1)  # a colder year
    report = compare(forecaster_baseline, forecaster_records(histories))
    assert {"history_mean", "last_day_mean", "history_ice_fraction"} <= set(report["drifted_features"])
    assert report["features"]["history_mean"]["statistic"] > 1.5 * report["features"]["history_mean"]["threshold"]
    assert report["prediction"]["drifted_outputs"] == ["forecast_mean", "forecast_ice_fraction"]


def test_a_forecaster_gone_wrong_on_the_same_inputs_is_caught_in_its_outputs(forecaster_baseline):
    histories = synthetic_windows(300, seed=41)
    report = compare(forecaster_baseline, forecaster_records(histories, toy_forecast(histories) * 0.5))
    assert report["drifted_features"] == [] and "forecast_mean" in report["prediction"]["drifted_outputs"]


def test_live_scores_and_the_report_for_continuous_outputs(forecaster_baseline, tmp_path):
    from modelmill.monitor.records import Records
    from modelmill.monitor.report import make_report, write_report

    live = LiveDrift(forecaster_baseline, window=300, every=100)
    records = forecaster_records(synthetic_windows(300, seed=42))
    live.update([r["features"] for r in records], [r["prediction"] for r in records])
    scores = live.scores()
    outputs = {f"{PREDICTION}.{name}" for name in FORECAST_OUTPUTS}
    assert set(scores) == {*HISTORY_FEATURES, PREDICTION, *outputs} and max(scores.values()) < 0.15
    shifted = forecaster_records(synthetic_windows(300, seed=43), toy_forecast(synthetic_windows(300, seed=43)) * 0.5)
    live.update([r["features"] for r in shifted], [r["prediction"] for r in shifted])
    assert live.scores()[PREDICTION] > 0.3 and live.scores()["history_mean"] < 0.15

    captured = Records(shifted, 0, 1, "test")
    report = make_report(forecaster_baseline, captured, DriftParams())
    json_path, png_path = write_report(report, forecaster_baseline, captured, tmp_path)
    assert json.loads(json_path.read_text())["prediction"]["drifted"]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def write_seaice_folder(folder, days: int = 120) -> None:
    """What generate, split and train@forecaster/classifier and evaluate write, tiny."""
    import torch

    from modelmill.seaice.models import Forecaster
    from modelmill.seaice.npz import save_npz

    rng = np.random.default_rng(5)
    season = 0.5 + 0.4 * np.cos(np.arange(days) * 2 * np.pi / 365)[:, None, None]
    land = np.zeros(GRID, bool)
    land[0, :3] = True
    concentration = np.where(land, 0, np.clip(season + rng.normal(0, 0.1, (days, *GRID)), 0, 1)).astype(np.float32)
    dates = np.arange("2020-01-01", days, dtype="datetime64[D]")[:days]
    save_npz(
        folder / "data" / "daily.npz",
        dates=dates,
        concentration=concentration,
        thickness=concentration * 2,
        land=land.astype(np.uint8),
    )
    sets = folder / "data" / "sets"
    save_npz(sets / "forecaster" / "train.npz", starts=np.arange(0, 60, 3))
    save_npz(sets / "forecaster" / "test.npz", starts=np.arange(70, 84, 3))
    tiles, _ = synthetic_tiles(12, seed=6)
    save_npz(sets / "classifier" / "test.npz", x=tiles[:, :16, :16], y=np.arange(12) % 3)
    (folder / "models").mkdir()
    torch.manual_seed(0)
    torch.save(Forecaster(2, 1).state_dict(), folder / "models" / "forecaster.pt")
    card = {"model": "forecaster", "hidden": 2, "layers": 1, "grid": list(GRID), "land": land.astype(int).tolist()}
    (folder / "models" / "forecaster.json").write_text(json.dumps(card))
    (folder / "metrics").mkdir()
    names = ("open_water", "thin_ice", "thick_ice")
    (folder / "metrics" / "confusion.csv").write_text(
        "actual,predicted\n" + "".join(f"{names[i % 3]},{names[(i // 4) % 3]}\n" for i in range(12))
    )


def test_sea_ice_baselines_from_the_lines_outputs(tmp_path):
    write_seaice_folder(tmp_path)
    text = baselines.dumps(build_baseline("seaice", tmp_path, "forecaster"))
    assert baselines.dumps(build_baseline("seaice", tmp_path, "forecaster")) == text
    baseline = json.loads(text)
    assert (
        baseline["kind"] == "sequence" and baseline["features"]["history_mean"]["rows"] == 25
    )  # train and test windows
    outputs = baseline["prediction"]["outputs"]
    assert outputs["forecast_mean"]["rows"] == 25 and 0 <= outputs["forecast_mean"]["min"] <= 1
    assert outputs["forecast_ice_fraction"]["max"] <= (64 - 3) / 64  # land is never ice

    classifier = build_baseline("seaice", tmp_path, "classifier")
    assert classifier is not None and classifier["kind"] == "image"
    assert classifier["prediction"]["counts"] == {"open_water": 4, "thin_ice": 4, "thick_ice": 4}
    (tmp_path / "metrics" / "confusion.csv").write_text("actual,predicted\nthin_ice,thin_ice\n")
    with pytest.raises(UserError, match="has 1 rows but the classifier's test split 12 tiles"):
        build_baseline("seaice", tmp_path, "classifier")


# -- summarisers: what each predictor's decode gives ------------------------------------------


def test_summarisers_by_line_and_model():
    import torch

    photo = torch.from_numpy(synthetic_photos(1, seed=7)[0])  # biomass decode: (1, S, S, 3) uint8 tensor
    (row,) = summariser("biomass")(photo)
    assert list(row) == list(IMAGE_FEATURES) and 0 < row["brightness"] < 255
    big = torch.from_numpy(np.full((1, 300, 200, 3), 7, np.uint8))  # any size
    assert summariser("biomass")(big)[0]["contrast"] == 0.0

    histories = synthetic_windows(3, seed=8)  # forecaster decode: (n, 30, H, W) float32
    rows = summariser("seaice", "forecaster")(histories)
    assert len(rows) == 3 and list(rows[0]) == list(HISTORY_FEATURES)
    assert rows[1]["history_mean"] == pytest.approx(float(histories[1].mean()), rel=1e-6)
    assert rows[2]["last_day_ice_fraction"] == pytest.approx(float((histories[2, -1] > 0.15).mean()))
    tiles = np.zeros((2, 16, 16, 3), np.uint8)  # classifier decode: (n, px, px, 3) uint8
    assert len(summariser("seaice", "classifier")(tiles)) == 2
    assert summaries_of("seaice", "change") is None and summaries_of("seaice", "classifier") is IMAGES
    assert summaries_of("fire") is FIRE_SUMMARIES and FIRE_SUMMARIES.inputs is fire_rows
    assert summaries_of("landcover") is IMAGES and IMAGES.inputs is tile_rows and summaries_of("biomass") is IMAGES

    forecast = np.zeros((7, *GRID))
    forecast[:, :4] = 0.5
    (answer,) = answer_summariser("seaice", "forecaster")([{"lead_days": 7, "forecast": forecast.tolist()}])
    assert answer == {"lead_days": 7, "forecast_mean": 0.25, "forecast_ice_fraction": 0.5}
    assert answer_summariser("biomass") is None and answer_summariser("fire") is None


def test_capture_keeps_the_forecasters_answers_as_summaries(tmp_path):
    from modelmill.monitor.capture import Capture
    from modelmill.monitor.records import read_records

    histories = synthetic_windows(2, seed=9)
    answers = [{"lead_days": 7, "forecast": f.tolist()} for f in toy_forecast(histories)]
    with Capture(
        tmp_path,
        1.0,
        "seaice-forecaster",
        "v1",
        "seaice",
        summarise=summariser("seaice", "forecaster"),
        summarise_answers=answer_summariser("seaice", "forecaster"),
    ) as capture:
        capture.record_batch(histories, answers)
    rows = read_records(tmp_path).rows
    assert len(rows) == 2 and set(rows[0]["prediction"]) == {"lead_days", *FORECAST_OUTPUTS}
    assert rows[0]["prediction"]["forecast_mean"] == pytest.approx(float(histories[0, -1].mean()), rel=1e-5)


def test_the_reference_samples_own_extremes_are_in_its_range():
    """baseline.json keeps min and max rounded to 7 significant digits; the values they were
    rounded from are inside the range, not out of it (the contract test's tiny EuroSAT run saw
    1 tile of 20 flagged as out of range against its own baseline)."""
    values = np.array([91.12345678, 100.0, 112.9876432] * 100)
    summary = baselines.feature_summary(values)
    assert summary["min"] > values.min() and summary["max"] < values.max()  # rounded inwards
    assert outside_range(values, summary) == 0.0
    assert outside_range(np.array([91.1233, 100.0, 112.9878]), summary) == pytest.approx(2 / 3)
