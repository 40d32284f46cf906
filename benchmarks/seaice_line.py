"""The sea-ice line's targets, measured on this machine: pipeline time and memory, each model vs its baseline.

    python benchmarks/seaice_line.py            # the defaults: several minutes on 2 cores
    python benchmarks/seaice_line.py --quick    # a smoke run on a 32x32 grid (targets are for the defaults)
    python benchmarks/seaice_line.py --threads 1   # every stage on one thread (a machine shared with other work)
    python benchmarks/seaice_line.py --set train.change.precision=fp32   # any param changed for the run

Runs `dvc repro pipelines/seaice/dvc.yaml` in a fresh git clone of this project's HEAD
(empty DVC cache), timing each stage from DVC's output, and reads the peak resident
memory of the largest stage process (getrusage of the children). Then reads the test
metrics. Figures are what this run measured, with the load average beside them (other work
on the machine slows the stages); targets are shown, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


import smoke_params  # noqa: E402
from workspace import add_set_option, print_table, project_copy, repro_timed, set_overrides  # noqa: E402

from modelmill.core.io import read_json  # noqa: E402

LINE = Path("pipelines/seaice")
PIPELINE_TARGET_S = 600
MEMORY_TARGET_GB = 3.0
QUICK = smoke_params.SEAICE


THREADS = ("train.classifier.threads", "train.forecaster.threads", "train.change.threads", "evaluate.threads")


def rows(quick: bool = False, threads: int | None = None, extra: dict | None = None) -> list[tuple[str, str, str]]:
    """(measure, value, target) for the sea-ice line at its default params (`quick`: a small smoke run;
    `threads`: every stage's threads param set to it; `extra`: any other params, dotted keys)."""
    overrides = {
        **(QUICK if quick else {}),
        **({key: threads for key in THREADS} if threads is not None else {}),
        **(extra or {}),
    }
    with tempfile.TemporaryDirectory(prefix="seaice-bench-") as tmp:
        repo = project_copy(Path(tmp) / "project", overrides, f"{LINE}/params.yaml")
        run = repro_timed(repo, LINE / "dvc.yaml")
        metrics = read_json(repo / LINE / "metrics/metrics.json", "evaluate")
    which = "quick smoke params (targets are for the defaults)" if quick else "default params"
    if extra:
        which += " but " + ", ".join(f"{key}={value}" for key, value in extra.items())
    out = [
        (
            f"whole sea-ice line: dvc repro, {which}, empty cache ({run.load})",
            f"{run.seconds:.1f} s",
            f"<= {PIPELINE_TARGET_S} s on 2 cores",
        ),
        ("peak memory of the largest stage process", f"{run.peak_gb:.2f} GB", f"<= {MEMORY_TARGET_GB} GB"),
    ]
    out += [(f"  stage {name}", f"{seconds:.1f} s", "") for name, seconds in run.stages.items()]
    c, f, ch = metrics["classifier"], metrics["forecaster"], metrics["change"]
    out.append(("classifier test macro-F1", f"{c['macro_f1']:.4f} (accuracy {c['accuracy']:.4f})", ">= 0.95"))
    compared = [name for name in ("model", "persistence", "climatology", "damped_persistence", "ceiling") if name in f]
    for k in range(len(f["skill"])):
        out.append(
            (
                f"forecaster test RMSE lead {k + 1}: {' / '.join(compared)}",
                " / ".join(f"{f[name]['rmse'][k]:.4f}" for name in compared)
                + f" (skill vs the best baseline, {f['best_baseline'][k]}: {f['skill_vs_best_baseline'][k]:+.3f})",
                "skill vs the best baseline > 0",
            )
        )
    if "gap_closed_mean" in f:  # generated data only
        out.append(
            (
                "forecaster: share of the best baseline's gap to the ceiling closed, mean of leads 1-7",
                f"{f['gap_closed_mean']:.3f}",
                ">= 0.5",
            )
        )
    out.append(
        (
            "change test IoU: Siamese / absolute-difference baseline (threshold tuned on val)",
            f"{ch['model']['iou']:.4f} / {ch['baseline']['iou']:.4f}",
            "Siamese > baseline, >= 0.6",
        )
    )
    if "ceiling" in ch:
        out.append(
            (
                "change test IoU of the ceiling (clean renders) / gap",
                f"{ch['ceiling']['iou']:.4f} / {ch['ceiling_gap']:.4f}",
                "",
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 32x32 grid and one epoch each")
    parser.add_argument("--threads", type=int, help="every stage's threads param (default: params.yaml's)")
    add_set_option(parser, f"{LINE}/params.yaml", "train.change.precision=fp32")
    args = parser.parse_args()
    print_table(
        f"sea-ice line on {os.cpu_count()} CPU core(s)", rows(args.quick, args.threads, set_overrides(args.set))
    )


if __name__ == "__main__":
    main()
