"""The over-the-room step: its columns, its ONNX conversion and what skops trusts it with."""

import numpy as np
import pytest
from conftest import REPO, edit_yaml
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from modelmill.core.cli import UserError
from modelmill.fire import onnx_export
from modelmill.fire.features import FEATURES
from modelmill.fire.models import build_model, combine, fit, load_model, predict_fire, save_model, with_threshold
from modelmill.fire.over_room import BACKGROUND, READINGS, column_names, transformer
from modelmill.fire.params import MODEL_NAMES, load_params
from modelmill.fire.simulate import generate


def test_the_columns_are_the_features_then_each_reading_over_the_background():
    table = generate(50, seed=5)
    out = transformer().fit_transform(table.x)
    assert out.shape == (50, len(FEATURES) + len(READINGS)) == (50, len(column_names()))
    assert np.array_equal(out[:, : len(FEATURES)], table.x)
    # In float32, as the ONNX export subtracts them.
    background = table.x[:, FEATURES.index(BACKGROUND)].astype(np.float32)
    for i, name in enumerate(READINGS):
        expected = table.x[:, FEATURES.index(name)].astype(np.float32) - background
        assert np.array_equal(out[:, len(FEATURES) + i], expected), name


def ensemble_for(tmp_path, features: str):
    params = edit_yaml(
        tmp_path / "params.yaml",
        {
            "train.features": features,
            "train.boosting.n_estimators": 30,
            "train.forest.n_estimators": 10,
            "train.forest.n_jobs": 1,
        },
        source=REPO / "pipelines/fire/params.yaml",
    )
    cfg = load_params(params).train
    train, val = generate(600, seed=1), generate(400, seed=2)
    models = {name: fit(build_model(name, cfg), train.x, train.y) for name in MODEL_NAMES}
    voting = combine(models, {"forest": 0.3, "boosting": 0.5, "logistic": 0.2}, val.x, val.y)
    return with_threshold(voting, 0.45, val.x, val.y), val


@pytest.mark.parametrize("features", ["over_room", "raw"])
def test_either_setting_saves_loads_and_converts_to_onnx_with_the_same_answers(tmp_path, features):
    ensemble, val = ensemble_for(tmp_path, features)
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
    ensemble, val = ensemble_for(tmp_path, "over_room")
    boosting = ensemble.estimator_.estimator.named_estimators_["boosting"].estimator
    boosting.named_steps["over_room"].transformers_[1][1].named_steps["diff"].func = np.cumsum
    save_model(ensemble, tmp_path / "model.skops")
    with pytest.raises(UserError, match=r"refused: it holds type\(s\) outside the trusted list: numpy.cumsum"):
        load_model(tmp_path / "model.skops")


def test_only_the_difference_converts_to_onnx(tmp_path):
    ensemble, val = ensemble_for(tmp_path, "over_room")
    boosting = ensemble.estimator_.estimator.named_estimators_["boosting"].estimator
    boosting.named_steps["over_room"].transformers_[1] = ("t_max_c_over_room", FunctionTransformer(np.log), [4, 0])
    with pytest.raises(
        RuntimeError,
        match="only FunctionTransformer\\(np.float32\\) and FunctionTransformer\\(np.diff\\) on two columns convert",
    ):
        onnx_export.to_onnx(ensemble)
