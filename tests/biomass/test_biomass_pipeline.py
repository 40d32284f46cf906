"""End to end: the biomass line's real dvc pipeline in a fresh git clone, at a tiny size, then
published and fetched back through the registry (make publish / make verify-download
PIPELINE=biomass) against the loopback S3 server, from the same clone."""

import json
import shutil

import pytest
import yaml
from biomass_support import TINY
from conftest import (
    check_bad_params_keep_outputs,
    dvc,
    edit_yaml,
    git,
    line_project,
    read_until,
    run_module,
    stages_run,
    start,
)

from modelmill import lines
from modelmill.core import s3
from modelmill.registry.bucket import ensure_private_bucket
from modelmill.registry.fetch import SUCCESS, fetch
from modelmill.registry.publish import publish
from modelmill.registry.store import Registry

pytestmark = pytest.mark.e2e

DVCFILE = "pipelines/biomass/dvc.yaml"
PARAMS = "pipelines/biomass/params.yaml"
STAGES = {"params", "generate", "verify", "eda", "train", "evaluate"}
BIOMASS = lines.get("biomass")
PLOTS = {
    "biomass loss curves",
    "biomass val RMSE (g)",
    "biomass predicted vs actual (test)",
    "biomass RMSE by age (test)",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return line_project(tmp_path_factory.mktemp("biomass-e2e") / "project", "pipelines/biomass", TINY, STAGES)


def test_first_repro_writes_every_output_and_git_ignores_them(project):
    line = project / "pipelines/biomass"
    for path in (
        "data/raw/metadata.xlsx",
        "data/prepared/test.npz",
        "metrics/data.json",
        "metrics/eda/eda_summary.json",
        "metrics/eda/sample_images.png",
        "models/biomass_model.pt",
        "models/card.json",
        "metrics/train_history.csv",
        "metrics/metrics.json",
        "metrics/by_age.csv",
        "metrics/predictions.csv",
        "metrics/predicted_vs_actual.png",
        "metrics/run_log.json",
    ):
        assert (line / path).is_file(), path
    lock = yaml.safe_load((line / "dvc.lock").read_text())
    assert set(lock["stages"]) == STAGES
    assert git(project, "status", "--porcelain") == ""
    commit = git(project, "rev-parse", "HEAD~1").strip()  # the commit the run was made at
    assert json.loads((line / "models/card.json").read_text())["git_commit"] == commit
    assert json.loads((line / "metrics/run_log.json").read_text())["git_commit"] == commit


def test_second_repro_does_nothing(project):
    again = dvc(project, "repro", DVCFILE)
    assert stages_run(again.stdout) == set(), again.stdout


def test_train_param_reruns_only_train_and_evaluate(project):
    edit_yaml(project / PARAMS, {"train.lr": 0.003})
    try:
        result = dvc(project, "repro", DVCFILE)
        assert stages_run(result.stdout) == {"params", "train", "evaluate"}, result.stdout
        for stage in ("generate", "verify", "eda"):
            assert f"Stage '{DVCFILE}:{stage}' didn't change" in result.stdout
        assert "train.lr" in dvc(project, "params", "diff").stdout
    finally:
        git(project, "checkout", "HEAD", "--", PARAMS)
        dvc(project, "repro", DVCFILE)  # back to the committed outputs (from the run cache)
    assert git(project, "status", "--porcelain") == ""


def _outputs(project) -> dict[str, str]:
    lock = yaml.safe_load((project / "pipelines/biomass/dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def test_forced_rerun_is_byte_identical_but_for_the_commit_it_logs(project):
    line = project / "pipelines/biomass"
    before, card = _outputs(project), json.loads((line / "models/card.json").read_text())
    try:
        dvc(project, "repro", "-f", DVCFILE)
        after, again = _outputs(project), json.loads((line / "models/card.json").read_text())
        logged = {"models/card.json", "metrics/run_log.json"}  # they name HEAD, now the "first run" commit
        assert {k: v for k, v in after.items() if k not in logged} == {
            k: v for k, v in before.items() if k not in logged
        }
        assert again["git_commit"] == git(project, "rev-parse", "HEAD").strip() != card["git_commit"]
        assert {**again, "git_commit": None} == {**card, "git_commit": None}
    finally:
        git(project, "checkout", "HEAD", "--", "pipelines/biomass/dvc.lock")
        dvc(project, "checkout", DVCFILE)


def test_plots_show_draws_the_curves(project):
    shown = json.loads(dvc(project, "plots", "show", "--json").stdout)
    for name in PLOTS:
        assert shown["data"][name][0]["content"]["data"]["values"], name
    assert not [e for e in shown.get("errors", []) if "biomass" in str(e)]


def test_biomass_publishes_and_verify_download_loads_it_safely(project, s3_env, capsys):
    reg = Registry.for_line(BIOMASS, project, env={"BUCKET_NAME": s3_env["bucket"]})
    ensure_private_bucket(s3.client(reg.region), reg)
    first = publish(reg, project, line=BIOMASS)
    assert first.version == 1 and first.model_uri.endswith("/plant-biomass/v1/biomass_model.pt")
    meta = json.loads(s3.client().get_object(Bucket=reg.bucket, Key=reg.metadata_key(1))["Body"].read())
    assert meta["line"] == "biomass" and meta["model_name"] == "plant-biomass"
    assert meta["architecture"] == "resnet18" and meta["image_size"] == TINY["verify.image_size"]
    assert set(meta["test_metrics"]["model"]) == {"mse_g2", "rmse_g", "mae_g", "r2"}
    assert meta["git_commit"] == git(project, "rev-parse", "HEAD").strip()
    baseline = s3.client().get_object(Bucket=reg.bucket, Key=reg.key(1, meta["baseline"]["file"]))["Body"].read()
    assert json.loads(baseline)["prediction"]["fields"] == ["biomass_g"]  # the monitoring baseline
    capsys.readouterr()
    assert fetch(reg, line=BIOMASS, repo=project)["version"] == "v1"
    out = capsys.readouterr().out
    assert SUCCESS in out and "weighed" in out and "RMSE on them" in out


def test_make_verify_download_commands_name_the_pipeline(project, s3_env):
    env = {"BUCKET_NAME": s3_env["bucket"]}
    args = ("--pipeline", "biomass")
    assert run_module("modelmill.registry.bucket", project, env=env, args=args).returncode == 0
    published = run_module("modelmill.registry.publish", project, env=env, args=args)
    assert published.returncode == 0, published.stderr
    assert "plant-biomass/v1/biomass_model.pt" in published.stdout
    fetched = run_module("modelmill.registry.fetch", project, env=env, args=args)
    assert fetched.returncode == 0, fetched.stderr
    assert SUCCESS in fetched.stdout


def test_a_bad_param_in_any_section_leaves_every_output_as_it_was(project):
    """Issue 20: the params stage stops dvc repro (and make repro) before DVC removes any output."""
    from modelmill.biomass.params import Params

    check_bad_params_keep_outputs(project, "pipelines/biomass", Params)


def test_a_killed_run_resumes_to_the_same_bytes(project, tmp_path):
    """The biomass line trains through the core's fit loop, so checkpoints and resume come with it."""
    runs = {}
    for name in ("whole", "killed"):
        work = runs[name] = tmp_path / name
        shutil.copytree(project / "pipelines/biomass/data", work / "data")
        shutil.copytree(project / "pipelines/biomass/metrics", work / "metrics")
        edit_yaml(work / "params.yaml", {"train.epochs": 8}, source=project / PARAMS)
    assert run_module("modelmill.biomass.train", runs["whole"]).returncode == 0
    killed = runs["killed"]
    proc = start("modelmill.biomass.train", killed)
    read_until(proc, "epoch 2/8")
    proc.kill()  # SIGKILL, as a preempted machine would: no cleanup runs
    proc.wait()
    assert not (killed / "models/biomass_model.pt").exists()  # six more epochs were to come
    assert (killed / ".checkpoints/biomass-train.pt").exists()
    resumed = run_module("modelmill.biomass.train", killed)
    assert resumed.returncode == 0, resumed.stderr
    assert "train: resuming after epoch" in resumed.stderr and "epoch 1/8" not in resumed.stderr
    for path in ("models/biomass_model.pt", "metrics/train_history.csv"):
        assert (killed / path).read_bytes() == (runs["whole"] / path).read_bytes(), path
    assert not (killed / ".checkpoints/biomass-train.pt").exists()  # removed once the outputs are in
