"""Several machines on this one: a network namespace per node, joined by a bridge.

Each node gets its own namespace (its own interfaces, loopback and routes) with one veth
pair to a bridge in this (the test's) namespace, and an address on a private subnet; the
bridge holds the subnet's first address, where the test's own servers (S3) listen. Traffic
stays between these namespaces: they have no route anywhere else. Cutting a node's link
(`cut`) is what a pulled cable or a dead switch port does to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def why_not() -> str | None:
    """Why namespaces cannot be made here (one line), or None when they can."""
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"mmprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace ({made.stderr.strip() or made.returncode})"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


class Network:
    def __init__(self, nodes: int):
        tag = f"{os.getpid() % 100000}"
        self.bridge = f"mmbr{tag}"
        subnet = 100 + os.getpid() % 150  # a /24 of 10.231.0.0/16 per test process
        self.host = f"10.231.{subnet}.1"
        self.namespaces: list[str] = []
        self.addresses: list[str] = []
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.host}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(nodes):
                ns, outside = f"mm{tag}n{i}", f"mm{tag}v{i}"
                _ip("netns", "add", ns)
                self.namespaces.append(ns)
                _ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("link", "set", outside, "master", self.bridge)
                _ip("link", "set", outside, "up")
                # Node 0 (the head) gets the highest address: torchrun's c10d rendezvous numbers
                # the nodes by address, so the head comes last and must be renumbered first.
                address = f"10.231.{subnet}.{nodes + 1 - i}"
                _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                self.addresses.append(address)
        except BaseException:
            self.close()
            raise

    def command(self, node: int, argv: list[str]) -> list[str]:
        """`argv` as run inside node `node`'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[node], *argv]

    def start(self, node: int, argv: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
        """`argv` started in node `node`'s namespace, in its own process group, its output in `log`."""
        with open(log, "w") as out:
            return subprocess.Popen(
                self.command(node, argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def cut(self, node: int) -> None:
        _ip("-n", self.namespaces[node], "link", "set", "eth0", "down")

    def mend(self, node: int) -> None:
        _ip("-n", self.namespaces[node], "link", "set", "eth0", "up")

    def close(self) -> None:
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # takes its veth along
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
