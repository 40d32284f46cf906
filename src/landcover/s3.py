"""S3 access shared by ingest, bucket setup, publish and verify-download.

Credentials, region overrides and endpoints come only from boto3's standard chain
(environment, profile, role; `AWS_ENDPOINT_URL` for S3-compatible servers): nothing
here reads, stores or prints a secret.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from .errors import UserError
from .progress import bar

# Few, quick retries: a dead endpoint should fail in seconds with a clear line, not hang.
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)


def parse_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise UserError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key:
        raise UserError(f"S3 URI {uri!r} needs both a bucket and a key: s3://bucket/key")
    return bucket, key


def client(region: str | None = None):
    return boto3.session.Session().client("s3", region_name=region or None, config=_CONFIG)


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
        raise UserError(f"{action} {where}: cannot reach the S3 endpoint ({exc}); check the network or AWS_ENDPOINT_URL") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        if code == "NoSuchBucket":
            raise UserError(f"{action} {where}: bucket {bucket!r} does not exist (create it with `make bucket`)") from None
        if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise UserError(f"{action} {where}: access denied ({code}); check the credentials and the bucket policy") from None
        if code in ("NoSuchKey", "404", "NotFound"):
            raise UserError(f"{action} {where}: no such object") from None
        raise UserError(f"{action} {where}: {code or 'error'}: {err.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise UserError(f"{action} {where}: {exc}") from None


def download(uri: str, dest: str | Path) -> None:
    bucket, key = parse_uri(uri)
    s3 = client()
    with errors("download", bucket, key):
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        with bar(size, f"s3://{bucket}/{key}") as progress:
            s3.download_file(bucket, key, str(dest), Callback=progress.update)
