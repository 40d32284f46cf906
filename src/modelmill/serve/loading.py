"""Which line publishes a model name, and one of its versions loaded, checked, into that line's predictor.

Three places a model can come from, tried in this order:
- a model folder (SageMaker mounts the model's files at /opt/ml/model) that holds
  metadata.json, the model file and its companions: used as is, after checking each sha256;
- `--source local`: the workspace's own pipeline outputs (what `make publish` would upload);
- the registry (default): the version's objects from the private bucket, checked against
  its metadata.json (`registry.fetch.download_version`).

`locate` finds and checks the files; `Located.load` loads them (in each worker process).

Every failure is a UserError raised before anything serves: a model is loaded whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import lines
from ..core.baseline import stamp
from ..core.cli import UserError
from ..core.io import file_digest
from ..lines import Line, Model, Predictor
from ..registry.fetch import download_version
from ..registry.find import find_line, published_names
from ..registry.publish import build_metadata
from ..registry.store import METADATA_OBJECT, Registry, parse_version, version_files
from .watch import baseline_beside

SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")


@dataclass(frozen=True)
class Located:
    """A version's files, checked against its metadata.json, on this machine: what a server
    process (each of several workers) loads."""

    model_path: Path  # its companions, if any, lie in the same folder
    metadata: dict
    line: Line
    model: Model
    source: str  # where the model came from, for the start-up line
    registry: Registry | None = None  # the registry it came from (None: a workspace or model folder)
    baseline: dict | None = None  # what monitoring compares its traffic to (None: the version has none)

    def load(self) -> Predictor:
        return self.model.predictor().load(self.model_path, self.metadata)


@dataclass(frozen=True)
class Loaded:
    predictor: Predictor
    line: Line
    source: str  # where the model came from, for the start-up line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="the registry model name: a line's publish.model_name (or MODEL_NAME), "
        "e.g. eurosat-resnet18, fire-ensemble",
    )
    parser.add_argument(
        "--version",
        default="latest",
        metavar="vN|latest|ALIAS",
        help="the version to load, or an alias naming it, e.g. production (default: latest)",
    )
    parser.add_argument(
        "--source",
        choices=("registry", "local"),
        default="registry",
        help="registry (default): the private bucket; local: this workspace's pipeline outputs",
    )
    parser.add_argument(
        "--pipeline",
        choices=list(lines.LINES),
        help="the line, needed only when several lines publish under --model's name",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=SAGEMAKER_MODEL_DIR,
        help=f"a folder with metadata.json and the model file; when it exists it is used instead "
        f"of the registry (default: {SAGEMAKER_MODEL_DIR}, where SageMaker mounts the model)",
    )


def load(args: argparse.Namespace, repo: str | Path = ".") -> Loaded:
    """The model `args` name, loaded (its files, when downloaded, are not kept)."""
    with tempfile.TemporaryDirectory(prefix="modelmill-serve-") as tmp:
        located = locate(args, tmp, repo)
        return Loaded(located.load(), located.line, located.source)


def locate(args: argparse.Namespace, dest: str | Path, repo: str | Path = ".") -> Located:
    """The model `args` name, its files checked; a registry version is downloaded into `dest`."""
    if args.source == "registry" and (Path(args.model_dir) / METADATA_OBJECT).exists():
        return from_model_dir(Path(args.model_dir), args.model, args.version)
    if not args.model:
        raise UserError(
            f"--model is required (no {Path(args.model_dir) / METADATA_OBJECT}); "
            f"name a published model: {', '.join(published_names(repo))}"
        )
    line, model, reg = find_line(args.model, repo, args.pipeline)
    if args.source == "local":
        return from_workspace(line, reg, repo, model)
    metadata, path = download_version(reg, dest, args.version, line=line)
    version = int(str(metadata["version"]).lstrip("v"))
    return Located(path, metadata, line, model, reg.uri(reg.model_key(version)), reg, baseline_beside(path, metadata))


def from_workspace(
    line: Line,
    reg: Registry,
    repo: str | Path,
    model: Model | None = None,
    *,
    with_baseline: bool = True,
    instead: str = " (or drop --source local)",
) -> Located:
    """The model the line's pipeline left in this workspace; `instead`: what else the user can do without one."""
    folder, model = Path(repo) / line.folder, model or line.model()
    path = folder / model.file
    if not path.exists():
        raise UserError(f"{path} not found; run `{line.make('repro')}` first{instead}")
    metadata = dict(build_metadata(reg, line, model, None, Path(repo), file_digest(path), path.stat().st_size))
    baseline = workspace_baseline(model, folder, metadata) if with_baseline else None
    return Located(path, metadata, line, model, f"{path} (workspace)", baseline=baseline)


def workspace_baseline(model: Model, folder: Path, metadata: dict) -> dict | None:
    """The baseline publish would write for the workspace's model; None (said once) when the
    outputs it is made from are missing: the model still serves, without drift gauges."""
    try:
        baseline = model.baseline(folder)
    except UserError as exc:
        print(f"serve: no drift baseline for the workspace's model ({exc})", file=sys.stderr)
        return None
    return None if baseline is None else stamp(baseline, metadata)


def from_model_dir(folder: Path, model: str | None, version: str) -> Located:
    meta_path = folder / METADATA_OBJECT
    try:
        metadata = json.loads(meta_path.read_text())
        line = lines.get(metadata["line"])
        expected = version_files(metadata)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{meta_path} is not a registry metadata.json ({type(exc).__name__}: {exc})") from None
    if model and metadata.get("model_name") != model:
        raise UserError(f"--model {model} but {folder} holds {metadata.get('model_name')!r}")
    number = parse_version(version)
    if number is not None and metadata.get("version") != f"v{number}":  # an alias can't be checked here
        raise UserError(f"--version v{number} but {folder} holds {metadata.get('version')}")
    found = line.model_named(next(iter(expected)))
    for name, sha256 in expected.items():
        path = folder / name
        if not path.exists():
            raise UserError(f"{folder} has {METADATA_OBJECT} but no {name}")
        digest = file_digest(path)
        if digest != sha256:
            raise UserError(
                f"{path}: sha256 {digest} does not match metadata {sha256}; "
                "the file was altered or truncated, do not use it"
            )
    path = folder / found.file.name
    return Located(path, metadata, line, found, f"{folder} (model folder)", baseline=baseline_beside(path, metadata))
