"""The code blocks of README.md and docs/: which ones run, and running them as a reader would.

A `bash`, `sh` or `python` block is either `runnable` (```` ```bash runnable ````: the tests run it
as written) or says why not (```` ```bash skip: needs a real AWS account ````). A page's runnable
blocks run in order, in one bash shell, from the folder the page's walk starts in; a python
block runs as `python -` inside that shell.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO, free_port

FENCE = re.compile(r"^```([\w-]*)[ \t]*([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
CODE = {"bash", "sh", "shell", "console", "python", "py"}
# The ports the pages use, swapped for free ones so that walks run side by side.
PORTS = ("5555", "8080", "8081", "8090")


def pages() -> list[Path]:
    """Every page a user reads: the README, docs/ and the pipelines' pointers."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted(REPO.glob("pipelines/*/README.md"))]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # where the fence opens, 1-based
    lang: str
    info: str  # what follows the language: "runnable", "skip: <why>" or ""
    code: str

    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2).strip(), m.group(3))
        for m in FENCE.finditer(text)
    ]


def runnable(page: Path) -> list[Block]:
    return [block for block in blocks(page) if block.lang in CODE and block.info == "runnable"]


def script(page: Path) -> str:
    """The page's runnable blocks as one bash script, its ports made free."""
    parts = []
    for block in runnable(page):
        if block.lang in ("python", "py"):
            parts.append(f"python - <<'PY'\n{block.code}PY\n")
        else:
            parts.append(block.code)
    text = "\n".join(parts)
    for port in PORTS:
        text = text.replace(port, str(free_port()))
    return text


def walk_env(tmp: Path) -> dict[str, str]:
    """A user's shell after `source .venv/bin/activate`, with no AWS profile or credential of
    this machine's: every S3 call goes to the server the walk starts itself."""
    no_profiles = tmp / "aws-config"
    no_profiles.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BUCKET_NAME", "PIPELINE", "MODEL"))}
    venv = Path(sys.executable).parent.parent
    env.update(
        {
            "VENV": str(venv),
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
            "AWS_CONFIG_FILE": str(no_profiles),
            "AWS_SHARED_CREDENTIALS_FILE": str(no_profiles),
            "AWS_EC2_METADATA_DISABLED": "true",
            "DVC_NO_ANALYTICS": "1",
        }
    )
    return env


def walk(page: Path, cwd: Path, tmp: Path, timeout: int) -> tuple[int, str]:
    """Run the page's runnable blocks in `cwd`: (exit status, everything printed). The servers a
    block starts in the background end with the shell, as they would with a reader's."""
    text = "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n" + script(page)
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", text],
        cwd=cwd,
        env=walk_env(tmp),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return -1, f"{page.name}: did not finish in {timeout} s\n" + proc.communicate()[0]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.returncode, output
