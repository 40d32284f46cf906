"""The factory's model lines: each one a package that declares itself in its own `line.py`
(`core/line.py` says what a line provides), listed here once.

A new line is its package (params, stages, artifact, predictor, baseline, examples and line.py),
its `pipelines/<line>/` folder and one entry in LINES; `tests/test_contract.py` checks that it
provides every capability.

Importing this module reads no params file and loads no framework: a line's code is imported when
one of its models is used.
"""

from __future__ import annotations

from .biomass.line import LINE as BIOMASS
from .core.cli import UserError
from .core.line import Artifact, BaselineModule, Line, Model, Predictor, PredictorModule
from .fire.line import LINE as FIRE
from .landcover.line import LINE as LANDCOVER
from .seaice.line import LINE as SEAICE

__all__ = ["LINES", "DEFAULT", "Artifact", "BaselineModule", "Line", "Model", "Predictor", "PredictorModule"]

LINES: dict[str, Line] = {line.name: line for line in (LANDCOVER, FIRE, SEAICE, BIOMASS)}
DEFAULT = next(line.name for line in LINES.values() if line.default)


def get(name: str | None) -> Line:
    if not name:
        return LINES[DEFAULT]
    try:
        return LINES[name]
    except KeyError:
        raise UserError(f"unknown pipeline {name!r}; choose one of {', '.join(LINES)}") from None


def add_argument(parser) -> None:
    """`--pipeline NAME` for the commands that act on one line (default: the land-cover line)."""
    parser.add_argument(
        "--pipeline", default=DEFAULT, type=get, metavar="|".join(LINES), help=f"the model line (default: {DEFAULT})"
    )
