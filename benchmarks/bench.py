"""`make bench`: speed and memory of the factory on this machine, as a table and a report.

    python benchmarks/bench.py            # real EuroSAT parts (~6 min): verify, throughput, inference; the fire,
                                          # sea-ice (with its NSIDC reader) and biomass lines (~15 min); serving
    python benchmarks/bench.py --full     # + the whole pipeline from an empty cache (~32 min on 2 cores)
    python benchmarks/bench.py --full --pipeline-only   # the whole pipeline alone
    python benchmarks/bench.py --full --pipeline-only --seeds 3   # ... three times, train.seed counting up
    python benchmarks/bench.py --quick    # a smoke run at the tests' sizes (make test runs it); no timing is asserted

Writes bench-report/report.json and bench-report/report.md. Figures are what this run
measured; targets are shown beside them, never asserted. report.md has docs/measurements.md's
shape (benchmarks/notebook.py): a Machines table, then one table per topic whose rows name the
machine, date, commit and command, so a run of yours reads beside ours.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import smoke_params  # noqa: E402
import torch  # noqa: E402
from biomass_line import rows as biomass_rows  # noqa: E402
from fire_line import rows as fire_rows  # noqa: E402
from follow_switch import rows as follow_rows  # noqa: E402
from nodes import rows as nodes_rows  # noqa: E402
from notebook import document, launcher, machine, run_facts  # noqa: E402
from PIL import Image  # noqa: E402
from seaice_line import rows as seaice_rows  # noqa: E402
from seaice_nsidc import rows as nsidc_rows  # noqa: E402
from serve_load import rows as serve_rows  # noqa: E402
from throughput import train_throughput  # noqa: E402
from ui_page import rows as ui_rows  # noqa: E402
from workspace import git_commit, head_commit, project_copy  # noqa: E402

from modelmill.core.hardware import cpu_bf16_supported, place  # noqa: E402
from modelmill.core.torchkit import memory_format  # noqa: E402
from modelmill.core.vision import Preprocess  # noqa: E402
from modelmill.landcover.data import load_tensors  # noqa: E402
from modelmill.landcover.model import build_model, predict  # noqa: E402
from modelmill.landcover.params import load_params  # noqa: E402
from modelmill.registry.s3local import DUMMY_CREDENTIALS, start_server  # noqa: E402

REAL_ARCHIVE = REPO.parent / "shared" / "data" / "eurosat" / "EuroSAT.zip"
LINE_SECTIONS = {
    "fire": "Fire line",
    "seaice": "Sea-ice line",
    "nsidc": "Sea ice from NSIDC's files",
    "biomass": "Biomass line",
}


def run_measured(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, peak RSS in GB of its largest process, output).

    Memory is sampled every 50 ms over the whole process tree (dvc and the stage it runs):
    rusage would report this benchmark's own memory, which a child inherits across exec.
    """
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = 0
    sampling = True

    def sample():
        nonlocal peak
        root = psutil.Process(proc.pid)
        while sampling:
            try:
                for p in [root, *root.children(recursive=True)]:
                    peak = max(peak, p.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read()
    proc.wait()
    sampling = False
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed in {cwd}:\n{output[-3000:]}")
    return wall, peak / 2**30, output


def dvc_env() -> dict:
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        **DUMMY_CREDENTIALS,
    }


def data_parallel_figures(prepared: Path, steps: int, work: Path) -> dict:
    """The default training step as 1 process x all cores and as 2 processes sharing them, under torchrun."""
    figures = {}
    for nproc in (1, 2):
        out = work / f"ddp-{nproc}.json"
        run_measured(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                f"--nproc-per-node={nproc}",
                "--rdzv-backend=c10d",
                "--rdzv-endpoint=127.0.0.1:0",
                str(REPO / "benchmarks" / "throughput.py"),
                str(prepared),
                str(out),
                str(steps),
            ],
            REPO,
        )
        figures[f"{nproc} process(es)"] = round(json.loads(out.read_text())["images_per_s"], 1)
        print(
            f"  train throughput, {nproc} process(es) sharing the cores: {figures[f'{nproc} process(es)']} img/s",
            file=sys.stderr,
        )
    figures["2 vs 1, %"] = round(100 * (figures["2 process(es)"] / figures["1 process(es)"] - 1), 1)
    return figures


def tutorial_throughput(archive: Path, batches: int, batch_size: int = 32) -> float:
    """The tutorial's recipe: per-sample JPEG decode with PIL, resize to 224x224, fp32."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    model = build_model("resnet18", 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.endswith(".jpg")][: (batches + 1) * batch_size]
        rng = np.random.default_rng(0)
        rng.shuffle(names)

        def batch(i):
            xs = []
            for name in names[i * batch_size : (i + 1) * batch_size]:
                img = Image.open(io.BytesIO(zf.read(name))).convert("RGB").resize((224, 224))
                t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
                xs.append((t - mean) / std)
            return torch.stack(xs), torch.randint(0, 10, (len(xs),))

        def step(i):
            xb, yb = batch(i)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        model.train()
        step(0)
        start = time.perf_counter()
        for i in range(1, batches + 1):
            step(i)
    return batches * batch_size / (time.perf_counter() - start)


def s3_roundtrip(repo: Path) -> tuple[float, float]:
    """Seconds to `dvc push` every output to a loopback S3 server, then `dvc pull` it into a fresh clone."""
    import boto3

    server, url = start_server()
    env = {**dvc_env(), "AWS_ENDPOINT_URL": url}
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    try:
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bench")
        dvc = [sys.executable, "-m", "dvc"]
        subprocess.run([*dvc, "remote", "modify", "--local", "storage", "url", "s3://bench/dvc"], cwd=repo, check=True)
        subprocess.run([*dvc, "remote", "modify", "--local", "storage", "endpointurl", url], cwd=repo, check=True)
        push, _, _ = run_measured([*dvc, "push", "dvc.yaml"], repo, env)
        clone = repo.parent / "pulled"
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
        shutil.copy(repo / ".dvc" / "config.local", clone / ".dvc" / "config.local")
        pull, _, _ = run_measured([*dvc, "pull", "dvc.yaml"], clone, env)
        return push, pull
    finally:
        server.stop()


def pipeline_figures(work: Path, overrides: dict, noop_runs: int = 3) -> dict:
    """A whole `dvc repro` from an empty cache, stage by stage, then a no-op repro (the best of
    `noop_runs`) and push/pull."""
    repo = project_copy(work / "project", overrides)
    dvc = [sys.executable, "-m", "dvc"]
    stages, total = {}, 0.0
    for stage in ("params", "ingest", "verify", "train", "evaluate"):
        wall, rss, _ = run_measured([*dvc, "repro", "--single-item", stage], repo, dvc_env())
        stages[stage] = {"seconds": round(wall, 1), "peak_rss_gb": round(rss, 2)}
        total += wall
        print(f"  {stage}: {wall:.1f} s, peak RSS {rss:.2f} GB", file=sys.stderr)
    noop = min(run_measured([*dvc, "repro"], repo, dvc_env())[0] for _ in range(noop_runs))
    git_commit(repo, "pipeline run")  # dvc.lock travels by git: the clone that pulls needs it
    push, pull = s3_roundtrip(repo)
    metrics = json.loads((repo / "metrics" / "metrics.json").read_text())
    with open(repo / "metrics" / "train_history.csv") as f:
        history = list(csv.DictReader(f))
    elapsed = 0.0
    curve = []
    for row in history:
        elapsed += float(row["seconds"])
        curve.append(
            {
                "epoch": int(row["epoch"]),
                "input_size": int(row["input_size"]),
                "train_minutes": round(elapsed / 60, 2),
                "val_accuracy": float(row["val_accuracy"]),
            }
        )
    train_images = json.loads((repo / "metrics" / "data.json").read_text())["splits"]["train"]["images"]
    return {
        "stages": stages,
        "repro_seconds": round(total, 1),
        "noop_repro_seconds": round(noop, 2),
        "noop_repro_runs": noop_runs,
        "train_stage_images_per_s": round(len(history) * train_images / elapsed, 1),
        "push_seconds": round(push, 2),
        "pull_seconds": round(pull, 2),
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "accuracy_vs_time": curve,
    }


def seed_figures(work: Path, overrides: dict, first: dict, seeds: int) -> dict:
    """The whole pipeline again with the next train.seed values (the first run, at params.yaml's
    seed, is `first`): one seed's test accuracy is one draw, and a recipe's claim is its mean and spread."""
    base = load_params(REPO / "params.yaml").train.seed
    runs = [{"seed": base, "repro_seconds": first["repro_seconds"], "test_accuracy": first["test_accuracy"]}]
    dvc = [sys.executable, "-m", "dvc"]
    for seed in range(base + 1, base + seeds):
        print(f"  whole pipeline again, train.seed {seed}:", file=sys.stderr)
        repo = project_copy(work / f"seed-{seed}", {**overrides, "train.seed": seed})
        wall, _, _ = run_measured([*dvc, "repro"], repo, dvc_env())
        accuracy = json.loads((repo / "metrics" / "metrics.json").read_text())["accuracy"]
        runs.append({"seed": seed, "repro_seconds": round(wall, 1), "test_accuracy": accuracy})
        print(f"    {wall / 60:.1f} min, test accuracy {accuracy:.4f}", file=sys.stderr)
        shutil.rmtree(repo)
    accuracies = [run["test_accuracy"] for run in runs]
    return {
        "runs": runs,
        "mean_test_accuracy": round(sum(accuracies) / len(accuracies), 4),
        "spread": round(max(accuracies) - min(accuracies), 4),
        "slowest_repro_minutes": round(max(run["repro_seconds"] for run in runs) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="synthetic smoke run (CI)")
    mode.add_argument("--full", action="store_true", help="also run the whole real pipeline from an empty cache")
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="with --full: only the whole pipeline (its figures need the machine to themselves)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="with --full: the whole pipeline this many times, train.seed counting up (accuracy: each, mean, spread)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench-report")
    args = parser.parse_args()
    real = REAL_ARCHIVE.exists() and not args.quick
    here = machine()
    report: dict = {
        "machine": here,
        "run": run_facts(here["id"], head_commit(REPO), sys.argv, launcher()),
        "mode": "quick" if args.quick else "full" if args.full else "default",
        "data": str(REAL_ARCHIVE) if real else "synthetic",
        "params": dataclasses.asdict(load_params(REPO / "params.yaml").train),
    }
    print(
        f"bench: {report['mode']} mode on {here['cpu']} ({here['id']}: {here['cores']} cores, {here['flags']}), "
        f"commit {report['run']['commit']}, data: {report['data']}",
        file=sys.stderr,
    )

    with tempfile.TemporaryDirectory(prefix="modelmill-bench-") as tmp:
        work = Path(tmp)
        source = (
            {"data.source": "archive", "data.archive": str(REAL_ARCHIVE)}
            if real
            else {"data.source": "synthetic", "data.synthetic_per_class": 60}
        )
        if not args.pipeline_only:
            component_figures(report, work, source, args.quick)
        if args.quick or args.full:
            overrides = {**source}
            if args.quick:
                overrides.update(
                    {
                        "train.epochs": 2,
                        "train.progressive_epochs": 0,
                        "train.input_size": 32,
                        "train.batch_size": 32,
                        "train.lr": 0.01,
                        "data.synthetic_per_class": 10,
                    }
                )
            print("  whole pipeline from an empty cache:", file=sys.stderr)
            report["pipeline"] = pipeline_figures(work, overrides, 1 if args.quick else 3)
            if args.seeds > 1:
                report["seeds"] = seed_figures(work, overrides, report["pipeline"], args.seeds)

    if not args.pipeline_only:
        print("  the fire line:", file=sys.stderr)
        report["fire"] = [list(row) for row in fire_rows(smoke_params.FIRE if args.quick else None)]
        print("  the sea-ice line:", file=sys.stderr)
        report["seaice"] = [list(row) for row in seaice_rows(args.quick)]
        print("  the sea-ice line's NSIDC reader:", file=sys.stderr)
        report["nsidc"] = [list(row) for row in nsidc_rows(args.quick)]
        print("  the biomass line:", file=sys.stderr)
        report["biomass"] = [list(row) for row in biomass_rows(smoke_params.BIOMASS if args.quick else None)]
        print("  serving, on loopback:", file=sys.stderr)
        report["serve"] = [list(row) for row in serve_rows(args.quick)]
        print("  a server following an alias, on loopback:", file=sys.stderr)
        report["follow"] = [list(row) for row in follow_rows(args.quick)]
        print("  the registry page (make ui):", file=sys.stderr)
        report["ui"] = [list(row) for row in ui_rows(args.quick)]
        if not args.quick:  # minutes of training on two nodes; tests/test_nodes.py covers the quick path
            print("  several machines (network namespaces, root only):", file=sys.stderr)
            report["nodes"] = [list(row) for row in nodes_rows()]
    write_report(report, args.out)


def component_figures(report: dict, work: Path, source: dict, quick: bool) -> None:
    """verify, training throughput (every variant, 1 and 2 processes) and inference, on the real data."""
    data_repo = project_copy(work / "data", source)
    dvc = [sys.executable, "-m", "dvc"]
    for stage in ("params", "ingest"):
        run_measured([*dvc, "repro", "--single-item", stage], data_repo, dvc_env())
    verify_s, verify_rss, _ = run_measured([*dvc, "repro", "--single-item", "verify"], data_repo, dvc_env())
    report["verify"] = {
        "seconds": round(verify_s, 1),
        "peak_rss_gb": round(verify_rss, 2),
        "images": json.loads((data_repo / "metrics" / "data.json").read_text())["images"],
    }
    print(f"  verify: {verify_s:.1f} s for {report['verify']['images']} images", file=sys.stderr)

    x, y = load_tensors(data_repo / "data" / "prepared", "train")
    steps = 1 if quick else 20
    if len(x) < steps * 128:
        reps = -(-steps * 128 // len(x))
        x, y = x.repeat(reps, 1, 1, 1), y.repeat(reps)
    cfg = load_params(REPO / "params.yaml").train
    auto = place(cfg.device, cfg.precision)
    report["auto"] = {"device": auto.name, "precision": auto.precision, "reason": auto.reason}
    print(f"  precision auto on {auto.name}: {auto.precision} ({auto.reason})", file=sys.stderr)
    variants = {}
    for name, (overrides, small_maps) in {
        "default (params.yaml)": ({}, True),
        "fp32 + channels_last": ({"precision": "fp32", "channels_last": True}, True),
        "bf16 + channels_last": ({"precision": "bf16", "channels_last": True}, True),
        "fp32, stock torchvision convolutions": ({"precision": "fp32", "channels_last": False}, False),
    }.items():
        if overrides.get("precision") == "bf16" and auto.device.type == "cpu" and not cpu_bf16_supported():
            variants[name] = "n/a (no native bf16 on this CPU)"
        else:
            variants[name] = round(train_throughput(x, y, overrides, steps, small_maps), 1)
        print(f"  train throughput {name}: {variants[name]} img/s", file=sys.stderr)
    report["data_parallel"] = data_parallel_figures(data_repo / "data" / "prepared", steps, work)
    archive = data_repo / "data" / "raw" / "eurosat.zip"
    tutorial = round(tutorial_throughput(archive, 1, 8) if quick else tutorial_throughput(archive, 3), 1)
    print(f"  train throughput tutorial recipe (224x224 fp32, PIL per sample): {tutorial} img/s", file=sys.stderr)
    report["train_throughput"] = {
        **variants,
        "tutorial (224px fp32, PIL decode)": tutorial,
        "speedup_default_vs_tutorial": round(variants["default (params.yaml)"] / tutorial, 1),
    }

    xt = load_tensors(data_repo / "data" / "prepared", "test")[0][: 512 if quick else 4096]
    cl = load_params(REPO / "params.yaml").train.channels_last
    model = build_model("resnet18", 10).to(memory_format=memory_format(cl))
    pre = Preprocess([0.35, 0.38, 0.41], [0.2, 0.14, 0.12], input_size=64, channels_last=cl)
    predict(model, xt[:256], pre, 256, "fp32")
    start = time.perf_counter()
    predict(model, xt, pre, 512, "fp32")
    report["inference_images_per_s"] = round(len(xt) / (time.perf_counter() - start), 1)
    print(f"  inference: {report['inference_images_per_s']} img/s", file=sys.stderr)


TARGETS = {
    "train throughput (img/s)": ">= 320 with AMX (auto)",
    "real EuroSAT: test accuracy": ">= 0.98",
    "real EuroSAT: mean test accuracy": ">= 0.98 (mean of 3 seeds)",
    "real EuroSAT: dvc repro from empty cache": "<= 15 min with native bf16, <= 25 min fp32",
    "2 processes vs 1": "within 15%",
    "verify (27,000 images)": "<= 15 s",
    "no-op dvc repro": "<= 1.5 s",
    "dvc push, every output": "<= 10 s",
    "peak memory of any stage": "<= 3 GB",
}


def setup_rows(report: dict) -> list[tuple]:
    m = report["machine"]
    return [
        ("mode", report["mode"], ""),
        ("data", report["data"], ""),
        ("python / torch", f"{m['python']} / {m['torch']}", ""),
    ]


def verify_rows(report: dict) -> list[tuple]:
    verify = report.get("verify")
    if not verify:  # absent with --pipeline-only
        return []
    return [
        (f"verify ({verify['images']} images), s", verify["seconds"], TARGETS["verify (27,000 images)"]),
        ("verify peak RSS, GB", verify["peak_rss_gb"], TARGETS["peak memory of any stage"]),
    ]


def throughput_rows(report: dict) -> list[tuple]:
    if "train_throughput" not in report:
        return []
    rows = [("precision auto picked", f"{report['auto']['precision']} ({report['auto']['reason']})", "")]
    rows += [
        (
            f"train throughput: {k} (img/s)" if "speedup" not in k else "speedup default vs tutorial",
            v,
            TARGETS["train throughput (img/s)"] if k.startswith("default") else "",
        )
        for k, v in report["train_throughput"].items()
    ]
    ddp = report["data_parallel"]
    rows.append(
        (
            "train throughput: 1 process x all cores / 2 processes sharing them (img/s)",
            f"{ddp['1 process(es)']} / {ddp['2 process(es)']} ({ddp['2 vs 1, %']:+}%)",
            TARGETS["2 processes vs 1"],
        )
    )
    return rows


def inference_rows(report: dict) -> list[tuple]:
    if "inference_images_per_s" not in report:
        return []
    return [("inference (img/s, fp32, batch 512, channels_last as params.yaml)", report["inference_images_per_s"], "")]


def pipeline_rows(report: dict) -> list[tuple]:
    pipe = report.get("pipeline")
    if not pipe:
        return []
    rows = [
        (
            "dvc repro from empty cache, min",
            round(pipe["repro_seconds"] / 60, 1),
            TARGETS["real EuroSAT: dvc repro from empty cache"],
        )
    ]
    rows += [
        (f"  {stage}: s / peak RSS GB", f"{f['seconds']} / {f['peak_rss_gb']}", "")
        for stage, f in pipe["stages"].items()
    ]
    rows.append(
        ("  train stage, every epoch: img/s (growing sizes, val passes included)", pipe["train_stage_images_per_s"], "")
    )
    rows.append(("test accuracy", pipe["test_accuracy"], TARGETS["real EuroSAT: test accuracy"]))
    rows.append(("test macro-F1", pipe["test_macro_f1"], ""))
    runs = pipe.get("noop_repro_runs", 3)
    rows.append((f"no-op dvc repro, s (best of {runs})", pipe["noop_repro_seconds"], TARGETS["no-op dvc repro"]))
    rows.append(("dvc push to loopback S3, s", pipe["push_seconds"], TARGETS["dvc push, every output"]))
    rows.append(("dvc pull into a fresh clone, s", pipe["pull_seconds"], ""))
    return rows


def seed_rows(report: dict) -> list[tuple]:
    seeds = report.get("seeds")
    if not seeds:
        return []
    each = ", ".join(f"{run['seed']}: {run['test_accuracy']}" for run in seeds["runs"])
    return [
        (
            f"test accuracy over {len(seeds['runs'])} seeds: mean (spread; each)",
            f"{seeds['mean_test_accuracy']} ({seeds['spread']}; {each})",
            TARGETS["real EuroSAT: mean test accuracy"],
        ),
        ("slowest of those dvc repro runs, min", seeds["slowest_repro_minutes"], ""),
    ]


def curve_rows(report: dict) -> list[tuple]:
    curve = report.get("pipeline", {}).get("accuracy_vs_time", [])
    return [
        (
            f"epoch {r['epoch']} at {r['input_size']} px: train minutes / val accuracy",
            f"{r['train_minutes']} / {r['val_accuracy']}",
            "",
        )
        for r in curve
    ]


def report_sections(report: dict) -> dict[str, list[tuple]]:
    """Every figure of the report as (measure, value, target) rows, one list per topic, in report order."""
    sections = {
        "Setup": setup_rows(report),
        "Verify": verify_rows(report),
        "Training throughput": throughput_rows(report),
        "Inference": inference_rows(report),
        "Pipeline: the whole landcover line": pipeline_rows(report),
        "Seeds": seed_rows(report),
        "Accuracy vs training time": curve_rows(report),
    }
    sections.update({title: [tuple(row) for row in report.get(key, [])] for key, title in LINE_SECTIONS.items()})
    sections["Serving (python -m modelmill.serve, loopback)"] = [tuple(row) for row in report.get("serve", [])]
    sections["Registry: a server following an alias (loopback S3)"] = [tuple(row) for row in report.get("follow", [])]
    sections["The registry page (make ui)"] = [tuple(row) for row in report.get("ui", [])]
    sections["Several machines (network namespaces on one machine)"] = [tuple(row) for row in report.get("nodes", [])]
    return {title: rows for title, rows in sections.items() if rows}


def write_report(report: dict, out: Path) -> None:
    """report.md in docs/measurements.md's shape; report.json with the raw figures and the same rows."""
    out.mkdir(parents=True, exist_ok=True)
    sections = report_sections(report)
    report = {**report, "sections": {title: [list(row) for row in rows] for title, rows in sections.items()}}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    text = document(report["machine"], report["run"], sections)
    (out / "report.md").write_text(text)
    print(text)
    print(f"report written to {out}/report.md and report.json", file=sys.stderr)


if __name__ == "__main__":
    main()
