"""Are a version's objects still the ones publish uploaded? Promote checks before moving an alias.

Versions are conditional creates, but whoever may write the bucket can still overwrite an object
under a version's prefix; a following server would then refuse the version (its sha256 check),
after the alias had already moved to it. publish records the SHA-256 checksum S3 reported for each
object in metadata.json's s3_checksums, and a HEAD (ChecksumMode=ENABLED) gives the one S3 holds
now: no download. For a multipart upload that checksum is composite (over the parts:
"<base64>-<parts>"), which is why it is compared with S3's own and not with the file's sha256.

An object whose checksum S3 now reports in another form (none: rewritten without one; whole
where it was composite: copied) cannot be judged that way: it is downloaded and its sha256
compared with metadata.json's, as every object of a version published before s3_checksums was
recorded is (saying so).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ..core import s3
from ..core.cli import UserError
from .store import S3_CHECKSUMS, Registry, published_files


def version_objects(reg: Registry, version: int, metadata: dict) -> dict[str, tuple[str, str]]:
    """{name under the version's prefix: (key, sha256)} of the objects of `version` that metadata.json
    lists: the model, its companions, its baseline, its figures (figures/<name>)."""
    files = published_files(metadata, reg.model_object)
    return {name: (reg.key(version, name), sha256) for name, sha256 in files.items()}


def check_version_objects(client, reg: Registry, version: int, metadata: dict) -> None:
    """A UserError naming the first object of `version` that is not the one published."""
    files = version_objects(reg, version, metadata)
    recorded = metadata.get(S3_CHECKSUMS)
    if not isinstance(recorded, dict):
        _say(
            f"v{version} of {reg.model_name} was published before S3 checksums were recorded: "
            f"checking its {len(files)} file(s) by download"
        )
        _check_by_download(reg, files)
        return
    unjudged = {}
    for name, (key, sha256) in files.items():
        want = recorded.get(name)
        got = _head_checksum(client, reg, key, version)
        if want is not None and got is not None and s3.same_checksum(got, want):
            continue
        if want is not None and got is not None and _parts(got) == _parts(want):
            raise UserError(
                f"{reg.uri(key)} was overwritten after v{version} was published (its S3 checksum {got} is not "
                f"the {want} publish recorded); promote refused: publish the model again as a new version"
            )
        unjudged[name] = (key, sha256)
    if unjudged:
        _say(
            f"{', '.join(unjudged)} of v{version}: S3 reports no checksum of the form publish recorded "
            "(rewritten or copied since?); checking by download"
        )
        _check_by_download(reg, unjudged)


def _head_checksum(client, reg: Registry, key: str, version: int) -> str | None:
    """S3's SHA-256 checksum of `key` (None: it has none); a UserError when the object is gone."""
    with s3.errors("check", reg.bucket, key):
        head = s3.or_none(client.head_object, Bucket=reg.bucket, Key=key, ChecksumMode="ENABLED")
    if head is None:
        raise UserError(f"{reg.uri(key)} is missing: v{version} is not whole; promote refused")
    return head.get("ChecksumSHA256")


def _parts(checksum: str) -> str | None:
    """The part count of a composite checksum ("<base64>-<parts>"); None for a whole-object one."""
    return checksum.rpartition("-")[2] if "-" in checksum else None


def _check_by_download(reg: Registry, files: dict[str, tuple[str, str]]) -> None:
    from .fetch import download_checked  # fetch resolves versions through aliases, which imports this module

    with tempfile.TemporaryDirectory(prefix="modelmill-promote-") as tmp:
        for name, (key, sha256) in files.items():
            local = Path(tmp) / name  # figures/<name>: in a folder of its own
            local.parent.mkdir(parents=True, exist_ok=True)
            download_checked(reg, key, local, sha256)


def _say(message: str) -> None:
    print(f"promote: {message}", file=sys.stderr, flush=True)
