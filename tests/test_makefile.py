"""Issue 22: the Makefile as the README describes it (dry runs: nothing is executed)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import REPO, assert_one_line_error

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
    assert "-S 'train.processes=2'" in root and root.rstrip().count("./dvc.yaml") >= 1
    seaice = make("repro", "PIPELINE=seaice", "ARCHIVE=grids").stdout
    assert f"-S 'pipelines/seaice/params.yaml:data.archive={REPO / 'grids'}'" in seaice
    assert "pipelines/seaice/params.yaml:data.source=archive" in seaice and "pipelines/seaice/dvc.yaml" in seaice
    seaice_ranks = make("repro", "PIPELINE=seaice", "NPROC=2").stdout
    for model in ("classifier", "forecaster", "change"):
        assert f"-S 'pipelines/seaice/params.yaml:train.{model}.processes=2'" in seaice_ranks
    assert "-S 'pipelines/biomass/params.yaml:train.processes=2'" in make("repro", "PIPELINE=biomass", "NPROC=2").stdout
    refused = {("PIPELINE=fire", "NPROC=2"): "scikit-learn", ("PIPELINE=fire", "ARCHIVE=x"): "CSV"}
    for args, says in refused.items():
        result = make("repro", *args)
        assert result.returncode != 0 and says in result.stderr, result.stderr


def awkward(folder: Path) -> str:
    """A value a user may type as one: spaces, both quotes, and `$(…)`, which make would run
    itself (as $(shell …)) before any shell saw it, and a shell as a command substitution."""
    return f'it\'s a "test" $(shell touch {folder}/pwned) $$HOME `id` \\ end'


def last_command(result: subprocess.CompletedProcess, program: str) -> list[str]:
    """The arguments of the last command line that runs `program`, as the shell would split them."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.replace("\\\n", " ").splitlines()
    line = [line for line in lines if line.startswith(program)][-1]
    return shlex.split(line.split("; status=$?")[0])  # make monitor's line goes on to name the outcome


def test_every_single_value_reaches_its_command_as_one_argument(tmp_path):
    """Issue 38: `ALIAS='Prod uction'` reached promote as two arguments. Every variable a recipe
    passes on as one value arrives as exactly that value (dry runs: make -n prints each command
    as the shell will run it, which shlex splits as the shell would)."""
    value = awkward(tmp_path)
    cases = {
        ("promote", "MODEL", "VERSION", "ALIAS", "REASON"): ("--model", "--version", "--alias", "--reason"),
        ("monitor", "MODEL", "VERSION", "CAPTURE", "SINCE"): ("--model", "--version", "--capture", "--since"),
        ("serve", "MODEL", "VERSION", "SOURCE", "PORT", "WORKERS", "FOLLOW", "CAPTURE", "CAPTURE_RATE"): (
            "--model",
            "--version",
            "--source",
            "--port",
            "--workers",
            "--follow",
            "--capture",
            "--capture-rate",
        ),
        ("predict", "MODEL", "VERSION", "INPUT", "OUTPUT"): ("--model", "--version", "--input", "--output"),
        ("models", "MODEL"): ("--model",),
        ("verify-download", "VERSION", "MODEL"): ("--version", "--model"),
        ("s3-local", "PORT"): ("--port",),
    }
    for (target, *names), options in cases.items():
        result = make(target, *(f"{name}={value}" for name in names))
        args = last_command(result, "python -m modelmill")
        for option in options:  # --option=value: a value that starts with - is still a value
            assert f"{option}={value}" in args, (target, option, args)
    compared = last_command(make("compare", f"MODEL={value}", f"A={value}", f"B={value} 2"), "python -m modelmill")
    assert compared[3:] == [f"--model={value}", "--", value, f"{value} 2"]
    archive = last_command(make("repro", "PIPELINE=seaice", f"ARCHIVE=my grids/{value}", "NPROC=2"), "dvc exp run")
    assert f"pipelines/seaice/params.yaml:data.archive={REPO}/my grids/{value}" in archive
    assert last_command(make("exp", f"JOBS={value}"), "dvc queue start")[-1] == f"--jobs={value}"
    unknown = make("repro", f"PIPELINE={value}")
    assert unknown.returncode != 0 and f"no pipeline '{value}'" in unknown.stderr, unknown.stderr
    assert not (tmp_path / "pwned").exists()


def test_option_lists_stay_lists():
    bench = last_command(make("bench", "BENCH_ARGS=--quick --out x"), "python benchmarks/bench.py")
    assert bench[-3:] == ["--quick", "--out", "x"]
    assert "-S 'train.lr=0.05,0.1'" in make("exp", "EXP_PARAMS=train.lr=0.05,0.1").stdout
    # Each KEY=VALUES its own -S, each with the line's params file named.
    sweep = last_command(
        make("exp", "PIPELINE=fire", "EXP_PARAMS=train.boosting.n_estimators=400,550 train.forest.n_jobs=1"),
        "dvc exp run",
    )
    assert sweep[-4:] == [
        "-S",
        "pipelines/fire/params.yaml:train.boosting.n_estimators=400,550",
        "-S",
        "pipelines/fire/params.yaml:train.forest.n_jobs=1",
    ]


def test_make_promote_gives_the_projects_own_line_for_a_name_with_a_space():
    """A real run, not a dry one: the alias arrives whole and is refused by promote's own check
    (which comes before any S3 request: the fire line's model is found from its params)."""
    venv = str(Path(sys.executable).parent.parent)
    for alias in ("Prod uction", "prod $(shell echo x)", "-prod"):  # -prod: a value, not an option
        result = subprocess.run(
            ["make", "promote", "MODEL=fire-ensemble", "VERSION=v2", f"ALIAS={alias}", f"VENV={venv}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "usage:" not in result.stderr and "unrecognized arguments" not in result.stderr, result.stderr
        assert_one_line_error(result, f"alias {alias!r} is not a plain word")


def test_make_exp_without_a_sweep_says_so_before_queueing_anything():
    venv = str(Path(sys.executable).parent.parent)
    result = subprocess.run(
        ["make", "exp", "PIPELINE=fire", "EXP_PARAMS=", f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "make exp needs EXP_PARAMS=KEY=VALUES" in result.stderr, result.stderr
    assert "dvc exp run" not in result.stdout
