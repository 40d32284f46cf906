"""The fire ensemble's ONNX export: written by the ensemble stage, checked against scikit-learn, served."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, SRC, edit_yaml
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from modelmill.core.cli import UserError
from modelmill.fire import artifact, onnx_export
from modelmill.fire.features import read_split
from modelmill.fire.models import build_model, combine, fit, load_model, predict_fire, save_model, with_threshold
from modelmill.fire.over_room import final_estimator
from modelmill.fire.params import MODEL_NAMES, load_params
from modelmill.fire.paths import ENSEMBLE_CARD, ENSEMBLE_FILE, ONNX_FILE
from modelmill.fire.predictor import load as predictor_load
from modelmill.fire.simulate import generate


@pytest.fixture(scope="module")
def line(fire_project) -> Path:
    """The session's fire line, after dvc repro (read only: other tests share it)."""
    return fire_project / "pipelines/fire"


def test_the_export_agrees_with_scikit_learn_on_the_test_split(line):
    ensemble = load_model(line / ENSEMBLE_FILE)
    test = read_split(line / "data/split", "test")
    p_onnx = onnx_export.fire_probability(onnx_export.session(line / ONNX_FILE), test.x)
    p_sklearn = predict_fire(ensemble, test.x)
    assert np.abs(p_onnx - p_sklearn).max() <= 1e-5
    assert np.array_equal(p_onnx >= ensemble.threshold, p_sklearn >= ensemble.threshold)
    card = json.loads((line / ENSEMBLE_CARD).read_text())
    assert card["onnx"]["file"] == ONNX_FILE.name and card["onnx"]["opset"]["ai.onnx"] == 21
    assert 0 <= card["onnx"]["val_max_abs_diff"] <= 1e-5
    lock = (line / "dvc.lock").read_text()
    assert "path: models/fire_ensemble.onnx" in lock  # a DVC output: pushed, pulled and cached with the model


CONVERT = """
import sys
from modelmill.fire.models import load_model
from modelmill.fire.onnx_export import to_onnx
sys.stdout.buffer.write(to_onnx(load_model(sys.argv[1])))
"""


def test_the_export_is_deterministic(line):
    """The same model converts to the same bytes in every fresh process, as the pipeline's own did:
    what a DVC rerun relies on. (Fresh processes, hash seeds apart: this test's own process has run
    other tests' conversions, and a CI run once saw its bytes differ from the pipeline's.)"""
    converted = [
        subprocess.run(
            [sys.executable, "-c", CONVERT, str(line / ENSEMBLE_FILE)],
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2)
    ]
    assert converted[0] == converted[1] == (line / ONNX_FILE).read_bytes()


def test_the_export_refuses_a_model_that_disagrees(line, tmp_path):
    """Checked against another model's p(fire) (the forest alone), the ensemble's export is refused,
    with one line naming the worst row, and nothing is written."""
    ensemble, forest = load_model(line / ENSEMBLE_FILE), load_model(line / "models/forest.skops")
    val = read_split(line / "data/split", "val")
    dest = tmp_path / ONNX_FILE.name
    with pytest.raises(UserError) as caught:
        onnx_export.export(ensemble, val.x, predict_fire(forest, val.x), dest)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(
        "fire_ensemble.onnx refused (nothing written), validation split: "
    )
    assert "differs from scikit-learn's by up to" in message and "(row " in message
    assert not dest.exists() and not list(tmp_path.iterdir())


def test_a_decision_that_flips_at_the_threshold_is_refused(line):
    """Probabilities within the tolerance, but a threshold between the two runtimes' p(fire) of
    one row: its decisions differ, and that alone refuses the export."""
    ensemble = load_model(line / ENSEMBLE_FILE)
    val = read_split(line / "data/split", "val")
    p_onnx = onnx_export.fire_probability(onnx_export.session(line / ONNX_FILE), val.x)
    p_sklearn = predict_fire(ensemble, val.x)
    row = int(np.argmax(np.abs(p_onnx - p_sklearn)))
    assert 0 < abs(p_onnx[row] - p_sklearn[row]) <= onnx_export.TOLERANCE
    between = (p_onnx[row] + p_sklearn[row]) / 2
    assert onnx_export.require_agreement(p_onnx, p_sklearn, float(ensemble.threshold), "val") > 0
    with pytest.raises(UserError, match=rf"val: 1 of {len(val)} decisions at threshold .* differ .*\(row {row + 1}:"):
        onnx_export.require_agreement(p_onnx, p_sklearn, between, "val")


def tiny_ensemble(tmp_path: Path, variant: str, rows: int = 400, features: str = "over_room"):
    """The three models fitted on a few hundred simulated rows, in the published ensemble."""
    params = edit_yaml(
        tmp_path / "params.yaml",
        {
            "train.features": features,
            "train.boosting.variant": variant,
            "train.boosting.n_estimators": 20,
            "train.forest.n_estimators": 10,
            "train.forest.n_jobs": 1,
        },
        source=REPO / "pipelines/fire/params.yaml",
    )
    cfg = load_params(params).train
    train, val = generate(rows, seed=1), generate(rows, seed=2)
    models = {name: fit(build_model(name, cfg), train.x, train.y) for name in MODEL_NAMES}
    voting = combine(models, {"forest": 0.3, "boosting": 0.5, "logistic": 0.2}, val.x, val.y)
    return with_threshold(voting, 0.45, val.x, val.y), val


def test_classic_gradient_boosting_converts(tmp_path):
    ensemble, val = tiny_ensemble(tmp_path, "classic")
    boosting = ensemble.estimator_.estimator.named_estimators_["boosting"].estimator
    assert type(final_estimator(boosting)).__name__ == "GradientBoostingClassifier"
    provenance = onnx_export.export(ensemble, val.x, predict_fire(ensemble, val.x), tmp_path / ONNX_FILE.name)
    assert provenance["val_max_abs_diff"] <= 1e-5 and (tmp_path / ONNX_FILE.name).is_file()
    other = generate(300, seed=3)
    p_onnx = onnx_export.fire_probability(onnx_export.session(tmp_path / ONNX_FILE.name), other.x)
    assert np.abs(p_onnx - predict_fire(ensemble, other.x)).max() <= 1e-5


@pytest.mark.parametrize("features", ["over_room", "raw"])
def test_either_setting_saves_loads_and_converts_to_onnx_with_the_same_answers(tmp_path, features):
    ensemble, val = tiny_ensemble(tmp_path, "hist", features=features)
    for name, member in ensemble.estimator_.estimator.named_estimators_.items():
        first = member.estimator.steps[0][0] if isinstance(member.estimator, Pipeline) else None
        assert (first == "over_room") == (features == "over_room"), name
    save_model(ensemble, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    assert np.array_equal(predict_fire(loaded, val.x), predict_fire(ensemble, val.x))
    provenance = onnx_export.export(ensemble, val.x, predict_fire(ensemble, val.x), tmp_path / "model.onnx")
    assert provenance["val_max_abs_diff"] <= onnx_export.TOLERANCE
    other = generate(300, seed=3)
    p_onnx = onnx_export.fire_probability(onnx_export.session(tmp_path / "model.onnx"), other.x)
    assert np.abs(p_onnx - predict_fire(ensemble, other.x)).max() <= onnx_export.TOLERANCE


def test_a_member_calling_another_numpy_function_is_refused_on_load(tmp_path):
    """numpy.diff is trusted, not numpy as a whole: a file whose step calls np.cumsum does not load."""
    ensemble, val = tiny_ensemble(tmp_path, "hist")
    boosting = ensemble.estimator_.estimator.named_estimators_["boosting"].estimator
    boosting.named_steps["over_room"].transformers_[1][1].named_steps["diff"].func = np.cumsum
    save_model(ensemble, tmp_path / "model.skops")
    with pytest.raises(UserError, match=r"refused: it holds type\(s\) outside the trusted list: numpy.cumsum"):
        load_model(tmp_path / "model.skops")


def test_only_the_difference_converts_to_onnx(tmp_path):
    ensemble, val = tiny_ensemble(tmp_path, "hist")
    boosting = ensemble.estimator_.estimator.named_estimators_["boosting"].estimator
    boosting.named_steps["over_room"].transformers_[1] = ("t_max_c_over_room", FunctionTransformer(np.log), [4, 0])
    with pytest.raises(
        RuntimeError,
        match="only FunctionTransformer\\(np.float32\\) and FunctionTransformer\\(np.diff\\) on two columns convert",
    ):
        onnx_export.to_onnx(ensemble)


def served(line: Path, folder: Path, with_export: bool):
    """The line's published files as a download leaves them: the model, and its export beside it or not."""
    folder.mkdir()
    shutil.copy(line / ENSEMBLE_FILE, folder / ENSEMBLE_FILE.name)
    if with_export:
        shutil.copy(line / ONNX_FILE, folder / ONNX_FILE.name)
    return predictor_load(folder / ENSEMBLE_FILE.name, artifact.describe(line))


def test_the_predictor_answers_the_same_with_and_without_the_export(line, tmp_path):
    onnx, sklearn = served(line, tmp_path / "onnx", True), served(line, tmp_path / "skops", False)
    assert onnx.model_info()["runtime"].startswith("onnxruntime ")
    assert sklearn.model_info()["runtime"].startswith("scikit-learn ")
    test = read_split(line / "data/split", "test")
    got, expected = onnx.predict(test.x), sklearn.predict(test.x)
    assert [a["fire"] for a in got] == [b["fire"] for b in expected]
    assert all(type(a["fire_probability"]) is float and type(a["fire"]) is bool for a in got)
    assert np.allclose([a["fire_probability"] for a in got], [b["fire_probability"] for b in expected], atol=1e-5)
    assert onnx.predict(test.x[:1]) == got[:1]  # one row, as a request sends it


def test_the_predictor_refuses_an_export_from_another_run(line, tmp_path):
    folder = tmp_path / "model"
    served(line, folder, False)
    other, val = tiny_ensemble(tmp_path, "hist")
    onnx_export.export(other, val.x, predict_fire(other, val.x), folder / ONNX_FILE.name)
    with pytest.raises(UserError, match="the two files are from different runs"):
        predictor_load(folder / ENSEMBLE_FILE.name, artifact.describe(line))
    (folder / ONNX_FILE.name).write_bytes(b"not onnx")
    with pytest.raises(UserError, match="fire_ensemble.onnx is not a readable ONNX model"):
        predictor_load(folder / ENSEMBLE_FILE.name, artifact.describe(line))


def test_the_artifact_describes_and_checks_the_export(line, tmp_path):
    meta = artifact.describe(line)
    assert meta["serving_format"] == "onnx" and meta["onnx"]["file"] == ONNX_FILE.name
    assert {"opset", "skl2onnx", "onnxruntime"} <= set(meta["onnx"])
    report = artifact.check(line / ENSEMBLE_FILE, meta, line)
    assert "fire_ensemble.onnx (onnxruntime " in report[-1] and "the same decisions" in report[-1]
    bare = tmp_path / "line"  # the line's files without the export: an older version
    shutil.copytree(line, bare, ignore=shutil.ignore_patterns(ONNX_FILE.name, ".dvc", ".git"))
    assert "onnx" not in artifact.describe(bare) and "serving_format" not in artifact.describe(bare)
    assert not any(".onnx" in text for text in artifact.check(bare / ENSEMBLE_FILE, meta, bare))


SERVE = """
import sys
from pathlib import Path
from modelmill.fire import predictor
p = predictor.load(Path(sys.argv[1]), {})
p.predict(p.decode(b"[" + b",".join([b"0.5"] * 18) + b"]", "application/json"))
print(p.runtime.split()[0], *(name in sys.modules for name in ("torch", "skl2onnx", "onnx")))
"""


def test_serving_the_export_imports_neither_torch_nor_the_converter(line):
    result = subprocess.run(
        [sys.executable, "-c", SERVE, str(line / ENSEMBLE_FILE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["onnxruntime", "False", "False", "False"]
