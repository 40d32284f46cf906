"""A throwaway git clone of this project's committed code for a benchmark run, with params overrides."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def project_copy(dest: Path, overrides: dict, params_file: str = "params.yaml") -> Path:
    """Clone HEAD to `dest`, apply dotted-key `overrides` to `params_file` and commit them
    (dvc exp and `dvc.lock` want a clean, committed tree)."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)
    path = dest / params_file
    raw = yaml.safe_load(path.read_text())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    git_commit(dest, "bench params")
    return dest


def git_commit(repo: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", message],
                   cwd=repo, check=True)
