"""Issue 22: the Makefile as the README describes it (dry runs: nothing is executed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

VENV = str(Path(sys.executable).parent.parent)


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-n", *args, f"VENV={VENV}"], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_pipeline_landcover_is_the_root_line():
    named, default = make("repro", "PIPELINE=landcover"), make("repro")
    assert named.returncode == 0, named.stderr
    assert "dvc repro ./dvc.yaml" in named.stdout and named.stdout == default.stdout
    assert "dvc repro pipelines/fire/dvc.yaml" in make("repro", "PIPELINE=fire").stdout


def test_an_unknown_pipeline_lists_every_line():
    result = make("repro", "PIPELINE=wildfire")
    assert result.returncode != 0
    assert re.search(r"no pipeline 'wildfire'.*lines: landcover biomass fire seaice", result.stderr), result.stderr


def test_the_readme_names_every_target_make_help_lists():
    shown = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    targets = re.findall(r"^\s+make (\S+)", shown, re.M)
    assert {"setup", "repro", "test", "publish", "serve", "examples", "clean"} <= set(targets)
    readme = (REPO / "README.md").read_text()
    assert [t for t in targets if f"`{t}`" not in readme and f"make {t}" not in readme] == []


def test_make_repro_reminds_to_commit_the_lock():
    assert "git add ./dvc.lock ./params.yaml" in make("repro").stdout


def test_per_run_params_go_to_the_line_pipeline_names():
    root = make("repro", "ARCHIVE=../shared/data/eurosat/EuroSAT.zip", "NPROC=2").stdout
    assert "dvc exp run -S data.source=archive -S 'data.archive=../shared/data/eurosat/EuroSAT.zip'" in root
    assert "-S train.processes=2" in root and root.rstrip().count("./dvc.yaml") >= 1
    seaice = make("repro", "PIPELINE=seaice", "ARCHIVE=grids").stdout
    assert f"-S 'pipelines/seaice/params.yaml:data.archive={REPO / 'grids'}'" in seaice
    assert "pipelines/seaice/params.yaml:data.source=archive" in seaice and "pipelines/seaice/dvc.yaml" in seaice
    seaice_ranks = make("repro", "PIPELINE=seaice", "NPROC=2").stdout
    for model in ("classifier", "forecaster", "change"):
        assert f"-S pipelines/seaice/params.yaml:train.{model}.processes=2" in seaice_ranks
    assert "-S pipelines/biomass/params.yaml:train.processes=2" in make("repro", "PIPELINE=biomass", "NPROC=2").stdout
    refused = {("PIPELINE=fire", "NPROC=2"): "scikit-learn", ("PIPELINE=fire", "ARCHIVE=x"): "CSV"}
    for args, says in refused.items():
        result = make("repro", *args)
        assert result.returncode != 0 and says in result.stderr, result.stderr
