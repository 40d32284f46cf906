"""What the registry holds: the models under every bucket and prefix the lines publish to, each
version's identity and headline metrics, where the aliases point and how they moved.

`make models [MODEL=…] [JSON=1]` prints it (`python -m modelmill.registry.models`); the
functions here return the plain dicts its --json prints. Listing only reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from .. import lines
from ..core import s3
from ..core.cli import UserError
from ..core.io import flatten
from . import aliases
from .store import METADATA_OBJECT, BadObject, Registry, latest_version, read_json_object

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def headline_metrics(metadata: dict) -> dict[str, float]:
    """The version's few headline test metrics (its line's `headline`), by their dotted path in
    test_metrics; for a line this checkout does not know, every top-level float there (ints are
    counts such as test_images, not scores)."""
    metrics = metadata.get("test_metrics") or {}
    flat = flatten(metrics)
    line = lines.LINES.get(metadata.get("line") or "")
    keys = line.headline if line else [k for k, v in metrics.items() if isinstance(v, float)]
    return {key: flat[key] for key in keys if is_number(flat.get(key))}


def data_checksum(metadata: dict) -> str | None:
    """The sha256 of the data the version was trained on, where its line's metadata keeps it."""
    line = lines.LINES.get(metadata.get("line") or "")
    value = flatten(metadata).get(line.data_checksum) if line else None
    return value if isinstance(value, str) else None


# --- where the models are ------------------------------------------------------------------


def declared(repo: str | Path = ".", env: Mapping[str, str] | None = None) -> dict[str, tuple[str, Registry]]:
    """{registry name: (line, where it publishes)} for every model the lines publish, from their
    params with the environment's overrides, except MODEL_NAME: that renames the one model a
    publish run uploads, and these commands name their model with --model."""
    environ = {k: v for k, v in (os.environ if env is None else env).items() if k != "MODEL_NAME"}
    return {
        reg.model_name: (line.name, reg)
        for line in lines.LINES.values()
        for _, reg in Registry.each_for_line(line, repo, environ)
    }


def places(known: dict[str, tuple[str, Registry]]) -> list[Registry]:
    """One registry per distinct bucket and prefix (model name left empty): where to look."""
    found: dict[tuple[str, str], Registry] = {}
    for _, reg in known.values():
        found.setdefault((reg.bucket, reg.prefix), Registry(reg.bucket, reg.region, reg.prefix, "", ""))
    return list(found.values())


def model_names(client, place: Registry) -> list[str]:
    """The names of the models stored under a bucket and prefix."""
    prefix = f"{place.prefix}/" if place.prefix else ""
    names = []
    with s3.errors("list", place.bucket, prefix):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=prefix, Delimiter="/"):
            names += [entry["Prefix"][len(prefix) : -1] for entry in page.get("CommonPrefixes", [])]
    return names


def registry_for(
    name: str, repo: str | Path = ".", env: Mapping[str, str] | None = None, client_for=s3.client
) -> tuple[Registry, str]:
    """Where model `name` is, and its line ("" when no line declares it): a model a line
    publishes, or one found under one of the lines' buckets and prefixes (`client_for(region)`
    gives an S3 client)."""
    if not MODEL_NAME.fullmatch(name):
        raise UserError(f"{name!r} is not a model name (letters, digits, '.', '-', '_')")
    known = declared(repo, env)
    if name in known:
        line, reg = known[name]
        return reg, line
    seen = []
    for place in places(known):
        found = model_names(client_for(place.region), place)
        if name in found:
            return Registry(place.bucket, place.region, place.prefix, name, ""), ""
        seen.append(f"{place.uri(place.prefix + '/' if place.prefix else '')}: {', '.join(found) or 'none'}")
    raise UserError(f"no model named {name!r} in the registry; models there: {'; '.join(seen)}")


# --- what one model holds -------------------------------------------------------------------


@dataclass
class Scan:
    """One listing of a model's prefix: its versions' files and the names of its aliases."""

    files: dict[int, dict[str, int]] = field(default_factory=dict)  # version -> {file name: bytes}
    aliases: list[str] = field(default_factory=list)
    history: dict[str, list[str]] = field(default_factory=dict)  # alias -> the keys of its moves


ALIAS_FILE = re.compile(rf"{aliases.ALIASES}/([^/]+)\.json")
HISTORY_FILE = re.compile(rf"{aliases.ALIASES}/([^/]+)/history/[^/]+")


def scan(client, reg: Registry) -> Scan:
    """One listing of the model's prefix."""
    found = Scan()
    with s3.errors("list", reg.bucket, reg.root):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=reg.bucket, Prefix=reg.root):
            for entry in page.get("Contents", []):
                _add(found, entry["Key"][len(reg.root) :], entry)
    found.aliases.sort()
    return found


def scan_models(client, place: Registry) -> dict[str, Scan]:
    """{model name: its Scan} for every model under a bucket and prefix, from one listing. At a
    bucket's root, which holds other things too (DVC's remote), one listing per model instead."""
    if not place.prefix:
        return {
            name: scan(client, Registry(place.bucket, place.region, "", name, ""))
            for name in model_names(client, place)
        }
    prefix = f"{place.prefix}/"
    found: dict[str, Scan] = {}
    with s3.errors("list", place.bucket, prefix):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                name, _, rest = entry["Key"][len(prefix) :].partition("/")
                if rest and MODEL_NAME.fullmatch(name):
                    _add(found.setdefault(name, Scan()), rest, entry)
    for each in found.values():
        each.aliases.sort()
    return found


def _add(found: Scan, rest: str, entry: dict) -> None:
    """One listed object, `rest` its key under the model's prefix."""
    if match := aliases.VERSION_FILE.fullmatch(rest):
        found.files.setdefault(int(match.group(1)), {})[match.group(2)] = entry["Size"]
    elif (match := ALIAS_FILE.fullmatch(rest)) and aliases.ALIAS_NAME.fullmatch(match.group(1)):
        found.aliases.append(match.group(1))
    elif match := HISTORY_FILE.fullmatch(rest):
        found.history.setdefault(match.group(1), []).append(entry["Key"])


def alias_versions(client, reg: Registry, names: list[str], warnings: list[str]) -> dict[str, int | None]:
    """{alias: the version it points at}; None for an alias object that cannot be read."""
    pointed: dict[str, int | None] = {}
    for name in names:
        try:
            alias = aliases.read_alias(client, reg, name)
        except BadObject as exc:
            warnings.append(str(exc))
            alias = None
        pointed[name] = None if alias is None else alias.record["version"]
    return pointed


def summary(client, reg: Registry, line: str, warnings: list[str], found: Scan | None = None) -> dict:
    """One model in a line: its versions, latest and aliases (`found`: its listing, when made)."""
    found = scan(client, reg) if found is None else found
    complete = [v for v, files in found.files.items() if METADATA_OBJECT in files]
    return {
        "model": reg.model_name,
        "line": line,
        "uri": reg.uri(reg.root),
        "versions": len(complete),
        "incomplete": len(found.files) - len(complete),
        "latest": _latest(client, reg, warnings) if found.files else None,
        "aliases": alias_versions(client, reg, found.aliases, warnings),
    }


def _latest(client, reg: Registry, warnings: list[str]) -> int | None:
    try:
        return latest_version(client, reg)
    except BadObject as exc:
        warnings.append(str(exc))
        return None


def every_model(
    client_for, repo: str | Path = ".", env: Mapping[str, str] | None = None, known: dict | None = None
) -> tuple[list, list]:
    """(summaries, warnings) for every model the lines declare (`known`: `declared`'s answer, when
    already read) or the registry holds (`client_for(region)` gives an S3 client)."""
    known = declared(repo, env) if known is None else known
    rows: list[dict] = []
    warnings: list[str] = []
    for place in places(known):
        client = client_for(place.region)
        here = {name for name, (_, reg) in known.items() if (reg.bucket, reg.prefix) == (place.bucket, place.prefix)}
        scans = scan_models(client, place)  # one listing for every model there
        for name in sorted(set(scans) | here):
            line, reg = known.get(name, ("", Registry(place.bucket, place.region, place.prefix, name, "")))
            row = summary(client, reg, line, warnings, scans.get(name, Scan()))
            if name in here or row["versions"] or row["incomplete"] or row["aliases"]:  # not some other folder
                rows.append(row)
    return rows, warnings


def describe_model(client, reg: Registry, line: str, read=None) -> dict:
    """Every version of one model (identity, headline metrics, size, aliases at it) and each
    alias's history, oldest first, from one listing of the model's prefix. Damaged objects are
    left out with a warning in "warnings". `read(client, reg, key)` reads the objects that never
    change once written (metadata.json, history records): a cache may stand in for the default."""
    found = scan(client, reg)
    warnings: list[str] = []
    pointed = alias_versions(client, reg, found.aliases, warnings)
    latest = _latest(client, reg, warnings) if found.files else None
    versions = [
        version_row(client, reg, v, files, latest, pointed, warnings, read) for v, files in sorted(found.files.items())
    ]
    return {
        "model": reg.model_name,
        "line": line or next((row["line"] for row in reversed(versions) if row.get("line")), ""),
        "uri": reg.uri(reg.root),
        "latest": latest,
        "aliases": pointed,
        "versions": versions,
        "history": {
            name: aliases.read_history(client, reg, name, warnings, found.history.get(name, []), read)
            for name in found.aliases
        },
        "warnings": warnings,
    }


def version_row(
    client, reg: Registry, version: int, files: dict[str, int], latest, pointed: dict, warnings: list[str], read=None
) -> dict:
    """One version: complete (metadata.json there and readable) or not, and what its metadata says."""
    metadata, unreadable = None, False
    if METADATA_OBJECT in files:
        try:
            found = (read or read_json_object)(client, reg, reg.metadata_key(version))
            metadata = None if found is None else found[0]
        except BadObject as exc:
            warnings.append(str(exc))
            unreadable = True
    metadata = metadata or {}
    return {
        "version": version,
        "complete": bool(metadata),
        "unreadable": unreadable,  # a metadata.json that is not JSON
        "size_bytes": sum(files.values()),
        "latest": version == latest,
        "aliases": sorted(name for name, at in pointed.items() if at == version),
        "line": metadata.get("line"),
        "published_at_utc": metadata.get("published_at_utc"),
        "git_commit": metadata.get("git_commit"),
        "data_sha256": data_checksum(metadata),
        "framework": metadata.get("framework"),
        "metrics": headline_metrics(metadata),
    }


# --- text -------------------------------------------------------------------------------------


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [headers, *rows]
    )


def show_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def short(value: str | None, length: int) -> str:
    return value[:length] if value else "-"


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    amount = size / 1024
    for unit in ("KB", "MB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"
