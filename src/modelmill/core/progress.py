"""Progress bars on stderr, so that long work is visible without cluttering captured output."""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int | None, desc: str, *, unit: str = "B") -> tqdm:
    """A bar for `total` units; bytes are shown scaled (KB, MB, ...)."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024 if unit == "B" else 1000,
        file=sys.stderr,
        mininterval=1.0,
        dynamic_ncols=True,
        leave=False,
        disable=not sys.stderr.isatty(),  # logs get the stages' one-line summaries instead
    )
