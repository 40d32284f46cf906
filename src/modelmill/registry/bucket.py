"""`make bucket`: create the registry bucket if missing and make it private.

Private means: Block Public Access with all four settings on, object ownership
BucketOwnerEnforced (ACLs off), default encryption (SSE-S3, or SSE-KMS with a key id)
and versioning on. Each setting is read first and written only when it differs, so a
second run changes nothing.
"""

from __future__ import annotations

import argparse
import sys

from .. import lines
from ..core import s3
from ..core.cli import UserError, cli
from .store import Registry

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def ensure_private_bucket(client, reg: Registry) -> list[str]:
    """Bring the bucket to the private baseline; return what had to change (empty: nothing)."""
    bucket, changes = reg.bucket, []
    with s3.errors("set up", bucket):
        if s3.or_none(client.head_bucket, (*s3.MISSING, "NoSuchBucket"), Bucket=bucket) is None:
            create: dict[str, object] = {"Bucket": bucket}
            if reg.region != "us-east-1":  # us-east-1 is the one region that rejects a LocationConstraint
                create["CreateBucketConfiguration"] = {"LocationConstraint": reg.region}
            client.create_bucket(**create)
            changes.append(f"created bucket in {reg.region}")

        if public_access_settings(client, bucket) != BLOCK_ALL:
            client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
            changes.append("blocked all public access")

        ownership = s3.or_none(client.get_bucket_ownership_controls, ("OwnershipControlsNotFoundError",), Bucket=bucket)
        rules = (ownership or {}).get("OwnershipControls", {}).get("Rules", [])
        if [r.get("ObjectOwnership") for r in rules] != ["BucketOwnerEnforced"]:
            client.put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
            )
            changes.append("set object ownership to BucketOwnerEnforced (ACLs off)")

        want = (
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": reg.kms_key_id}
            if reg.kms_key_id
            else {"SSEAlgorithm": "AES256"}
        )
        current = s3.or_none(
            client.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), Bucket=bucket
        )
        rules = (current or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        if [r.get("ApplyServerSideEncryptionByDefault") for r in rules] != [want]:
            client.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": want}]},
            )
            changes.append(f"set default encryption to {want['SSEAlgorithm']}")

        if client.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            changes.append("turned versioning on")
    return changes


def public_access_settings(client, bucket: str) -> dict:
    """The bucket's Block Public Access settings ({} when none are set)."""
    found = s3.or_none(client.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=bucket)
    return (found or {}).get("PublicAccessBlockConfiguration", {})


def require_private(client, bucket: str) -> None:
    """Refuse a bucket that could be made public: every Block Public Access setting must be on."""
    with s3.errors("check", bucket):
        settings = public_access_settings(client, bucket)
    off = [name for name in BLOCK_ALL if not settings.get(name)]
    if off:
        raise UserError(
            f"bucket {bucket!r} is not private ({', '.join(off)} off); refusing to publish there. "
            "Run `make bucket` to apply the private settings"
        )


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lines.add_argument(parser)
    buckets = {reg.bucket: reg for _, reg in Registry.each_for_line(parser.parse_args().pipeline)}
    for reg in buckets.values():  # a line's models normally share one bucket
        changes = ensure_private_bucket(s3.client(reg.region), reg)
        if changes:
            for change in changes:
                print(f"bucket s3://{reg.bucket}: {change}", file=sys.stderr)
        else:
            print(
                f"bucket s3://{reg.bucket}: already private, encrypted and versioned; nothing changed", file=sys.stderr
            )


if __name__ == "__main__":
    main()
