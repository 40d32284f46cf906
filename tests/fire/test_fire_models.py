"""The fire line's models, ensemble, evaluation and registry artifact, run in-process on small data."""

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
import yaml
from conftest import REPO, SRC, set_dotted
from sklearn.metrics import roc_auc_score

from modelmill import lines
from modelmill.core.cli import UserError
from modelmill.core.io import flatten
from modelmill.fire import artifact
from modelmill.fire.ensemble import make_ensemble
from modelmill.fire.evaluate import evaluate
from modelmill.fire.features import FEATURES, Table, read_split, write_table
from modelmill.fire.generate import make_samples
from modelmill.fire.models import build_model, fit, load_model, members, predict_fire, save_model
from modelmill.fire.over_room import final_estimator
from modelmill.fire.params import MODEL_NAMES, load_params
from modelmill.fire.scoring import (
    choose_threshold,
    decision_scores,
    ensemble_weights,
    paired_bootstrap_gap,
    weighted_auc,
)
from modelmill.fire.simulate import generate
from modelmill.fire.split import split_samples
from modelmill.fire.train import train_model
from modelmill.registry.compare import differences
from modelmill.registry.listing import headline_metrics
from modelmill.summary import headline

# 40 boosting rounds at the full line's learning rate (0.05) and 100-row leaves fit 2,100 training
# rows too loosely: the ensemble would then lean on the forest and the logistic model, unlike at
# full size (boosting ~0.97); rate 0.1 and 20-row leaves keep boosting the member it leans on.
SMALL = {
    "data.n_samples": 3000,
    "train.forest.n_estimators": 20,
    "train.boosting.n_estimators": 40,
    "train.boosting.learning_rate": 0.1,
    "train.boosting.min_samples_leaf": 20,
}


def write_fire_params(folder: Path, overrides: dict | None = None) -> Path:
    """pipelines/fire/params.yaml with dotted-key overrides, written into `folder`."""
    raw = yaml.safe_load((REPO / "pipelines/fire/params.yaml").read_text())
    for key, value in {**SMALL, **(overrides or {})}.items():
        set_dotted(raw, key, value)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_line(folder: Path, overrides: dict | None = None) -> Path:
    """Every stage, in order, in `folder` (as dvc repro runs them in pipelines/fire)."""
    write_fire_params(folder, overrides)
    with contextlib.chdir(folder):
        params = load_params()
        make_samples(params.data)
        split_samples(params.split)
        for name in MODEL_NAMES:
            train_model(name, params.train)
        make_ensemble(params.ensemble, params.train)
        evaluate(params.evaluate)
    return folder


@pytest.fixture(scope="module")
def line(tmp_path_factory) -> Path:
    return run_line(tmp_path_factory.mktemp("fire") / "line")


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class Sneaky:
    """A type no trusted list names."""


def test_line_writes_every_output(line):
    for path in (
        "data/samples.csv",
        "data/split/train.csv",
        "data/split/val.csv",
        "data/split/test.csv",
        "models/forest.skops",
        "models/boosting.skops",
        "models/logistic.skops",
        "models/fire_ensemble.skops",
        "models/fire_ensemble.onnx",
        "models/ensemble.json",
        "metrics/metrics.json",
        "metrics/roc.csv",
        "metrics/pr.csv",
        *(f"metrics/calibration/{n}.csv" for n in (*MODEL_NAMES, "ensemble")),
    ):
        assert (line / path).is_file(), path
    assert not list(line.rglob(".*.partial"))


def test_metrics_cover_every_model_and_the_ceiling(line):
    metrics = json.loads((line / "metrics/metrics.json").read_text())
    keys = {"accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "log_loss", "brier"}
    for name in (*MODEL_NAMES, "ensemble"):
        assert set(metrics[name]) == keys
        assert 0.75 < metrics[name]["roc_auc"] <= metrics["bayes"]["roc_auc"] + 0.03
    assert set(metrics["bayes"]) == {"roc_auc", "average_precision", "log_loss", "brier"}
    assert metrics["test_rows"] == 450
    assert metrics["bayes_auc"] == metrics["bayes"]["roc_auc"]
    assert metrics["auc_gap"] == pytest.approx(metrics["bayes_auc"] - metrics["ensemble"]["roc_auc"], abs=2e-6)
    interval = metrics["auc_gap_ci95"]
    assert interval["resamples"] == 1000 and interval["low"] <= metrics["auc_gap"] <= interval["high"]
    meta = artifact.describe(line)
    assert meta["bayes_ceiling"] == metrics["bayes"] and meta["auc_gap"] == metrics["auc_gap"]
    assert meta["auc_gap_ci95"] == interval


def test_curves_are_on_common_grids(line):
    roc = np.genfromtxt(line / "metrics/roc.csv", delimiter=",", names=True)
    assert roc.dtype.names == ("fpr", *MODEL_NAMES, "ensemble") and len(roc) == 101
    for name in (*MODEL_NAMES, "ensemble"):
        assert (np.diff(roc[name]) >= 0).all() and roc[name][-1] == 1
    pr = np.genfromtxt(line / "metrics/pr.csv", delimiter=",", names=True)
    assert (np.diff(pr["ensemble"]) <= 1e-12).all()  # interpolated precision never rises with recall
    calibration = np.genfromtxt(line / "metrics/calibration/ensemble.csv", delimiter=",", names=True)
    assert calibration["rows"].sum() == 450 and ((0 <= calibration["observed"]) & (calibration["observed"] <= 1)).all()


def test_ensemble_card_and_file_agree(line):
    card = json.loads((line / "models/ensemble.json").read_text())
    assert card["features"] == list(FEATURES) and card["members"] == list(MODEL_NAMES)
    assert sum(card["weights"].values()) == pytest.approx(1, abs=1e-5)
    ensemble = load_model(line / "models/fire_ensemble.skops")
    assert ensemble.threshold == card["threshold"]
    test = read_split(line / "data/split", "test")
    p = predict_fire(ensemble, test.x)
    parts = {name: predict_fire(model, test.x) for name, model in members(ensemble).items()}
    assert np.allclose(p, sum(card["weights"][n] * parts[n] for n in MODEL_NAMES), atol=1e-9)
    assert np.array_equal(ensemble.predict(test.x), (p >= card["threshold"]).astype(int))


def test_refit_keeps_weights_and_threshold_and_fits_the_members_on_train_and_val(line, tmp_path):
    """ensemble.refit (the default): the models fitted on train choose the weights and the
    threshold on val; the published members are the same models fitted again on train + val."""
    with contextlib.chdir(line):
        params = load_params()
        plain = make_ensemble(
            replace(params.ensemble, refit=False), params.train, out=tmp_path / "e.skops", card_out=tmp_path / "e.json"
        )
    card = json.loads((line / "models/ensemble.json").read_text())
    train, val, test = (read_split(line / "data/split", name) for name in ("train", "val", "test"))
    assert params.ensemble.refit and card["refit_rows"] == len(train) + len(val) and plain["refit_rows"] == 0
    assert (card["weights"], card["threshold"], card["val"]) == (plain["weights"], plain["threshold"], plain["val"])
    published = members(load_model(line / "models/fire_ensemble.skops"))
    alone = members(load_model(tmp_path / "e.skops"))
    rows = np.concatenate([train.x, val.x]), np.concatenate([train.y, val.y])
    for name in MODEL_NAMES:
        refitted = fit(build_model(name, params.train), *rows)
        assert np.array_equal(predict_fire(published[name], test.x), predict_fire(refitted, test.x))
        trained = load_model(line / f"models/{name}.skops")  # what train@<name> wrote: train alone
        assert np.array_equal(predict_fire(alone[name], test.x), predict_fire(trained, test.x))
        assert not np.array_equal(predict_fire(published[name], test.x), predict_fire(trained, test.x))


def test_two_runs_are_byte_identical(line, tmp_path):
    again = run_line(tmp_path / "again")
    first, second = outputs(line), outputs(again)
    first.pop("params.yaml"), second.pop("params.yaml")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_forest_changes_only_with_its_params(line, tmp_path):
    folder = tmp_path / "line"
    write_fire_params(folder, {"train.forest.n_estimators": 10, "train.forest.n_jobs": 1})
    with contextlib.chdir(folder):
        train = load_params().train
    forest = train_model("forest", train, line / "data/split", folder / "forest.skops")
    assert len(final_estimator(forest).estimators_) == 10
    train_model("boosting", train, line / "data/split", folder / "boosting.skops")
    assert (folder / "boosting.skops").read_bytes() == (line / "models/boosting.skops").read_bytes()


def test_classic_boosting_loads_with_the_trusted_types(line, tmp_path):
    write_fire_params(tmp_path, {"train.boosting.variant": "classic", "train.boosting.n_estimators": 5})
    with contextlib.chdir(tmp_path):
        train = load_params().train
    model = train_model("boosting", train, line / "data/split", tmp_path / "boosting.skops")
    test = read_split(line / "data/split", "test")
    assert type(final_estimator(model)).__name__ == "GradientBoostingClassifier"
    assert np.array_equal(predict_fire(load_model(tmp_path / "boosting.skops"), test.x), predict_fire(model, test.x))


def test_own_csv_has_no_ceiling(tmp_path):
    own = tmp_path / "own.csv"
    table = generate(2000, seed=5)
    write_table(own, Table(table.x, table.y, None))
    folder = run_line(
        tmp_path / "line",
        {
            "data.source": "csv",
            "data.csv": str(own),
            "ensemble.threshold": "recall_floor",
            "ensemble.recall_floor": 0.95,
        },
    )
    metrics = json.loads((folder / "metrics/metrics.json").read_text())
    ceiling = {"bayes", "bayes_auc", "auc_gap", "auc_gap_ci95"}
    assert not ceiling & set(metrics), "own data has no ceiling: its keys are absent, not null or 0"
    assert metrics["ensemble"]["roc_auc"] > 0.75 and metrics["test_rows"] > 0
    card = json.loads((folder / "models/ensemble.json").read_text())
    assert card["val"]["ensemble"]["recall"] >= 0.95 and card["threshold_rule"] == "recall_floor 0.95"
    meta = {**artifact.describe(folder), "line": "fire"}
    assert not {"bayes_ceiling", "auc_gap", "auc_gap_ci95"} & set(meta)
    # What reads metrics and metadata downstream takes the absence in its stride: make repro's
    # closing lines, the registry listing's headline metrics (make models, the UI) and compare.
    assert "  ensemble.roc_auc: " + str(metrics["ensemble"]["roc_auc"]) in headline(metrics)
    assert not any("bayes" in text or "gap" in text for text in headline(metrics))
    assert headline_metrics(meta) == {
        "ensemble.roc_auc": metrics["ensemble"]["roc_auc"],
        "ensemble.f1": metrics["ensemble"]["f1"],
    }
    synthetic = {**meta, "bayes_ceiling": {"roc_auc": 0.92}, "auc_gap": 0.002}
    rows = {row["key"]: row for row in differences(flatten(meta), flatten(synthetic))}
    assert rows["auc_gap"] == {"key": "auc_gap", "a": None, "b": 0.002, "change": None}
    assert rows["bayes_ceiling.roc_auc"]["a"] is None


def test_weighted_auc_counts_rows_and_ties_as_roc_auc_score():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = np.round(np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1), 1)  # coarse: many ties
    order = np.argsort(p, kind="stable")
    tie_start = np.r_[True, np.diff(p[order]) > 0]
    assert weighted_auc(y, order, tie_start, np.ones(500)) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    rows = rng.integers(0, 500, 500)  # a bootstrap resample, as the counts of each row
    counts = np.bincount(rows, minlength=500).astype(float)
    assert weighted_auc(y, order, tie_start, counts) == pytest.approx(roc_auc_score(y[rows], p[rows]), abs=1e-12)


def test_paired_bootstrap_gap():
    table = generate(3000, seed=11)
    y, truth = table.y, table.p_fire
    noisy = np.clip(truth + np.random.default_rng(0).normal(0, 0.1, len(y)), 0, 1)
    gap, low, high = paired_bootstrap_gap(y, truth, noisy, 300, seed=0)
    assert gap == pytest.approx(roc_auc_score(y, truth) - roc_auc_score(y, noisy), abs=1e-12)
    assert 0 < low < gap < high  # the noise costs AUC, and the interval holds the point estimate
    assert paired_bootstrap_gap(y, truth, noisy, 300, seed=0) == (gap, low, high)  # seeded
    # Paired: the same rows for both scores, so the interval is far narrower than either AUC's
    # own spread over resamples, and a model against itself differs on no resample at all.
    rng = np.random.default_rng(1)
    alone = [roc_auc_score(y[r], noisy[r]) for r in (rng.integers(0, len(y), len(y)) for _ in range(100))]
    assert high - low < np.percentile(alone, 97.5) - np.percentile(alone, 2.5)
    assert paired_bootstrap_gap(y, noisy, noisy.copy(), 50, seed=0) == (0.0, 0.0, 0.0)


def test_weights_follow_the_temperature():
    scores = {
        "forest": {"roc_auc": 0.90, "log_loss": 0.34},
        "boosting": {"roc_auc": 0.91, "log_loss": 0.33},
        "logistic": {"roc_auc": 0.88, "log_loss": 0.36},
    }
    cold = ensemble_weights(scores, "log_loss", 0.001)
    assert cold["boosting"] > 0.99
    warm = ensemble_weights(scores, "roc_auc", 100.0)
    assert all(abs(w - 1 / 3) < 0.001 for w in warm.values())
    mid = ensemble_weights(scores, "roc_auc", 0.01)
    assert mid["boosting"] / mid["forest"] == pytest.approx(np.exp(1.0), rel=1e-4)  # exp((0.91 - 0.90) / 0.01)


def test_threshold_rules():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    p = np.clip(0.5 * y + rng.normal(0.25, 0.2, 2000), 0, 1)
    best = choose_threshold(y, p, "max_f1", 0.9)
    f1 = {t: decision_scores(y, p, t)["f1"] for t in np.unique(p)}
    assert decision_scores(y, p, best)["f1"] == max(f1.values())
    floor = choose_threshold(y, p, "recall_floor", 0.9)
    assert decision_scores(y, p, floor)["recall"] >= 0.9
    above = p[p >= floor].min()  # the row it was chosen at: the highest threshold with that recall
    assert decision_scores(y, p, np.nextafter(above, 2))["recall"] < 0.9
    for threshold in (best, floor):  # halfway between two rows' p, so no row sits on it
        lower, upper = p[p < threshold].max(), p[p >= threshold].min()
        assert threshold == pytest.approx((lower + upper) / 2, abs=1e-15)


def test_untrusted_model_file_is_refused(tmp_path):
    path = tmp_path / "forest.skops"
    sio.dump({"model": Sneaky()}, path)
    with pytest.raises(UserError) as err:
        load_model(path)
    assert str(err.value).startswith(f"{path} was refused") and "Sneaky" in str(err.value)


def test_damaged_model_file_is_refused(tmp_path, line):
    path = tmp_path / "forest.skops"
    path.write_bytes((line / "models/forest.skops").read_bytes()[:5000])
    with pytest.raises(UserError, match="is not a readable skops model file"):
        load_model(path)
    with pytest.raises(UserError, match="not found; run the train@forest stage first"):
        load_model(tmp_path / "missing.skops", "train@forest")


def test_saved_models_have_no_timestamps_or_ids(tmp_path, line):
    model = load_model(line / "models/logistic.skops")
    save_model(model, tmp_path / "a.skops")
    save_model(load_model(tmp_path / "a.skops"), tmp_path / "b.skops")
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()


def test_artifact_describes_the_line(line):
    meta = artifact.describe(line)
    json.dumps(meta)  # it goes into metadata.json
    assert meta["framework"].startswith("scikit-learn ") and meta["features"] == list(FEATURES)
    assert set(meta["test_metrics"]) == {*MODEL_NAMES, "ensemble"} and meta["bayes_ceiling"]["roc_auc"] > 0.8
    assert len(meta["data_sha256"]) == 64 and meta["params"]["data"]["n_samples"] == 3000
    model = lines.get("fire").model()
    assert model.file == Path("models/fire_ensemble.skops") and model.artifact() is artifact
    assert model.publish_config(REPO / "pipelines/fire").model_name == "fire-ensemble"


def test_artifact_describe_names_what_is_missing(tmp_path):
    write_fire_params(tmp_path)
    with pytest.raises(UserError, match=r"ensemble.json is missing; run `make repro PIPELINE=fire` first"):
        artifact.describe(tmp_path)


def test_artifact_check_scores_test_rows_or_simulated_ones(line, tmp_path):
    meta = artifact.describe(line)
    downloaded = tmp_path / "fire_ensemble.skops"
    downloaded.write_bytes((line / lines.get("fire").model().file).read_bytes())
    report = artifact.check(downloaded, meta, line)
    assert "over forest, boosting, logistic" in report[0] and "test rows from" in report[1]
    assert "ROC AUC on them" in report[2]
    assert "simulated rows" in artifact.check(downloaded, meta, tmp_path / "elsewhere")[1]
    with pytest.raises(UserError, match="different runs"):
        artifact.check(downloaded, {**meta, "threshold": 0.123}, line)


def test_artifact_check_refuses_an_untrusted_file(tmp_path, line):
    downloaded = tmp_path / "fire_ensemble.skops"
    sio.dump([Sneaky()], downloaded)
    with pytest.raises(UserError, match="Sneaky"):
        artifact.check(downloaded, artifact.describe(line), line)


SERVE_WITHOUT_TORCH = """
import sys
from argparse import Namespace
from pathlib import Path

from modelmill.serve import __main__, loading, workers

args = Namespace(model="fire-ensemble", version="latest", source="local", pipeline=None, model_dir=Path("absent"))
loaded = loading.load(args, sys.argv[1])
workers.make_app(loaded.predictor, workers.Settings(max_body=2**20, workers=2, threads=1))
answers = loaded.predictor.predict(loaded.predictor.decode(Path(sys.argv[2]).read_bytes(), "text/csv"))
print(len(answers), "torch" in sys.modules)
"""


def test_serving_the_fire_ensemble_never_imports_torch(line, tmp_path):
    """The server finds a model by the lines' params files and imports only the line it serves:
    the fire ensemble starts without torch (the other lines' params are absent here, and skipped)."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "fire").symlink_to(line)
    test_rows = line / "data/split/test.csv"
    result = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_TORCH, str(tmp_path), str(test_rows)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(test_rows.read_text().splitlines()) - 1), "False"]
