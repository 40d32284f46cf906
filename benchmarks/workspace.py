"""What every line's benchmark does around its own figures: a throwaway copy of the project,
`dvc repro` timed stage by stage, and the table printed."""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def project_copy(dest: Path, overrides: dict, params_file: str = "params.yaml", working_tree: bool = False) -> Path:
    """A git repo at `dest` holding this project (HEAD cloned; `working_tree`: the files as they
    are now, uncommitted ones too), with dotted-key `overrides` applied to `params_file` and
    committed (dvc exp and `dvc.lock` want a clean, committed tree)."""
    if working_tree:
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, dest / name)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    else:
        subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)
    set_params(dest / params_file, overrides)
    git_commit(dest, "bench params")
    return dest


def add_set_option(parser: argparse.ArgumentParser, params_file: str, example: str) -> None:
    """`--set KEY=VALUE`, repeatable: any param of `params_file` changed for the run (read with set_overrides)."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"any other param of {params_file}, e.g. {example} (YAML value)",
    )


def set_overrides(items: list[str]) -> dict:
    """`--set` items as dotted-key overrides for project_copy, each value read as YAML."""
    return {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in items)}


def set_params(path: Path, overrides: dict) -> None:
    """Apply dotted-key `overrides` (`train.lr`: 0.1) to the params file at `path`."""
    raw = yaml.safe_load(path.read_text())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def git_commit(repo: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", message],
        cwd=repo,
        check=True,
    )


def head_commit(repo: Path) -> str:
    """`git rev-parse --short HEAD` of `repo`, `+dirty` when a tracked file differs from it ("unknown" outside git)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True
    )
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


@dataclass(frozen=True)
class Repro:
    seconds: float
    stages: dict[str, float]  # each stage's wall time, from one 'Running stage' line to the next
    peak_gb: float  # the largest resident set of any process it ran
    load: str  # the load average before and after: other work slows the stages


def repro_timed(repo: Path, dvcfile: str | Path) -> Repro:
    """`dvc repro <dvcfile>` in `repo`, timed."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    before = load_average()
    start = time.perf_counter()
    marks: list[tuple[str, float]] = []
    output = []
    with subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", str(dvcfile)],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        for text in proc.stdout:
            output.append(text)
            found = re.search(r"Running stage '(?:[^']*:)?([\w@]+)'", text)
            if found:
                marks.append((found.group(1), time.perf_counter()))
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("dvc repro failed:\n" + "".join(output[-40:]))
    ends = [t for _, t in marks[1:]] + [start + total]
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux
    return Repro(
        total,
        {name: end - begin for (name, begin), end in zip(marks, ends)},
        peak_gb,
        f"load average {before} before, {load_average()} after",
    )


def load_average() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def print_table(title: str, rows: list[tuple]) -> None:
    print(f"{title}\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    for measure, value, target in rows:
        print(f"| {measure} | {value} | {target} |")
