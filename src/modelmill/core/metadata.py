"""What every published model's metadata.json holds, whatever its line: `Metadata`, which
registry.publish.build_metadata writes and fetch, serve and the monitor read (a line's own fields,
from its Artifact.describe, come beside these)."""

from typing import TypedDict

try:
    from typing import NotRequired
except ImportError:  # Python 3.10
    from typing_extensions import NotRequired


class FileEntry(TypedDict):
    """A file published beside the model (a companion such as the fire ensemble's ONNX export)."""

    sha256: str
    size_bytes: int


class BaselineEntry(FileEntry):
    """The version's baseline.json (core/baseline.py)."""

    file: str


class Metadata(TypedDict):
    model_name: str
    version: str  # vN; "local" for a workspace's model served unpublished
    line: str  # the line that made it (lines.LINES)
    artifact_key: str | None  # the model object's key in the bucket (None: unpublished)
    sha256: str  # of the model file: what names the version's content
    size_bytes: int
    companion_files: dict[str, FileEntry]
    framework: str
    test_metrics: dict | None  # None: evaluate has not run (a workspace model)
    params: dict  # the sections of the line's params.yaml the model was made with
    dvc_md5: str | None
    git_commit: str | None
    published_at_utc: str | None
    baseline: NotRequired[BaselineEntry]  # absent: published before monitoring, or not monitored
    # {file name: ChecksumSHA256 as S3 reported it} of each object of the version but metadata.json
    # (registry.publish.record_s3_checksums); absent in versions published before promote checked them
    s3_checksums: NotRequired[dict[str, str]]
    # {file name ending .png: {sha256, size_bytes}} of the figures published under the version's
    # figures/ (the line's Artifact.figures); absent in versions published before figures were: none
    figures: NotRequired[dict[str, FileEntry]]


def identity(metadata: dict, line: str) -> dict:
    """The fields every GET /model answer starts with: which model and version this is, of which
    line, in which framework, its checksum, and when and from which commit it was published (None
    where a model served from the workspace has not been published)."""
    return {
        "name": metadata.get("model_name"),
        "version": metadata.get("version"),
        "line": line,
        "framework": metadata.get("framework"),
        "sha256": metadata.get("sha256"),
        "published_at_utc": metadata.get("published_at_utc"),
        "git_commit": metadata.get("git_commit"),
    }
