"""End to end: the fire line's real dvc pipeline in a fresh git clone, at a small size."""

import json

import pytest
import yaml
from conftest import (
    FIRE_STAGES,
    assert_one_line_error,
    check_bad_params_keep_outputs,
    copy_project,
    dvc,
    edit_yaml,
    git,
    output_digests,
    stages_run,
)

pytestmark = pytest.mark.e2e

DVCFILE = "pipelines/fire/dvc.yaml"
PARAMS = "pipelines/fire/params.yaml"
PLOTS = {"fire ROC (test)", "fire precision-recall (test)", "fire calibration (test)"}


def edit_params(repo, **dotted):
    edit_yaml(repo / PARAMS, dotted)


@pytest.fixture(scope="module")
def project(fire_project, tmp_path_factory):
    """The session's fire run (every stage ran, see fire_project), copied: these tests change it."""
    return copy_project(fire_project, tmp_path_factory.mktemp("fire-e2e") / "project")


def test_first_repro_writes_every_output_and_git_ignores_them(project):
    line = project / "pipelines/fire"
    for path in (
        "data/samples.csv",
        "data/split/test.csv",
        "models/forest.skops",
        "models/fire_ensemble.skops",
        "models/fire_ensemble.onnx",
        "models/ensemble.json",
        "metrics/metrics.json",
        "metrics/roc.csv",
        "metrics/pr.csv",
        "metrics/calibration/ensemble.csv",
    ):
        assert (line / path).is_file(), path
    lock = yaml.safe_load((line / "dvc.lock").read_text())
    assert set(lock["stages"]) == FIRE_STAGES
    assert git(project, "status", "--porcelain") == ""


def test_second_repro_does_nothing(project):
    again = dvc(project, "repro", DVCFILE)
    assert stages_run(again.stdout) == set(), again.stdout
    assert json.loads(dvc(project, "status", "--json", DVCFILE).stdout or "{}") == {}


def test_forest_param_reruns_only_forest_ensemble_and_evaluate(project):
    edit_params(project, **{"train.forest.n_estimators": 30})
    try:
        result = dvc(project, "repro", DVCFILE)
        assert stages_run(result.stdout) == {"params", "train@forest", "ensemble", "evaluate"}, result.stdout
        for stage in ("generate", "split", "train@boosting", "train@logistic"):
            assert f"Stage '{DVCFILE}:{stage}' didn't change" in result.stdout
        diff = json.loads(dvc(project, "metrics", "diff", "--json").stdout)
        assert "pipelines/fire/metrics/metrics.json" in diff
        assert "train.forest.n_estimators" in dvc(project, "params", "diff").stdout
    finally:
        git(project, "checkout", "HEAD", "--", PARAMS)
        dvc(project, "repro", DVCFILE)  # back to the committed outputs (from the run cache)


def test_plots_show_draws_the_curves(project):
    shown = json.loads(dvc(project, "plots", "show", "--json").stdout)
    for name in PLOTS:
        assert shown["data"][name][0]["content"]["data"]["values"], name
    assert not [e for e in shown.get("errors", []) if e.get("name") in PLOTS or "fire" in str(e.get("source"))]


def test_experiment_shows_in_exp_show(project):
    try:
        run = dvc(project, "exp", "run", DVCFILE, "-n", "forest-25", "-S", f"{PARAMS}:train.forest.n_estimators=25")
        assert stages_run(run.stdout) == {"params", "train@forest", "ensemble", "evaluate"}, run.stdout
        shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
        experiments = [exp for commit in shown for exp in (commit.get("experiments") or [])]
        runs = [r for exp in experiments for r in exp.get("revs", [])]
        ours = [r for r in runs if r.get("name") == "forest-25"]
        assert ours, shown
        data = ours[0]["data"]
        assert data["params"][PARAMS]["data"]["train"]["forest"]["n_estimators"] == 25
        assert data["metrics"]["pipelines/fire/metrics/metrics.json"]["data"]["ensemble"]["roc_auc"] > 0.8
    finally:
        git(project, "checkout", "HEAD", "--", PARAMS)
        dvc(project, "repro", DVCFILE)


def test_a_bad_param_in_any_section_leaves_every_output_as_it_was(project):
    """Issue 20: the params stage stops dvc repro (and make repro) before DVC removes any output."""
    from modelmill.fire.params import Params

    check_bad_params_keep_outputs(project, "pipelines/fire", Params)


def test_a_bad_input_file_leaves_every_output_as_it_was(project):
    """Issue 20: generate keeps its output in place (persist) until a complete new one replaces it."""
    line = project / "pipelines/fire"
    before = output_digests(line)
    header = (line / "data/samples.csv").read_text().splitlines()[0]
    (line / "export.csv").write_text(header.replace(",", ";") + "\n")
    edit_params(project, **{"data.source": "csv", "data.csv": "export.csv"})
    try:
        result = dvc(project, "repro", DVCFILE, check=False)
        assert_one_line_error(result, "export.csv: its columns are separated by semicolons")
        assert output_digests(line) == before
    finally:
        git(project, "checkout", "HEAD", "--", PARAMS)
        (line / "export.csv").unlink()
