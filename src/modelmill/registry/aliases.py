"""Aliases: names (production, staging, ...) that point at a complete version of a model.

    s3://<bucket>/<prefix>/<model_name>/aliases/<alias>.json               -> the alias's last move
    s3://<bucket>/<prefix>/<model_name>/aliases/<alias>/history/<seq>.json  one object per move

`make promote MODEL=… VERSION=vN ALIAS=production [REASON=…]` moves one
(`python -m modelmill.registry.promote`); rolling back is promoting the older version.
`resolve` turns `vN`, `N`, `latest` or an alias name into a complete version number, for
fetch and serve. Nothing here writes under a version's prefix or to latest.json.

Each move is a conditional write of the alias object: a create (If-None-Match: *) when there
is none, else a PUT with If-Match: <the ETag read>. Of two promotes racing, S3 lets exactly
one write land; the other fails with a line saying to run promote again. The alias object
holds the whole move (from, to, when, by, reason, its sequence number), and the history
object of move <seq> is a conditional create of that same record, written after the alias:
only the promote whose alias write landed can hold a new seq, so history writes never race,
and a promote that died between the two writes has its record copied by the next promote.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..core import s3
from ..core.cli import UserError
from .integrity import check_version_objects
from .store import (
    LATEST_OBJECT,
    METADATA_OBJECT,
    BadObject,
    Registry,
    get_json,
    latest_version,
    parse_version,
    read_json_object,
)

ALIASES = "aliases"
LATEST = LATEST_OBJECT.removesuffix(".json")  # "latest": publish moves it, promote never does
# Lower-case only: S3 keys are case-sensitive, so Production and production would be two
# aliases; refusing capitals keeps one spelling for promote, fetch and serve alike.
ALIAS_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
VERSION_FILE = re.compile(r"v(\d+)/(.+)")  # a key under a model's prefix that belongs to a version
# What S3 answers a conditional write whose condition no longer holds: the ETag moved (412),
# another conditional write to the key was in flight (409), the alias was removed meanwhile.
LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409", "NoSuchKey")
_STS_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=5)


class NotThere(UserError):
    """A version or alias asked for that the model does not have (a page answers it with 404)."""


class NothingPublished(NotThere):
    """`latest` asked for before the model's first publish."""


@dataclass(frozen=True)
class Alias:
    record: dict  # the alias's last move, as in its history
    etag: str  # what the next move's If-Match names


def alias_key(reg: Registry, alias: str) -> str:
    return f"{reg.root}{ALIASES}/{alias}.json"


def history_prefix(reg: Registry, alias: str) -> str:
    return f"{reg.root}{ALIASES}/{alias}/history/"


def history_key(reg: Registry, alias: str, seq: int) -> str:
    return f"{history_prefix(reg, alias)}{seq:06d}.json"


def check_alias_name(name: str) -> str:
    """`name` when an alias may be called that, else a UserError saying why not."""
    if name == LATEST:
        raise UserError("latest is not an alias promote can move: latest moves with publish; pick another name")
    if parse_version(name) is not None:
        raise UserError(f"alias {name!r} would read as a version; pick a name that is not vN or a number")
    if not ALIAS_NAME.fullmatch(name):
        hint = f" (did you mean {name.lower()!r}?)" if ALIAS_NAME.fullmatch(name.lower()) else ""
        raise UserError(
            f"alias {name!r} is not a plain word: use lower-case letters, digits, - and _, starting "
            f"with a letter or digit, at most 63 characters{hint}"
        )
    return name


def read_metadata(client, reg: Registry, version: int) -> dict | None:
    """A version's metadata.json; None while the version is incomplete or absent."""
    return get_json(client, reg, reg.metadata_key(version))


def read_alias(client, reg: Registry, alias: str) -> Alias | None:
    key = alias_key(reg, alias)
    found = read_json_object(client, reg, key)
    if found is None:
        return None
    record, etag = found
    if not all(isinstance(record.get(field), int) for field in ("version", "seq")):
        raise BadObject(f"{reg.uri(key)} is not an alias record (no version or seq); restore its earlier S3 version")
    return Alias(record, etag)


def alias_names(client, reg: Registry) -> list[str]:
    """The model's aliases, by name."""
    prefix = f"{reg.root}{ALIASES}/"
    names = []
    with s3.errors("list", reg.bucket, prefix):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=reg.bucket, Prefix=prefix, Delimiter="/"):
            for entry in page.get("Contents", []):
                name = entry["Key"][len(prefix) :].removesuffix(".json")
                if ALIAS_NAME.fullmatch(name) and entry["Key"].endswith(".json"):
                    names.append(name)
    return sorted(names)


def resolve(client, reg: Registry, name_or_version: str) -> int:
    """The complete version that `vN`, `N`, `latest` or an alias name stands for."""
    return resolve_with_metadata(client, reg, name_or_version)[0]


def resolve_with_metadata(client, reg: Registry, name_or_version: str) -> tuple[int, dict]:
    text = name_or_version.strip()
    version = parse_version(text)
    if version is None and text == LATEST:
        version = latest_version(client, reg)
        if version is None:
            raise NothingPublished(
                f"nothing published yet for {reg.model_name}: {reg.uri(reg.latest_key)} does not exist"
            )
    elif version is None:
        version = _alias_version(client, reg, text)
    return version, complete_metadata(client, reg, version)


def _alias_version(client, reg: Registry, text: str) -> int:
    if not ALIAS_NAME.fullmatch(text):
        raise NotThere(
            f"{text!r} is neither a version (vN, N, latest) nor an alias name (lower-case letters, digits, - and _)"
        )
    alias = read_alias(client, reg, text)
    if alias is None:
        names = alias_names(client, reg)
        raise NotThere(
            f"{reg.model_name} has no alias {text!r}; "
            + (f"its aliases: {', '.join(names)}" if names else "it has no aliases yet (make promote creates one)")
        )
    return alias.record["version"]


def complete_metadata(client, reg: Registry, version: int) -> dict:
    """metadata.json of `version`; a UserError when the version is incomplete or absent."""
    metadata = read_metadata(client, reg, version)
    if metadata is not None:
        return metadata
    versions, complete = _versions(client, reg)
    listed = ", ".join(f"v{v}" for v in sorted(complete)) or "none"
    if version in versions:
        raise NotThere(
            f"v{version} of {reg.model_name} is incomplete (no {METADATA_OBJECT}: a publish that did not finish); "
            f"complete versions: {listed}"
        )
    raise NotThere(f"v{version} of {reg.model_name} was never published; complete versions: {listed}")


def _versions(client, reg: Registry) -> tuple[set[int], set[int]]:
    """(the versions present, those with metadata.json), from one listing of the model."""
    present, complete = set(), set()
    with s3.errors("list", reg.bucket, reg.root):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=reg.bucket, Prefix=reg.root):
            for entry in page.get("Contents", []):
                if match := VERSION_FILE.fullmatch(entry["Key"][len(reg.root) :]):
                    present.add(int(match.group(1)))
                    if match.group(2) == METADATA_OBJECT:
                        complete.add(int(match.group(1)))
    return present, complete


def caller_identity(region: str) -> str:
    """Who moves an alias, for its history: the caller's ARN, else the access key id (an
    identifier, not the secret), else "unknown". STS unreachable or denied never stops a
    promote: the record is an audit aid; the conditional write is what keeps the alias right."""
    session = boto3.session.Session()
    try:
        return str(session.client("sts", region_name=region or None, config=_STS_CONFIG).get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError, KeyError, ValueError):
        pass
    try:
        credentials = session.get_credentials()
    except (BotoCoreError, ClientError, ValueError):
        credentials = None
    return str(getattr(credentials, "access_key", None) or "unknown")


@dataclass(frozen=True)
class Move:
    record: dict  # the alias's record after promote
    changed: bool  # False: the alias already pointed at that version


def promote(client, reg: Registry, version_text: str, alias: str, reason: str | None = None) -> Move:
    """Point `alias` at the complete version `version_text` names (vN, N, latest or another
    alias), as one conditional write; a UserError, with nothing written, for bad input, for a
    version whose objects are no longer the ones published (integrity.py), or when another
    promote moved the alias first."""
    alias = check_alias_name(alias)
    version, metadata = resolve_with_metadata(client, reg, version_text)
    current = read_alias(client, reg, alias)
    if current is not None and current.record["version"] == version:
        return Move(current.record, changed=False)
    check_version_objects(client, reg, version, metadata)
    by = caller_identity(reg.region)
    if current is not None:
        _append_history(client, reg, current.record)  # a promote that died after its alias write
    record = {
        "alias": alias,
        "version": version,
        "from_version": None if current is None else current.record["version"],
        "sha256": metadata.get("sha256"),
        "metadata_key": reg.metadata_key(version),
        "seq": _last_recorded_seq(client, reg, alias) + 1 if current is None else current.record["seq"] + 1,
        "updated_at_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "by": by,
        "reason": reason or None,
        "move_id": uuid.uuid4().hex,  # tells this move from any other, even one to the same version
    }
    write_alias(client, reg, record, None if current is None else current.etag)
    _append_history(client, reg, record)
    return Move(record, changed=True)


def write_alias(client, reg: Registry, record: dict, etag: str | None) -> None:
    """Write the alias object if it is still the one read (`etag`; None: if there is none)."""
    key = alias_key(reg, record["alias"])
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    with s3.errors("promote", reg.bucket, key):
        try:
            _put_json(client, reg, key, record, condition)
        except ClientError as exc:
            if s3.error_code(exc) not in LOST_RACE:
                raise
            now = read_alias(client, reg, record["alias"])
            if now is not None and now.record.get("move_id") == record["move_id"]:
                return  # our write landed and an SDK retry of it found it there
            raise _moved_meanwhile(reg, record, now) from None


def _moved_meanwhile(reg: Registry, record: dict, now: Alias | None) -> UserError:
    where = "was removed" if now is None else f"now points at v{now.record['version']} (by {now.record.get('by')})"
    return UserError(
        f"alias {record['alias']} of {reg.model_name} was moved by another promote while this one ran "
        f"({where}); this promote changed nothing: check it, then run promote again"
    )


def _last_recorded_seq(client, reg: Registry, alias: str) -> int:
    """The highest move number in the alias's history (0: none). An alias object removed by hand
    leaves its history behind: the alias made again goes on from there, and loses no move."""
    prefix = history_prefix(reg, alias)
    with s3.errors("list", reg.bucket, prefix):
        numbers = [
            int(match.group(1))
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=reg.bucket, Prefix=prefix)
            for entry in page.get("Contents", [])
            if (match := re.fullmatch(r"(\d+)\.json", entry["Key"][len(prefix) :]))
        ]
    return max(numbers, default=0)


def _append_history(client, reg: Registry, record: dict) -> None:
    """Record a move in the alias's history, once: the record of move <seq> is the same
    whoever writes it (the promote that made it, or the next one catching up)."""
    key = history_key(reg, record["alias"], record["seq"])
    with s3.errors("record history", reg.bucket, key):
        if s3.or_none(client.head_object, Bucket=reg.bucket, Key=key) is not None:
            return
        try:
            _put_json(client, reg, key, record, {"IfNoneMatch": "*"})
        except ClientError as exc:
            if s3.error_code(exc) not in LOST_RACE:
                raise


def _put_json(client, reg: Registry, key: str, record: dict, condition: dict) -> None:
    client.put_object(
        Bucket=reg.bucket,
        Key=key,
        Body=json.dumps(record, indent=2).encode(),
        ContentType="application/json",
        ChecksumAlgorithm="SHA256",
        **condition,
        **reg.encryption_args(),
    )


def read_history(
    client, reg: Registry, alias: str, warnings: list[str], keys: list[str] | None = None, read=None
) -> list[dict]:
    """The alias's moves, oldest first. A history object that is not a move record is left out
    with a warning naming it: the history is an audit trail, and one damaged record must not
    hide where the aliases point, which is what someone rolling back needs to see. `keys`: the
    history objects when a listing of the model already found them; `read`: how an object that
    never changes is read (a cache may stand in for read_json_object)."""
    prefix, moves, read = history_prefix(reg, alias), {}, read or read_json_object
    if keys is None:
        with s3.errors("list", reg.bucket, prefix):
            keys = [
                entry["Key"]
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=reg.bucket, Prefix=prefix)
                for entry in page.get("Contents", [])
            ]
    for key in keys:
        try:
            found = read(client, reg, key)
        except BadObject as exc:
            warnings.append(f"{exc}; left out of the history")
            continue
        if found is not None and isinstance(found[0].get("seq"), int):
            moves[found[0]["seq"]] = found[0]
        elif found is not None:
            warnings.append(f"{reg.uri(key)} is not a move record (no seq); left out of the history")
    current = _current_or_warn(client, reg, alias, warnings)
    if current is not None and current.record["seq"] not in moves:  # its promote died before the history write
        moves[current.record["seq"]] = current.record
    return [moves[seq] for seq in sorted(moves)]


def _current_or_warn(client, reg: Registry, alias: str, warnings: list[str]) -> Alias | None:
    try:
        return read_alias(client, reg, alias)
    except BadObject as exc:
        warnings.append(str(exc))
        return None
