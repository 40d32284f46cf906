"""Temperatures over the room: four columns each model adds to the 18 features (`train.features: over_room`).

A fire is hot for its room, not in absolute terms: the simulator's p(fire) reads the hot source's
excess over the background, and so would any detector a person wrote. A tree splits one column at
a time, so it can only approximate t_max_c - t_background_c with a staircase of splits on both
columns, a staircase each tree must learn again from noisy labels. Given the differences as columns
of their own, one split each does. The difference is taken inside the model, as the first step of
each member's pipeline, so the published model still takes the 18 features and nothing else
changes for a caller:

    Pipeline([("over_room", ColumnTransformer([("features", "passthrough", [0 .. 17]),
                                                ("t_max_c_over_room", FunctionTransformer(np.diff), [bg, t_max]),
                                                ...])),
              *the member's own steps])

np.diff of the two columns (background, reading) is reading - background, and keeps the file plain
scikit-learn + numpy for skops (`numpy.diff` is the one function it is trusted to load). skl2onnx
converts a FunctionTransformer only without a function: `register_onnx_converter` teaches it this
one (a Sub of the two columns), and leaves every other FunctionTransformer to skl2onnx's own rule.
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from .features import FEATURES

BACKGROUND = "t_background_c"
READINGS = ("t_max_c", "t_p95_c", "t_mean_c", "scd41_temperature_c")  # each taken over BACKGROUND
STEP = "over_room"
TRUSTED_FUNCTIONS = ("numpy.diff", "numpy.float32")


def transformer() -> ColumnTransformer:
    index = {name: i for i, name in enumerate(FEATURES)}
    return ColumnTransformer(
        [
            ("features", "passthrough", list(range(len(FEATURES)))),
            *((f"{name}_over_room", difference(), [index[BACKGROUND], index[name]]) for name in READINGS),
        ]
    )


def difference() -> Pipeline:
    """The second column minus the first, both rounded to float32 first: the numbers the ONNX
    export (float32 input) subtracts, to the bit. Taken in float64 instead, a difference a hair
    from one of boosting's split points lands on the other side of it in ONNX Runtime (seen on 1
    of 15,000 val rows: p(fire) 3.5e-4 apart)."""
    return Pipeline([("float32", FunctionTransformer(np.float32)), ("diff", FunctionTransformer(np.diff))])


def with_over_room(model):
    """`model` (an estimator or a Pipeline) behind the over-the-room step, as one flat Pipeline."""
    steps = model.steps if isinstance(model, Pipeline) else [(type(model).__name__.lower(), model)]
    return Pipeline([(STEP, transformer()), *steps])


def final_estimator(model):
    """The estimator at the end of `model` (itself when it is no Pipeline)."""
    return model[-1] if isinstance(model, Pipeline) else model


@functools.cache
def register_onnx_converter() -> None:
    """Let skl2onnx convert FunctionTransformer(np.float32) and FunctionTransformer(np.diff) on two
    columns (see `difference`); once per process."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.operator_converters.function_transformer import convert_sklearn_function_transformer
    from skl2onnx.shape_calculators.function_transformer import (
        calculate_sklearn_function_transformer_output_shapes,
    )

    def shape(operator) -> None:
        func = operator.raw_operator.func
        if func is None:
            return calculate_sklearn_function_transformer_output_shapes(operator)
        _require_known(operator)
        width = 1 if func is np.diff else operator.inputs[0].type.shape[1]
        operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])

    def convert(scope, operator, container) -> None:
        func = operator.raw_operator.func
        if func is None:
            return convert_sklearn_function_transformer(scope, operator, container)
        _require_known(operator)
        if func is np.float32:
            container.add_node(
                "Cast",
                operator.inputs[0].full_name,
                operator.outputs[0].full_name,
                to=1,  # 1: FLOAT
                name=scope.get_unique_operator_name("Cast"),
            )
            return
        columns = []
        for i in (0, 1):
            index = scope.get_unique_variable_name(f"column{i}")
            container.add_initializer(index, 7, [1], [i])  # 7: INT64
            columns.append(scope.get_unique_variable_name(f"column{i}_values"))
            container.add_node(
                "Gather",
                [operator.inputs[0].full_name, index],
                columns[-1],
                axis=1,
                name=scope.get_unique_operator_name("Gather"),
            )
        container.add_node(
            "Sub", [columns[1], columns[0]], operator.outputs[0].full_name, name=scope.get_unique_operator_name("Sub")
        )

    update_registered_converter(FunctionTransformer, "SklearnFunctionTransformer", shape, convert, overwrite=True)


def _require_known(operator) -> None:
    func, width = operator.raw_operator.func, operator.inputs[0].type.shape[1]
    if len(operator.inputs) != 1 or not (func is np.float32 or (func is np.diff and width == 2)):
        raise RuntimeError(
            f"only FunctionTransformer(np.float32) and FunctionTransformer(np.diff) on two columns convert "
            f"to ONNX here (got func {func!r} on {width} columns)"
        )
