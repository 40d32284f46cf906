"""One recipe across machines: before the first step every node reports its git commit, its
training params and a digest of its input data, and any difference from the head stops every
node with the same line, naming the node and what differs. Two nodes that checked out different
commits or params would otherwise train different recipes into one model without a word."""

from __future__ import annotations

import socket
import subprocess

import torch.distributed as dist

from .cli import UserError
from .distributed import Group


def commit() -> str:
    """The checked-out commit, or "no git". Uncommitted changes are not compared (the head's
    dvc.lock changes as its stages run): the params and the data are, on their own."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "no git"
    return head.stdout.strip()[:12]


def agree(group: Group, params: dict, data: str) -> None:
    """Every rank: gather every process's report and stop, on every node, at the first whose
    report differs from the head's first process's, naming its node."""
    if group.world == 1:
        return
    mine = {"host": socket.gethostname(), "commit": commit(), "params": params, "data": data}
    reports: list[dict | None] = [None] * group.world
    dist.all_gather_object(reports, mine)
    head = reports[0]
    assert head is not None
    for rank, report in enumerate(reports):
        assert report is not None
        differences = differ(head, report)
        if differences:
            node = rank // group.local_world
            raise UserError(
                f"node {node} ({report['host']}) does not match the head ({head['host']}): "
                f"{'; '.join(differences)}; every node needs the same commit, params and prepared data"
            )
    if group.liveness is not None:
        group.liveness.names = {
            rank: f"node {rank // group.local_world} ({report['host']})"
            for rank, report in enumerate(reports)
            if report is not None
        }


def differ(head: dict, node: dict) -> list[str]:
    """What a node's report has that the head's has not, in words."""
    out = []
    if node["commit"] != head["commit"]:
        out.append(f"git commit {node['commit']} vs {head['commit']} on the head")
    for key in sorted(set(head["params"]) | set(node["params"])):
        theirs, ours = node["params"].get(key), head["params"].get(key)
        if theirs != ours:
            out.append(f"param {key} {theirs!r} vs {ours!r} on the head")
    if node["data"] != head["data"]:
        out.append(f"input data {node['data'][:12]} vs {head['data'][:12]} on the head (dvc pull the prepared data)")
    return out
