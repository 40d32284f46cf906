"""The fire line's params rules and its stage commands' one-line errors (run as DVC runs them)."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import skops.io as sio
import yaml
from conftest import REPO, SRC, assert_one_line_error, run_module, set_dotted

from modelmill.core.cli import UserError
from modelmill.fire.features import FEATURES
from modelmill.fire.generate import make_samples
from modelmill.fire.params import load_params
from modelmill.fire.split import split_samples

FIRE_PARAMS = REPO / "pipelines/fire/params.yaml"


def write_fire_params(folder: Path, overrides: dict | None = None, drop: str | None = None) -> Path:
    raw = yaml.safe_load(FIRE_PARAMS.read_text())
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    if drop:
        *parents, leaf = drop.split(".")
        section = raw
        for key in parents:
            section = section[key]
        section.pop(leaf)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder / "params.yaml"


class Sneaky:
    """A type no trusted list names."""


def test_repo_params_hold_the_documented_defaults():
    params = load_params(FIRE_PARAMS)
    assert params.data.source == "synthetic" and params.data.n_samples == 100_000
    assert (params.split.train, params.split.val, params.split.test) == (0.7, 0.15, 0.15)
    forest, boosting = params.train.forest, params.train.boosting
    assert (forest.n_estimators, forest.max_depth) == (200, 10)
    assert (boosting.n_estimators, boosting.learning_rate, boosting.min_samples_leaf) == (550, 0.05, 100)
    assert boosting.max_features == 0.3
    assert params.ensemble.threshold == "max_f1" and params.ensemble.recall_floor == 0.9
    assert (
        params.publish.bucket,
        params.publish.region,
        params.publish.prefix,
        params.publish.model_name,
        params.publish.kms_key_id,
    ) == ("modelmill-registry", "us-east-1", "models", "fire-ensemble", "")


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"split.train": 0.6}, "split fractions sum to 0.9, below 1"),
        ({"split.val": 0.3}, "split fractions sum to 1.15, above 1"),
        ({"train.forest.n_estimators": 0}, "train.forest.n_estimators must be >= 1, got 0"),
        ({"train.boosting.learning_rate": 0}, "train.boosting.learning_rate must be > 0, got 0.0"),
        (
            {"train.boosting.variant": "histo"},
            "train.boosting.variant must be one of hist, classic; got 'histo' (did you mean hist?)",
        ),
        ({"data.n_samples": 10}, "data.n_samples must be >= 100, got 10"),
        ({"data.source": "csv"}, "data.source is csv but data.csv is empty"),
        ({"ensemble.recall_floor": 1.5}, "ensemble.recall_floor must be <= 1, got 1.5"),
        ({"ensemble.temperature": -1}, "ensemble.temperature must be > 0, got -1.0"),
        ({"train.logistic.C": "strong"}, "train.logistic.C must be a number, got str 'strong'"),
    ],
)
def test_bad_params_are_named(tmp_path, overrides, fragment):
    path = write_fire_params(tmp_path, overrides)
    with pytest.raises(UserError) as err:
        load_params(path)
    assert str(err.value).startswith(f"{path}: ") and fragment in str(err.value)


def test_a_typo_names_the_closest_key(tmp_path):
    path = write_fire_params(tmp_path, {"train.forest.n_estimator": 5}, drop="train.forest.n_estimators")
    with pytest.raises(
        UserError,
        match=r"unknown key train\.forest\.n_estimator \(did you mean "
        r"train\.forest\.n_estimators\?\); train\.forest\.n_estimators is missing",
    ):
        load_params(path)


def test_generate_cli_refuses_bad_params_and_writes_nothing(tmp_path):
    write_fire_params(tmp_path, {"train.forest.n_estimators": 0, "ensemble.threshold": "max_F1"})
    result = run_module("modelmill.fire.generate", tmp_path)
    assert_one_line_error(
        result,
        "params.yaml: ",
        "train.forest.n_estimators must be >= 1, got 0",
        "ensemble.threshold must be one of max_f1, recall_floor; got 'max_F1'",
    )
    assert not (tmp_path / "data").exists()


def test_stage_before_its_input_says_what_to_run(tmp_path):
    write_fire_params(tmp_path)
    result = run_module("modelmill.fire.split", tmp_path)
    assert_one_line_error(result, "data/samples.csv not found; run the generate stage first (dvc repro)")


def test_train_cli_needs_a_model_name(tmp_path):
    write_fire_params(tmp_path)
    assert_one_line_error(
        run_module("modelmill.fire.train", tmp_path), "usage: python -m modelmill.fire.train {forest,boosting,logistic}"
    )


def test_generate_cli_names_the_bad_cell_and_keeps_the_old_output(tmp_path):
    own = tmp_path / "own.csv"
    rows = [[*(str(20 + j) for j in range(18)), str(i % 2)] for i in range(3)]
    rows[1][0] = "hot"
    own.write_text("\n".join(",".join(r) for r in [[*FEATURES, "fire"], *rows]) + "\n")
    write_fire_params(tmp_path, {"data.source": "csv", "data.csv": "own.csv"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data/samples.csv").write_text("previous\n")
    line = assert_one_line_error(
        run_module("modelmill.fire.generate", tmp_path), "own.csv: row 2 (line 3), t_max_c: 'hot' is not a number"
    )
    assert line.startswith("error: ")
    assert (tmp_path / "data/samples.csv").read_text() == "previous\n"


def test_ensemble_cli_refuses_an_untrusted_model_file(tmp_path):
    write_fire_params(tmp_path, {"data.n_samples": 1000})
    with contextlib.chdir(tmp_path):
        params = load_params()
        make_samples(params.data)
        split_samples(params.split)
    (tmp_path / "models").mkdir()
    sio.dump({"forest": Sneaky()}, tmp_path / "models/forest.skops")
    (tmp_path / "models/ensemble.json").write_text("{}\n")
    line = assert_one_line_error(
        run_module("modelmill.fire.ensemble", tmp_path), "models/forest.skops was refused", "Sneaky"
    )
    assert "trusted" in line
    assert (tmp_path / "models/ensemble.json").read_text() == "{}\n"
    assert not (tmp_path / "models/fire_ensemble.skops").exists()


def test_the_fire_stages_start_without_torch():
    """skops' import walks scikit-learn's torch shim; the fire package marks it absent (seconds a stage)."""
    modules = ("train", "ensemble", "evaluate", "predictor", "artifact")
    code = "import sys\n" + "".join(f"import modelmill.fire.{m}\n" for m in modules) + "print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
