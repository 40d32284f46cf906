"""`make bench` in its quick mode: a smoke run that must produce a complete report (no timing is asserted)."""

import json
import re
import subprocess
import sys
from datetime import date

import pytest
from conftest import REPO
from notebook import command_line, flags_text, machine_id

MACHINE_COLUMNS = ["machine", "CPU", "flags", "cores", "memory", "GPU"]
MEASURE_COLUMNS = ["measure", "value", "target", "machine", "date", "commit", "command"]


def markdown_tables(text: str) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Each `## title`'s table as (columns, rows), cells split on unescaped pipes."""
    tables: dict = {}
    title = None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif line.startswith("|") and title:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if title not in tables:
                tables[title] = (cells, [])
            elif not all(set(c) <= set("-:") for c in cells):
                tables[title][1].append(cells)
    return tables


def test_machine_id_flags_and_command_follow_the_notebook():
    assert machine_id("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", 2) == "intel-xeon-platinum-8481c-2c"
    assert machine_id("AMD EPYC 7B13", 2) == "amd-epyc-7b13-2c"
    assert machine_id("AMD EPYC 9B14 96-Core Processor", 4) == "amd-epyc-9b14-4c"
    assert flags_text({"avx2", "avx512f", "avx512_bf16", "fpu"}) == "avx2, avx512f, avx512_bf16, no amx"
    assert flags_text({"avx2", "amx_bf16"}) == "avx2, no avx512f, no avx512_bf16, amx_bf16"
    assert flags_text(set()) == "unknown"
    script = str(REPO / "benchmarks" / "bench.py")
    assert command_line([script, "--quick"], "python3") == "python benchmarks/bench.py --quick"
    assert command_line([script, "--full", "--seeds", "3"], "make") == "make bench BENCH_ARGS='--full --seeds 3'"
    assert command_line([script], "make") == "make bench"


@pytest.mark.e2e
def test_quick_benchmark_writes_a_complete_report(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "quick" and report["machine"]["cores"] >= 1
    assert report["train_throughput"]["default (params.yaml)"] > 0
    assert report["train_throughput"]["tutorial (224px fp32, PIL decode)"] > 0
    assert report["verify"]["images"] == 600
    assert report["auto"]["precision"] in ("fp32", "bf16") and report["auto"]["reason"]
    assert report["data_parallel"]["1 process(es)"] > 0 and report["data_parallel"]["2 process(es)"] > 0
    assert any(row[0] == "ensemble test ROC AUC" for row in report["fire"])
    assert any(row[0] == "classifier test macro-F1" for row in report["seaice"])
    assert any(row[0] == "model test R²" for row in report["biomass"])
    assert any(row[0].startswith("fire, one CSV row") for row in report["serve"])
    assert any(row[0].startswith("fire batch scoring, ONNX Runtime") for row in report["serve"])
    assert any(row[0].startswith("requests lost during the switches") for row in report["follow"])
    pipeline = report["pipeline"]
    assert set(pipeline["stages"]) == {"params", "ingest", "verify", "train", "evaluate"}
    assert 0 <= pipeline["test_accuracy"] <= 1
    assert pipeline["push_seconds"] > 0 and pipeline["pull_seconds"] > 0
    assert [row["epoch"] for row in pipeline["accuracy_vs_time"]] == [1, 2]
    assert pipeline["train_stage_images_per_s"] > 0
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Benchmark report\n\n") and "docs/measurements.md" in text.splitlines()[2]
    tables = markdown_tables(text)
    columns, machines = tables.pop("Machines")
    assert columns == MACHINE_COLUMNS and len(machines) == 1
    here = dict(zip(columns, machines[0]))
    assert here["machine"] == report["machine"]["id"] and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*-\d+c", here["machine"])
    assert int(here["cores"]) == report["machine"]["cores"] >= 1 and here["CPU"] and here["GPU"]
    assert re.fullmatch(r"[\d.]+ GB", here["memory"]) and ("amx" in here["flags"] or here["flags"] == "unknown")
    assert list(tables) == list(report["sections"])
    assert {"Verify", "Training throughput", "Inference", "Accuracy vs training time", "Fire line"} <= set(tables)
    assert {"Sea-ice line", "Biomass line"} <= set(tables) and any(t.startswith("Serving") for t in tables)
    assert any(t.startswith("Pipeline") for t in tables) and any(t.startswith("Registry") for t in tables)
    for title, (columns, rows) in tables.items():
        assert columns == MEASURE_COLUMNS, title
        assert rows and len(rows) == len(report["sections"][title]), title
        for row in rows:
            measure, _, _, machine, day, commit, command = row
            assert measure and machine == here["machine"], row
            assert date.fromisoformat(day) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day), row
            assert re.fullmatch(r"[0-9a-f]{4,40}(\+dirty)?", commit), row
            assert re.fullmatch(r"`[^`]+`", command) and "bench.py --quick" in command, row
    assert report["run"]["commit"] == commit and f"`{report['run']['command']}`" == command
    measures = {row[0] for _, rows in tables.values() for row in rows}
    assert "precision auto picked" in measures and any(m.startswith("no-op dvc repro") for m in measures)
    for line in ("fire", "sea-ice", "biomass"):
        assert any(m.startswith(f"whole {line} line") for m in measures)
