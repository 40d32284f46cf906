"""The baseline published with a registry version, for `make monitor MODEL=… VERSION=…`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..core import s3
from ..core.cli import UserError
from ..lines import Line
from ..registry.aliases import resolve_with_metadata
from ..registry.fetch import download_checked
from ..serve.loading import find_line
from .baseline import FILE_NAME, read_baseline


def published_baseline(model: str, version: str = "latest", pipeline: str | None = None) -> tuple[dict, Line]:
    """The baseline.json of `version` (vN, latest or an alias) of `model`, downloaded and checked
    against its metadata.json, and the line that publishes the model."""
    line, _, reg = find_line(model, ".", pipeline)
    number, metadata = resolve_with_metadata(s3.client(reg.region), reg, version)
    entry = metadata.get("baseline")
    if not entry:
        raise UserError(
            f"v{number} of {model} was published without a baseline.json (before monitoring, or a line "
            "without one); publish a new version to monitor it"
        )
    with tempfile.TemporaryDirectory(prefix="modelmill-monitor-") as tmp:
        local = Path(tmp) / entry.get("file", FILE_NAME)
        download_checked(reg, reg.key(number, local.name), local, entry["sha256"])
        return read_baseline(local), line
