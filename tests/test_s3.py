"""S3 for real: boto3 and dvc against moto's S3 server on loopback."""

import json
import os
import shutil

import pytest
from botocore.exceptions import ClientError
from conftest import assert_one_line_error, dvc, git, run_module

from modelmill.core import s3
from modelmill.core.cli import UserError
from modelmill.core.io import file_digest
from modelmill.registry.bucket import BLOCK_ALL, ensure_private_bucket
from modelmill.registry.fetch import SUCCESS, fetch
from modelmill.registry.publish import publish
from modelmill.registry.s3local import start_server
from modelmill.registry.store import Registry, get_json, latest_version, list_versions


def registry(s3_env, region="us-east-1", **kw) -> Registry:
    return Registry(
        bucket=s3_env["bucket"],
        region=region,
        prefix="models",
        model_name="eurosat-test",
        model_object="satellite_model.pt",
        **kw,
    )


@pytest.fixture
def private_bucket(s3_env):
    reg = registry(s3_env)
    ensure_private_bucket(s3.client(reg.region), reg)
    return reg


@pytest.fixture(scope="module")
def second_model(trained_project):
    """The committed params.yaml and dvc.lock of a second run of trained_project (another
    learning rate), its outputs in the DVC cache: trained once, so that each test needing a
    new model switches to it in seconds (use_second_model) and back (restore)."""
    from test_pipeline import edit_params

    edit_params(trained_project, **{"train.lr": 0.02})
    try:
        dvc(trained_project, "repro")
        return {name: (trained_project / name).read_text() for name in ("params.yaml", "dvc.lock")}
    finally:
        restore(trained_project)


def use_second_model(project, second_model):
    for name, text in second_model.items():
        (project / name).write_text(text)
    dvc(project, "checkout", "--force", "dvc.yaml")
    assert json.loads(dvc(project, "status", "--json", "dvc.yaml").stdout or "{}") == {}


def restore(project):
    git(project, "checkout", "HEAD", "--", "params.yaml", "dvc.lock")
    dvc(project, "checkout", "--force", "dvc.yaml")


# --- the bucket ---------------------------------------------------------------------------


def test_bucket_is_made_private_and_a_second_run_changes_nothing(s3_env):
    reg = registry(s3_env)
    client = s3.client(reg.region)
    changes = ensure_private_bucket(client, reg)
    assert changes[0] == "created bucket in us-east-1" and len(changes) == 5
    bucket = reg.bucket
    assert client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == BLOCK_ALL
    rules = client.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    sse = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert ensure_private_bucket(client, reg) == []


def test_bucket_outside_us_east_1_gets_a_location_constraint(s3_env):
    reg = registry(s3_env, region="eu-west-1", kms_key_id="alias/model-registry")
    client = s3.client(reg.region)
    ensure_private_bucket(client, reg)
    assert client.get_bucket_location(Bucket=reg.bucket)["LocationConstraint"] == "eu-west-1"
    sse = client.get_bucket_encryption(Bucket=reg.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": "alias/model-registry",
    }


def test_bucket_cli_is_idempotent(s3_env, tmp_path):
    from conftest import write_params

    write_params(tmp_path / "params.yaml")
    env = {"BUCKET_NAME": s3_env["bucket"]}
    first = run_module("modelmill.registry.bucket", tmp_path, env=env)
    assert first.returncode == 0 and "created bucket" in first.stderr
    second = run_module("modelmill.registry.bucket", tmp_path, env=env)
    assert second.returncode == 0 and "nothing changed" in second.stderr


# --- publish and verify-download ----------------------------------------------------------


def test_publish_versions_and_latest(trained_project, private_bucket, second_model):
    reg, client = private_bucket, s3.client()
    first = publish(reg, trained_project)
    assert (first.version, first.created) == (1, True)
    assert latest_version(client, reg) == 1
    meta = get_json(client, reg, reg.key(1, "metadata.json"))
    model = trained_project / "models" / "satellite_model.pt"
    assert meta["sha256"] == file_digest(model) and meta["size_bytes"] == model.stat().st_size
    for field in (
        "model_name",
        "version",
        "framework",
        "architecture",
        "dataset",
        "num_classes",
        "val_accuracy",
        "trained_at_utc",
        "artifact_key",
        "class_names",
        "test_metrics",
        "dvc_md5",
        "git_commit",
        "params",
        "dataset_sha256",
        "torch_version",
        "torchvision_version",
        "input_size",
        "normalization",
    ):
        assert meta.get(field) is not None, field
    assert meta["git_commit"] == git(trained_project, "rev-parse", "HEAD").strip()
    assert meta["artifact_key"] == "models/eurosat-test/v1/satellite_model.pt"
    head = client.head_object(Bucket=reg.bucket, Key=meta["artifact_key"], ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256" and head.get("ChecksumSHA256")
    # what promote compares (issue 38): S3's own checksum of each object, composite for this multipart one
    assert model.stat().st_size > s3.PART_SIZE and meta["s3_checksums"]["satellite_model.pt"] == head["ChecksumSHA256"]
    assert "secret" not in json.dumps(meta).lower() and "testing" not in json.dumps(meta)

    again = publish(reg, trained_project)
    assert (again.version, again.created) == (1, False)
    assert list_versions(client, reg) == [1]

    use_second_model(trained_project, second_model)
    try:
        second = publish(reg, trained_project)
        assert (second.version, second.created) == (2, True)
        assert latest_version(client, reg) == 2
        assert fetch(reg)["version"] == "v2"
        assert fetch(reg, version=1)["version"] == "v1"
    finally:
        restore(trained_project)


def test_publish_refuses_an_out_of_date_pipeline(trained_project, private_bucket):
    from test_pipeline import edit_params

    edit_params(trained_project, **{"train.epochs": 3})
    try:
        with pytest.raises(UserError, match="not up to date .*train.*make repro"):
            publish(private_bucket, trained_project)
    finally:
        git(trained_project, "checkout", "HEAD", "--", "params.yaml")


def test_publish_refuses_missing_metrics(trained_project, private_bucket, tmp_path):
    bare = tmp_path / "bare"
    (bare / "models").mkdir(parents=True)
    shutil.copy(trained_project / "models" / "satellite_model.pt", bare / "models")
    shutil.copy(trained_project / "models" / "model.json", bare / "models")
    shutil.copy(trained_project / "params.yaml", bare)
    with pytest.raises(UserError, match="metrics/metrics.json not found; run the evaluate stage first"):
        publish(private_bucket, bare, check_pipeline=False)
    assert latest_version(s3.client(), private_bucket) is None


@pytest.mark.parametrize("settings", [None, {**BLOCK_ALL, "BlockPublicPolicy": False}])
def test_publish_refuses_a_bucket_that_is_not_private(trained_project, s3_env, settings):
    client = s3.client()
    client.create_bucket(Bucket=s3_env["bucket"])
    if settings:
        client.put_public_access_block(Bucket=s3_env["bucket"], PublicAccessBlockConfiguration=settings)
    with pytest.raises(UserError, match="is not private .*make bucket"):
        publish(registry(s3_env), trained_project)
    assert client.list_objects_v2(Bucket=s3_env["bucket"]).get("KeyCount") == 0


def test_publish_to_a_missing_bucket(trained_project, s3_env):
    with pytest.raises(UserError, match="does not exist .*make bucket"):
        publish(registry(s3_env), trained_project)


def test_tampered_or_truncated_object_fails_fetch(trained_project, private_bucket):
    publish(private_bucket, trained_project)
    key = private_bucket.model_key(1)
    body = (trained_project / "models" / "satellite_model.pt").read_bytes()
    client = s3.client()
    for bad in (body[: len(body) // 2], body[:-1] + bytes([body[-1] ^ 1])):
        client.put_object(Bucket=private_bucket.bucket, Key=key, Body=bad)
        with pytest.raises(UserError, match="does not match metadata"):
            fetch(private_bucket)


def test_publish_and_verify_download_cli(trained_project, s3_env):
    env = {"BUCKET_NAME": s3_env["bucket"], "MODEL_NAME": "cli-model"}
    assert run_module("modelmill.registry.bucket", trained_project, env=env).returncode == 0
    published = run_module("modelmill.registry.publish", trained_project, env=env)
    assert published.returncode == 0, published.stderr
    uris = published.stdout.split()
    assert uris == [
        f"s3://{s3_env['bucket']}/models/cli-model/v1/satellite_model.pt",
        f"s3://{s3_env['bucket']}/models/cli-model/v1/metadata.json",
        f"s3://{s3_env['bucket']}/models/cli-model/latest.json",
    ]
    checked = run_module("modelmill.registry.fetch", trained_project, env=env)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().endswith(SUCCESS)
    assert "testing" not in published.stdout + published.stderr + checked.stdout + checked.stderr


# --- faults -------------------------------------------------------------------------------


def test_endpoint_down_is_one_clear_line_and_latest_stays(trained_project, s3_env, monkeypatch, second_model):
    server, url = start_server()
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    reg = registry(s3_env)
    ensure_private_bucket(s3.client(), reg)
    publish(reg, trained_project)
    server.stop()
    use_second_model(trained_project, second_model)
    try:
        with pytest.raises(UserError, match="cannot reach the S3 endpoint"):
            publish(reg, trained_project)
    finally:
        restore(trained_project)
    server, url = start_server()  # moto keeps its state in this process: the same bucket is back
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        assert latest_version(s3.client(), reg) == 1
        assert list_versions(s3.client(), reg) == [1]
    finally:
        server.stop()


def test_rerun_completes_a_version_a_failed_publish_left_half_written(trained_project, private_bucket, second_model):
    reg, client = private_bucket, s3.client()
    publish(reg, trained_project)
    use_second_model(trained_project, second_model)
    try:
        # What a publish that died after its model upload leaves: v2 has a model, no metadata.
        s3.upload_file(
            client,
            trained_project / "models" / "satellite_model.pt",
            reg.bucket,
            reg.model_key(2),
            reg.encryption_args(),
        )
        assert latest_version(client, reg) == 1
        assert fetch(reg)["version"] == "v1"  # latest still complete and loadable
        result = publish(reg, trained_project)
        assert (result.version, result.created) == (2, True)
        assert latest_version(client, reg) == 2
        assert fetch(reg)["version"] == "v2"
    finally:
        restore(trained_project)


def test_the_registry_keys_are_the_documented_layout(private_bucket):
    """<prefix>/<model>/v<N>/<file> and <prefix>/<model>/latest.json: what deployments, IAM
    policies and docs/registry.md's layout read, so a change to it must fail here."""
    reg, client = private_bucket, s3.client()
    assert reg.model_key(3) == "models/eurosat-test/v3/satellite_model.pt"
    assert reg.metadata_key(3) == "models/eurosat-test/v3/metadata.json"
    assert reg.latest_key == "models/eurosat-test/latest.json"
    for key in ("v1/metadata.json", "v2/satellite_model.pt", "v10/metadata.json", "vx/metadata.json"):
        client.put_object(Bucket=reg.bucket, Key=f"models/eurosat-test/{key}", Body=b"{}")
    assert list_versions(client, reg) == [1, 2, 10]
    client.put_object(Bucket=reg.bucket, Key="models/eurosat-test/latest.json", Body=b'{"version": 10}')
    assert latest_version(client, reg) == 10


def test_versions_are_never_overwritten(private_bucket, tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    key = private_bucket.model_key(9)
    s3.upload_file(s3.client(), path, private_bucket.bucket, key, {})
    with pytest.raises(s3.AlreadyExists):
        s3.upload_file(s3.client(), path, private_bucket.bucket, key, {})


def test_multipart_upload_checksum_matches_s3(private_bucket, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(11 * 1024 * 1024))
    part = 5 * 1024 * 1024  # S3's smallest part: three parts here
    key = "parts/big.bin"
    s3.upload_file(s3.client(), path, private_bucket.bucket, key, private_bucket.encryption_args(), part_size=part)
    expected = s3.expected_checksum(path, part_size=part)
    assert expected.endswith("-3")
    assert s3.same_checksum(s3.stored_checksum(s3.client(), private_bucket.bucket, key), expected)
    body = s3.client().get_object(Bucket=private_bucket.bucket, Key=key)["Body"].read()
    assert body == path.read_bytes()
    with pytest.raises(s3.AlreadyExists):
        s3.upload_file(s3.client(), path, private_bucket.bucket, key, {}, part_size=part)


def test_no_credentials(trained_project, s3_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(UserError, match="no AWS credentials found"):
        publish(registry(s3_env), trained_project)


@pytest.mark.parametrize(
    "code, message",
    [("AccessDenied", "access denied"), ("NoSuchBucket", "does not exist"), ("SlowDown", "SlowDown: try later")],
)
def test_service_errors_become_one_line(code, message):
    with pytest.raises(UserError, match=message):
        with s3.errors("upload", "b", "k"):
            raise ClientError({"Error": {"Code": code, "Message": "try later"}}, "PutObject")


@pytest.mark.parametrize(
    "env, reason",
    [
        ({"AWS_ENDPOINT_URL": "127.0.0.1:5555"}, "Invalid endpoint: 127.0.0.1:5555"),  # no http://
        ({"AWS_ENDPOINT_URL": "http://[::1"}, "Invalid IPv6 URL"),
        ({"AWS_PROFILE": "no-such-profile"}, "The config profile (no-such-profile) could not be found"),
        ({}, "Provided region_name 'us_east!' doesn't match"),  # AWS_REGION, as the registry reads it
    ],
)
def test_a_bad_aws_setting_is_one_line_before_any_request(monkeypatch, env, reason):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError) as err:
        s3.client(None if env else "us_east!")
    message = str(err.value)
    assert (
        message.startswith(f"cannot set up the S3 client ({reason}")
        and "AWS_ENDPOINT_URL (http(s)://host:port)" in message
    )
    assert "\n" not in message


def test_cli_error_for_unreachable_endpoint(trained_project, s3_env):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_module(
        "modelmill.registry.fetch",
        trained_project,
        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "BUCKET_NAME": s3_env["bucket"]},
    )
    assert_one_line_error(result, "cannot reach the S3 endpoint")


# --- the DVC remote -----------------------------------------------------------------------


def test_dvc_push_then_pull_in_a_fresh_clone(trained_project, private_bucket, s3_env, tmp_path):
    url = f"s3://{private_bucket.bucket}/dvc"
    local_config = ["remote", "modify", "--local", "storage"]
    dvc(trained_project, *local_config, "url", url)
    dvc(trained_project, *local_config, "endpointurl", s3_env["endpoint"])
    try:
        dvc(trained_project, "push", "dvc.yaml")
        listed = s3.client().list_objects_v2(Bucket=private_bucket.bucket, Prefix="dvc/")
        assert listed["KeyCount"] > 0
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(trained_project), str(clone))
        dvc(clone, *local_config, "url", url)
        dvc(clone, *local_config, "endpointurl", s3_env["endpoint"])
        dvc(clone, "pull", "dvc.yaml")
        for path in (
            "models/satellite_model.pt",
            "metrics/metrics.json",
            "data/prepared/train.npz",
            "data/raw/eurosat.zip",
        ):
            assert file_digest(clone / path) == file_digest(trained_project / path), path
        assert json.loads(dvc(clone, "status", "--json", "dvc.yaml").stdout or "{}") == {}
        assert "Running stage" not in dvc(clone, "repro").stdout
    finally:
        (trained_project / ".dvc" / "config.local").unlink()
