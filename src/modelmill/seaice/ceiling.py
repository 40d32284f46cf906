"""The change detector's ceiling: the same detector trained, its epoch picked and scored on clean
renders of the same scenes (no cloud, speckle or sensor noise; the same floes and leads), so its gap
to the detector is what the sensor costs. A rule on the true change would score 1.0 by construction
(the label is that change), which says nothing about the imagery.

Only simulated fields have clean renders (split writes them then). For the user's own data the
ceiling stage writes NO_CEILING, saying why, and evaluate writes no ceiling keys at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.io import atomic_output
from .data import load_set
from .paths import CEILING_DIR, DATASETS, NO_CEILING

ABSENT = "no ceiling: the change pairs come from the user's own data, which have no clean renders\n"


def available(sets_dir: str | Path = DATASETS) -> bool:
    """Whether split wrote clean renders (it does for simulated fields only)."""
    return "before_clean" in load_set("change", "train", sets_dir)


def write_absent(folder: str | Path = ".") -> None:
    folder = Path(folder)
    with atomic_output(folder / CEILING_DIR, directory=True) as tmp:
        (tmp / NO_CEILING.name).write_text(ABSENT)
    print(f"train ceiling: {ABSENT.strip()} -> {folder / NO_CEILING}", file=sys.stderr)
