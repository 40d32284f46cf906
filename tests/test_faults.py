"""Killed part-way: no partial output, and the next run starts clean and completes."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import SRC, TINY_TRAIN, copy_project, dvc, edit_yaml, write_params

from modelmill.landcover.verify import verify

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout=300.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_training_killed_mid_epoch_leaves_no_model(make_params, synthetic_zip, tmp_path):
    cfg = make_params().data
    verify(cfg, synthetic_zip, tmp_path / "data" / "prepared", tmp_path / "metrics" / "data.json")
    write_params(tmp_path / "params.yaml", {**TINY_TRAIN, "train.epochs": 50})
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelmill.landcover.train"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    lines = []

    def first_epoch_done():
        lines.append(proc.stderr.readline())
        return "epoch 1/50" in lines[-1]

    assert wait_for(first_epoch_done), "".join(lines)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    assert "interrupted" in rest and "Traceback" not in rest
    models = tmp_path / "models"
    assert not models.exists() or list(models.iterdir()) == []


def test_dvc_repro_interrupted_in_train_then_rerun_completes(trained_project, tmp_path):
    repo = copy_project(trained_project, tmp_path / "project")
    edit_yaml(repo / "params.yaml", {"train.epochs": 40})
    env_path = f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={"PATH": env_path, "HOME": str(tmp_path), "DVC_NO_ANALYTICS": "1"},
        # A job started in the background by a script inherits SIGINT ignored;
        # a terminal's foreground job, which this stands for, does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []

    def training():
        seen.append(proc.stdout.readline())
        return "train: epoch 1/40" in seen[-1]  # the train stage is well into its epochs

    assert wait_for(training), "".join(seen)
    subprocess.run(["pkill", "-INT", "-s", str(proc.pid)])  # Ctrl-C to the whole job, as a terminal sends it
    proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert not (repo / "models" / "satellite_model.pt").exists()
    edit_yaml(repo / "params.yaml", {"train.epochs": 1})  # not in the run cache: train runs again
    result = dvc(repo, "repro")
    assert "Running stage 'train'" in result.stdout
    assert "Stage 'ingest' didn't change" in result.stdout  # finished stages stay cached
    assert (repo / "models" / "satellite_model.pt").exists()
    assert (repo / "metrics" / "metrics.json").exists()


def test_a_reader_that_leaves_the_pipe_stops_a_command_quietly(tmp_path):
    """`make models | head -1`: the rest of the output has nowhere to go; no traceback for that."""
    script = tmp_path / "many.py"
    script.write_text(
        "from modelmill.core.cli import cli\n\n\n@cli\ndef main():\n    for i in range(200_000):\n"
        "        print('line', i)\n\n\nmain()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        f"'{sys.executable}' '{script}' | head -1", shell=True, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout == "line 0\n" and result.stderr == "", result.stderr
