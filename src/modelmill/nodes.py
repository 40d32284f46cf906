"""Training one line's model on several machines: each node is a clone of the project.

    python -m modelmill.nodes share [--pipeline LINE] [--stage train]   # the head, before `dvc repro`
    python -m modelmill.nodes join  [--pipeline LINE] [--stage train]   # each other node

`share` brings what the train stage reads up to date on the head and pushes it to the DVC
remote; `join` pulls exactly that (no shared filesystem) and runs the stage's own command as
one node of the run the head leads, with MODELMILL_NODES and MODELMILL_HEAD as the Makefile
sets them (`make repro NNODES=…`, `make join HEAD=host:port NNODES=…`). A joining node never
runs dvc repro: the head alone writes the outputs and dvc.lock.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import lines
from .core.cli import UserError, cli
from .core.distributed import ROLE_ENV, Nodes


def stage_inputs(folder: Path, stage: str) -> tuple[list[str], list[str], list[str]]:
    """The command of each stage `stage` names (a foreach stage names several), the stages that
    make their inputs, and those inputs (paths relative to `folder`), as DVC resolves them."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(folder)) as repo:
            targets = repo.stage.collect(f"{folder / 'dvc.yaml'}:{stage}")
            makers = {out.fs_path: other for other in repo.index.stages for out in other.outs}
            deps = [dep for target in targets for dep in target.deps if dep.fs_path in makers]
            upstream = sorted({makers[dep.fs_path].addressing.rpartition(":")[2] for dep in deps})
            inputs = sorted({dep.def_path for dep in deps})
            return [str(target.cmd) for target in targets], upstream, inputs
    except DvcException as exc:
        raise UserError(f"{folder / 'dvc.yaml'}: {str(exc).splitlines()[0]}") from None


def dvc(folder: Path, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=folder)
    if result.returncode != 0:
        raise UserError(f"dvc {' '.join(args)} failed in {folder} (its message is above)")


def share(folder: Path, stage: str) -> None:
    _, upstream, inputs = stage_inputs(folder, stage)
    dvc(folder, "repro", "--pull", *upstream)
    dvc(folder, "push", *inputs)
    changed = [name for name in upstream if _locked(folder, name, "HEAD") != _locked(folder, name, None)]
    if changed:
        raise UserError(
            f"the train stage's inputs changed ({', '.join(changed)} in dvc.lock, now pushed): the other nodes "
            "find them through git, so commit dvc.lock and push it (git commit dvc.lock && git push), then "
            "git pull on each node before make join, and run this again"
        )


def _locked(folder: Path, stage: str, revision: str | None) -> object:
    """`stage`'s entry in folder/dvc.lock, as in the working tree (None) or at a git revision."""
    import yaml

    if revision is None:
        path = folder / "dvc.lock"
        text = path.read_text() if path.exists() else ""
    else:
        shown = subprocess.run(["git", "show", f"{revision}:./dvc.lock"], cwd=folder, capture_output=True, text=True)
        text = shown.stdout if shown.returncode == 0 else ""
    return ((yaml.safe_load(text) or {}).get("stages") or {}).get(stage)


def join(folder: Path, stage: str) -> None:
    nodes = Nodes.from_env()
    if nodes.role != "join":
        raise UserError(f"{ROLE_ENV}=join is set by make join; run make join HEAD=host:port NNODES=N")
    commands, _, inputs = stage_inputs(folder, stage)
    if len(commands) != 1:
        raise UserError(f"stage {stage!r} is {len(commands)} stages; join one with STAGE=<stage>@<item>")
    (cmd,) = commands
    dvc(folder, "pull", *inputs)
    print(f"joining the run at {nodes.head} as one of {nodes.count} nodes: {cmd}", file=sys.stderr)
    result = subprocess.run(["bash", "-c", cmd], cwd=folder, env=os.environ)
    if result.returncode != 0:
        raise SystemExit(result.returncode)  # the stage said why, in one line


@cli
def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m modelmill.nodes", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("share", "join"))
    lines.add_argument(parser)
    parser.add_argument("--stage", default="train", help="the stage that trains (default: train)")
    args = parser.parse_args()
    folder = Path(args.pipeline.folder)
    (share if args.action == "share" else join)(folder, args.stage)


if __name__ == "__main__":
    main()
