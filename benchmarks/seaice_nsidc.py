"""Reading NSIDC's daily files for the sea-ice line: time and peak memory for a window of the whole
north grid, over many days.

    python benchmarks/seaice_nsidc.py           # 3,650 daily G02202 v4 files of the 448x304 grid, a 64x64 window
    python benchmarks/seaice_nsidc.py --quick   # 60 files (a smoke run; the target is for 3,650)

Writes the files into a temporary folder (about 0.5 GB for 3,650), then runs the reader
(`modelmill.seaice.nsidc.read_nsidc`) in a process of its own and reads that process's peak
resident memory. Figures are what this run measured; targets are shown, never asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
from nsidc_files import LAYOUTS, NORTH_GRID, write_folder  # noqa: E402
from workspace import print_table  # noqa: E402

WINDOW = 64
MEMORY_TARGET_GB = 1.0
# The reader alone, in a fresh process: its own peak RSS (ru_maxrss, KB on Linux).
READ = """
import resource, sys, time
from modelmill.seaice.nsidc import read_nsidc
from modelmill.seaice.params import RegionConfig
start = time.perf_counter()
daily = read_nsidc(sys.argv[1], RegionConfig(row=200, col=40, height={w}, width={w}), 1)
print(len(daily), time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def rows(quick: bool = False) -> list[tuple[str, str, str]]:
    """(measure, value, target) of reading `days` daily files of the whole north grid."""
    days = 60 if quick else 3650
    rng = np.random.default_rng(0)
    land = np.zeros((WINDOW, WINDOW), bool)
    land[:8] = True
    concentration = rng.random((days, WINDOW, WINDOW)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="nsidc-bench-") as tmp:
        start = time.perf_counter()
        folder = write_folder(Path(tmp), LAYOUTS["g02202-v4"], concentration, land, date(2010, 1, 1), grid=NORTH_GRID)
        written = time.perf_counter() - start
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e9
        out = subprocess.run(
            [sys.executable, "-c", READ.replace("{w}", str(WINDOW)), str(folder)],
            env={"PYTHONPATH": str(REPO / "src"), "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    n, seconds, rss_kb = int(out[0]), float(out[1]), int(out[2])
    label = (
        f"{n:,} daily G02202 v4 files, {NORTH_GRID[0]}x{NORTH_GRID[1]} grid ({size:.2f} GB), a {WINDOW}x{WINDOW} window"
    )
    return [
        (f"read: {label}", f"{seconds:.1f} s ({n / seconds:,.0f} files/s)", ""),
        (
            "read: peak memory of the reading process",
            f"{rss_kb / 1e6:.2f} GB",
            f"<= {MEMORY_TARGET_GB:g} GB for 3,650 files",
        ),
        ("writing the test files (not the reader's cost)", f"{written:.1f} s", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 files instead of 3,650")
    args = parser.parse_args()
    print_table("Sea ice from NSIDC's files", rows(args.quick))


if __name__ == "__main__":
    main()
