"""End to end: the real dvc pipeline in a fresh git repo, on the synthetic source."""

import json

import pytest
import yaml
from conftest import (
    EUROSAT_STAGES,
    TINY_TRAIN,
    assert_one_line_error,
    check_bad_params_keep_outputs,
    clone_project,
    copy_project,
    dvc,
    edit_yaml,
    git,
    output_digests,
    stages_run,
)

from modelmill.core.io import file_digest

pytestmark = pytest.mark.e2e


def edit_params(repo, **dotted):
    edit_yaml(repo / "params.yaml", dotted)


@pytest.fixture(scope="module")
def project(trained_project, tmp_path_factory):
    """The session's EuroSAT run (every stage ran, see trained_project), copied: these tests change it."""
    return copy_project(trained_project, tmp_path_factory.mktemp("e2e") / "project")


def test_first_repro_produces_every_output(project):
    for path in (
        "data/raw/eurosat.zip",
        "data/prepared/train.npz",
        "models/satellite_model.pt",
        "models/model.json",
        "metrics/metrics.json",
        "metrics/data.json",
        "metrics/train_history.csv",
        "metrics/test_predictions.csv",
    ):
        assert (project / path).exists(), path
    metrics = json.loads((project / "metrics/metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert set(lock["stages"]) == EUROSAT_STAGES
    assert git(project, "status", "--porcelain") == ""  # every output is ignored by git


def test_second_repro_does_nothing(project):
    again = dvc(project, "repro")
    assert stages_run(again.stdout) == set(), again.stdout
    assert json.loads(dvc(project, "status", "--json", "dvc.yaml").stdout or "{}") == {}


def test_train_param_reruns_only_train_and_evaluate(project):
    edit_params(project, **{"train.lr": 0.03})
    try:
        result = dvc(project, "repro")
        assert stages_run(result.stdout) == {"params", "train", "evaluate"}, result.stdout
        assert "Stage 'ingest' didn't change" in result.stdout and "Stage 'verify' didn't change" in result.stdout
        diff = dvc(project, "metrics", "diff", "--json").stdout
        assert "metrics/metrics.json" in json.loads(diff)
        params_diff = dvc(project, "params", "diff").stdout
        assert "train.lr" in params_diff
    finally:
        git(project, "checkout", "HEAD", "--", "params.yaml")
        dvc(project, "repro")  # back to the committed state (restored from the run cache)


def test_split_param_reruns_verify_train_and_evaluate(project):
    edit_params(project, **{"data.split.train": 0.6, "data.split.val": 0.25, "data.split.test": 0.15})
    try:
        assert stages_run(dvc(project, "repro").stdout) == {"params", "verify", "train", "evaluate"}
    finally:
        git(project, "checkout", "HEAD", "--", "params.yaml")
        dvc(project, "repro")


def test_evaluate_param_reruns_only_evaluate(project):
    edit_params(project, **{"evaluate.tta": True})
    try:
        assert stages_run(dvc(project, "repro").stdout) == {"params", "evaluate"}
    finally:
        git(project, "checkout", "HEAD", "--", "params.yaml")
        dvc(project, "repro")


def test_editing_core_code_reruns_only_the_stages_that_run_it(project):
    """Deps name core's modules one by one: monitoring code (summaries.py) is in no stage's reach,
    the training loop (fit.py) in train's alone."""
    for module, expected in (("summaries.py", set()), ("fit.py", {"train"})):
        path = project / "src/modelmill/core" / module
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        try:
            status = json.loads(dvc(project, "status", "--json", "dvc.yaml").stdout or "{}")
            assert set(status) == expected, (module, status)
        finally:
            path.write_bytes(original)
    assert json.loads(dvc(project, "status", "--json", "dvc.yaml").stdout or "{}") == {}


def test_model_is_reproducible_from_an_empty_cache(project, tmp_path):
    again = clone_project(
        tmp_path / "again", {"data.source": "synthetic", "data.synthetic_per_class": 20, **TINY_TRAIN}
    )
    dvc(again, "repro")
    for path in ("models/satellite_model.pt", "metrics/metrics.json", "data/raw/eurosat.zip"):
        assert file_digest(again / path) == file_digest(project / path), path


def test_experiments_compare_in_exp_show(project):
    dvc(project, "exp", "run", "-n", "lr-small", "-S", "train.lr=0.01")
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    runs = {}

    def collect(node):
        if isinstance(node, dict):
            name = node.get("name") or node.get("rev")
            data = node.get("data")
            if isinstance(data, dict) and "metrics" in data:
                runs[name] = data
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(shown)
    assert "lr-small" in runs, list(runs)
    assert len(runs) >= 2  # the baseline commit and the experiment
    for data in runs.values():
        metrics = data["metrics"]["metrics/metrics.json"]["data"]
        assert 0 <= metrics["accuracy"] <= 1
    lrs = {data["params"]["params.yaml"]["data"]["train"]["lr"] for data in runs.values()}
    assert {0.01, TINY_TRAIN["train.lr"]} <= lrs
    git(project, "checkout", "HEAD", "--", "params.yaml", "dvc.lock")
    dvc(project, "checkout", "dvc.yaml")


def test_plots_render(project, tmp_path):
    dvc(project, "plots", "show", "--out", str(tmp_path / "plots"))
    html = (tmp_path / "plots" / "index.html").read_text()
    for title in ("Loss", "Accuracy", "Confusion matrix (test)"):
        assert title in html


def test_a_bad_param_in_any_section_leaves_every_output_as_it_was(project):
    """Issue 20: the params stage stops dvc repro (and make repro) before DVC removes any output."""
    from modelmill.landcover.params import Params

    check_bad_params_keep_outputs(project, ".", Params)


def test_a_bad_archive_leaves_every_output_as_it_was(project):
    """Issue 20: ingest and verify keep their outputs in place (persist) until complete new ones replace them."""
    before = output_digests(project)
    (project / "broken.zip").write_bytes(b"not a zip")
    edit_params(project, **{"data.source": "archive", "data.archive": "broken.zip"})
    try:
        result = dvc(project, "repro", check=False)
        assert_one_line_error(result, "broken.zip")
        assert output_digests(project) == before
    finally:
        git(project, "checkout", "HEAD", "--", "params.yaml")
        (project / "broken.zip").unlink()
