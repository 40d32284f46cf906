"""Talking to a real server in the tests: `python -m modelmill.serve` started on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from conftest import SRC, free_port, require_e2e

# No proxy, whatever the environment says: every request here goes to 127.0.0.1.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, path: str, body: bytes | None = None, content_type: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url + path, data=body)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with HTTP.open(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def invoke(url: str, body: bytes, content_type: str) -> list[dict]:
    status, answer = call(url, "/invocations", body, content_type)
    assert status == 200, answer
    return json.loads(answer)["predictions"]


class Server:
    """`python -m modelmill.serve …` in the background; its output goes to a file (a pipe could fill)."""

    def __init__(self, cwd: Path, args: tuple[str, ...], env: dict | None = None):
        require_e2e("starts a server")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(cwd).parent / f"serve-{uuid.uuid4().hex[:6]}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelmill.serve", *args, "--port", str(self.port)],
                cwd=cwd,
                env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if call(self.url, "/ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"the server did not answer /ping:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


class UI:
    """`python -m modelmill.ui --port 0` in the background, until stop()."""

    def __init__(self, cwd: Path, env: dict | None = None):
        require_e2e("starts a server")
        self.log = cwd.parent / f"ui-{time.monotonic_ns()}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelmill.ui", "--port", "0"],
                cwd=cwd,
                env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text()
            if "http://" in text:
                self.url = "http://" + text.split("http://", 1)[1].split("/", 1)[0]
                return
            assert self.proc.poll() is None, text
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the ui did not start:\n{self.log.read_text()}")

    def get(self, path: str) -> tuple[int, str]:
        status, body = call(self.url, path)
        return status, body.decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
