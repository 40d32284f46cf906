"""The fire line as the factory sees it: pipelines/fire, one ensemble (its ONNX export beside it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.line import Artifact, BaselineModule, Line, Model, Modules, ParamsModule, PredictorModule
from .paths import ENSEMBLE_FILE, ONNX_FILE


def _params() -> ParamsModule:
    from . import params

    return params


def _artifact() -> Artifact:
    from . import artifact

    return artifact


def _predictor() -> PredictorModule:
    from . import predictor

    return predictor


def _baseline() -> BaselineModule:
    from . import baseline

    return baseline


def _examples() -> Callable[[Path], dict[str, list[Path]]]:
    from .examples import write_examples

    return write_examples


MODULES = Modules(_params, _artifact, _predictor, _baseline, _examples)
LINE = Line(
    "fire",
    Path("pipelines/fire"),
    (Model(MODULES, ENSEMBLE_FILE, companions=(ONNX_FILE,)),),
    headline=("ensemble.roc_auc", "ensemble.f1"),
    data_checksum="data_sha256",
)
