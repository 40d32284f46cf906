"""The factory's model lines: where each one's pipeline lives and what it publishes.

A line publishes one model or several (the sea-ice line: a classifier, a forecaster and a
change detector), each under its own registry name. Each is described by an artifact: a
module, or an object in one, that answers what the registry needs and nothing else:
`MODEL_FILE` (the one file published, relative to the line's folder),
`publish_config(folder)` (its publish section, model name included), `describe(folder)` (its
fields of metadata.json) and `check(model_path, metadata, folder)` (load a downloaded copy
safely, predict a little, return lines to print). The `predictor` module beside an artifact's
serves it. A module that exports `ARTIFACTS`
(a tuple of such objects) stands for all of them. Artifacts are imported only when asked
for, so publishing one line never loads another line's framework.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .core.cli import UserError


@dataclass(frozen=True)
class Line:
    name: str
    folder: Path  # its dvc.yaml, params.yaml and outputs, relative to the project root
    artifact_specs: tuple[str, ...]  # "package.module" (its ARTIFACTS, or itself) or "package.module:NAME"

    @property
    def dvcfile(self) -> Path:
        return self.folder / "dvc.yaml"

    def make(self, target: str) -> str:
        """The make command that runs `target` for this line, as a user would type it."""
        return f"make {target}" if self.name == DEFAULT else f"make {target} PIPELINE={self.name}"

    def artifacts(self) -> list[object]:
        """One artifact per model the line publishes."""
        return [artifact for spec in self.artifact_specs for artifact in _resolve(spec)]

    def artifact(self) -> object:
        """The line's artifact, for a line that publishes one model."""
        found = self.artifacts()
        if len(found) != 1:
            raise ValueError(f"the {self.name} line publishes {len(found)} models; pick one of artifacts()")
        return found[0]

    def artifact_named(self, file_name: str) -> object:
        """The artifact whose model file is called `file_name` (what a registry key ends with)."""
        for artifact in self.artifacts():
            if Path(artifact.MODEL_FILE).name == file_name:
                return artifact
        raise UserError(f"the {self.name} line publishes no model file named {file_name!r}")


def _resolve(spec: str) -> tuple[object, ...]:
    module, _, name = spec.partition(":")
    found = importlib.import_module(module)
    if name:
        return (getattr(found, name),)
    return tuple(getattr(found, "ARTIFACTS", (found,)))


def predictor_module(artifact: object) -> ModuleType:
    """The module that serves `artifact`: the `predictor` module beside the artifact's."""
    own = artifact.__name__ if isinstance(artifact, ModuleType) else type(artifact).__module__
    return importlib.import_module(own.rpartition(".")[0] + ".predictor")


LINES = {
    "landcover": Line("landcover", Path("."), ("modelmill.landcover.artifact",)),
    "fire": Line("fire", Path("pipelines/fire"), ("modelmill.fire.artifact",)),
    "seaice": Line("seaice", Path("pipelines/seaice"), ("modelmill.seaice.artifact",)),  # its ARTIFACTS: 3 models
    "biomass": Line("biomass", Path("pipelines/biomass"), ("modelmill.biomass.artifact",)),
}
DEFAULT = "landcover"


def get(name: str | None) -> Line:
    if not name:
        return LINES[DEFAULT]
    try:
        return LINES[name]
    except KeyError:
        raise UserError(f"unknown pipeline {name!r}; choose one of {', '.join(LINES)}") from None


def add_argument(parser) -> None:
    """`--pipeline NAME` for the commands that act on one line (default: the EuroSAT line)."""
    parser.add_argument(
        "--pipeline", default=DEFAULT, type=get, metavar="|".join(LINES), help=f"the model line (default: {DEFAULT})"
    )
