"""`make models [MODEL=…] [JSON=1]`: what the registry holds.

Without --model: every model under the buckets and prefixes the lines publish to (found in the
bucket, not only the names the params declare), with its version count, latest and aliases.
With --model NAME: each version (published when, git commit, data checksum, headline test
metrics, size, the aliases at it; incomplete versions shown as such) and each alias's history,
oldest first. --json prints the same for scripts. Only reads; a damaged registry object is
left out with a `warning:` line naming it.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

from ..core import s3
from ..core.cli import cli
from .listing import describe_model, every_model, human_size, registry_for, render_table, short, show_value


def models_text(rows: list[dict]) -> str:
    def versions(row: dict) -> str:
        return f"{row['versions']}" + (f" (+{row['incomplete']} incomplete)" if row["incomplete"] else "")

    def pointed(row: dict) -> str:
        return ", ".join(f"{name}={_v(at, '?')}" for name, at in row["aliases"].items()) or "-"

    def cells(row: dict) -> list[str]:
        return [row["model"], row["line"] or "-", versions(row), _v(row["latest"]), pointed(row), row["uri"]]

    return render_table(["MODEL", "LINE", "VERSIONS", "LATEST", "ALIASES", "WHERE"], [cells(row) for row in rows])


def model_text(model: dict) -> str:
    line = f"{model['line']} line" if model["line"] else "no line declares it"
    title = f"{model['model']} ({line}) at {model['uri']}"
    if not model["versions"]:
        return f"{title}\nnothing published yet"
    metrics = list(dict.fromkeys(key for row in model["versions"] for key in row["metrics"]))
    table = render_table(
        ["VERSION", "PUBLISHED (UTC)", "COMMIT", "DATA", *metrics, "SIZE", "ALIASES"],
        [_version_cells(row, metrics) for row in model["versions"]],
    )
    return "\n".join([title, table, *_history_lines(model["history"])])


def _version_cells(row: dict, metrics: list[str]) -> list[str]:
    at = ", ".join((["latest"] if row["latest"] else []) + row["aliases"])
    if not row["complete"]:
        state = "unreadable metadata.json" if row["unreadable"] else "incomplete (no metadata.json)"
        return [f"v{row['version']}", state, "", "", *[""] * len(metrics), human_size(row["size_bytes"]), at]
    return [
        f"v{row['version']}",
        (row["published_at_utc"] or "-").removesuffix("+00:00"),
        short(row["git_commit"], 7),
        short(row["data_sha256"], 12),
        *[show_value(row["metrics"].get(key)) for key in metrics],
        human_size(row["size_bytes"]),
        at,
    ]


def _history_lines(history: dict[str, list[dict]]) -> list[str]:
    moves = [(alias, move) for alias, moves in history.items() for move in moves]
    if not moves:
        return []
    rows = [
        [
            alias,
            f"#{move['seq']}",
            str(move.get("updated_at_utc", "-")).removesuffix("+00:00"),
            f"{_v(move.get('from_version'), '(new)')} -> {_v(move['version'])}",
            str(move.get("by") or "-"),
            move.get("reason") or "",
        ]
        for alias, move in moves
    ]
    headers = ["ALIAS", "#", "WHEN (UTC)", "MOVE", "BY", "REASON"]
    return ["", "alias history (oldest first):", render_table(headers, rows)]


def _v(version: int | None, missing: str = "-") -> str:
    return missing if version is None else f"v{version}"


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="one model's versions and alias history (default: every model)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    args = parser.parse_args()
    client_for = functools.cache(s3.client)  # one client per region: each costs a tenth of a second
    if args.model:
        reg, line = registry_for(args.model, client_for=client_for)
        result = describe_model(client_for(reg.region), reg, line)
        warnings, text = result["warnings"], model_text(result)
    else:
        rows, warnings = every_model(client_for)
        result, text = {"models": rows, "warnings": warnings}, models_text(rows)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(result, indent=2) if args.json else text)


if __name__ == "__main__":
    main()
