"""The registry's lifecycle against the loopback S3 server: list what is there, compare two
versions, promote with aliases and roll back, two promotes racing, resolve() for every form,
and every bad input refused in one line with the bucket unchanged.

Versions are made by the registry's own publish() from a stub line, whose artifact module
describes each version from a JSON file (metrics, params, data checksum): three versions in
a fraction of a second, where publishing real models would need a trained pipeline each.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import types
import uuid
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error, free_port, git, run_module

from modelmill import lines
from modelmill.core import s3
from modelmill.core.cli import UserError
from modelmill.registry import aliases
from modelmill.registry.aliases import (
    caller_identity,
    history_key,
    promote,
    read_alias,
    read_history,
    resolve,
    write_alias,
)
from modelmill.registry.bucket import ensure_private_bucket
from modelmill.registry.compare import compare
from modelmill.registry.listing import headline_metrics
from modelmill.registry.publish import publish
from modelmill.registry.s3local import AMBIENT, client_env
from modelmill.registry.store import Registry

MODEL = "eurosat-resnet18"  # the name the landcover line's params.yaml publishes under
MOTO_ARN = "arn:aws:sts::123456789012:user/moto"  # what moto's STS answers get_caller_identity
LANDCOVER = [  # what the stub line says of each version it publishes
    {
        "framework": "pytorch 2.4.0",
        "test_metrics": {"accuracy": 0.81, "macro_f1": 0.8, "loss": 0.6, "test_images": 400},
        "params": {"train": {"lr": 0.01, "epochs": 5}},
        "dataset_sha256": "a" * 64,
    },
    {
        "framework": "pytorch 2.4.0",
        "test_metrics": {"accuracy": 0.86, "macro_f1": 0.85, "loss": 0.45, "test_images": 400},
        "params": {"train": {"lr": 0.02, "epochs": 5}},
        "dataset_sha256": "a" * 64,
    },
    {
        "framework": "pytorch 2.5.0",
        "test_metrics": {"accuracy": 0.84, "macro_f1": 0.83, "loss": 0.5, "test_images": 400},
        "params": {"train": {"lr": 0.02, "epochs": 8}},
        "dataset_sha256": "b" * 64,
    },
]
FIRE = {
    "framework": "scikit-learn 1.5.0",
    "test_metrics": {"ensemble": {"roc_auc": 0.91, "f1": 0.7}, "forest": {"roc_auc": 0.9, "f1": 0.68}},
    "params": {"ensemble": {"temperature": 0.1}},
    "data_sha256": "c" * 64,
}


def stub_line(name: str, file: str) -> lines.Line:
    """Line `name` whose artifact describes its model from describe.json beside it (lines.Artifact)
    and which makes no baseline."""
    artifact = types.SimpleNamespace(
        describe=lambda folder: json.loads((Path(folder) / "describe.json").read_text()),
        check=lambda path, metadata, folder: [],
    )
    no_baseline = types.SimpleNamespace(baseline=lambda folder, key="": None)
    real = lines.get(name)
    modules = dataclasses.replace(real.models[0].modules, artifact=lambda: artifact, baseline=lambda: no_baseline)
    return dataclasses.replace(real, folder=Path("."), models=(lines.Model(modules, Path("models") / file),))


def publish_version(repo: Path, reg: Registry, line: lines.Line, described: dict, content: str) -> int:
    """Commit a model file and its description in `repo`, publish it; its version number."""
    model = line.model()
    (repo / model.file).parent.mkdir(exist_ok=True)
    (repo / model.file).write_text(content)
    (repo / "describe.json").write_text(json.dumps(described))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", content)
    return publish(reg, repo, line=line, model=model, check_pipeline=False).version


@pytest.fixture(scope="module")
def published(s3_server, tmp_path_factory) -> dict:
    """A bucket holding what publish() wrote, once for the module (each test works on a copy):
    eurosat-resnet18 v1..v3, v4 left without metadata.json (a publish that died), latest -> v3;
    mixed-model, which no line declares: v1 from the landcover line, v2 from the fire line."""
    work = tmp_path_factory.mktemp("lifecycle") / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    with pytest.MonkeyPatch.context() as env:
        for name in (*AMBIENT, "BUCKET_NAME"):  # as conftest's s3_env
            env.delenv(name, raising=False)
        for name, value in client_env(s3_server, work.parent / "aws-config").items():
            env.setenv(name, value)
        reg = Registry.for_line(lines.get("landcover"), REPO, env={"BUCKET_NAME": f"lifecycle-{uuid.uuid4().hex[:12]}"})
        ensure_private_bucket(s3.client(reg.region), reg)
        landcover = stub_line("landcover", reg.model_object)
        for number, described in enumerate(LANDCOVER, start=1):
            assert publish_version(work, reg, landcover, described, f"weights {number}") == number
        s3.client().put_object(Bucket=reg.bucket, Key=reg.model_key(4), Body=b"weights 4")
        mixed = Registry(reg.bucket, reg.region, reg.prefix, "mixed-model", "model.bin")
        assert publish_version(work, mixed, stub_line("landcover", "model.bin"), LANDCOVER[0], "mixed 1") == 1
        assert publish_version(work, mixed, stub_line("fire", "model.bin"), FIRE, "mixed 2") == 2
    return {"bucket": reg.bucket, "commits": git(work, "log", "--format=%H", "--reverse").split()}


@pytest.fixture
def registry(s3_env, published) -> Registry:
    """A fresh private bucket with a copy of `published`'s objects; eurosat-resnet18 there, as
    the commands find it from the project's params."""
    reg = Registry.for_line(lines.get("landcover"), REPO, env={"BUCKET_NAME": s3_env["bucket"]})
    client = s3.client(reg.region)
    ensure_private_bucket(client, reg)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=published["bucket"]):
        for entry in page.get("Contents", []):
            source = {"Bucket": published["bucket"], "Key": entry["Key"]}
            client.copy_object(Bucket=reg.bucket, Key=entry["Key"], CopySource=source)
    return reg


@pytest.fixture
def cli(monkeypatch, capsys, registry):
    """Run a registry command's main() in this process, as `python -m` from the project root
    would (a fifth of the time: no interpreter to start); its exit status and output."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("BUCKET_NAME", registry.bucket)
    handler = signal.getsignal(signal.SIGTERM)  # the @cli wrapper sets its own: put pytest's back after

    def run(module: str, *args: str) -> subprocess.CompletedProcess:
        main = importlib.import_module(f"modelmill.registry.{module}").main
        monkeypatch.setattr(sys, "argv", [module, *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return subprocess.CompletedProcess([module, *args], code, out.out, out.err)

    yield run
    signal.signal(signal.SIGTERM, handler)


def bucket_state(client, bucket: str) -> set[tuple[str, str, str]]:
    """Every object version in the bucket (key, version id, ETag), delete markers included."""
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket)
    return {
        (entry["Key"], entry["VersionId"], entry.get("ETag", "delete marker"))
        for page in pages
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
    }


def commands(bucket: str, module: str, *args: str):
    return run_module(f"modelmill.registry.{module}", REPO, env={"BUCKET_NAME": bucket}, args=args)


def moves(reg: Registry, alias: str = "production") -> list[tuple]:
    warnings: list[str] = []
    history = read_history(s3.client(), reg, alias, warnings)
    assert warnings == []
    return [(m["seq"], m["from_version"], m["version"], m["reason"]) for m in history]


# --- promote, roll back, resolve ----------------------------------------------------------------


def test_promote_roll_back_and_the_history_in_order(registry):
    client = s3.client()
    versions_before = {entry for entry in bucket_state(client, registry.bucket) if "/aliases/" not in entry[0]}
    first = promote(client, registry, "v2", "production", "first release")
    assert first.changed and first.record["by"] == MOTO_ARN
    assert first.record["sha256"] == aliases.read_metadata(client, registry, 2)["sha256"]
    promote(client, registry, "3", "production", "better on the new data")
    rollback = promote(client, registry, "v2", "production", "v3 regressed on field data")
    assert (rollback.record["from_version"], rollback.record["version"]) == (3, 2)
    assert resolve(client, registry, "production") == 2

    again = promote(client, registry, "v2", "production", "ignored")
    assert not again.changed and again.record["move_id"] == rollback.record["move_id"]
    assert moves(registry) == [
        (1, None, 2, "first release"),
        (2, 2, 3, "better on the new data"),
        (3, 3, 2, "v3 regressed on field data"),
    ]
    # another alias may name a version by the latest pointer or by another alias
    assert promote(client, registry, "latest", "staging").record["version"] == 3
    assert promote(client, registry, "production", "canary").record["version"] == 2
    assert {entry for entry in bucket_state(client, registry.bucket) if "/aliases/" not in entry[0]} == versions_before


def test_resolve_every_form(registry):
    client = s3.client()
    promote(client, registry, "v1", "production")
    forms = {"v1": 1, "2": 2, "V3": 3, " v2 ": 2, "latest": 3, "production": 1}
    assert {form: resolve(client, registry, form) for form in forms} == forms
    refused = {
        "v4": "v4 of eurosat-resnet18 is incomplete (no metadata.json: a publish that did not finish); "
        "complete versions: v1, v2, v3",
        "v9": "v9 of eurosat-resnet18 was never published; complete versions: v1, v2, v3",
        "staging": "eurosat-resnet18 has no alias 'staging'; its aliases: production",
        "v2.1": "'v2.1' is neither a version (vN, N, latest) nor an alias name",
        "Production": "'Production' is neither a version",
    }
    for form, message in refused.items():
        with pytest.raises(UserError) as caught:
            resolve(client, registry, form)
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    empty = Registry(registry.bucket, registry.region, registry.prefix, "never-published", "m.bin")
    with pytest.raises(UserError, match="nothing published yet for never-published"):
        resolve(client, empty, "latest")
    with pytest.raises(UserError, match="never-published has no alias 'production'; it has no aliases yet"):
        resolve(client, empty, "production")


@pytest.fixture
def atomic_moto_puts(monkeypatch):
    """S3 checks a conditional PUT's condition and writes atomically. moto 5.2.5 checks, then
    writes, with no lock between: racing it, both of two If-Match writers landed in 46 of 600
    tries on a versioned bucket. So the race test gives moto's PUT handler S3's atomicity: it
    races this project's code, not moto's."""
    from moto.s3.responses import S3Response

    lock, unlocked = threading.Lock(), S3Response.put_object

    def put_object(self):
        with lock:
            return unlocked(self)

    monkeypatch.setattr(S3Response, "put_object", put_object)


def race(monkeypatch, reg: Registry, versions: list[str]) -> dict[int, object]:
    """Promote production to each of `versions` at once, one thread and client each, every
    promote's write sent only after all have read the alias; {thread: Move or UserError}."""
    barrier, identify = threading.Barrier(len(versions)), aliases.caller_identity

    def identify_after_all_have_read(region: str) -> str:
        barrier.wait(timeout=20)
        return identify(region)

    monkeypatch.setattr(aliases, "caller_identity", identify_after_all_have_read)
    results: dict[int, object] = {}

    def run(index: int) -> None:
        try:
            results[index] = promote(s3.client(), reg, versions[index], "production", f"thread {index}")
        except UserError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(versions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_promotes_racing_exactly_one_wins(registry, monkeypatch, atomic_moto_puts):
    """First two promotes race to create the alias (If-None-Match: *), then four to move it
    (If-Match), two to each version it is not at."""
    client = s3.client()
    for seen in range(2):
        if seen == 0:
            versions = ["v1", "v2"]
        else:
            current = resolve(client, registry, "production")
            versions = [f"v{v}" for v in (1, 2, 3) if v != current] * 2
        results = race(monkeypatch, registry, versions)
        won = [index for index, result in results.items() if isinstance(result, aliases.Move)]
        assert len(results) == len(versions) and len(won) == 1, results
        for index, result in results.items():
            if index not in won:
                assert "was moved by another promote while this one ran" in str(result), result
                assert str(result).endswith("this promote changed nothing: check it, then run promote again")
        winner = results[won[0]]
        assert isinstance(winner, aliases.Move)
        assert resolve(client, registry, "production") == int(versions[won[0]][1:])
        history = read_history(client, registry, "production", [])
        assert len(history) == seen + 1 and history[-1]["move_id"] == winner.record["move_id"]


def test_a_retried_write_that_had_landed_is_no_conflict(registry):
    """An SDK retry of a PUT whose answer was lost finds its own record there: a win, not a race."""
    client = s3.client()
    promote(client, registry, "v1", "production")
    current = read_alias(client, registry, "production")
    record = {**current.record, "version": 2, "seq": 2, "move_id": "retried"}
    write_alias(client, registry, record, current.etag)
    write_alias(client, registry, record, current.etag)  # the retry: 412, and the record is ours
    other = {**record, "version": 3, "seq": 2, "move_id": "someone else"}
    with pytest.raises(UserError, match=r"now points at v2 \(by arn:aws:sts::123456789012:user/moto\)"):
        write_alias(client, registry, other, current.etag)


def test_a_promote_that_died_before_its_history_write(registry):
    """The alias holds its last move: listing shows it, and the next promote records it."""
    client = s3.client()
    promote(client, registry, "v1", "production", "one")
    promote(client, registry, "v2", "production", "two")
    client.delete_object(Bucket=registry.bucket, Key=history_key(registry, "production", 2))
    assert moves(registry) == [(1, None, 1, "one"), (2, 1, 2, "two")]
    promote(client, registry, "v3", "production", "three")
    assert s3.or_none(client.head_object, Bucket=registry.bucket, Key=history_key(registry, "production", 2))
    assert moves(registry) == [(1, None, 1, "one"), (2, 1, 2, "two"), (3, 2, 3, "three")]


def test_an_alias_removed_by_hand_and_made_again_loses_no_move(registry):
    """There is no command to remove an alias; a user deletes its object. Made again, it goes on
    from its history's last move instead of starting over at 1 (whose record is already there)."""
    client = s3.client()
    promote(client, registry, "v1", "production", "one")
    promote(client, registry, "v3", "production", "three")
    client.delete_object(Bucket=registry.bucket, Key=aliases.alias_key(registry, "production"))
    again = promote(client, registry, "v1", "production", "recreated")
    assert again.changed and again.record["seq"] == 3 and again.record["from_version"] is None
    assert moves(registry) == [(1, None, 1, "one"), (2, 1, 3, "three"), (3, None, 1, "recreated")]
    assert resolve(client, registry, "production") == 1


def test_who_moved_it_without_sts(registry, monkeypatch):
    """STS unreachable: the access key id (never the secret); no credentials at all: unknown."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLIFECYCLETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lifecycle-secret")
    move = promote(s3.client(), registry, "v3", "production")
    assert move.changed and move.record["by"] == "AKIDLIFECYCLETEST"
    stored = s3.client().get_object(Bucket=registry.bucket, Key=history_key(registry, "production", 1))["Body"].read()
    assert b"lifecycle-secret" not in stored
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert caller_identity(registry.region) == "unknown"


# --- listing and compare, as a user runs them ---------------------------------------------------


def test_models_lists_every_model_in_the_bucket(registry):
    client = s3.client()
    promote(client, registry, "v2", "production")
    promote(client, registry, "v3", "staging")
    table = commands(registry.bucket, "models")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert rows[MODEL].split()[:7] == [MODEL, "landcover", "3", "(+1", "incomplete)", "v3", "production=v2,"]
    assert "staging=v3" in rows[MODEL] and f"s3://{registry.bucket}/models/{MODEL}/" in rows[MODEL]
    assert rows["mixed-model"].split()[1:4] == ["-", "2", "v2"]  # found in the bucket; no line declares it
    assert rows["fire-ensemble"].split()[1:5] == ["fire", "0", "-", "-"]  # declared, never published

    listed = commands(registry.bucket, "models", "--json")
    assert listed.returncode == 0, listed.stderr
    models = {row["model"]: row for row in json.loads(listed.stdout)["models"]}
    assert models[MODEL] | {"uri": None} == {
        "model": MODEL,
        "line": "landcover",
        "uri": None,
        "versions": 3,
        "incomplete": 1,
        "latest": 3,
        "aliases": {"production": 2, "staging": 3},
    }
    assert (models["mixed-model"]["line"], models["mixed-model"]["versions"]) == ("", 2)


def test_models_shows_each_version_and_the_alias_history(registry, published):
    client = s3.client()
    promote(client, registry, "v1", "production", "first release")
    promote(client, registry, "v3", "production", "better")
    rollback = ("--model", MODEL, "--version", "v2", "--alias", "production", "--reason", "rolled back: v3 regressed")
    rolled = commands(registry.bucket, "promote", *rollback)
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.strip() == f"s3://{registry.bucket}/models/{MODEL}/aliases/production.json"
    assert rolled.stderr.strip() == f"promote: {MODEL} production -> v2 (was v3)"
    again = commands(registry.bucket, "promote", *rollback)
    assert again.returncode == 0 and "already points at v2; nothing changed" in again.stderr
    table = commands(registry.bucket, "models", "--model", MODEL)
    assert table.returncode == 0, table.stderr
    text = table.stdout.splitlines()
    assert text[0] == f"{MODEL} (landcover line) at s3://{registry.bucket}/models/{MODEL}/"
    assert text[1].split() == [
        "VERSION",
        "PUBLISHED",
        "(UTC)",
        "COMMIT",
        "DATA",
        "accuracy",
        "macro_f1",
        "SIZE",
        "ALIASES",
    ]
    commits = published["commits"]
    v2 = text[3].split()
    assert v2[0] == "v2" and v2[2:6] == [commits[1][:7], "a" * 12, "0.86", "0.85"] and v2[-1] == "production"
    assert text[4].split()[0] == "v3" and text[4].endswith("latest")
    assert text[5].split()[:4] == ["v4", "incomplete", "(no", "metadata.json)"] and text[5].endswith("9 B")
    history = text[text.index("alias history (oldest first):") + 2 :]
    assert [line.split()[:6] for line in history] == [
        ["production", "#1", history[0].split()[2], "(new)", "->", "v1"],
        ["production", "#2", history[1].split()[2], "v1", "->", "v3"],
        ["production", "#3", history[2].split()[2], "v3", "->", "v2"],
    ]
    assert history[2].endswith(f"{MOTO_ARN}  rolled back: v3 regressed")

    listed = commands(registry.bucket, "models", "--model", MODEL, "--json")
    assert listed.returncode == 0, listed.stderr
    model = json.loads(listed.stdout)
    v2 = model["versions"][1]
    assert v2["git_commit"] == commits[1] and v2["data_sha256"] == "a" * 64 and v2["aliases"] == ["production"]
    assert v2["metrics"] == {"accuracy": 0.86, "macro_f1": 0.85} and v2["complete"] and v2["published_at_utc"]
    assert model["versions"][3] == {
        "version": 4,
        "complete": False,
        "unreadable": False,
        "size_bytes": len(b"weights 4"),
        "latest": False,
        "aliases": [],
        "line": None,
        "published_at_utc": None,
        "git_commit": None,
        "data_sha256": None,
        "framework": None,
        "metrics": {},
    }
    assert [(m["from_version"], m["version"], m["reason"]) for m in model["history"]["production"]] == [
        (None, 1, "first release"),
        (1, 3, "better"),
        (3, 2, "rolled back: v3 regressed"),
    ]
    assert (model["latest"], model["aliases"], model["warnings"]) == (3, {"production": 2}, [])


def test_headline_metrics_follow_the_line():
    assert headline_metrics({"line": "landcover", "test_metrics": LANDCOVER[0]["test_metrics"]}) == {
        "accuracy": 0.81,
        "macro_f1": 0.8,
    }
    assert headline_metrics({"line": "fire", "test_metrics": FIRE["test_metrics"]}) == {
        "ensemble.roc_auc": 0.91,
        "ensemble.f1": 0.7,
    }
    biomass = {"model": {"rmse_g": 1.5}, "rmse_ratio_to_baseline": 0.4, "test_images": 80}
    assert headline_metrics({"line": "biomass", "test_metrics": biomass}) == {
        "model.rmse_g": 1.5,
        "rmse_ratio_to_baseline": 0.4,
    }
    assert headline_metrics({"line": "landcover", "test_metrics": None}) == {}


def test_compare_shows_the_metrics_params_and_identity_that_differ(registry):
    client = s3.client()
    promote(client, registry, "v2", "production")
    result = compare(client, registry, "production", "v3")
    assert [(r["key"], r["a"], r["b"], r["change"]) for r in result["metrics"]] == [
        ("accuracy", 0.86, 0.84, -0.02),
        ("macro_f1", 0.85, 0.83, -0.02),
        ("loss", 0.45, 0.5, 0.05),
    ]
    assert [(r["key"], r["a"], r["b"]) for r in result["params"]] == [("train.epochs", 5, 8)]
    assert [r["key"] for r in result["identity"]] == ["git_commit", "data_sha256", "framework"]

    shown = commands(registry.bucket, "compare", "--model", MODEL, "production", "v3")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.splitlines()
    assert text[0] == f"production (v2) vs v3 of {MODEL} (landcover)"
    assert text[2].split() == ["Path", "Metric", "production", "(v2)", "v3", "Change"]
    assert text[3].split() == ["test_metrics", "accuracy", "0.86", "0.84", "-0.02"]
    assert text[5].split() == ["test_metrics", "loss", "0.45", "0.5", "+0.05"]
    assert ["params", "train.epochs", "5", "8"] in [line.split() for line in text]
    assert ["metadata", "framework", "pytorch", "2.4.0", "pytorch", "2.5.0"] in [line.split() for line in text]
    assert ["metadata", "data_sha256", "a" * 12, "b" * 12] in [line.split() for line in text]

    same = commands(registry.bucket, "compare", "--model", MODEL, "v2", "production", "--json")
    assert same.returncode == 0, same.stderr
    assert {k: v for k, v in json.loads(same.stdout).items() if k in ("metrics", "params", "identity")} == {
        "metrics": [],
        "params": [],
        "identity": [],
    }


# --- bad input: one line, nothing changed -----------------------------------------------------


def test_bad_input_is_one_line_and_changes_nothing(registry, cli):
    client = s3.client()
    promote(client, registry, "v2", "production")
    before = bucket_state(client, registry.bucket)
    promoting = ("promote", "--model", MODEL, "--version")
    cases = {
        (*promoting, "v3", "--alias", "Prod!"): "alias 'Prod!' is not a plain word: use lower-case letters",
        (*promoting, "v3", "--alias", "Production"): "(did you mean 'production'?)",
        (*promoting, "v3", "--alias", "latest"): "latest is not an alias promote can move: latest moves with publish",
        (*promoting, "v3", "--alias", "v2"): "alias 'v2' would read as a version",
        (*promoting, "v4", "--alias", "production"): "v4 of eurosat-resnet18 is incomplete (no metadata.json",
        (*promoting, "v9", "--alias", "production"): "v9 of eurosat-resnet18 was never published",
        (*promoting, "v2.1", "--alias", "production"): "'v2.1' is neither a version (vN, N, latest) nor an alias",
        (*promoting, "staging", "--alias", "canary"): "has no alias 'staging'; its aliases: production",
        ("compare", "--model", MODEL, "production", "nope"): "eurosat-resnet18 has no alias 'nope'",
        ("compare", "--model", "mixed-model", "v1", "v2"): "v1 of mixed-model is a landcover model and v2 a fire one",
        ("models", "--model", "no-such-model"): "no model named 'no-such-model' in the registry; models there:",
    }
    for (module, *args), message in cases.items():
        assert_one_line_error(cli(module, *args), message)
        assert bucket_state(client, registry.bucket) == before, (module, args)


def test_damaged_history_is_left_out_with_a_warning_and_a_damaged_alias_is_refused(registry):
    """A history object edited into invalid JSON: the listing still shows where each alias points
    and every other move, and names the bad object in a warning (someone rolling back needs
    the listing most when something is wrong). A damaged alias object is refused by whatever
    would act on it: no one should serve or move from a pointer that cannot be read."""
    client = s3.client()
    promote(client, registry, "v1", "production", "one")
    promote(client, registry, "v2", "production", "two")
    bad = history_key(registry, "production", 1)
    client.put_object(Bucket=registry.bucket, Key=bad, Body=b'{"seq": 1, "version": ')
    before = bucket_state(client, registry.bucket)
    listed = commands(registry.bucket, "models", "--model", MODEL)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.strip().splitlines() == [
        f"warning: {registry.uri(bad)} is not a JSON object (edited by hand?); restore it from its earlier S3 "
        "version; left out of the history"
    ]
    history = listed.stdout.split("alias history (oldest first):")[1].strip().splitlines()[1:]
    assert len(history) == 1 and history[0].split()[:6] == ["production", "#2", history[0].split()[2], "v1", "->", "v2"]
    assert bucket_state(client, registry.bucket) == before

    alias = aliases.alias_key(registry, "production")
    client.put_object(Bucket=registry.bucket, Key=alias, Body=b"[]")
    before = bucket_state(client, registry.bucket)
    with pytest.raises(UserError, match=f"{registry.uri(alias)} is not a JSON object"):
        resolve(client, registry, "production")
    moved = commands(registry.bucket, "promote", "--model", MODEL, "--version", "v3", "--alias", "production")
    assert_one_line_error(moved, f"{registry.uri(alias)} is not a JSON object (edited by hand?)")
    listed = commands(registry.bucket, "models")
    assert listed.returncode == 0 and "production=?" in listed.stdout
    assert listed.stderr.startswith(f"warning: {registry.uri(alias)} is not a JSON object")
    assert bucket_state(client, registry.bucket) == before


# --- promote checks that the version's objects are still the ones published (issue 38) ---------


def make_promote(bucket: str, version: str, alias: str = "production") -> subprocess.CompletedProcess:
    """`make promote` as docs/registry.md shows it, against the loopback bucket."""
    venv = Path(sys.executable).parent.parent
    return subprocess.run(
        ["make", "promote", f"MODEL={MODEL}", f"VERSION={version}", f"ALIAS={alias}", f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BUCKET_NAME": bucket},
    )


def test_publish_records_each_objects_s3_checksum(registry):
    client = s3.client()
    meta = aliases.read_metadata(client, registry, 2)
    assert list(meta["s3_checksums"]) == [registry.model_object]  # the stub line has no companions
    head = client.head_object(Bucket=registry.bucket, Key=registry.model_key(2), ChecksumMode="ENABLED")
    assert meta["s3_checksums"][registry.model_object] == head["ChecksumSHA256"]


def test_promote_refuses_a_version_whose_object_was_overwritten(registry):
    """An object overwritten under a version's prefix (with a checksum of its own): promote
    compares S3's checksum with the one publish recorded, with no download, and refuses naming
    the object; overwritten without a checksum, S3 can't tell, so the object is downloaded and
    its sha256 refused. Nothing is written either way."""
    client = s3.client()
    promote(client, registry, "v1", "production")
    key = registry.model_key(3)
    client.put_object(Bucket=registry.bucket, Key=key, Body=b"other weights", ChecksumAlgorithm="SHA256")
    aliases_before = {entry for entry in bucket_state(client, registry.bucket) if "/aliases/" in entry[0]}
    refused = make_promote(registry.bucket, "v3")
    line = assert_one_line_error(refused, f"{registry.uri(key)} was overwritten after v3 was published")
    assert "promote refused: publish the model again as a new version" in line and "download" not in refused.stderr
    client.put_object(Bucket=registry.bucket, Key=key, Body=b"other weights, no checksum")
    refused = make_promote(registry.bucket, "v3")
    assert_one_line_error(refused, f"{registry.uri(key)}: sha256", "the object was altered or truncated")
    assert "checking by download" in refused.stderr
    assert {entry for entry in bucket_state(client, registry.bucket) if "/aliases/" in entry[0]} == aliases_before
    assert resolve(client, registry, "production") == 1
    moved = make_promote(registry.bucket, "v2")
    assert moved.returncode == 0 and "download" not in moved.stderr, moved.stderr


def test_a_version_published_without_s3_checksums_is_checked_by_download(registry):
    """Versions published before s3_checksums was recorded (simulated here by taking it out;
    test_legacy_bucket.py promotes one that the previous commit's publish wrote)."""
    client = s3.client()
    meta = aliases.read_metadata(client, registry, 3)
    del meta["s3_checksums"]
    client.put_object(Bucket=registry.bucket, Key=registry.metadata_key(3), Body=json.dumps(meta).encode())
    moved = make_promote(registry.bucket, "v3")
    assert moved.returncode == 0, moved.stderr
    assert (
        "promote: v3 of eurosat-resnet18 was published before S3 checksums were recorded: "
        "checking its 1 file(s) by download" in moved.stderr
    )
    assert resolve(client, registry, "production") == 3
    client.put_object(Bucket=registry.bucket, Key=registry.model_key(3), Body=b"weights 3, altered")
    assert_one_line_error(make_promote(registry.bucket, "v3", "staging"), "v3/satellite_model.pt: sha256")
    assert read_alias(client, registry, "staging") is None
