"""The over-the-room step's columns (its ONNX conversion and what skops trusts it with: test_onnx.py)."""

import numpy as np

from modelmill.fire.features import FEATURES
from modelmill.fire.over_room import BACKGROUND, READINGS, transformer
from modelmill.fire.simulate import generate


def test_the_columns_are_the_features_then_each_reading_over_the_background():
    table = generate(50, seed=5)
    out = transformer().fit_transform(table.x)
    assert out.shape == (50, len(FEATURES) + len(READINGS))
    assert np.array_equal(out[:, : len(FEATURES)], table.x)
    # In float32, as the ONNX export subtracts them.
    background = table.x[:, FEATURES.index(BACKGROUND)].astype(np.float32)
    for i, name in enumerate(READINGS):
        expected = table.x[:, FEATURES.index(name)].astype(np.float32) - background
        assert np.array_equal(out[:, len(FEATURES) + i], expected), name
