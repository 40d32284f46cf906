"""`make publish [PIPELINE=…]`: upload each model of a line with its metadata.json as a new registry version.

Refuses an out-of-date pipeline (that line's only), missing outputs or a bucket that is
not private. Versions are immutable: identical content already published is a no-op that
names its version; new content becomes v<N+1>. latest.json moves only after both objects
are up and their checksums confirmed, so a failure part-way leaves it untouched, and a
rerun completes a version that a failed run left half-written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import yaml

from .. import lines
from ..core import s3
from ..core.baseline import FILE_NAME as BASELINE_FILE
from ..core.baseline import stamp, write_baseline
from ..core.cli import UserError, cli
from ..core.io import file_digest
from ..core.metadata import Metadata
from ..core.typed import problems
from ..lines import Line, Model
from .bucket import require_private
from .figures import made_figures, write_figures
from .store import (
    COMPANIONS,
    FIGURES_FOLDER,
    METADATA_OBJECT,
    Registry,
    get_json,
    latest_version,
    list_versions,
)


@dataclass(frozen=True)
class Published:
    version: int
    created: bool  # False: this content was already published as `version`
    model_uri: str
    metadata_uri: str


def require_pipeline_up_to_date(repo: Path, line: Line) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json", str(line.dvcfile)], cwd=repo, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise UserError(f"`dvc status` failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    changed = json.loads(result.stdout or "{}")
    if changed:
        raise UserError(
            f"the {line.name} pipeline is not up to date (changed: {', '.join(changed)}); "
            f"run `{line.make('repro')}` first"
        )


def build_metadata(
    reg: Registry, line: Line, model: Model, version: int | None, repo: Path, sha256: str, size: int
) -> Metadata:
    """metadata.json of `model` as version `version` of `reg`. Version None: the workspace's own,
    unpublished model, which `serve --source local` describes with these very fields."""
    folder = repo / line.folder
    metadata = {
        "model_name": reg.model_name,
        "version": f"v{version}" if version else "local",
        "line": line.name,
        "artifact_key": reg.model_key(version) if version else None,
        "sha256": sha256,
        "size_bytes": size,
        COMPANIONS: companion_files(folder, model),
        **model.artifact().describe(folder),
        "dvc_md5": _dvc_md5(folder, model.file),
        "git_commit": _git_commit(repo),
        "published_at_utc": datetime.now(timezone.utc).isoformat(timespec="seconds") if version else None,
    }
    wrong = problems(metadata, Metadata)
    if wrong:  # the line's describe() broke the contract every reader relies on: never publish that
        raise ValueError(f"the {line.name} line's metadata.json would be incomplete: {'; '.join(wrong)}")
    return cast(Metadata, metadata)


def companion_files(folder: Path, model: Model) -> dict[str, dict]:
    """{file name: {sha256, size_bytes}} of the model's companions the pipeline wrote in `folder`."""
    return {
        path.name: {"sha256": file_digest(path), "size_bytes": path.stat().st_size}
        for path in (folder / companion for companion in model.companions)
        if path.exists()
    }


def _dvc_md5(folder: Path, out: Path) -> str | None:
    try:
        lock = yaml.safe_load((folder / "dvc.lock").read_text())
    except FileNotFoundError:
        return None
    for stage in lock.get("stages", {}).values():
        for entry in stage.get("outs", []):
            if entry.get("path") == out.as_posix():
                return entry.get("md5")
    return None


def _git_commit(repo: Path) -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    return result.stdout.strip() or None


def publish(
    reg: Registry,
    repo: str | Path = ".",
    *,
    line: Line | None = None,
    model: Model | None = None,
    check_pipeline: bool = True,
) -> Published:
    """Publish `model` (default: the line's only one) to `reg`."""
    repo, line = Path(repo), line or lines.get(None)
    model = model or line.model()
    model_path = repo / line.folder / model.file
    if check_pipeline:
        require_pipeline_up_to_date(repo, line)
    if not model_path.exists():
        raise UserError(f"{model_path.relative_to(repo)} is missing; run `{line.make('repro')}` before publishing")
    client = s3.client(reg.region)
    require_private(client, reg.bucket)

    sha256 = file_digest(model_path)
    companions = companion_files(repo / line.folder, model)
    versions = list_versions(client, reg)
    complete = {v: meta for v in versions if (meta := get_json(client, reg, reg.metadata_key(v)))}
    # The same model without the same companions (one published before its ONNX export existed)
    # is new content: a version's files never change, so the export makes a new version.
    same = [v for v, meta in complete.items() if meta["sha256"] == sha256 and meta.get(COMPANIONS, {}) == companions]
    if same:
        if same[0] > (latest_version(client, reg) or 0):
            _point_latest(client, reg, same[0], complete[same[0]])  # a failed run got this far: finish it
        print(
            f"publish: this model is already published as v{same[0]} (sha256 {sha256[:12]}); nothing uploaded",
            file=sys.stderr,
        )
        return Published(same[0], False, reg.uri(reg.model_key(same[0])), reg.uri(reg.metadata_key(same[0])))

    version = _new_version(client, reg, versions, set(complete), model_path)
    metadata = build_metadata(reg, line, model, version, repo, sha256, model_path.stat().st_size)
    if metadata.get("test_metrics") is None:  # a workspace model may be served unevaluated, never published
        metrics = line.folder / "metrics" / "metrics.json"
        raise UserError(f"{metrics} not found; run the evaluate stage first ({line.make('repro')})")
    files = [(model_path, reg.model_key(version))] + [
        (repo / line.folder / companion, reg.key(version, companion.name))
        for companion in model.companions
        if companion.name in companions
    ]
    with tempfile.TemporaryDirectory() as tmp:
        baseline = write_version_baseline(line, model, repo, metadata, Path(tmp))
        if baseline is not None:
            files.append((baseline, reg.key(version, BASELINE_FILE)))
        files += write_version_figures(line, model, repo, metadata, Path(tmp) / FIGURES_FOLDER, reg, version)
        _upload_version(client, reg, version, files, metadata)
    _point_latest(client, reg, version, metadata)
    for key in (reg.model_key(version), reg.metadata_key(version), reg.latest_key):
        print(reg.uri(key))
    print(f"publish: {reg.model_name} v{version} published; latest -> v{version}", file=sys.stderr)
    return Published(version, True, reg.uri(reg.model_key(version)), reg.uri(reg.metadata_key(version)))


def _new_version(client, reg: Registry, versions: list[int], complete: set[int], model_path: Path) -> int:
    """The next version number, or the last one when a failed run uploaded this very model but
    not its metadata: that version is finished instead."""
    last = versions[-1] if versions else 0
    if last and last not in complete:
        stored = s3.stored_checksum(client, reg.bucket, reg.model_key(last))
        if s3.same_checksum(stored, s3.expected_checksum(model_path)):
            print(f"publish: completing v{last}, left without metadata by an earlier failed publish", file=sys.stderr)
            return last
    return last + 1


def write_version_baseline(line: Line, model: Model, repo: Path, metadata: Metadata, folder: Path) -> Path | None:
    """The version's monitoring baseline (what its inputs and answers looked like on the line's own
    splits) written into `folder`, listed with its sha256 in `metadata`; None for a line without one.
    Not a companion: it names the version it belongs to, so it differs from one version to the next."""
    baseline = model.baseline(repo / line.folder)
    if baseline is None:
        return None
    path = write_baseline(folder / BASELINE_FILE, stamp(baseline, metadata))
    metadata["baseline"] = {"file": BASELINE_FILE, "sha256": file_digest(path), "size_bytes": path.stat().st_size}
    return path


def write_version_figures(
    line: Line, model: Model, repo: Path, metadata: Metadata, folder: Path, reg: Registry, version: int
) -> list[tuple[Path, str]]:
    """The version's figures (registry/figures.py), made from the line's outputs and written into
    `folder`, listed with their sha256 in `metadata`: (file, key) of each, to upload with the rest.
    None made (a line's inputs missing): no `figures` field, as in versions published before."""
    written = write_figures(made_figures(line, model, repo / line.folder), folder)
    if written:
        metadata["figures"] = {name: entry for name, (_, entry) in written.items()}
    return [(path, reg.figure_key(version, name)) for name, (path, _) in written.items()]


def _upload_version(client, reg: Registry, version: int, files: list[tuple[Path, str]], metadata: Metadata) -> None:
    """Upload the files (the model, its companions, the baseline, the figures) that are not there yet and
    confirm each one's checksum, then metadata.json, listing those checksums, which makes the
    version complete. A file already there (a failed run's) is kept only if its checksum is
    this one's."""
    checks = [(path, key, s3.expected_checksum(path)) for path, key in files]
    try:
        for path, key, checksum in checks:
            stored = s3.stored_checksum(client, reg.bucket, key)
            if stored is None:
                s3.upload_file(client, path, reg.bucket, key, reg.encryption_args())
            elif not s3.same_checksum(stored, checksum):
                raise UserError(
                    f"{reg.uri(key)} already holds other content (another publish got there first?); run publish again"
                )
        prefix = reg.key(version, "")  # named under the version: model.pt, figures/roc.png
        confirmed = {key[len(prefix) :]: _confirmed(client, reg, key, want) for _, key, want in checks}
        record_s3_checksums(metadata, confirmed)
        with tempfile.TemporaryDirectory() as tmp:
            meta_path = Path(tmp) / METADATA_OBJECT
            meta_path.write_text(json.dumps(metadata, indent=2) + "\n")
            s3.upload_file(client, meta_path, reg.bucket, reg.metadata_key(version), reg.encryption_args())
            _confirmed(client, reg, reg.metadata_key(version), s3.expected_checksum(meta_path))
    except s3.AlreadyExists as exc:
        raise UserError(f"{exc} already exists (another publish got there first?); run publish again") from None


def _confirmed(client, reg: Registry, key: str, want: str) -> str:
    """The checksum S3 holds for `key`, once it is the one of what was sent."""
    stored = s3.stored_checksum(client, reg.bucket, key)
    if stored is None or not s3.same_checksum(stored, want):
        raise UserError(f"checksum of {reg.uri(key)} does not match what was sent; latest not moved")
    return stored


def record_s3_checksums(metadata: Metadata, checksums: dict[str, str]) -> None:
    """metadata.json's s3_checksums (store.S3_CHECKSUMS): {name under the version's prefix (a
    figure's is figures/<name>): ChecksumSHA256 as S3 reports it} of the version's objects, for
    promote to check them with a HEAD each instead of a download."""
    metadata["s3_checksums"] = dict(sorted(checksums.items()))


def _point_latest(client, reg: Registry, version: int, metadata: Mapping[str, Any]) -> None:
    pointer = {
        "version": version,
        "model_key": reg.model_key(version),
        "metadata_key": reg.metadata_key(version),
        "sha256": metadata["sha256"],
    }
    with s3.errors("update", reg.bucket, reg.latest_key):
        client.put_object(
            Bucket=reg.bucket,
            Key=reg.latest_key,
            Body=json.dumps(pointer, indent=2).encode(),
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            **reg.encryption_args(),
        )


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lines.add_argument(parser)
    line = parser.parse_args().pipeline
    targets = Registry.each_for_line(line)
    require_pipeline_up_to_date(Path("."), line)
    for model, reg in targets:
        publish(reg, line=line, model=model, check_pipeline=False)


if __name__ == "__main__":
    main()
