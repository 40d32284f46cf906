"""What the pages show, read from the registry the lines publish to (the same buckets, prefixes and
credentials as `make models`), and from the monitor's filed reports.

Read-only. What can change (the list of versions, latest, the aliases) is read fresh on every
request, with at most one listing of the bucket per request; what never changes once written (a
complete version's metadata.json, its baseline and figures, an alias's history records) is read
once and kept.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import lines
from ..core import s3
from ..core.cli import UserError
from ..core.io import flatten
from ..monitor.history import latest, reports
from ..registry import listing
from ..registry.aliases import NotThere, resolve_with_metadata
from ..registry.compare import compare
from ..registry.store import Registry, parse_version, read_json_object


class NotFound(Exception):
    """A model or version that is not there: the page says so with a 404."""


class Unreadable(Exception):
    """The registry could not be read (no bucket, access denied, an object edited into something
    else): the page says so with a 502, and the other pages keep working."""


@dataclass(frozen=True)
class Place:
    model: str
    line: str  # "" for a model no line declares
    reg: Registry


class Catalog:
    def __init__(
        self,
        repo: str | Path = ".",
        reports: str | Path | None = "monitor",
        capture: str | None = None,
        client_for: Callable = s3.client,
    ):
        self.repo, self.reports, self.capture, self._make_client = Path(repo), reports, capture, client_for
        self._kept: dict[tuple[str, str], tuple[dict, str]] = {}
        self._clients: dict[str | None, object] = {}
        self._declared: tuple[tuple, dict] | None = None
        self._lock = threading.Lock()

    def client_for(self, region: str | None = None):
        """One S3 client per region for the app's life (a client is thread-safe, and making one
        costs more than the page's reads)."""
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._make_client(region)
            return self._clients[region]

    def declared(self) -> dict[str, tuple[str, Registry]]:
        """The models the lines declare, read again only when a line's params file changed."""
        stamp = tuple(_mtime(self.repo / line.folder / "params.yaml") for line in lines.LINES.values())
        with self._lock:
            if self._declared is not None and self._declared[0] == stamp:
                return self._declared[1]
        known = listing.declared(self.repo)
        with self._lock:
            self._declared = (stamp, known)
        return known

    # -- reading ---------------------------------------------------------------------------

    def read_once(self, client, reg: Registry, key: str) -> tuple[dict, str] | None:
        """An object that never changes once written, read the first time only."""
        with self._lock:
            kept = self._kept.get((reg.bucket, key))
        if kept is not None:
            return kept
        found = read_json_object(client, reg, key)
        if found is not None:
            with self._lock:
                self._kept[(reg.bucket, key)] = found
        return found

    def metadata(self, place: Place, version: int) -> dict:
        client = self.client_for(place.reg.region)
        with registry_errors():
            found = self.read_once(client, place.reg, place.reg.metadata_key(version))
        if found is None:
            raise NotFound(f"{place.model} has no version v{version}")
        return found[0]

    # -- pages -----------------------------------------------------------------------------

    def home(self) -> dict:
        """Every line and model: latest, aliases, the headline metrics of those versions, when they
        were published and the drift state of the last report filed for the model."""
        with registry_errors():
            rows, warnings = listing.every_model(self.client_for, self.repo, known=self.declared())
        models = []
        known = self.declared()
        for row in rows:
            place = self._listed_place(row, known)
            shown = {"latest": row["latest"], **row["aliases"]}
            versions = {}
            for name, version in shown.items():
                if version is None:
                    continue
                try:
                    meta = self.metadata(place, version)
                except (NotFound, Unreadable) as exc:
                    warnings.append(str(exc))
                    continue
                versions[name] = {
                    "version": version,
                    "metrics": listing.headline_metrics(meta),
                    "published_at_utc": meta.get("published_at_utc"),
                }
            models.append({**row, "shown": versions, "drift": self.last_report(row["model"])})
        by_line = {line.name: [m for m in models if m["line"] == line.name] for line in lines.LINES.values()}
        others = [m for m in models if m["line"] not in by_line]
        return {"lines": by_line, "others": others, "warnings": warnings}

    def model(self, name: str) -> dict:
        place = self.place(name)
        client = self.client_for(place.reg.region)
        with registry_errors():
            described = listing.describe_model(client, place.reg, place.line, self.read_once)
        if not described["versions"] and not described["aliases"]:
            raise NotFound(f"nothing is published under {name} yet")
        metric = next((m for row in described["versions"] for m in row["metrics"]), None)
        series = [(row["version"], row["metrics"].get(metric)) for row in described["versions"] if metric]
        return {**described, "metric": metric, "series": series, "drift": self.last_report(name)}

    def version(self, name: str, version_text: str) -> dict:
        place = self.place(name)
        version = self.resolve(place, version_text)
        meta = self.metadata(place, version)
        baseline = None
        if isinstance(meta.get("baseline"), dict):
            client = self.client_for(place.reg.region)
            with registry_errors():
                found = self.read_once(client, place.reg, place.reg.key(version, meta["baseline"]["file"]))
            baseline = None if found is None else found[0]
        return {
            "model": name,
            "line": place.line or meta.get("line", ""),
            "version": version,
            "asked": version_text,
            "metadata": meta,
            "metrics": flatten(meta.get("test_metrics") or {}),
            "params": flatten(meta.get("params") or {}),
            "figures": sorted((meta.get("figures") or {}).items()),
            "baseline": baseline,
            "commands": commands(name, version, place.line),
        }

    def compare(self, name: str, a: str, b: str) -> dict:
        place = self.place(name)
        with registry_errors(missing=True):
            return compare(self.client_for(place.reg.region), place.reg, a, b)

    def drift(self, name: str) -> dict:
        self.place(name)
        found = reports(name, self.reports, self.capture)
        return {"model": name, "reports": found}

    def last_report(self, name: str) -> dict | None:
        try:
            return latest(name, self.reports, self.capture)
        except UserError:
            return None

    # -- finding things ----------------------------------------------------------------------

    def place(self, name: str) -> Place:
        if not listing.MODEL_NAME.fullmatch(name):
            raise NotFound(f"{name!r} is not a model name")
        known = self.declared()
        if name in known:
            line, reg = known[name]
            return Place(name, line, reg)
        with registry_errors():
            for where in listing.places(known):
                if name in listing.model_names(self.client_for(where.region), where):
                    return Place(name, "", Registry(where.bucket, where.region, where.prefix, name, ""))
        raise NotFound(f"no model named {name} in the registry")

    def _listed_place(self, row: dict, known: dict[str, tuple[str, Registry]]) -> Place:
        """Where a model the listing found lives, without listing again: its line's declaration, or
        the bucket and prefix in its row's URI (s3://bucket/prefix/model/)."""
        if row["model"] in known:
            line, reg = known[row["model"]]
            return Place(row["model"], line, reg)
        bucket, _, key = row["uri"].removeprefix("s3://").partition("/")
        prefix = key.rstrip("/").rpartition("/")[0]
        region = next((reg.region for _, reg in known.values() if reg.bucket == bucket), "")
        return Place(row["model"], "", Registry(bucket, region, prefix, row["model"], ""))

    def resolve(self, place: Place, text: str) -> int:
        version = parse_version(text)
        if version is not None:
            return version
        with registry_errors(missing=True):
            return resolve_with_metadata(self.client_for(place.reg.region), place.reg, text)[0]


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def commands(model: str, version: int, line: str) -> list[str]:
    """What a person copies to act on this version."""
    return [
        f"make serve MODEL={model} VERSION=v{version}",
        f"make predict MODEL={model} VERSION=v{version} INPUT=… OUTPUT=predictions.csv",
        f"make promote MODEL={model} VERSION=v{version} ALIAS=production REASON='…'",
        f"make compare MODEL={model} A=production B=v{version}",
        f"make verify-download{f' PIPELINE={line}' if line else ''} VERSION=v{version}",
    ]


@contextlib.contextmanager
def registry_errors(missing: bool = False) -> Iterator[None]:
    """A failed read of the registry as the page's exception: Unreadable (502), or NotFound (404)
    for a version or alias that is not there when `missing`."""
    try:
        yield
    except NotThere as exc:
        raise (NotFound if missing else Unreadable)(str(exc)) from None
    except UserError as exc:  # no bucket, access denied, an object edited into something else
        raise Unreadable(str(exc)) from None
