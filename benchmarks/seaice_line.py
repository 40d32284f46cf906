"""The sea-ice line's targets, measured on this machine: pipeline time and memory, each model vs its baseline.

    python benchmarks/seaice_line.py            # the defaults: several minutes on 2 cores
    python benchmarks/seaice_line.py --quick    # a smoke run on a 32x32 grid (targets are for the defaults)

Runs `dvc repro pipelines/seaice/dvc.yaml` in a fresh git repo holding this working tree's
files (empty DVC cache), timing each stage from DVC's output, and reads the peak resident
memory of the largest stage process (getrusage of the children). Then reads the test
metrics. Figures are what this run measured, with the load average beside them (other work
on the machine slows the stages); targets are shown, never asserted.
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

from modelmill.core.io import read_json  # noqa: E402

LINE = Path("pipelines/seaice")
PIPELINE_TARGET_S = 600
MEMORY_TARGET_GB = 3.0
QUICK = {"data.grid": 32, "data.days": 750, "split.window_stride": 8, "split.tiles_per_class": 20,
         "split.pair_stride": 4, "train.classifier.epochs": 1, "train.classifier.batch_size": 16,
         "train.forecaster.hidden": 4, "train.forecaster.epochs": 1, "train.change.width": 4,
         "train.change.epochs": 1}


def working_copy(dest: Path, overrides: dict) -> Path:
    """This working tree's files (committed or not, ignored ones left out) in a new git repo,
    with dotted-key `overrides` applied to the line's params."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    params = dest / LINE / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], cwd=dest, check=True)
    return dest


def repro(repo: Path) -> tuple[float, dict[str, float], float]:
    """Wall time of `dvc repro`, each stage's share, and the peak RSS (GB) of its largest process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    marks, output = [], []
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


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def rows(quick: bool = False) -> list[tuple[str, str, str]]:
    """(measure, value, target) for the sea-ice line at its default params (`quick`: a small smoke run)."""
    with tempfile.TemporaryDirectory(prefix="seaice-bench-") as tmp:
        repo = working_copy(Path(tmp) / "project", QUICK if quick else {})
        before = load_average()
        total, stages, peak_gb = repro(repo)
        after = load_average()
        metrics = read_json(repo / LINE / "metrics/metrics.json", "evaluate")
    which = "quick smoke params (targets are for the defaults)" if quick else "default params"
    out = [(f"whole sea-ice line: dvc repro, {which}, empty cache (load average {before} before, "
            f"{after} after)", f"{total:.1f} s", f"<= {PIPELINE_TARGET_S} s on 2 cores"),
           ("peak memory of the largest stage process", f"{peak_gb:.2f} GB", f"<= {MEMORY_TARGET_GB} GB")]
    out += [(f"  stage {name}", f"{seconds:.1f} s", "") for name, seconds in stages.items()]
    c, f, ch = metrics["classifier"], metrics["forecaster"], metrics["change"]
    out.append(("classifier test macro-F1", f"{c['macro_f1']:.4f} (accuracy {c['accuracy']:.4f})", ">= 0.95"))
    for k in range(len(f["skill"])):
        out.append((f"forecaster test RMSE lead {k + 1}: model / persistence / climatology",
                    f"{f['model']['rmse'][k]:.4f} / {f['persistence']['rmse'][k]:.4f} / "
                    f"{f['climatology']['rmse'][k]:.4f} (skill {f['skill'][k]:+.3f})",
                    "skill > 0" + (", model < climatology" if k == len(f["skill"]) - 1 else "")))
    out.append(("change test IoU: Siamese / |difference| baseline (threshold tuned on val)",
                f"{ch['model']['iou']:.4f} / {ch['baseline']['iou']:.4f}", "Siamese > baseline"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 32x32 grid and one epoch each")
    table = rows(parser.parse_args().quick)
    print(f"sea-ice line on {os.cpu_count()} CPU core(s)\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    for measure, value, target in table:
        print(f"| {measure} | {value} | {target} |")


if __name__ == "__main__":
    main()
