"""The line contract, as scikit-learn's check_estimator checks every estimator: one battery over
every model of every line in LINES. A line added without one of these capabilities fails here by
its name: params with the shared sections, what listings and `make examples` need, and, on tiny
outputs of all four lines, publish (typed metadata.json and baseline.json), fetch, a predictor
answering every content type it accepts, capture, and `make monitor` (or its refusal, said in one
line, for a model its line does not monitor).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import smoke_params
from conftest import REPO, copy_project, dvc, edit_yaml, free_port, git, stages_run
from docs_blocks import runnable, script, walk
from serving import Server, invoke

from modelmill import lines
from modelmill.core import s3
from modelmill.core.baseline import Baseline, check_baseline, read_baseline
from modelmill.core.config import RUN_FIELDS
from modelmill.core.drift_params import DriftParams, load_drift_params
from modelmill.core.metadata import Metadata
from modelmill.core.typed import problems
from modelmill.monitor.capture import Capture
from modelmill.monitor.records import read_records
from modelmill.registry.bucket import ensure_private_bucket
from modelmill.registry.fetch import SUCCESS, download_checked, download_version, fetch
from modelmill.registry.figures import figure
from modelmill.registry.integrity import check_version_objects
from modelmill.registry.publish import publish
from modelmill.registry.store import Registry, get_json

LINES = list(lines.LINES.values())
MODELS = [(line, model) for line in LINES for model in line.models]
MODEL_IDS = [f"{line.name}-{model.key}" if model.key else line.name for line, model in MODELS]
VENV = Path(sys.executable).parent.parent
# The other three lines at their smallest, beside the session's EuroSAT run (the line tests' sizes).
SMALL = {
    "pipelines/fire": smoke_params.FIRE,
    "pipelines/seaice": smoke_params.SEAICE,
    "pipelines/biomass": {**smoke_params.BIOMASS, "train.threads": 1},
}


def sections(schema: type, prefix: str = "") -> dict[str, type]:
    """{dotted name: section type} of every section under a params schema."""
    found = {}
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            found[f"{prefix}{field.name}"] = kind
            found.update(sections(kind, f"{prefix}{field.name}."))
    return found


# -- what every line declares (fast) ------------------------------------------------------


@pytest.mark.parametrize("line", LINES, ids=[line.name for line in LINES])
def test_params_carry_the_shared_sections(line):
    """Its params.yaml loads through its own schema, with a publish section (one per model) and the
    monitor thresholds; a torch line's training sections hold the shared run fields, each with the
    rules core.config declares once."""
    module = line.models[0].modules.params()
    params = module.load_params(REPO / line.folder / module.PARAMS_FILE)
    assert isinstance(params.monitor, DriftParams)
    assert params.monitor == load_drift_params(REPO / line.folder / "params.yaml")
    for model in line.models:
        assert model.publish_config(REPO / line.folder).model_name
    for name, section in sections(type(params)).items():
        fields = {f.name: f for f in dataclasses.fields(section)}
        if "device" not in fields:
            continue
        assert {*RUN_FIELDS, "seed"} <= set(fields), f"{line.name}: {name} lacks some of the shared run fields"
        for field_name, rule in RUN_FIELDS.items():
            assert dict(fields[field_name].metadata) == dict(rule().metadata), f"{line.name}: {name}.{field_name}"


@pytest.mark.parametrize("line", LINES, ids=[line.name for line in LINES])
def test_the_line_declares_its_headline_checksum_and_examples(line, tmp_path):
    assert line.headline and all(isinstance(path, str) and path for path in line.headline)
    assert line.data_checksum
    written = line.examples(tmp_path)
    assert set(written) == {model.key for model in line.models}, f"{line.name}: examples for {set(written)}"
    for key, paths in written.items():
        assert paths and all(path.is_file() and path.stat().st_size > 0 for path in paths), (line.name, key)


@pytest.mark.parametrize(("line", "model"), MODELS, ids=MODEL_IDS)
def test_every_model_is_monitored_or_says_why_not(line, model):
    monitored = not model.unmonitored
    assert monitored or len(model.unmonitored) > 40, f"{line.name} {model.key}: say why it is not monitored"


# -- every capability, end to end on tiny outputs --------------------------------------------


@pytest.fixture(scope="module")
def project(trained_project, tmp_path_factory):
    """The session's EuroSAT run, with the other three lines run beside it at their smallest."""
    repo = copy_project(trained_project, tmp_path_factory.mktemp("contract") / "project")
    for folder, overrides in SMALL.items():
        edit_yaml(repo / folder / "params.yaml", overrides)
    git(repo, "commit", "-q", "-am", "small params for every line")
    ran = dvc(repo, "repro", "--all-pipelines")
    assert {"train@forest", "train@forecaster", "eda"} <= stages_run(ran.stdout), ran.stdout
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "every line run")
    return repo


def make(repo: Path, target: str, **variables: str) -> subprocess.CompletedProcess:
    args = [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={VENV}", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )


def published(project: Path, line, model) -> tuple[Registry, dict]:
    """The model published from `project` (v1, or the version it already is), and its metadata.json."""
    reg = Registry.for_line(line, project, model=model)
    ensure_private_bucket(s3.client(reg.region), reg)
    version = publish(reg, project, line=line, model=model).version
    metadata = get_json(s3.client(reg.region), reg, reg.metadata_key(version))
    assert metadata is not None
    return reg, metadata


def captured(folder: Path, reg: Registry, metadata: dict, line, predictor, batch, min_rows: int) -> Path:
    """What a server capturing every request writes for `batch`, sent as often as a drift test needs."""
    answers = predictor.predict(batch)
    summaries = predictor.summaries
    with Capture(
        folder,
        1.0,
        reg.model_name,
        metadata["version"],
        line.name,
        summarise=summaries.inputs,
        summarise_answers=summaries.answers,
    ) as capture:
        for _ in range(math.ceil(min_rows / len(answers))):
            capture.record_batch(batch, answers)
    return folder


@pytest.mark.parametrize(("line", "model"), MODELS, ids=MODEL_IDS)
def test_every_capability(project, registry_env, line, model, tmp_path, capsys):
    folder = project / line.folder
    reg, metadata = published(project, line, model)
    assert problems(metadata, Metadata) == [], problems(metadata, Metadata)
    assert (metadata["line"], metadata["model_name"]) == (line.name, reg.model_name)

    fetch(reg, metadata["version"], line=line, model=model, repo=project)  # checks and loads a downloaded copy
    assert SUCCESS in capsys.readouterr().out

    meta, path = download_version(reg, tmp_path / "version", metadata["version"], line=line)
    predictor = model.predictor().load(path, meta)
    assert predictor.model_info()["name"] == reg.model_name
    batch = model.modules.baseline().reference_inputs(folder, model.key)
    for content_type in predictor.content_types:  # what a client sends, decoded and answered
        decoded = predictor.decode(predictor.encode(batch[:2], content_type), content_type)
        answers = predictor.predict(decoded)
        assert 1 <= len(answers) == len(decoded) and json.loads(json.dumps(answers)) == answers, content_type

    if model.unmonitored:
        assert "baseline" not in metadata and predictor.summaries is None
        refused = make(project, "monitor", MODEL=reg.model_name, CAPTURE=str(tmp_path / "none"))
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
        errors = [text for text in refused.stderr.splitlines() if text.startswith("error:")]
        assert errors == [f"error: {reg.model_name} is not monitored: {model.unmonitored}"], refused.stderr
        return

    local = tmp_path / "baseline.json"
    download_checked(
        reg, reg.key(int(metadata["version"][1:]), metadata["baseline"]["file"]), local, metadata["baseline"]["sha256"]
    )
    baseline = read_baseline(local)
    check_baseline(baseline, "the published baseline")
    assert problems(baseline, Baseline) == [] and baseline["line"] == line.name
    assert baseline["model"] == {"name": reg.model_name, "version": metadata["version"], "sha256": metadata["sha256"]}

    min_rows = load_drift_params(folder / "params.yaml").min_rows
    capture = captured(tmp_path / "capture", reg, metadata, line, predictor, batch, min_rows)
    rows = read_records(capture).rows
    assert len(rows) >= min_rows and set(baseline["feature_order"]) <= set(rows[0]["features"])

    result = make(project, "monitor", MODEL=reg.model_name, CAPTURE=str(capture))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((project / "monitor" / "report.json").read_text())
    assert report["drifted"] is False and report["model"]["name"] == reg.model_name, report


@pytest.mark.parametrize(("line", "model"), MODELS, ids=MODEL_IDS)
def test_every_model_publishes_its_figures(project, registry_env, line, model):
    """Issue 40: publish uploads the figures the line draws from its outputs, each under the
    version's figures/, listed with the sha256 of the object there (read back and checked), its
    S3 checksum recorded for promote; the line draws the same bytes again from the same outputs."""
    reg, metadata = published(project, line, model)
    version = int(metadata["version"][1:])
    entries = metadata.get("figures", {})
    assert entries and all(name.endswith(".png") for name in entries), f"{line.name} {model.key}: no figures"
    for name, entry in entries.items():
        data = figure(reg, version, name)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size_bytes"], name
        assert f"figures/{name}" in metadata["s3_checksums"], name
    again = model.artifact().figures(project / line.folder)
    assert {name: hashlib.sha256(data).hexdigest() for name, data in again.items()} == {
        name: entry["sha256"] for name, entry in entries.items()
    }
    check_version_objects(s3.client(reg.region), reg, version, metadata)  # promote's check, figures included


def test_a_torch_line_is_watched_through_the_server(project, registry_env, tmp_path):
    """Biomass end to end: served from the registry with every request captured, the test photos
    (what its baseline describes) sent as PNG files, then `make monitor` on what the server wrote."""
    line = lines.get("biomass")
    model = line.model()
    reg, metadata = published(project, line, model)
    photos = model.modules.baseline().reference_inputs(project / line.folder, model.key)
    meta, path = download_version(reg, tmp_path / "version", metadata["version"], line=line)
    predictor = model.predictor().load(path, meta)
    bodies = [predictor.encode(photos[i : i + 1], "image/png") for i in range(len(photos))]
    capture = tmp_path / "capture"
    args = ("--model", reg.model_name, "--model-dir", str(tmp_path / "none"), "--workers", "1")
    server = Server(project, (*args, "--capture", str(capture), "--capture-rate", "1"))
    try:
        for i in range(load_drift_params(project / line.folder / "params.yaml").min_rows):
            (answer,) = invoke(server.url, bodies[i % len(bodies)], "image/png")
            assert answer["biomass_g"] >= 0
    finally:
        code = server.stop()
    assert code == 0 and "Traceback" not in server.output(), server.output()
    result = make(project, "monitor", MODEL=reg.model_name, CAPTURE=str(capture))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((project / "monitor" / "report.json").read_text())
    assert report["drifted"] is False and report["rows"] >= 200, report


# -- each line's guide, and the pages that walk the fire line, run as written ------------------

GUIDES = [REPO / "docs" / "lines" / f"{line.name}.md" for line in LINES] + [
    REPO / "docs" / f"{page}.md" for page in ("registry", "serving", "monitoring", "experiments", "ui")
]


@pytest.mark.parametrize("guide", GUIDES, ids=[guide.stem for guide in GUIDES])
def test_each_guide_runs_as_written(project, guide, tmp_path):
    """A guide's runnable blocks, in one shell, in a copy of the workspace where every line has run
    at the tests' sizes (so its `make repro` finds everything up to date): publish, serve, replay
    and `make monitor` end to end, against the loopback S3 server the blocks start themselves."""
    assert runnable(guide), f"{guide.name} has no runnable block"
    repo = copy_project(project, tmp_path / "project")
    status, output = walk(guide, repo, tmp_path, timeout=420)
    assert status == 0 and "Traceback" not in output, output[-6000:]
    if "make monitor" in script(guide):
        assert "monitor: no drift (exit 0)" in output, output[-3000:]
    if guide.stem == "monitoring":  # its second walk: the same rows with the CO2 sensor 200 ppm high
        assert "DRIFT in co2_ppm" in output and "exit 3" in output, output[-3000:]


def test_replay_says_in_one_line_when_no_server_answers(project):
    port = free_port()
    result = make(project, "replay", MODEL="fire-ensemble", PORT=str(port))
    errors = [text for text in result.stderr.splitlines() if text.startswith("error:")]
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert errors and errors[0].startswith(f"error: no server answers at http://127.0.0.1:{port} "), result.stderr
