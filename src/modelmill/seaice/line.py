"""The sea-ice line as the factory sees it: pipelines/seaice, three models under their own names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.line import BaselineModule, Line, Model, Modules, ParamsModule, PredictorModule
from .paths import model_file


def _params() -> ParamsModule:
    from . import params

    return params


def _artifact() -> Any:
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
# The change detector answers a per-pixel change map of two dates of a scene; no summary of such
# pairs, nor of its maps, has been defined to compare its traffic with, so it is served unwatched.
UNMONITORED_CHANGE = (
    "the sea-ice line defines no baseline for its change detector (its inputs are pairs of scenes and "
    "its answers per-pixel change maps; no summary of them is defined to compare traffic with)"
)
LINE = Line(
    "seaice",
    Path("pipelines/seaice"),
    (
        Model(MODULES, model_file("classifier"), "classifier"),
        Model(MODULES, model_file("forecaster"), "forecaster"),
        Model(MODULES, model_file("change"), "change", unmonitored=UNMONITORED_CHANGE),
    ),
    # The classifier's, the forecaster's and the change detector's; the gap closed and the
    # ceiling's IoU exist for generated data only (the listing skips what a version lacks).
    headline=("accuracy", "macro_f1", "gap_closed_mean", "model.iou", "ceiling.iou"),
    data_checksum="data_sha256",
)
