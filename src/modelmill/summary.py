"""`make repro`'s closing lines: a line's headline test metrics (every one: `dvc metrics show`)."""

from __future__ import annotations

import json
import sys

SKIP = ("per_class",)  # long tables, read in the file itself


def headline(metrics: dict, prefix: str = "", depth: int = 2) -> list[str]:
    lines = []
    for key, value in metrics.items():
        if key in SKIP:
            continue
        if isinstance(value, dict) and depth > 1:
            lines.extend(headline(value, f"{prefix}{key}.", depth - 1))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(f"  {prefix}{key}: {value}")
    return lines


def main() -> None:
    path = sys.argv[1]
    try:
        with open(path) as f:
            print("\n".join(headline(json.load(f))))
    except FileNotFoundError:
        sys.exit(f"error: {path} not found; the evaluate stage did not run")


if __name__ == "__main__":
    main()
