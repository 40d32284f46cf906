"""`make bench` in its quick mode: a smoke run that must produce a complete report (no timing is asserted)."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.e2e


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
    table = (tmp_path / "report.md").read_text()
    assert "| measure | value | target |" in table and "no-op dvc repro" in table
    assert "precision auto picked" in table and "whole fire line" in table
    assert "whole sea-ice line" in table and "whole biomass line" in table
