"""What every published model's metadata.json holds, whatever its line."""

from __future__ import annotations


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
