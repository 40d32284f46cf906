"""The shape `make bench`'s report shares with docs/measurements.md, the project's lab notebook.

A `## Machines` table says what each machine is (CPU, the flags that decide precision and speed,
cores, memory, GPU); every figure then sits in a topic table whose row names the machine, the UTC
date, the commit and the exact command that produced it, so a user's own run reads beside ours.
"""

from __future__ import annotations

import platform
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

MACHINE_COLUMNS = ("machine", "CPU", "flags", "cores", "memory", "GPU")
MEASURE_COLUMNS = ("measure", "value", "target", "machine", "date", "commit", "command")
# The CPU flags that decide the precision `auto` picks and how fast it runs (core/hardware.py).
PRECISION_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
ABSENT = {"amx_bf16": "no amx"}
SHELLS = {"sh", "bash", "dash", "zsh"}
INTRO = (
    "What `make bench` measured, in the shape of docs/measurements.md: a row here compares with a row "
    "there of the same measure, across machines only with care (compare speeds within one run)."
)


def flags_text(flags: Iterable[str]) -> str:
    """PRECISION_FLAGS as present or absent: `avx2, avx512f, avx512_bf16, no amx`."""
    flags = set(flags)
    if not flags:
        return "unknown"  # no /proc/cpuinfo: absent would be a guess
    return ", ".join(f if f in flags else ABSENT.get(f, f"no {f}") for f in PRECISION_FLAGS)


def machine_id(cpu: str, cores: int) -> str:
    """A short slug of the CPU model and the usable cores: `intel-xeon-platinum-8481c-2c`."""
    name = re.sub(r"\((?:R|TM)\)", " ", cpu, flags=re.IGNORECASE).split("@")[0]
    name = re.sub(r"\b(?:CPU|Processor|\d+-Core)\b", " ", name, flags=re.IGNORECASE)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "cpu"
    return f"{slug}-{cores}c"


def machine() -> dict:
    """This machine, from what core/hardware.py and core/torchkit.py already read."""
    import psutil
    import torch

    from modelmill.core.hardware import CpuInfo
    from modelmill.core.torchkit import available_cores

    info = CpuInfo.read()
    cpu = info.model or platform.processor() or platform.machine() or "unknown CPU"
    cores = available_cores()
    return {
        "id": machine_id(cpu, cores),
        "cpu": cpu,
        "flags": flags_text(info.flags),
        "cores": cores,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),  # MemTotal of /proc/meminfo on Linux
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def launcher() -> str:
    """The process that started this one, past any shell (`make` under `make bench`); "" if unknown."""
    import psutil

    try:
        for parent in psutil.Process().parents():
            if parent.name() not in SHELLS:
                return parent.name()
    except psutil.Error:
        pass
    return ""


def command_line(argv: Sequence[str], parent: str = "") -> str:
    """The command that ran this benchmark: `make bench BENCH_ARGS=...` when make started
    benchmarks/bench.py, else `python <script relative to the repo> <args>`."""
    script = Path(argv[0]).resolve()
    shown = script.relative_to(REPO).as_posix() if script.is_relative_to(REPO) else argv[0]
    args = shlex.join(argv[1:])
    if parent in ("make", "gmake") and shown == "benchmarks/bench.py":
        return "make bench" + (f" BENCH_ARGS={shlex.quote(args)}" if args else "")
    return " ".join(part for part in ("python", shown, args) if part)


def run_facts(machine_name: str, commit: str, argv: Sequence[str], parent: str = "") -> dict:
    """What every row of one run repeats: machine id, UTC date, commit, command."""
    return {
        "machine": machine_name,
        "date": datetime.now(timezone.utc).date().isoformat(),
        "commit": commit,
        "command": command_line(argv, parent),
    }


def cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(columns: Sequence[str], rows: Iterable[Sequence]) -> list[str]:
    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---:" if c == "value" else "---" for c in columns) + " |",
    ]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def machines_section(m: dict) -> list[str]:
    row = (m["id"], m["cpu"], m["flags"], m["cores"], f"{m['memory_gb']} GB", m["gpu"])
    return ["## Machines", "", *table(MACHINE_COLUMNS, [row])]


def topic_section(title: str, rows: Iterable[Sequence], run: dict) -> list[str]:
    """`## title` and its (measure, value, target) rows, each with this run's machine, date, commit, command."""
    stamp = (run["machine"], run["date"], run["commit"], f"`{run['command']}`")
    return [f"## {title}", "", *table(MEASURE_COLUMNS, [(*row, *stamp) for row in rows])]


def document(m: dict, run: dict, sections: dict[str, list[Sequence]]) -> str:
    """The whole report.md: title, intro, Machines, then one table per topic (empty topics left out)."""
    parts = [["# Benchmark report", "", INTRO], machines_section(m)]
    parts += [topic_section(title, rows, run) for title, rows in sections.items() if rows]
    return "\n\n".join("\n".join(part) for part in parts) + "\n"
