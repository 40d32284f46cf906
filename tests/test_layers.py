"""The layers run one way: core <- lines <- registry <- serve / monitor's command <- ui, and the monitor's
statistics, capture and reports sit on the core alone. Checked on every import statement of the
package (those inside functions and TYPE_CHECKING blocks too), so a shortcut fails here by name."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from conftest import SRC

PACKAGE = SRC / "modelmill"
# A line is a package that declares itself in a line.py (core/line.py says what a line is).
LINE_PACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/line.py") if p.parent.name != "core")
# The commands that sit on top of everything (what `python -m` runs; nothing imports them).
COMMANDS = {"modelmill.monitor.__main__", "modelmill.examples", "modelmill.summary", "modelmill.nodes"}


def layer(module: str) -> str:
    parts = module.split(".")
    if module in COMMANDS:
        return "command"
    if len(parts) == 1 or parts[1] == "__init__":
        return "root"
    if parts[1] in LINE_PACKAGES:
        return "line"
    return parts[1]  # core, lines, monitor, registry, serve


# What each layer may import of the project, besides itself (and a line, only its own package).
ALLOWED = {
    "root": set(),
    "core": set(),
    "line": {"core"},
    "monitor": {"core"},
    "lines": {"core", "line"},
    "registry": {"core", "lines"},
    "serve": {"core", "lines", "registry", "monitor"},
    "ui": {"core", "lines", "registry", "monitor", "serve"},
    "command": {"core", "lines", "registry", "monitor", "serve", "line"},
}


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts)


def imported(path: Path, src: Path = SRC) -> list[tuple[int, str]]:
    """(line number, module) of every import of the project in `path`."""
    name = module_name(path, src)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("modelmill")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # `from . import x`: each name is a module of that package
                    found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
                    continue
            elif node.module and node.module.startswith("modelmill"):
                target = node.module
            else:
                continue
            found.append((node.lineno, target))
    return found


def own_package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def violations(src: Path = SRC) -> list[str]:
    found = []
    for path in sorted((src / "modelmill").rglob("*.py")):
        source = module_name(path, src)
        mine = layer(source)
        for lineno, target in imported(path, src):
            theirs = layer(target)
            if mine == "line" and theirs == "line" and own_package(target) != own_package(source):
                found.append(f"{path.relative_to(src)}:{lineno}: line {source} imports another line's {target}")
            elif theirs != mine and theirs not in ALLOWED[mine]:
                found.append(f"{path.relative_to(src)}:{lineno}: {mine} module {source} imports {theirs} ({target})")
    return found


def test_every_line_is_a_package_with_a_line_module():
    assert LINE_PACKAGES == ["biomass", "fire", "landcover", "seaice"]


def test_the_layers_run_one_way():
    assert violations() == []


def test_the_check_sees_a_shortcut(tmp_path):
    """A core module that reaches a line, and a line that reaches the registry (lazily, inside a
    function), are both named."""
    shutil.copytree(PACKAGE, tmp_path / "modelmill", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "modelmill" / "core" / "probe.py").write_text("from ..fire.features import FEATURES\n")
    (tmp_path / "modelmill" / "fire" / "probe.py").write_text("def f():\n    from ..registry import store\n")
    found = violations(tmp_path)
    assert any("core module modelmill.core.probe imports line (modelmill.fire.features)" in v for v in found), found
    assert any("line module modelmill.fire.probe imports registry (modelmill.registry)" in v for v in found)
    assert len(found) == 2, found
