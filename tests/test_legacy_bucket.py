"""Issues 37 and 38's "keep": a bucket written by the code before them (conftest's legacy_bucket:
a fire version published, promoted and captured by commit bd15aec, whose metadata.json has no
s3_checksums and whose baseline.json predates the typed definitions) still lists, compares,
promotes, serves, follows and monitors with today's commands, run as the docs show them
(make, from the fire project)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import SRC
from serving import HTTP, UI, Server

VENV = str(Path(sys.executable).parent.parent)
pytestmark = pytest.mark.e2e  # the legacy bucket is published from the session's fire run


def make(project: Path, legacy: dict, target: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", target, *args, f"VENV={VENV}"],
        cwd=project,
        env={**legacy["env"], "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_todays_commands_read_a_bucket_the_previous_code_wrote(fire_project, legacy_bucket):
    listed = make(fire_project, legacy_bucket, "models", "MODEL=fire-ensemble")
    assert listed.returncode == 0, listed.stderr
    table = listed.stdout.splitlines()[1:]  # after the command make echoes
    assert table[2].split()[0] == "v1" and table[2].endswith("latest, production"), listed.stdout

    compared = make(fire_project, legacy_bucket, "compare", "MODEL=fire-ensemble", "A=production", "B=v1")
    assert compared.returncode == 0, compared.stderr
    assert compared.stdout.splitlines()[1] == "production (v1) vs v1 of fire-ensemble (fire)", compared.stdout

    promoted = make(fire_project, legacy_bucket, "promote", "MODEL=fire-ensemble", "VERSION=v1", "ALIAS=staging")
    assert promoted.returncode == 0, promoted.stderr
    assert (
        "v1 of fire-ensemble was published before S3 checksums were recorded: checking its 3 file(s) by download"
        in (promoted.stderr)
    )
    assert "fire-ensemble staging -> v1 (new alias)" in promoted.stderr

    try:
        monitored = make(
            fire_project,
            legacy_bucket,
            "monitor",
            "MODEL=fire-ensemble",
            "VERSION=production",
            f"CAPTURE={legacy_bucket['capture']}",
        )
        assert monitored.returncode == 0, monitored.stdout + monitored.stderr
        assert monitored.stdout.splitlines()[-1] == "monitor: no drift (exit 0)"
        report = json.loads((fire_project / "monitor" / "report.json").read_text())
        assert report["model"]["version"] == "v1" and report["rows"] > 300
    finally:
        shutil.rmtree(fire_project / "monitor", ignore_errors=True)


def test_todays_server_serves_and_follows_a_version_the_previous_code_published(fire_project, legacy_bucket):
    """Served by its alias and following it (each poll reads the alias object the old code wrote)."""
    args = ("--model", "fire-ensemble", "--version", "production", "--follow", "1s", "--workers", "1")
    server = Server(fire_project, (*args, "--model-dir", str(fire_project / "none")), env=legacy_bucket["env"])
    try:
        rows = (fire_project / "pipelines" / "fire" / "data" / "split" / "test.csv").read_bytes()
        time.sleep(2)  # a poll or two of the alias
        request = urllib.request.Request(server.url + "/invocations", data=rows, headers={"Content-Type": "text/csv"})
        with HTTP.open(request, timeout=60) as answer:
            assert answer.headers["X-Model-Version"] == "v1"
            assert len(json.loads(answer.read())["predictions"]) == len(rows.splitlines()) - 1
    finally:
        code = server.stop()
    assert code == 0 and "Traceback" not in server.output(), server.output()
    assert "serve: fire-ensemble v1 (fire)" in server.output()


def test_the_registry_page_shows_what_a_version_the_previous_code_published_has(fire_project, legacy_bucket):
    """Issue 40: `make ui` over the old bucket: the version's card, metrics and baseline, and no
    figures (it predates them), said on the page; the alias the old code moved, with its history."""
    ui = UI(fire_project, legacy_bucket["env"])
    try:
        status, page = ui.get("/models/fire-ensemble/versions/production")
        assert status == 200 and 'id="version-name">v1' in page and 'id="no-figures"' in page, page[:3000]
        assert 'id="baseline"' in page and "co2_ppm" in page
        status, page = ui.get("/models/fire-ensemble")
        assert status == 200 and 'data-alias="production"' in page and 'data-seq="1"' in page, page[:3000]
        assert ui.get("/")[0] == 200
    finally:
        ui.stop()
