"""A version's figures: what publish uploads beside the model for people to look at (a confusion
matrix, curves, the panels a stage drew), and one figure read back, checked like the model.

Each model's line says what its figures are (Artifact.figures, drawn with core/charts.py from
the line's outputs); publish uploads each one as figures/<name> under the version, lists it with
its sha256 in metadata.json's `figures`, and records its S3 checksum, so promote's integrity
check covers it. Downloading a version for serving leaves them out. A version published before
figures existed has no `figures` field: it reads as having none, everywhere.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

from ..core import s3
from ..core.cli import UserError
from ..core.metadata import FileEntry
from ..lines import Line, Model
from .aliases import LATEST, resolve_with_metadata
from .store import Registry, figure_entries

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.png")  # one file, no folders
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def made_figures(line: Line, model: Model, folder: Path) -> dict[str, bytes]:
    """The figures `model`'s line makes from its outputs in `folder`, each a PNG with a plain file
    name. A publish never fails for a figure: one the line could not make is left out, said on
    stderr (the line says which inputs were missing)."""
    who = f"{line.name} {model.key}".strip()
    try:
        made = model.artifact().figures(folder)
    except Exception as exc:  # noqa: BLE001 - figures are for people: the model publishes without them
        print(f"publish: the {who} model is published without figures ({type(exc).__name__}: {exc})", file=sys.stderr)
        return {}
    figures = {}
    for name, data in sorted(made.items()):
        if NAME.fullmatch(name) and isinstance(data, bytes) and data.startswith(PNG_SIGNATURE):
            figures[name] = data
        else:
            print(f"publish: the {who} model's figure {name!r} is left out: not a PNG name and image", file=sys.stderr)
    return figures


def write_figures(figures: dict[str, bytes], folder: Path) -> dict[str, tuple[Path, FileEntry]]:
    """Each figure written into `folder`: {name: (its file, its metadata.json entry)}."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in figures.items():
        path = folder / name
        path.write_bytes(data)
        written[name] = (path, FileEntry(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data)))
    return written


def figure_names(metadata: dict) -> list[str]:
    """The figures a version lists in its metadata.json; [] for one published before figures were."""
    return sorted(figure_entries(metadata))


def figure(reg: Registry, version: int | str, name: str) -> bytes:
    """Figure `name` of `version` (vN, N, latest or an alias name), downloaded and checked against
    the sha256 metadata.json lists for it: a UserError if the version lists no such figure or the
    object is not the one published."""
    client = s3.client(reg.region)
    number, metadata = resolve_with_metadata(client, reg, str(version or LATEST))
    entries = figure_entries(metadata)
    if name not in entries:
        listed = ", ".join(sorted(entries)) or "none (published before versions had figures)"
        raise UserError(f"v{number} of {reg.model_name} has no figure {name!r}; its figures: {listed}")
    key = reg.figure_key(number, name)
    with s3.errors("download", reg.bucket, key):
        data = client.get_object(Bucket=reg.bucket, Key=key)["Body"].read()
    digest, expected = hashlib.sha256(data).hexdigest(), entries[name]["sha256"]
    if digest != expected:
        raise UserError(
            f"{reg.uri(key)}: sha256 {digest} does not match metadata {expected}; "
            "the figure was altered or truncated, do not show it"
        )
    return data
