"""The biomass line's targets, measured on this machine: pipeline time and peak memory from an
empty cache, and the model against the training-mean baseline on the test plants.

    python benchmarks/biomass_line.py                 # the defaults: a clone of HEAD, empty DVC cache
    python benchmarks/biomass_line.py --working-tree  # the working tree as it is (uncommitted files too)
    python benchmarks/biomass_line.py --rows 600 --epochs 2   # a quick smoke run (targets are for the defaults)
    python benchmarks/biomass_line.py --set train.threads=1   # any param changed for the run

Runs `dvc repro pipelines/biomass/dvc.yaml` in a fresh git repo, timing each stage from DVC's
own output; peak memory is the largest resident set of any process it ran (getrusage of the
children). Figures are what this run measured, with the load average beside them; targets are
shown, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import yaml  # noqa: E402

from modelmill.biomass.paths import METRICS_FILE, MODEL_CARD  # noqa: E402
from modelmill.core.io import read_json  # noqa: E402
from workspace import git_commit, project_copy  # noqa: E402

LINE = Path("pipelines/biomass")
PIPELINE_TARGET_S = 600
MEMORY_TARGET_GB = 3.0
RATIO_TARGET = 0.5
R2_TARGET = 0.75


def working_tree_copy(dest: Path, overrides: dict) -> Path:
    """The working tree's files (committed or not, git-ignored ones left out) in a new git repo."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    _apply(dest / LINE / "params.yaml", overrides)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    git_commit(dest, "bench: working tree")
    return dest


def _apply(path: Path, overrides: dict) -> None:
    raw = yaml.safe_load(path.read_text())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def repro(repo: Path) -> tuple[float, dict[str, float], float]:
    """Wall time of `dvc repro` of the line, each stage's share, and the peak RSS (GB) of what it ran."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    marks: list[tuple[str, float]] = []
    output = []
    with subprocess.Popen([sys.executable, "-m", "dvc", "repro", str(LINE / "dvc.yaml")], cwd=repo, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
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
    return total, {name: end - begin for (name, begin), end in zip(marks, ends)}, peak_gb


def rows(overrides: dict | None = None, working_tree: bool = False) -> list[tuple[str, str, str]]:
    """(measure, value, target) for the biomass line; no overrides: the params.yaml defaults."""
    overrides = overrides or {}
    with tempfile.TemporaryDirectory(prefix="biomass-bench-") as tmp:
        dest = Path(tmp) / "project"
        repo = (working_tree_copy(dest, overrides) if working_tree
                else project_copy(dest, overrides, f"{LINE}/params.yaml"))
        load_before = os.getloadavg()
        total, stages, peak = repro(repo)
        load_after = os.getloadavg()
        metrics = read_json(repo / LINE / METRICS_FILE, "evaluate")
        card = read_json(repo / LINE / MODEL_CARD, "train")
    defaults = not overrides
    model, base = metrics["model"], metrics["baseline_mean"]
    load = f"load avg {load_before[0]:.2f} before, {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} after"
    out = [(f"whole biomass line: dvc repro, empty cache ({load})", f"{total:.0f} s",
            f"<= {PIPELINE_TARGET_S} s on 2 cores" if defaults else "(target is for the defaults)")]
    out += [(f"  stage {name}", f"{seconds:.1f} s", "") for name, seconds in stages.items()]
    out.append(("peak memory of any stage (max RSS)", f"{peak:.2f} GB", f"<= {MEMORY_TARGET_GB} GB"))
    out.append((f"model test RMSE ({metrics['test_images']} photos, {metrics['test_plants']} plants)",
                f"{model['rmse_g']:.4f} g", f"<= {RATIO_TARGET} x baseline"))
    out.append(("mean-baseline test RMSE", f"{base['rmse_g']:.4f} g", ""))
    out.append(("RMSE ratio model / baseline", f"{metrics['rmse_ratio_to_baseline']:.3f}", f"<= {RATIO_TARGET}"))
    out.append(("model test R²", f"{model['r2']:.3f}", f">= {R2_TARGET}"))
    out.append(("model test MAE / baseline MAE", f"{model['mae_g']:.4f} g / {base['mae_g']:.4f} g", ""))
    out.append(("best epoch (by val RMSE) / val RMSE", f"{card['best_epoch']} / {card['val_rmse_g']:.4f} g", ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--working-tree", action="store_true", help="measure the working tree, not HEAD")
    parser.add_argument("--rows", type=int, help="data.rows (default: params.yaml's)")
    parser.add_argument("--epochs", type=int, help="train.epochs (default: params.yaml's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other param of pipelines/biomass/params.yaml, e.g. train.threads=1 (YAML value)")
    args = parser.parse_args()
    overrides = {k: v for k, v in (("data.rows", args.rows), ("train.epochs", args.epochs)) if v is not None}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    table = rows(overrides, args.working_tree)
    print(f"biomass line on {os.cpu_count()} CPU core(s)\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    for measure, value, target in table:
        print(f"| {measure} | {value} | {target} |")


if __name__ == "__main__":
    main()
