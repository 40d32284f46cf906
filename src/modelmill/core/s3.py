"""S3 access shared by ingest (an s3:// mirror), bucket setup, publish and fetch.

Credentials, region overrides and endpoints come only from boto3's standard chain
(environment, profile, role; `AWS_ENDPOINT_URL` for S3-compatible servers): nothing
here reads, stores or prints a secret.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from ..core.cli import UserError, first_line
from ..core.progress import bar

PART_SIZE = 8 * 1024 * 1024  # boto3's default multipart threshold and chunk size
# Few, quick retries: a dead endpoint should fail in seconds with a clear line, not hang.
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)


def parse_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise UserError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise UserError(f"S3 URI {uri!r} needs both a bucket and a key: s3://bucket/key")
    return bucket, key


MISSING = ("404", "NoSuchKey", "NotFound")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def or_none(call, missing: tuple[str, ...] = MISSING, **kwargs):
    """`call(**kwargs)`, or None when S3 answers that the thing asked for does not exist."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) in missing:
            return None
        raise


def client(region: str | None = None):
    try:
        return boto3.session.Session().client("s3", region_name=region or None, config=_CONFIG)
    except (BotoCoreError, ValueError) as exc:  # a profile that is not there, an endpoint or region that is no URL
        raise UserError(
            f"cannot set up the S3 client ({first_line(exc)}); check AWS_ENDPOINT_URL (http(s)://host:port), "
            "AWS_PROFILE and AWS_REGION"
        ) from None


@contextlib.contextmanager
def errors(action: str, bucket: str, key: str = "") -> Iterator[None]:
    """Turn the SDK's exceptions into one line that says what to do."""
    where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise UserError(
            f"{action} {where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an IAM role is attached"
        ) from None
    except BotoConnectionError as exc:
        raise UserError(
            f"{action} {where}: cannot reach the S3 endpoint ({exc}); check the network or AWS_ENDPOINT_URL"
        ) from None
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchBucket":
            raise UserError(
                f"{action} {where}: bucket {bucket!r} does not exist (create it with `make bucket`)"
            ) from None
        if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise UserError(
                f"{action} {where}: access denied ({code}); check the credentials and the bucket policy"
            ) from None
        if code in MISSING:
            raise UserError(f"{action} {where}: no such object") from None
        message = exc.response.get("Error", {}).get("Message", exc)
        raise UserError(f"{action} {where}: {code or 'error'}: {message}") from None
    except BotoCoreError as exc:
        raise UserError(f"{action} {where}: {exc}") from None


def download(uri: str, dest: str | Path) -> None:
    bucket, key = parse_uri(uri)
    s3 = client()
    with errors("download", bucket, key):
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        with bar(size, f"s3://{bucket}/{key}") as progress:
            s3.download_file(bucket, key, str(dest), Callback=progress.update)


class AlreadyExists(Exception):
    """A conditional create found an object at the key (versions are never overwritten)."""


def expected_checksum(path: str | Path, part_size: int = PART_SIZE) -> str:
    """The SHA-256 checksum S3 reports for `path` uploaded by upload_file (composite when multipart)."""
    digests = []
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(part_size), b""):
            digests.append(hashlib.sha256(chunk).digest())
    if len(digests) <= 1:
        return _b64(digests[0] if digests else hashlib.sha256(b"").digest())
    return f"{_b64(hashlib.sha256(b''.join(digests)).digest())}-{len(digests)}"


def upload_file(client, path: str | Path, bucket: str, key: str, extra: dict, *, part_size: int = PART_SIZE) -> None:
    """Upload `path` once, never over an existing object, with SHA-256 checksums.

    Small files go in one PUT, larger ones multipart; both are conditional creates
    (If-None-Match: *), so a key that already holds an object raises AlreadyExists.
    S3 checks each part's checksum on arrival; compare the stored one with
    expected_checksum() to confirm the whole object.
    """
    path = Path(path)
    size = path.stat().st_size
    with errors("upload", bucket, key), open(path, "rb") as f, bar(size, f"upload {path.name}") as progress:
        try:
            if size <= part_size:
                client.put_object(
                    Bucket=bucket, Key=key, Body=f.read(), ChecksumAlgorithm="SHA256", IfNoneMatch="*", **extra
                )
                progress.update(size)
            else:
                _multipart(client, f, bucket, key, extra, part_size, progress)
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                raise AlreadyExists(f"s3://{bucket}/{key}") from None
            raise


def _multipart(client, f, bucket: str, key: str, extra: dict, part_size: int, progress) -> None:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **extra)["UploadId"]
    try:
        parts = []
        for number, chunk in enumerate(iter(lambda: f.read(part_size), b""), start=1):
            checksum = _b64(hashlib.sha256(chunk).digest())
            response = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk, ChecksumSHA256=checksum
            )
            parts.append({"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum})
            progress.update(len(chunk))
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, IfNoneMatch="*", MultipartUpload={"Parts": parts}
        )
    except BaseException:
        with contextlib.suppress(Exception):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def stored_checksum(client, bucket: str, key: str) -> str | None:
    """The SHA-256 checksum S3 holds for an object, or None when the object is missing."""
    with errors("check", bucket, key):
        head = or_none(client.head_object, Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    return None if head is None else head.get("ChecksumSHA256")


def same_checksum(stored: str | None, expected: str) -> bool:
    """Compare checksums; S3 may report a composite one with or without its '-<parts>' suffix."""
    if stored is None:
        return False
    return stored == expected or stored.split("-")[0] == expected.split("-")[0]


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()
