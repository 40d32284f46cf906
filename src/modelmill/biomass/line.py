"""The biomass line as the factory sees it: pipelines/biomass, one ResNet18 regressor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.line import Artifact, BaselineModule, Line, Model, Modules, ParamsModule, PredictorModule
from .paths import MODEL_FILE


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
    "biomass",
    Path("pipelines/biomass"),
    (Model(MODULES, MODEL_FILE),),
    headline=("model.rmse_g", "model.r2", "rmse_ratio_to_baseline", "rmse_over_floor"),  # the last: synthetic data only
    data_checksum="data.sheet_sha256",
)
