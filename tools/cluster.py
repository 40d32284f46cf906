"""Two machines on this one, for the several-node tests and benchmark: each node a clone of the
project in its own network namespace (netns.py), one S3 server on the bridge holding the DVC
remote and the checkpoints, and helpers to start, watch and stop what runs on each node.

    with cluster(root, origin) as nodes:       # origin: a git repo of the project with its params
        head = nodes.make(0, "repro", name="repro")
        ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netns import Network

from modelmill.registry.s3local import AMBIENT, DUMMY_CREDENTIALS, client_env

VENV = Path(sys.executable).parent.parent
PORT = 29500  # the head's rendezvous, inside its namespace
BUCKET = "nodes"
CHECKPOINTS = f"s3://{BUCKET}/checkpoints"  # a recipe's train.checkpoint_uri, on the bridge's server


@dataclass
class Cluster:
    net: Network
    head: Path
    node: Path
    env: dict
    checkpoints: str  # s3://… on the bridge's server
    logs: Path

    @property
    def endpoint(self) -> str:
        return f"{self.net.addresses[0]}:{PORT}"

    def start(self, node: int, argv: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        return self.net.start(
            node, argv, self.head if node == 0 else self.node, {**self.env, **(env or {})}, self.logs / f"{name}.log"
        )

    def make(self, node: int, target: str, *args: str, name: str) -> subprocess.Popen:
        """`make repro NNODES=2 HEAD=…` on the head (node 0), `make join HEAD=… NNODES=2` on node 1."""
        return self.start(node, ["make", target, f"VENV={VENV}", f"HEAD={self.endpoint}", "NNODES=2", *args], name)

    def train(self, node: int, name: str, restarts: int = 0, module: str = "modelmill.landcover.train"):
        """What make repro runs on the head for the train stage, and make join on a node, minus dvc."""
        env = {"MODELMILL_NODES": "2", "MODELMILL_HEAD": self.endpoint, "MODELMILL_MAX_RESTARTS": str(restarts)}
        if node:
            env["MODELMILL_NODE_ROLE"] = "join"
        return self.start(node, [sys.executable, "-m", module], name, env)

    def alone(self, name: str, module: str = "modelmill.landcover.train") -> subprocess.Popen:
        """The head's train stage on the head alone (its params decide the processes)."""
        return self.start(0, [sys.executable, "-m", module], name)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def wait_for_line(self, name: str, text: str, proc: subprocess.Popen, timeout: float = 180) -> float:
        """The time (monotonic) `text` showed up in `name`'s log; an AssertionError if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return time.monotonic()
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"never saw {text!r} in {name}:\n{self.log(name)}")


def wait(*procs: subprocess.Popen, timeout: float = 300, grace: float = 60) -> list[int | None]:
    """Each one's exit code; once one has failed the others get `grace` seconds, then they are
    stopped (None), as is any still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        if any(p.poll() not in (None, 0) for p in procs):
            deadline = min(deadline, time.monotonic() + grace)
        time.sleep(0.1)
    codes = [p.poll() for p in procs]
    for proc in procs:
        stop(proc)
    return codes


def stop(proc: subprocess.Popen) -> None:
    """End a node's whole process tree (torchrun, its workers, make and dvc above them)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _run(argv: list[str], cwd: Path, env: dict) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed in {cwd}:\n{result.stdout}\n{result.stderr}")


@contextlib.contextmanager
def cluster(root: Path, origin: Path) -> Iterator[Cluster]:
    """Two nodes, each a clone of `origin` (a committed git repo of the project, its params set)
    whose DVC remote is the bridge's S3 server and whose prepared data are pushed there and
    recorded in its dvc.lock, as the head's first run leaves them."""
    from moto.server import ThreadedMotoServer

    net = Network(2)
    server = ThreadedMotoServer(ip_address=net.host, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {
            **{k: v for k, v in os.environ.items() if k not in (*AMBIENT, "PYTEST_XDIST_WORKER")},
            **client_env(endpoint, root / "aws-config"),
            "DVC_NO_ANALYTICS": "1",
            "PYTHONPATH": "",
            "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        import boto3

        keys = {
            "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(Bucket=BUCKET)
        dvc = [sys.executable, "-m", "dvc"]
        _run([*dvc, "remote", "add", "-d", "store", f"s3://{BUCKET}/dvc"], origin, env)
        _run([*dvc, "remote", "modify", "store", "endpointurl", endpoint], origin, env)
        _run([*dvc, "repro", "-q", "verify"], origin, env)
        _run([*dvc, "push", "-q"], origin, env)
        _run(["git", "add", "-A"], origin, env)
        _run(["git", "commit", "-q", "-m", "the remote every node pulls from, and the prepared data"], origin, env)
        head, node = root / "head", root / "node1"
        for dest in (head, node):
            _run(["git", "clone", "-q", str(origin), str(dest)], root, env)
        logs = root / "logs"
        logs.mkdir()
        yield Cluster(net, head, node, env, CHECKPOINTS, logs)
    finally:
        server.stop()
        net.close()
