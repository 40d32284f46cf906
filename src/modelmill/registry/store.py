"""The model registry's layout in S3, shared by publish and fetch.

    s3://<bucket>/<prefix>/<model_name>/v<N>/<model file>    (satellite_model.pt, fire_ensemble.skops, ...)
    s3://<bucket>/<prefix>/<model_name>/v<N>/<companion>     (fire_ensemble.onnx: what serving loads)
    s3://<bucket>/<prefix>/<model_name>/v<N>/baseline.json   (what monitoring compares traffic to)
    s3://<bucket>/<prefix>/<model_name>/v<N>/figures/<name>.png (what people look at: registry/figures.py)
    s3://<bucket>/<prefix>/<model_name>/v<N>/metadata.json
    s3://<bucket>/<prefix>/<model_name>/latest.json      -> {"version": N, ...}

Versions are immutable (written with a conditional create); a version is complete once
its metadata.json exists, and latest.json only ever names a complete version.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core import s3
from ..core.cli import UserError
from ..core.config import PublishConfig
from ..lines import Line, Model

METADATA_OBJECT = "metadata.json"
COMPANIONS = "companion_files"  # metadata.json's {file name: {sha256, size_bytes}} beside the model
BASELINE = "baseline"  # metadata.json's {file, sha256, size_bytes} of the version's monitoring baseline
# metadata.json's {file name: ChecksumSHA256 as S3 reported it after upload} of each of the version's
# objects but metadata.json (model, companions, baseline): what promote compares with a HEAD, no
# download (composite, "<base64>-<parts>", for a multipart upload: not the file's sha256). Absent
# in versions published before it was recorded (registry/integrity.py checks those by download).
S3_CHECKSUMS = "s3_checksums"
# metadata.json's {file name: {sha256, size_bytes}} of the version's figures, each the object
# figures/<file name> (core/charts.py draws them; absent in versions published before: none).
FIGURES = "figures"
FIGURES_FOLDER = "figures/"
VERSION_TEXT = re.compile(r"[vV]?(\d+)")  # vN or N
LATEST_OBJECT = "latest.json"


@dataclass(frozen=True)
class Registry:
    bucket: str
    region: str
    prefix: str
    model_name: str
    model_object: str  # the model file's name in each version
    kms_key_id: str = ""

    @classmethod
    def for_line(
        cls, line: Line, repo: str | Path = ".", env: Mapping[str, str] | None = None, *, model: Model | None = None
    ) -> Registry:
        """Where `line` publishes `model` (default: its only one): the model's publish config,
        with the environment's overrides."""
        environ = os.environ if env is None else env
        if environ.get("MODEL_NAME") and len(line.models) > 1:
            raise UserError(
                f"MODEL_NAME is set, but the {line.name} line publishes {len(line.models)} models, "
                "each under its own name in its params.yaml; unset MODEL_NAME"
            )
        model = model or line.model()
        return cls.from_config(model.publish_config(Path(repo) / line.folder), model.file.name, environ)

    @classmethod
    def each_for_line(
        cls, line: Line, repo: str | Path = ".", env: Mapping[str, str] | None = None
    ) -> list[tuple[Model, Registry]]:
        """(model, registry) for every model `line` publishes."""
        return [(model, cls.for_line(line, repo, env, model=model)) for model in line.models]

    @classmethod
    def from_config(cls, cfg: PublishConfig, model_object: str, env: Mapping[str, str] | None = None) -> Registry:
        """A publish section, with the environment's overrides applied."""
        env = os.environ if env is None else env
        return cls(
            bucket=env.get("BUCKET_NAME") or cfg.bucket,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cfg.region,
            prefix=(env.get("REGISTRY_PREFIX") or cfg.prefix).strip("/"),
            model_name=env.get("MODEL_NAME") or cfg.model_name,
            model_object=model_object,
            kms_key_id=env.get("KMS_KEY_ID") or cfg.kms_key_id,
        )

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.model_name}/" if self.prefix else f"{self.model_name}/"

    def model_key(self, version: int) -> str:
        return self.key(version, self.model_object)

    def metadata_key(self, version: int) -> str:
        return self.key(version, METADATA_OBJECT)

    def key(self, version: int, name: str) -> str:
        return f"{self.root}v{version}/{name}"

    def figure_key(self, version: int, name: str) -> str:
        return self.key(version, FIGURES_FOLDER + name)

    @property
    def latest_key(self) -> str:
        return self.root + LATEST_OBJECT

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def encryption_args(self) -> dict:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}


def list_versions(client, reg: Registry) -> list[int]:
    """Version numbers present under the model's prefix, complete or not, ascending."""
    versions = []
    with s3.errors("list", reg.bucket, reg.root):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=reg.bucket, Prefix=reg.root, Delimiter="/"):
            for entry in page.get("CommonPrefixes", []):
                match = re.fullmatch(re.escape(reg.root) + r"v(\d+)/", entry["Prefix"])
                if match:
                    versions.append(int(match.group(1)))
    return sorted(versions)


class BadObject(UserError):
    """A registry object that is not what the registry wrote (edited by hand, truncated)."""


def read_json_object(client, reg: Registry, key: str) -> tuple[dict, str] | None:
    """(the JSON object at `key`, its ETag), or None when there is none."""
    with s3.errors("read", reg.bucket, key):
        found = s3.or_none(client.get_object, Bucket=reg.bucket, Key=key)
        if found is None:
            return None
        body = found["Body"].read()
    try:
        value = json.loads(body)
    except ValueError:  # not JSON, or not UTF-8
        value = None
    if not isinstance(value, dict):
        raise BadObject(
            f"{reg.uri(key)} is not a JSON object (edited by hand?); restore it from its earlier S3 version"
        )
    return value, found["ETag"]


def get_json(client, reg: Registry, key: str) -> dict | None:
    """The JSON object at `key`, or None when there is none."""
    found = read_json_object(client, reg, key)
    return None if found is None else found[0]


def latest_version(client, reg: Registry) -> int | None:
    """The version latest.json names, or None before the first publish."""
    latest = get_json(client, reg, reg.latest_key)
    if latest is not None and not isinstance(latest.get("version"), int):
        raise BadObject(f"{reg.uri(reg.latest_key)} names no version; run publish again to restore it")
    return None if latest is None else latest["version"]


def parse_version(text: str) -> int | None:
    """N for `vN` or `N`; None for anything else (`latest`, an alias name)."""
    match = VERSION_TEXT.fullmatch(text.strip())
    return int(match.group(1)) if match else None


def version_files(metadata: dict, model_object: str = "") -> dict[str, str]:
    """{file name: sha256} of every file a version holds: its model first (named by metadata.json's
    artifact_key, else `model_object`; a KeyError without either), then `checked_files`."""
    key = metadata.get("artifact_key")
    model = key.rpartition("/")[2] if key else model_object
    if not model:
        raise KeyError("artifact_key")
    return {model: metadata["sha256"], **checked_files(metadata)}


def checked_files(metadata: dict) -> dict[str, str]:
    """{file name: sha256} of the files a version holds beside its model (companions, baseline)."""
    files = {name: entry["sha256"] for name, entry in metadata.get(COMPANIONS, {}).items()}
    if metadata.get(BASELINE):
        files[metadata[BASELINE]["file"]] = metadata[BASELINE]["sha256"]
    return files


def figure_entries(metadata: Mapping) -> dict[str, dict]:
    """{file name: {sha256, size_bytes}} of the figures a version lists; {} for a version
    published before figures were (no field), or whose field is not a map of such entries."""
    found = metadata.get(FIGURES)
    if not isinstance(found, dict):
        return {}
    return {
        name: entry
        for name, entry in found.items()
        if isinstance(name, str) and isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
    }


def published_files(metadata: dict, model_object: str = "") -> dict[str, str]:
    """{name under the version's prefix: sha256} of every object publish uploaded but metadata.json:
    `version_files` (what a model folder holds) and the figures (figures/<name>), which are for
    people and never downloaded with the model, but which promote checks all the same."""
    figures = {FIGURES_FOLDER + name: entry["sha256"] for name, entry in figure_entries(metadata).items()}
    return {**version_files(metadata, model_object), **figures}
