"""The factory's model lines: where each one's pipeline lives and what it publishes.

A line publishes one model or several (the sea-ice line: a classifier, a forecaster and a
change detector), each under its own registry name. Each published model is a `Model`: its
file and its publish section, both known without importing any of the line's code, so naming,
listing and finding models (the registry commands, the server's start) never loads a framework.
Two modules of the line's package serve a model, imported only when one is used:

- `<line>.artifact`: what publishing and fetching need (`Artifact`): the model's fields of
  metadata.json and a check of a downloaded copy. A line with several models exports
  `ARTIFACTS`, objects with a `name` each; a line with one model is the module itself.
- `<line>.predictor`: what serving needs (`PredictorModule`): load a file, answer requests.
- `<line>.baseline` (optional): what monitoring compares served traffic to (monitor/baseline.py).

The `publish` section comes from the line's own `params` module (`load_params`, `PARAMS_FILE`),
which imports only the standard library and the core.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .biomass import paths as biomass_paths
from .core.cli import UserError
from .core.config import PublishConfig
from .fire import paths as fire_paths
from .landcover import paths as landcover_paths
from .seaice import paths as seaice_paths


class Artifact(Protocol):
    """What the registry asks of a published model's line (a module, or an object in one)."""

    def describe(self, folder: Path, /) -> dict:
        """The model's fields of metadata.json, read from the line's outputs in `folder` (its
        test metrics None before evaluate has run: a workspace model served locally; publishing
        requires the whole pipeline up to date)."""
        ...

    def check(self, model_path: Path, metadata: dict, folder: Path, /) -> list[str]:
        """Load a downloaded copy safely, predict a little, return lines to print."""
        ...


class Predictor(Protocol):
    """A loaded model answering requests (what the server and batch predict call)."""

    content_types: dict[str, str]  # each accepted content type: what a body of it holds
    id_column: str  # what batch predict names each answer's row by
    metadata: dict  # the version's metadata.json (the server names the answering version from it)

    def decode(self, body: bytes, content_type: str, /) -> Any: ...

    def predict(self, batch: Any, /) -> list[dict]: ...

    def model_info(self) -> dict:
        """What GET /model answers: name, version, input and output."""
        ...

    def batches(self, path: Path, /) -> tuple[int, Iterator[tuple[list[str], Any]]]:
        """How many items `path` holds, and those items in batches with their ids."""
        ...


class PredictorModule(Protocol):
    """A line's `predictor` module."""

    def load(self, model_path: Path, metadata: dict, /) -> Predictor:
        """The model at `model_path`, loaded safely, described by its metadata.json."""
        ...


@dataclass(frozen=True)
class Model:
    """One model a line publishes, named without importing any of its code."""

    package: str  # the line's package: its params, artifact and predictor modules live there
    file: Path  # the file that is the model (its sha256 names the version), relative to the line's folder
    key: str = ""  # its name in a multi-model line's publish section (sea ice: classifier, ...)
    # Files published beside it when the pipeline wrote them (the fire ensemble's ONNX export,
    # which serving loads instead): listed with their sha256 in metadata.json, downloaded and
    # checked with the model, placed in the same folder.
    companions: tuple[Path, ...] = ()

    def publish_config(self, folder: Path) -> PublishConfig:
        params = importlib.import_module(f"{self.package}.params")
        publish = params.load_params(Path(folder) / params.PARAMS_FILE).publish
        return publish.for_model(self.key) if self.key else publish

    def artifact(self) -> Artifact:
        module: Any = importlib.import_module(f"{self.package}.artifact")
        if not self.key:
            return module
        return next(artifact for artifact in module.ARTIFACTS if artifact.name == self.key)

    def baseline(self, folder: Path) -> dict | None:
        """The model's monitoring baseline, from the line's outputs in `folder`, made by the line's
        `baseline` module for this model's `key`; None for a line without that module, or a model
        its module makes none for (the sea-ice change detector)."""
        try:
            module: Any = importlib.import_module(f"{self.package}.baseline")
        except ModuleNotFoundError:
            return None
        return module.baseline(Path(folder), self.key)

    def predictor(self) -> PredictorModule:
        """The module that serves this model; the metadata its `load` takes is what metadata.json
        holds (built by `registry.publish.build_metadata`)."""
        module: Any = importlib.import_module(f"{self.package}.predictor")
        return module


@dataclass(frozen=True)
class Line:
    name: str
    folder: Path  # its dvc.yaml, params.yaml and outputs, relative to the project root
    models: tuple[Model, ...]

    @property
    def dvcfile(self) -> Path:
        return self.folder / "dvc.yaml"

    def make(self, target: str) -> str:
        """The make command that runs `target` for this line, as a user would type it."""
        return f"make {target}" if self.name == DEFAULT else f"make {target} PIPELINE={self.name}"

    def model(self) -> Model:
        """The line's model, for a line that publishes one."""
        if len(self.models) != 1:
            raise ValueError(f"the {self.name} line publishes {len(self.models)} models; pick one of models")
        return self.models[0]

    def model_named(self, file_name: str) -> Model:
        """The model whose file is called `file_name` (what a registry key ends with)."""
        for model in self.models:
            if model.file.name == file_name:
                return model
        raise UserError(f"the {self.name} line publishes no model file named {file_name!r}")


LINES = {
    "landcover": Line("landcover", Path("."), (Model("modelmill.landcover", landcover_paths.MODEL_FILE),)),
    "fire": Line(
        "fire",
        Path("pipelines/fire"),
        (Model("modelmill.fire", fire_paths.ENSEMBLE_FILE, companions=(fire_paths.ONNX_FILE,)),),
    ),
    "seaice": Line(
        "seaice",
        Path("pipelines/seaice"),
        tuple(Model("modelmill.seaice", seaice_paths.model_file(name), name) for name in seaice_paths.MODELS),
    ),
    "biomass": Line("biomass", Path("pipelines/biomass"), (Model("modelmill.biomass", biomass_paths.MODEL_FILE),)),
}
DEFAULT = "landcover"

if TYPE_CHECKING:  # the type check (make lint) holds every line's modules to the two interfaces
    from .biomass import artifact as _biomass_artifact
    from .biomass import predictor as _biomass_predictor
    from .fire import artifact as _fire_artifact
    from .fire import predictor as _fire_predictor
    from .landcover import artifact as _landcover_artifact
    from .landcover import predictor as _landcover_predictor
    from .seaice import artifact as _seaice_artifact
    from .seaice import predictor as _seaice_predictor

    _ARTIFACTS: tuple[Artifact, ...] = (
        _landcover_artifact,
        _fire_artifact,
        *_seaice_artifact.ARTIFACTS,
        _biomass_artifact,
    )
    _PREDICTORS: tuple[PredictorModule, ...] = (
        _landcover_predictor,
        _fire_predictor,
        _seaice_predictor,
        _biomass_predictor,
    )


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
