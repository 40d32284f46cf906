"""Training across machines, on this one: two nodes, each a clone in its own network namespace
(tools/cluster.py), against one node alone, on the same small land-cover run.

    sudo python benchmarks/nodes.py           # needs root, for the namespaces

Rows: training images/s of 2 nodes x 1 thread and of 1 node x 1 thread, and the scaling
efficiency; with the default train.peer_timeout, the time from cutting a node's link mid-epoch
to the head's exit, and the time from starting the run again to its first resumed epoch.
Figures are what this run measured; targets are shown beside them, never asserted.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tools"))

from cluster import CHECKPOINTS, cluster, stop, wait  # noqa: E402
from netns import why_not  # noqa: E402
from workspace import print_table, project_copy  # noqa: E402

from modelmill.nodes import stage_inputs  # noqa: E402

EPOCHS = 3
RECIPE = {
    "data.source": "synthetic",
    "data.synthetic_per_class": 100,  # 800 training tiles at EuroSAT's 64 px
    "train.epochs": EPOCHS,
    "train.progressive_epochs": 0,
    "train.batch_size": 128,  # the line's default: per step, the gradients cross the wire once per 128 tiles
    "train.lr": 0.05,
    "train.threads": 1,
    "train.precision": "fp32",
    "train.checkpoint_uri": CHECKPOINTS,
    "evaluate.tta": False,
}


def images_per_second(folder: Path, log: str) -> float:
    """Training images/s over the run's epochs: the history's seconds less each validation's."""
    with open(folder / "metrics" / "train_history.csv") as f:
        seconds = sum(float(row["seconds"]) for row in csv.DictReader(f))
    seconds -= sum(float(v) for v in re.findall(r"\(val ([\d.]+)s\)", log))
    train = int(re.search(r"on (\d+) images", log).group(1))  # type: ignore[union-attr]
    return train * EPOCHS / seconds


def rows() -> list[tuple[str, str, str]]:
    reason = why_not()
    if reason:
        print(f"several machines: skipped ({reason})", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp:
        root = Path(tmp)
        origin = project_copy(root / "origin", RECIPE, working_tree=True)
        with cluster(root, origin) as nodes:
            _, _, inputs = stage_inputs(nodes.head, "train")
            for clone in (nodes.head, nodes.node):  # the train stage's inputs, as make join pulls them
                subprocess.run(
                    [sys.executable, "-m", "dvc", "pull", "-q", *inputs], cwd=clone, env=nodes.env, check=True
                )
            assert wait(nodes.alone("alone")) == [0], nodes.log("alone")
            one = images_per_second(nodes.head, nodes.log("alone"))
            assert wait(nodes.train(0, "two"), nodes.train(1, "two-node")) == [0, 0], nodes.log("two")
            two = images_per_second(nodes.head, nodes.log("two"))

            head, node = nodes.train(0, "cut"), nodes.train(1, "cut-node")
            nodes.wait_for_line("cut", "train: epoch 1/", head)
            cut = time.monotonic()
            nodes.net.cut(1)
            wait(head, timeout=300)
            lost = time.monotonic() - cut
            stop(node)
            nodes.net.mend(1)
            started = time.monotonic()
            head, node = nodes.train(0, "resume"), nodes.train(1, "resume-node")
            resumed = nodes.wait_for_line("resume", "resuming after epoch", head) - started
            assert wait(head, node) == [0, 0], nodes.log("resume")
    label = f"land cover, {EPOCHS} epochs of 800 synthetic 64 px tiles, fp32, gloo over veth"
    return [
        (f"{label}: 1 node x 1 thread", f"{one:.1f} img/s", ""),
        (f"{label}: 2 nodes x 1 thread", f"{two:.1f} img/s", ""),
        ("scaling efficiency, 2 nodes (img/s / (2 x one node's))", f"{two / (2 * one):.0%}", ""),
        ("a node's link cut mid-epoch: to the head's exit (peer_timeout 40 s)", f"{lost:.1f} s", "<= 60 s"),
        ("the run started again: to its first resumed epoch (checkpoint on S3)", f"{resumed:.1f} s", ""),
    ]


def main() -> None:
    print_table("Several machines (network namespaces on one machine)", rows())


if __name__ == "__main__":
    main()
