"""The registry serves every line: the fire line published and fetched back through the same
code as EuroSAT, against the loopback S3 server, each line checked for its own freshness only."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, assert_one_line_error, edit_yaml, git, run_module

from modelmill import lines
from modelmill.core import s3
from modelmill.core.cli import UserError
from modelmill.core.io import file_digest
from modelmill.registry.bucket import ensure_private_bucket
from modelmill.registry.fetch import SUCCESS, download_version, fetch
from modelmill.registry.publish import publish
from modelmill.registry.store import COMPANIONS, Registry, latest_version

FIRE = lines.get("fire")


def edit_fire_params(repo, overrides: dict) -> None:
    edit_yaml(repo / FIRE.folder / "params.yaml", overrides)


@pytest.fixture
def fire_registry(s3_env, fire_project):
    reg = Registry.for_line(FIRE, fire_project, env={"BUCKET_NAME": s3_env["bucket"]})
    ensure_private_bucket(s3.client(reg.region), reg)
    return reg


def test_fire_publishes_while_the_eurosat_line_has_never_run(fire_project, fire_registry, capsys):
    assert not (fire_project / "models" / "satellite_model.pt").exists()
    first = publish(fire_registry, fire_project, line=FIRE)
    assert first.version == 1 and first.created
    assert first.model_uri.endswith("/fire-ensemble/v1/fire_ensemble.skops")
    client = s3.client()
    meta = json.loads(client.get_object(Bucket=fire_registry.bucket, Key=fire_registry.metadata_key(1))["Body"].read())
    assert meta["line"] == "fire" and meta["model_name"] == "fire-ensemble"
    assert meta["framework"].startswith("scikit-learn")
    assert meta["dvc_md5"]  # from pipelines/fire/dvc.lock
    assert meta["git_commit"] == git(fire_project, "rev-parse", "HEAD").strip()
    baseline = client.get_object(Bucket=fire_registry.bucket, Key=fire_registry.key(1, "baseline.json"))["Body"].read()
    assert meta["baseline"] == {
        "file": "baseline.json",
        "sha256": __import__("hashlib").sha256(baseline).hexdigest(),
        "size_bytes": len(baseline),
    }
    assert json.loads(baseline)["model"] == {"name": "fire-ensemble", "version": "v1", "sha256": meta["sha256"]}

    again = publish(fire_registry, fire_project, line=FIRE)
    assert (again.version, again.created) == (1, False)

    capsys.readouterr()
    assert fetch(fire_registry, line=FIRE, repo=fire_project)["version"] == "v1"
    assert SUCCESS in capsys.readouterr().out


def test_fire_publish_refuses_its_own_out_of_date_pipeline(fire_project, fire_registry):
    edit_fire_params(fire_project, {"ensemble.temperature": 0.5})
    try:
        with pytest.raises(
            UserError,
            match=r"the fire pipeline is not up to date \(changed: .*ensemble.*\); "
            r"run `make repro PIPELINE=fire` first",
        ):
            publish(fire_registry, fire_project, line=FIRE)
    finally:
        git(fire_project, "checkout", "HEAD", "--", str(FIRE.folder / "params.yaml"))
    assert latest_version(s3.client(), fire_registry) in (None, 1)


def test_a_tampered_fire_model_fails_fetch(fire_project, fire_registry):
    publish(fire_registry, fire_project, line=FIRE)
    version = latest_version(s3.client(), fire_registry)
    s3.client().put_object(Bucket=fire_registry.bucket, Key=fire_registry.model_key(version), Body=b"not skops")
    with pytest.raises(UserError, match="does not match metadata"):
        fetch(fire_registry, line=FIRE, repo=fire_project)


def test_the_onnx_export_is_published_and_checked_beside_the_model(fire_project, fire_registry, tmp_path):
    """A companion file: listed with its sha256 in metadata.json, uploaded before it, downloaded
    and checked with the model. A version without it (published before the export existed) is
    other content: publishing the same model with its export makes a new version."""
    onnx = fire_project / FIRE.folder / "models" / "fire_ensemble.onnx"
    aside = tmp_path / onnx.name
    onnx.rename(aside)
    try:
        before = publish(fire_registry, fire_project, line=FIRE, check_pipeline=False)
    finally:
        aside.rename(onnx)
    client = s3.client()
    meta = json.loads(client.get_object(Bucket=fire_registry.bucket, Key=fire_registry.metadata_key(1))["Body"].read())
    assert before.version == 1 and meta[COMPANIONS] == {}

    after = publish(fire_registry, fire_project, line=FIRE)
    assert (after.version, after.created) == (2, True)
    meta = json.loads(client.get_object(Bucket=fire_registry.bucket, Key=fire_registry.metadata_key(2))["Body"].read())
    assert meta[COMPANIONS] == {onnx.name: {"sha256": file_digest(onnx), "size_bytes": onnx.stat().st_size}}
    (tmp_path / "v2").mkdir()
    _, path = download_version(fire_registry, tmp_path / "v2", 2, line=FIRE)
    assert file_digest(path.parent / onnx.name) == file_digest(onnx)

    client.put_object(Bucket=fire_registry.bucket, Key=fire_registry.key(2, onnx.name), Body=b"not onnx")
    with pytest.raises(UserError, match=r"fire_ensemble.onnx: sha256 \w+ does not match metadata"):
        fetch(fire_registry, line=FIRE, repo=fire_project)
    assert publish(fire_registry, fire_project, line=FIRE).created is False  # v2 stays what it is


def test_cli_publish_and_fetch_name_the_pipeline(fire_project, s3_env):
    env = {"BUCKET_NAME": s3_env["bucket"]}
    fire = ("--pipeline", "fire")
    assert run_module("modelmill.registry.bucket", fire_project, env=env, args=fire).returncode == 0
    published = run_module("modelmill.registry.publish", fire_project, env=env, args=fire)
    assert published.returncode == 0, published.stderr
    assert "fire-ensemble/v1/fire_ensemble.skops" in published.stdout
    fetched = run_module("modelmill.registry.fetch", fire_project, env=env, args=fire)
    assert fetched.returncode == 0, fetched.stderr
    assert SUCCESS in fetched.stdout
    unknown = run_module("modelmill.registry.publish", fire_project, env=env, args=("--pipeline", "wildfire"))
    assert_one_line_error(unknown, "unknown pipeline 'wildfire'; choose one of landcover, fire")


def test_every_line_names_distinct_models_and_a_multi_model_line_refuses_model_name():
    """Each model a line publishes has its own name; MODEL_NAME (one name) cannot rename three."""
    names = [reg.model_name for line in lines.LINES.values() for _, reg in Registry.each_for_line(line, REPO, env={})]
    assert len(names) == len(set(names)) and len(names) == 6, names
    assert Registry.for_line(FIRE, REPO, env={"MODEL_NAME": "renamed"}).model_name == "renamed"
    with pytest.raises(UserError, match="MODEL_NAME is set, but the seaice line publishes 3 models"):
        Registry.each_for_line(lines.get("seaice"), REPO, env={"MODEL_NAME": "renamed"})


def test_one_version_cannot_name_three_models():
    result = run_module("modelmill.registry.fetch", REPO, args=("--pipeline", "seaice", "--version", "v2"))
    assert_one_line_error(
        result, "--version names one model's version, but the seaice line publishes 3 models", "seaice-classifier"
    )
