"""Run the EuroSAT pipeline's own stage commands, in dvc.yaml's order, in a fresh folder, timed.

For a machine without dvc (a bare GPU node, say): the same commands `dvc repro` would run
from an empty cache, with params overrides, and nothing cached. Prints one line per stage
and the test metrics; `--json PATH` also writes them.

    python benchmarks/stages.py --set data.source=archive --set data.archive=/data/EuroSAT.zip
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workspace import add_set_option, set_overrides, set_params  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_set_option(parser, "params.yaml", "train.epochs=2")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    with tempfile.TemporaryDirectory(prefix="modelmill-stages-") as tmp:
        work = Path(tmp)
        shutil.copytree(REPO / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(REPO / "params.yaml", work / "params.yaml")
        set_params(work / "params.yaml", set_overrides(args.set))
        # The commands say `python`: make that this interpreter, whatever the machine calls its own.
        (work / "bin").mkdir()
        (work / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (work / "bin" / "python").chmod(0o755)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": f"{work / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        figures, total = {}, 0.0
        for name, stage in stages.items():
            start = time.perf_counter()
            result = subprocess.run(stage["cmd"], shell=True, cwd=work, env=env)
            seconds = time.perf_counter() - start
            if result.returncode != 0:
                sys.exit(f"error: stage {name} failed (exit {result.returncode})")
            figures[name] = round(seconds, 1)
            total += seconds
            print(f"stages: {name} {seconds:.1f} s", file=sys.stderr)
        metrics = json.loads((work / "metrics" / "metrics.json").read_text())
        card = json.loads((work / "models" / "model.json").read_text())
    report = {
        "stages_seconds": figures,
        "total_seconds": round(total, 1),
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "runtime": card["runtime"],
        "best_epoch": card["best_epoch"],
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
