"""What a model line is to the rest of the factory: its folder, the models it publishes and its code,
behind typed interfaces. Each line declares one `Line` in its own `line.py`; `modelmill.lines`
lists them. The registry, the server and the monitor reach a line only through these.

A line's code is imported only when a model is used (`Modules`: one loader per module, each an
explicit import the type check follows), so naming, listing and finding models reads params files
and never loads a framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .cli import UserError
from .config import PublishConfig
from .summaries import Summaries


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

    def figures(self, folder: Path, /) -> dict[str, bytes]:
        """{file name ending .png: PNG bytes} of the figures people look at for this model (a
        confusion matrix, curves, the panels a stage drew), made from the line's outputs in
        `folder` at publish time (core/charts.py), the same bytes for the same outputs. A figure
        whose input is missing is left out, said once on stderr: never an error."""
        ...


class Predictor(Protocol):
    """A loaded model answering requests (what the server and batch predict call)."""

    content_types: dict[str, str]  # each accepted content type: what a body of it holds
    id_column: str  # what batch predict names each answer's row by
    metadata: dict  # the version's metadata.json (the server names the answering version from it)

    @property
    def summaries(self) -> Summaries | None:
        """How monitoring summarises its decoded batches and answers; None: the model is not
        monitored (its line says why: Model.unmonitored)."""
        ...

    def decode(self, body: bytes, content_type: str, /) -> Any: ...

    def encode(self, batch: Any, content_type: str, /) -> bytes:
        """A request body of `content_type` holding `batch` (what `decode` gives) as a client
        would send it; the first item alone for a type that holds one (an image file)."""
        ...

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


class BaselineModule(Protocol):
    """A line's `baseline` module: what monitoring compares a model's traffic to."""

    def baseline(self, folder: Path, key: str = "", /) -> dict | None:
        """baseline.json of the model `key` ("" for a line's only one) from the line's outputs in
        `folder` (core/baseline.py's format); None for a model that has none."""
        ...

    def reference_inputs(self, folder: Path, key: str = "", /) -> Any:
        """A batch of model `key`'s inputs from the line's outputs in `folder`, as its predictor's
        decode gives them; for a monitored model, what its baseline describes, so that traffic
        like this never reads as drift."""
        ...


class ParamsModule(Protocol):
    """A line's `params` module (standard library and core only: finding a model reads it)."""

    PARAMS_FILE: Path

    def load_params(self, path: Path, /) -> Any: ...


@dataclass(frozen=True)
class Modules:
    """A line's code, each module imported by its loader when first needed."""

    params: Callable[[], ParamsModule]
    artifact: Callable[[], Any]  # the Artifact module, or one exporting ARTIFACTS (one per model)
    predictor: Callable[[], PredictorModule]
    baseline: Callable[[], BaselineModule]
    # What writes the line's example inputs into a folder: {model key: the files written for it}.
    examples: Callable[[], Callable[[Path], dict[str, list[Path]]]]


@dataclass(frozen=True)
class Model:
    """One model a line publishes, named without importing any of its code."""

    modules: Modules
    file: Path  # the file that is the model (its sha256 names the version), relative to the line's folder
    key: str = ""  # its name in a multi-model line's publish section (sea ice: classifier, ...)
    # Files published beside it when the pipeline wrote them (the fire ensemble's ONNX export,
    # which serving loads instead): listed with their sha256 in metadata.json, downloaded and
    # checked with the model, placed in the same folder.
    companions: tuple[Path, ...] = ()
    unmonitored: str = ""  # why the model has no baseline and no monitor ("": it has both)

    def publish_config(self, folder: Path) -> PublishConfig:
        params = self.modules.params()
        publish = params.load_params(Path(folder) / params.PARAMS_FILE).publish
        return publish.for_model(self.key) if self.key else publish

    def artifact(self) -> Artifact:
        module: Any = self.modules.artifact()
        if not self.key:
            return module
        return next(artifact for artifact in module.ARTIFACTS if artifact.name == self.key)

    def baseline(self, folder: Path) -> dict | None:
        """The model's monitoring baseline, from the line's outputs in `folder`; None for a model
        its line makes none for (`unmonitored` says why)."""
        if self.unmonitored:
            return None
        return self.modules.baseline().baseline(Path(folder), self.key)

    def predictor(self) -> PredictorModule:
        """The module that serves this model; the metadata its `load` takes is what metadata.json
        holds (built by `registry.publish.build_metadata`)."""
        return self.modules.predictor()


@dataclass(frozen=True)
class Line:
    name: str
    folder: Path  # its dvc.yaml, params.yaml and outputs, relative to the project root
    models: tuple[Model, ...]
    # The few test metrics each version is judged by in listings: dotted paths into its test_metrics.
    headline: tuple[str, ...]
    # Where metadata.json holds the sha256 of the data a version was trained on (a dotted path).
    data_checksum: str
    default: bool = False  # the root line, which make targets name without PIPELINE=

    @property
    def dvcfile(self) -> Path:
        return self.folder / "dvc.yaml"

    def make(self, target: str) -> str:
        """The make command that runs `target` for this line, as a user would type it."""
        return f"make {target}" if self.default else f"make {target} PIPELINE={self.name}"

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

    def model_keyed(self, key: str = "") -> Model:
        """The model called `key` in the line's params ("": its first)."""
        if not key:
            return self.models[0]
        for model in self.models:
            if model.key == key:
                return model
        keys = ", ".join(m.key for m in self.models)
        raise UserError(f"the {self.name} line publishes no model {key!r}; one of {keys}")

    def examples(self, dest: Path) -> dict[str, list[Path]]:
        """Write the line's example inputs into `dest`: {model key: its files}, one at least each."""
        return self.models[0].modules.examples()(Path(dest))
