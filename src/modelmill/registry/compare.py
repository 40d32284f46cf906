"""`make compare MODEL=… A=v2 B=v3`: what differs between two versions of a model.

A and B are each vN, N, latest or an alias name. Prints the test metrics and the params that
differ (as `dvc metrics diff` and `dvc params diff` do: each key, its two values and, for
numbers, the change from A to B), then the identity fields that differ (git commit, data
checksum, framework), all from the two versions' metadata.json. Versions of two lines' models
(metadata.json's "line") are refused. --json prints the same for scripts. Only reads.
"""

from __future__ import annotations

import argparse
import functools
import json

from ..core import s3
from ..core.cli import UserError, cli
from ..core.io import flatten
from .aliases import resolve_with_metadata
from .listing import data_checksum, is_number, registry_for, render_table, show_value
from .store import Registry, parse_version

SECTIONS = (("metrics", "test_metrics", "Metric"), ("params", "params", "Param"), ("identity", "metadata", "Field"))
SHORT = {"git_commit": 7, "data_sha256": 12}  # hex identities, shortened in the table only


def identity(metadata: dict) -> dict:
    return {
        "git_commit": metadata.get("git_commit"),
        "data_sha256": data_checksum(metadata),
        "framework": metadata.get("framework"),
    }


def differences(a: dict, b: dict) -> list[dict]:
    """{key, a, b, change} for each key whose values differ (a key one side lacks: None)."""
    rows = []
    for key in dict.fromkeys([*a, *b]):
        va, vb = a.get(key), b.get(key)
        if va != vb:
            change = round(vb - va, 10) if is_number(va) and is_number(vb) else None  # float noise
            rows.append({"key": key, "a": va, "b": vb, "change": change})
    return rows


def compare(client, reg: Registry, a_text: str, b_text: str) -> dict:
    """The differences between the versions `a_text` and `b_text` name, section by section."""
    a, meta_a = resolve_with_metadata(client, reg, a_text)
    b, meta_b = resolve_with_metadata(client, reg, b_text)
    if meta_a.get("line") != meta_b.get("line"):
        raise UserError(
            f"{label(a_text, a)} of {reg.model_name} is a {meta_a.get('line')} model and {label(b_text, b)} "
            f"a {meta_b.get('line')} one: their metrics and params do not compare; compare versions of one line"
        )
    return {
        "model": reg.model_name,
        "line": meta_a.get("line"),
        "a": {"name": a_text, "version": a},
        "b": {"name": b_text, "version": b},
        "metrics": differences(flatten(meta_a.get("test_metrics") or {}), flatten(meta_b.get("test_metrics") or {})),
        "params": differences(flatten(meta_a.get("params") or {}), flatten(meta_b.get("params") or {})),
        "identity": differences(identity(meta_a), identity(meta_b)),
    }


def label(text: str, version: int) -> str:
    """How a table heads a version: `v3`, or `production (v3)` for an alias."""
    return f"v{version}" if parse_version(text) is not None else f"{text.strip()} (v{version})"


def compare_text(result: dict) -> str:
    a, b = label(result["a"]["name"], result["a"]["version"]), label(result["b"]["name"], result["b"]["version"])
    parts = [f"{a} vs {b} of {result['model']} ({result['line']})"]
    for section, path, kind in SECTIONS:
        rows = result[section]
        if not rows:
            parts.append(f"no {kind.lower()} differs")
            continue
        headers = ["Path", kind, a, b] + (["Change"] if section == "metrics" else [])
        cells = [
            [path, row["key"], _cell(row["key"], row["a"]), _cell(row["key"], row["b"])]
            + ([_change(row["change"])] if section == "metrics" else [])
            for row in rows
        ]
        parts.append(render_table(headers, cells))
    return "\n\n".join(parts)


def _cell(key: str, value) -> str:
    if key in SHORT and isinstance(value, str):
        return value[: SHORT[key]]
    return show_value(value) if not isinstance(value, list | dict) else json.dumps(value)


def _change(change) -> str:
    return "-" if change is None else f"{change:+.4g}"


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the model's registry name")
    parser.add_argument("a", help="vN, N, latest or an alias name")
    parser.add_argument("b", help="vN, N, latest or an alias name")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    args = parser.parse_args()
    client_for = functools.cache(s3.client)  # one client per region: each costs a tenth of a second
    reg, _ = registry_for(args.model, client_for=client_for)
    result = compare(client_for(reg.region), reg, args.a, args.b)
    print(json.dumps(result, indent=2) if args.json else compare_text(result))


if __name__ == "__main__":
    main()
