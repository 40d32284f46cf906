"""End to end: the sea-ice line's real dvc pipeline in a fresh git clone, on a small grid."""

import json

import boto3
import numpy as np
import pytest
import yaml
from conftest import (
    assert_one_line_error,
    check_bad_params_keep_outputs,
    copy_project,
    dvc,
    edit_yaml,
    git,
    line_project,
    make_repro,
    run_module,
    stages_run,
)
from seaice_helpers import TINY

from modelmill.registry.fetch import SUCCESS
from modelmill.registry.listing import headline_metrics

pytestmark = pytest.mark.e2e

DVCFILE = "pipelines/seaice/dvc.yaml"
PARAMS = "pipelines/seaice/params.yaml"
LOCK = "pipelines/seaice/dvc.lock"
STAGES = {"params", "generate", "split", "train@classifier", "train@forecaster", "train@change", "ceiling", "evaluate"}
PLOTS = {"seaice forecast RMSE by lead day (test)", "seaice classifier confusion (test)", "seaice training loss"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return line_project(tmp_path_factory.mktemp("seaice-e2e") / "project", "pipelines/seaice", TINY, STAGES)


def test_first_repro_writes_every_output_and_git_ignores_them(project):
    line = project / "pipelines/seaice"
    for path in (
        "data/daily.npz",
        "data/split.json",
        "data/sets/classifier/test.npz",
        "data/sets/change/val.npz",
        "models/classifier.pt",
        "models/forecaster.pt",
        "models/change.pt",
        "models/forecaster.json",
        "metrics/metrics.json",
        "metrics/data.json",
        "metrics/forecast_rmse.csv",
        "metrics/confusion.csv",
        "metrics/train_forecaster.csv",
        "metrics/figures/forecast_000.png",
        "metrics/figures/change_000.png",
    ):
        assert (line / path).is_file(), path
    assert set(yaml.safe_load((line / "dvc.lock").read_text())["stages"]) == STAGES
    assert git(project, "status", "--porcelain") == ""
    metrics = json.loads((line / "metrics/metrics.json").read_text())
    assert len(metrics["forecaster"]["skill"]) == 7
    forecaster = metrics["forecaster"]
    for name in ("model", "persistence", "climatology", "damped_persistence", "ceiling"):
        assert len(forecaster[name]["rmse"]) == 7
    # generated data: the ceiling (the simulator run on from the true state) and the gap closed to it
    assert len(forecaster["gap_closed"]) == len(forecaster["skill_vs_best_baseline"]) == 7
    assert set(forecaster["best_baseline"]) <= {"persistence", "climatology", "damped_persistence"}
    assert all(c < b for c, b in zip(forecaster["ceiling"]["rmse"], forecaster["persistence"]["rmse"]))
    assert "forecaster_closes_half_the_gap_to_ceiling" in metrics["targets"]
    means = forecaster["rmse_mean"]
    assert means["ceiling"] < means["best_baseline"] and means["ceiling"] == round(
        np.mean(forecaster["ceiling"]["rmse"]), 6
    )
    assert set(metrics["change"]) >= {"model", "baseline", "baseline_threshold"}
    # Simulated data: the same detector on clean renders, scored on the same test pairs, and the gap to it.
    change = metrics["change"]
    assert set(change["ceiling"]) == set(change["model"])
    assert change["ceiling_gap"] == pytest.approx(change["ceiling"]["iou"] - change["model"]["iou"], abs=2e-6)
    ceiling = json.loads((line / "models/ceiling/change.json").read_text())
    assert ceiling["model"] == "change" and ceiling["inputs"].startswith("clean renders")
    detector = json.loads((line / "models/change.json").read_text())
    assert ceiling["train_params"] == detector["train_params"]
    # train.change.refit (the default): both learnt from the train and val pairs, their last epoch kept
    assert ceiling["trained_on"] == detector["trained_on"] == "train+val" and "val" not in detector
    assert ceiling["best_epoch"] == detector["best_epoch"] == detector["train_params"]["epochs"]
    assert not (line / "models/ceiling/absent.txt").exists()
    assert set(metrics["classifier"]["per_class"]) == {"open_water", "thin_ice", "thick_ice"}
    # The registry listing's headline (make models, the UI) shows how close each model came.
    headline = {
        name: headline_metrics({"line": "seaice", "test_metrics": metrics[name]}) for name in ("forecaster", "change")
    }
    assert headline["forecaster"] == {"gap_closed_mean": forecaster["gap_closed_mean"]}
    assert headline["change"] == {"model.iou": change["model"]["iou"], "ceiling.iou": change["ceiling"]["iou"]}


def test_second_repro_does_nothing(project):
    again = dvc(project, "repro", DVCFILE)
    assert stages_run(again.stdout) == set(), again.stdout
    assert json.loads(dvc(project, "status", "--json", DVCFILE).stdout or "{}") == {}


def test_forecaster_param_reruns_only_forecaster_and_evaluate(project):
    edit_yaml(project / PARAMS, {"train.forecaster.hidden": 5})
    try:
        result = dvc(project, "repro", DVCFILE)
        assert stages_run(result.stdout) == {"params", "train@forecaster", "evaluate"}, result.stdout
        for stage in ("generate", "split", "train@classifier", "train@change", "ceiling"):
            assert f"Stage '{DVCFILE}:{stage}' didn't change" in result.stdout
        assert "train.forecaster.hidden" in dvc(project, "params", "diff").stdout
    finally:
        git(project, "checkout", "HEAD", "--", PARAMS)
        dvc(project, "repro", DVCFILE)  # back to the committed outputs (from the run cache)


def test_plots_show_draws_the_curves(project, tmp_path):
    # -o: the PNG panels are copied there, not into an untracked dvc_plots/ in the repo.
    shown = json.loads(dvc(project, "plots", "show", "--json", "-o", str(tmp_path / "plots")).stdout)
    for name in PLOTS:
        assert shown["data"][name][0]["content"]["data"]["values"], name
    assert not [e for e in shown.get("errors", []) if "seaice" in str(e)]
    panels = [name for name in shown["data"] if name.endswith(".png")]
    assert any("forecast_000.png" in name for name in panels) and any("change_000.png" in name for name in panels)


def test_each_model_publishes_under_its_own_name_and_verifies_after_download(project, s3_env):
    env = {"BUCKET_NAME": s3_env["bucket"]}
    line = ("--pipeline", "seaice")
    assert run_module("modelmill.registry.bucket", project, env=env, args=line).returncode == 0
    published = run_module("modelmill.registry.publish", project, env=env, args=line)
    assert published.returncode == 0, published.stderr
    for name, file in (("classifier", "classifier.pt"), ("forecaster", "forecaster.pt"), ("change", "change.pt")):
        assert f"seaice-{name}/v1/{file}" in published.stdout, published.stdout
    fetched = run_module("modelmill.registry.fetch", project, env=env, args=line)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.count(SUCCESS) == 3, fetched.stdout
    for found in ("test tile", "test 30-day history", "test pair"):
        assert found in fetched.stdout, fetched.stdout
    # a version or alias names one model's: MODEL picks it (latest is every model's)
    one = run_module(
        "modelmill.registry.fetch", project, env=env, args=(*line, "--model", "seaice-forecaster", "--version", "v1")
    )
    assert one.returncode == 0 and one.stdout.count(SUCCESS) == 1 and "test 30-day history" in one.stdout, one.stderr
    latest = run_module("modelmill.registry.fetch", project, env=env, args=(*line, "--version", "latest"))
    assert latest.returncode == 0 and latest.stdout.count(SUCCESS) == 3, latest.stderr
    assert_one_line_error(
        run_module("modelmill.registry.fetch", project, env=env, args=(*line, "--version", "v1")),
        "the seaice line publishes 3 models",
        "pick one with MODEL= (--model)",
    )
    assert_one_line_error(
        run_module("modelmill.registry.fetch", project, env=env, args=(*line, "--model", "seaice")),
        "the seaice line publishes no model named 'seaice'; it publishes seaice-classifier, seaice-forecaster",
    )
    client = boto3.client("s3")
    kinds = {}
    for name in ("classifier", "forecaster", "change"):
        key = f"models/seaice-{name}/v1/metadata.json"
        meta = json.loads(client.get_object(Bucket=s3_env["bucket"], Key=key)["Body"].read())
        baseline = meta.get("baseline")
        if baseline:
            found = client.get_object(Bucket=s3_env["bucket"], Key=key.replace("metadata.json", baseline["file"]))
        kinds[name] = json.loads(found["Body"].read())["kind"] if baseline else None
    assert kinds == {"classifier": "image", "forecaster": "sequence", "change": None}  # monitoring baselines


def test_batch_predict_through_the_serving_code(project, tmp_path):
    sets = project / "pipelines/seaice/data/sets"
    with np.load(sets / "change/test.npz") as data:
        pairs = np.stack([data["before"][:2], data["after"][:2]], axis=1)
    np.save(tmp_path / "pairs.npy", pairs)
    result = run_module(
        "modelmill.serve.predict",
        project,
        args=(
            "--model",
            "seaice-change",
            "--source",
            "local",
            "--input",
            str(tmp_path / "pairs.npy"),
            "--output",
            str(tmp_path / "out.csv"),
        ),
    )
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0].startswith("sample,change_fraction") and len(rows) == 3
    np.save(tmp_path / "wrong.npy", pairs[:, :, :16])  # half the grid
    bad = run_module(
        "modelmill.serve.predict",
        project,
        args=(
            "--model",
            "seaice-change",
            "--source",
            "local",
            "--input",
            str(tmp_path / "wrong.npy"),
            "--output",
            str(tmp_path / "bad.csv"),
        ),
    )
    assert bad.returncode == 1 and "the change detector takes arrays of shape (2, 32, 32, 3)" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad.csv").exists()
    # Imagery scaled to 0-1, or complex: refused, never truncated to a black scene and answered.
    for name, array, message in (
        ("scaled", pairs / 255.0, "image values must be whole numbers 0-255 (uint8 imagery) (these look scaled"),
        ("complex", pairs.astype(np.complex64), "the array must hold real numbers (integers or floats), not complex64"),
    ):
        np.save(tmp_path / f"{name}.npy", array)
        args = ("--model", "seaice-change", "--source", "local", "--input", str(tmp_path / f"{name}.npy"))
        refused = run_module("modelmill.serve.predict", project, args=(*args, "--output", str(tmp_path / "bad.csv")))
        assert refused.returncode == 1 and message in refused.stderr, refused.stderr
        assert not (tmp_path / "bad.csv").exists()


def test_serving_the_change_detector_with_capture_is_refused(project, tmp_path):
    """It has no baseline, so nothing would be captured while the start-up line said it was."""
    args = ("--model", "seaice-change", "--source", "local", "--port", "0", "--workers", "1")
    result = run_module("modelmill.serve", project, args=(*args, "--capture", str(tmp_path / "capture")), timeout=120)
    assert_one_line_error(result, "seaice-change is not monitored: the sea-ice line defines no", "without CAPTURE")
    assert not (tmp_path / "capture").exists()


def test_a_forced_rerun_writes_identical_bytes(project):
    before = (project / LOCK).read_text()
    result = dvc(project, "repro", "--force", DVCFILE)
    assert stages_run(result.stdout) == STAGES, result.stdout
    assert (project / LOCK).read_text() == before
    assert git(project, "status", "--porcelain") == ""


def test_a_bad_param_in_any_section_leaves_every_output_as_it_was(project):
    """Issue 20: the params stage stops dvc repro (and make repro) before DVC removes any output."""
    from modelmill.seaice.params import Params

    check_bad_params_keep_outputs(project, "pipelines/seaice", Params)


def test_make_repro_nproc_2_trains_every_model_with_two_ranks(project, tmp_path):
    """The sea-ice line trains through the core's fit loop, so torchrun ranks come with it."""
    work = copy_project(project, tmp_path / "ranks")
    result = make_repro(work, "PIPELINE=seaice", "NPROC=2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stages_run(result.stdout) == {
        "params",
        "train@classifier",
        "train@forecaster",
        "train@change",
        "ceiling",
        "evaluate",
    }
    for name in ("classifier", "forecaster", "change"):
        card = json.loads((work / f"pipelines/seaice/models/{name}.json").read_text())
        assert card["runtime"]["processes"] == 2 and card["train_params"]["processes"] == 2, name
        kept = "last epoch (train + val)" if name == "change" else "best epoch"  # train.change.refit
        assert f"train {name}: {kept}" in result.stderr + result.stdout
    one = json.loads((project / "pipelines/seaice/metrics/metrics.json").read_text())
    two = json.loads((work / "pipelines/seaice/metrics/metrics.json").read_text())
    assert set(two) == set(one) and set(two["classifier"]) == set(one["classifier"])
    assert not list((work / "pipelines/seaice").rglob(".*partial*"))
