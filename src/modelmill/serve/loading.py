"""Which line publishes a model name, and one of its versions loaded, checked, into that line's predictor.

Three places a model can come from, tried in this order:
- a model folder (SageMaker mounts the model's files at /opt/ml/model) that holds
  metadata.json and the model file: used as is, after checking the file's sha256;
- `--source local`: the workspace's own pipeline outputs (what `make publish` would upload);
- the registry (default): the version's objects from the private bucket, checked against
  its metadata.json (`registry.fetch.download_version`).

Every failure is a UserError raised before anything serves: a model is loaded whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import lines
from ..core.cli import UserError
from ..core.io import file_digest
from ..lines import Line, Model, Predictor
from ..registry.fetch import download_version
from ..registry.publish import build_metadata
from ..registry.store import METADATA_OBJECT, Registry

SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")


@dataclass(frozen=True)
class Loaded:
    predictor: Predictor
    line: Line
    source: str  # where the model came from, for the start-up line


def parse_version(text: str) -> int | None:
    """`latest` -> None; `v3` or `3` -> 3."""
    if text == "latest":
        return None
    digits = text[1:] if text.startswith("v") else text
    if not digits.isdigit() or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version: use vN (v1, v2, ...) or latest")
    return int(digits)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="the registry model name: a line's publish.model_name (or MODEL_NAME), "
        "e.g. eurosat-resnet18, fire-ensemble",
    )
    parser.add_argument(
        "--version", type=parse_version, default=None, metavar="vN|latest", help="the version to load (default: latest)"
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
    with tempfile.TemporaryDirectory(prefix="modelmill-serve-") as tmp:
        metadata, path = download_version(reg, tmp, args.version, line=line)
        predictor = model.predictor().load(path, metadata)
    version = int(str(metadata["version"]).lstrip("v"))
    return Loaded(predictor, line, reg.uri(reg.model_key(version)))


def find_line(name: str, repo: str | Path = ".", pipeline: str | None = None) -> tuple[Line, Model, Registry]:
    """The line, and its model, whose publish config (after the environment's overrides)
    names model `name`. Reads the lines' params files only: no model code is imported."""
    found, unreadable = [], []
    for line in lines.LINES.values():
        if pipeline is None or line.name == pipeline:
            try:
                targets = Registry.each_for_line(line, repo)
            except UserError as exc:  # another line's broken params must not stop this model
                unreadable.append(f"{line.name}: {exc}")
                continue
            found += [(line, model, reg) for model, reg in targets if reg.model_name == name]
    if not found:
        raise UserError(
            f"no line publishes a model named {name!r}; the lines publish: "
            f"{', '.join(published_names(repo))}" + (f" (unreadable: {'; '.join(unreadable)})" if unreadable else "")
        )
    if len(found) > 1:
        raise UserError(
            f"lines {', '.join(line.name for line, _, _ in found)} all publish as {name!r} "
            "(MODEL_NAME set?); pass --pipeline to pick one"
        )
    return found[0]


def published_names(repo: str | Path = ".") -> list[str]:
    names = []
    for line in lines.LINES.values():
        try:
            names += [f"{reg.model_name} ({line.name})" for _, reg in Registry.each_for_line(line, repo)]
        except UserError:
            pass  # find_line names why
    return names


def from_workspace(line: Line, reg: Registry, repo: str | Path, model: Model | None = None) -> Loaded:
    folder, model = Path(repo) / line.folder, model or line.model()
    path = folder / model.file
    if not path.exists():
        raise UserError(f"{path} not found; run `{line.make('repro')}` first (or drop --source local)")
    metadata = build_metadata(reg, line, model, None, Path(repo), file_digest(path), path.stat().st_size)
    return Loaded(model.predictor().load(path, metadata), line, f"{path} (workspace)")


def from_model_dir(folder: Path, model: str | None, version: int | None) -> Loaded:
    meta_path = folder / METADATA_OBJECT
    try:
        metadata = json.loads(meta_path.read_text())
        line = lines.get(metadata["line"])
        expected = metadata["sha256"]
        file_name = metadata["artifact_key"].rpartition("/")[2]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{meta_path} is not a registry metadata.json ({type(exc).__name__}: {exc})") from None
    if model and metadata.get("model_name") != model:
        raise UserError(f"--model {model} but {folder} holds {metadata.get('model_name')!r}")
    if version is not None and metadata.get("version") != f"v{version}":
        raise UserError(f"--version v{version} but {folder} holds {metadata.get('version')}")
    found = line.model_named(file_name)
    path = folder / found.file.name
    if not path.exists():
        raise UserError(f"{folder} has {METADATA_OBJECT} but no {path.name}")
    digest = file_digest(path)
    if digest != expected:
        raise UserError(
            f"{path}: sha256 {digest} does not match metadata {expected}; "
            "the file was altered or truncated, do not use it"
        )
    return Loaded(found.predictor().load(path, metadata), line, f"{folder} (model folder)")
