"""Issue 41: training across machines with torchrun's c10d rendezvous, each node a clone of the
project in its own network namespace (tools/netns.py), one S3 server on the bridge for the DVC
remote and the checkpoints. The commands are docs/scaling.md's: `make repro NNODES=2 HEAD=…` on
the head, `make join HEAD=… NNODES=2` on the other node."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import psutil
import pytest
from conftest import clone_project, git, run_module, write_params

from modelmill.core.io import file_digest
from modelmill.registry.s3local import DUMMY_CREDENTIALS

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from netns import Network, why_not  # noqa: E402  (tools/netns.py: the benchmark's nodes too)

pytestmark = pytest.mark.e2e

VENV = Path(sys.executable).parent.parent
PORT = 29500  # the head's rendezvous, inside its namespace
TIMEOUT = 10  # train.peer_timeout here: the bound on a lost node is this plus a few heartbeats
# Small enough to run in seconds, large enough that an epoch lasts a few (a link is cut mid-epoch).
RECIPE = {
    "data.source": "synthetic",
    "data.synthetic_per_class": 20,
    "train.input_size": 32,
    "train.epochs": 3,
    "train.progressive_epochs": 0,
    "train.batch_size": 16,
    "train.lr": 0.01,
    "train.threads": 1,  # 2 nodes x 1 thread and 2 processes x 1 thread: the same kernels
    "train.peer_timeout": TIMEOUT,
    "evaluate.tta": False,
}
MODEL = "models/satellite_model.pt"


@dataclass
class Cluster:
    net: Network
    head: Path
    node: Path
    env: dict
    checkpoints: str
    logs: Path

    @property
    def endpoint(self) -> str:
        return f"{self.net.addresses[0]}:{PORT}"

    def start(self, node: int, argv: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        return self.net.start(
            node, argv, self.head if node == 0 else self.node, {**self.env, **(env or {})}, self.logs / f"{name}.log"
        )

    def make(self, node: int, target: str, *args: str, name: str) -> subprocess.Popen:
        joining = ("NNODES=2",) if target == "repro" else (f"HEAD={self.endpoint}", "NNODES=2")
        head = (f"HEAD={self.endpoint}",) if target == "repro" else ()
        return self.start(node, ["make", target, f"VENV={VENV}", *head, *joining, *args], name)

    def train(self, node: int, name: str, restarts: int = 0) -> subprocess.Popen:
        """What make repro runs on the head for the train stage, and make join on a node, minus dvc."""
        role = {"MODELMILL_NODE_ROLE": "join"} if node else {}
        env = {"MODELMILL_NODES": "2", "MODELMILL_HEAD": self.endpoint, "MODELMILL_MAX_RESTARTS": str(restarts), **role}
        return self.start(node, [sys.executable, "-m", "modelmill.landcover.train"], name, env)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()


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
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def wait_for_line(cluster: Cluster, name: str, text: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in cluster.log(name):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"never saw {text!r} in {name}:\n{cluster.log(name)}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = why_not()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"several-node tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    from moto.server import ThreadedMotoServer

    root = tmp_path_factory.mktemp("nodes")
    net = Network(2)
    server = ThreadedMotoServer(ip_address=net.host, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        aws = root / "aws-config"
        aws.write_text("")
        env = {
            **os.environ,
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(aws),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws),
            "DVC_NO_ANALYTICS": "1",
            "PYTHONPATH": "",
            "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "PYTEST_XDIST_WORKER"):
            env.pop(name, None)
        bucket = "nodes"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys()).create_bucket(Bucket=bucket)
        checkpoints = f"s3://{bucket}/checkpoints"
        origin = clone_project(root / "origin", {**RECIPE, "train.checkpoint_uri": checkpoints})
        subprocess.run(
            [sys.executable, "-m", "dvc", "remote", "add", "-d", "store", f"s3://{bucket}/dvc"], cwd=origin, check=True
        )
        subprocess.run(
            [sys.executable, "-m", "dvc", "remote", "modify", "store", "endpointurl", endpoint], cwd=origin, check=True
        )
        # Its data prepared once, pushed and its dvc.lock committed, as the head's first run leaves it:
        # a node finds the prepared data through git.
        dvc = [sys.executable, "-m", "dvc"]
        subprocess.run([*dvc, "repro", "-q", "verify"], cwd=origin, env=env, check=True)
        subprocess.run([*dvc, "push", "-q"], cwd=origin, env=env, check=True)
        git(origin, "add", "-A")
        git(origin, "commit", "-q", "-m", "the remote every node pulls from, and the prepared data")
        head, node = root / "head", root / "node1"
        for dest in (head, node):
            git(root, "clone", "-q", str(origin), str(dest))
        logs = root / "logs"
        logs.mkdir()
        yield Cluster(net, head, node, env, checkpoints, logs)
    finally:
        server.stop()
        net.close()


def _keys() -> dict:
    return {
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture(scope="module")
def two_nodes(cluster, tmp_path_factory) -> dict:
    """One uninterrupted run on two nodes, with the commands a person types, and the same recipe
    in one node's two processes: the model bytes each gave."""
    head = cluster.make(0, "repro", name="repro")
    wait_for_line(cluster, "repro", "waiting for 1 more node", head)
    node = cluster.make(1, "join", name="join")
    codes = wait(head, node)
    assert codes == [0, 0], cluster.log("repro") + cluster.log("join")
    one = tmp_path_factory.mktemp("one-node")
    for folder in ("data",):
        shutil.copytree(cluster.head / folder, one / folder)
    write_params(one / "params.yaml", {**RECIPE, "train.processes": 2})
    alone = run_module("modelmill.landcover.train", one, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert alone.returncode == 0, alone.stderr
    return {"nodes": file_digest(cluster.head / MODEL), "processes": file_digest(one / MODEL)}


def test_two_nodes_train_the_bytes_of_two_processes(cluster, two_nodes):
    assert two_nodes["nodes"] == two_nodes["processes"]
    card = json.loads((cluster.head / "models/model.json").read_text())
    assert card["runtime"]["processes"] == 2 and card["runtime"]["nodes"] == 2
    log = cluster.log("repro")
    assert "Running stage 'evaluate'" in log and "2 process(es)" in log
    # The head recorded the run; the node that joined pulled the prepared data and wrote nothing.
    assert "Updating lock file 'dvc.lock'" in log and git(cluster.head, "status", "--porcelain", "dvc.lock")
    assert not (cluster.node / "models").exists() and not git(cluster.node, "status", "--porcelain")
    assert (cluster.node / "data/prepared/train.npz").exists()
    assert "joining the run at" in cluster.log("join")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_a_node_with_other_params_is_refused_naming_it(cluster, two_nodes):
    params = cluster.node / "params.yaml"
    original = params.read_text()
    write_params(params, {**RECIPE, "train.checkpoint_uri": cluster.checkpoints, "train.lr": 0.02})
    try:
        codes = wait(cluster.train(0, "refused-head"), cluster.train(1, "refused-node"), timeout=180)
    finally:
        params.write_text(original)
    assert codes[0] not in (0, None) and codes[1] not in (0, None), codes
    for name in ("refused-head", "refused-node"):
        log = cluster.log(name)
        assert "Traceback" not in log and "epoch 1/" not in log, log
        (line,) = error_lines(log)
        assert "node 1" in line and "param lr 0.02 vs 0.01 on the head" in line, line


def test_a_node_cut_off_mid_epoch_stops_the_run_then_it_resumes_to_the_same_bytes(cluster, two_nodes):
    head, node = cluster.train(0, "cut-head"), cluster.train(1, "cut-node")
    wait_for_line(cluster, "cut-head", "train: epoch 1/3", head)
    cut = time.monotonic()
    cluster.net.cut(1)
    try:
        (code,) = wait(head, timeout=TIMEOUT + 60)
        took = time.monotonic() - cut
    finally:
        stop(node)
        cluster.net.mend(1)
    log = cluster.log("cut-head")
    assert code not in (0, None), log
    assert took <= TIMEOUT + 20, f"the head took {took:.0f} s to stop"  # the bound docs/scaling.md states
    (line,) = error_lines(log)
    assert "lost node 1" in line and "resume from the last checkpoint" in line, line
    # Started again, the two nodes go on after the last complete epoch, read from S3.
    codes = wait(cluster.train(0, "resumed-head"), cluster.train(1, "resumed-node"))
    assert codes == [0, 0], cluster.log("resumed-head") + cluster.log("resumed-node")
    assert "resuming after epoch" in cluster.log("resumed-head")
    assert file_digest(cluster.head / MODEL) == two_nodes["nodes"]


def test_a_killed_node_process_is_relaunched_and_the_run_recovers(cluster, two_nodes):
    head, node = cluster.train(0, "restart-head", restarts=1), cluster.train(1, "restart-node", restarts=1)
    wait_for_line(cluster, "restart-head", "train: epoch 1/3", head)
    workers = [
        p
        for p in psutil.process_iter()
        if _cwd(p) == cluster.node and "TORCHELASTIC_RUN_ID" in _environ(p) and "modelmill" in " ".join(p.cmdline())
    ]
    assert len(workers) == 1, workers
    workers[0].send_signal(signal.SIGKILL)
    codes = wait(head, node)
    assert codes == [0, 0], cluster.log("restart-head") + cluster.log("restart-node")
    assert "resuming after epoch" in cluster.log("restart-head")
    assert file_digest(cluster.head / MODEL) == two_nodes["nodes"]


def _cwd(proc: psutil.Process) -> Path | None:
    try:
        return Path(proc.cwd())
    except psutil.Error:
        return None


def _environ(proc: psutil.Process) -> dict:
    try:
        return proc.environ()
    except psutil.Error:
        return {}
