"""Every stage of every dvc.yaml lists, in its deps, each project file its command runs, and no
other code: editing a module reruns exactly the stages that use it.

The import graph is read from the source (ast), not by running anything, so a new import
anywhere in a stage's reach that its deps leave out fails here before `dvc repro` could
silently skip a changed stage.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SRC

PACKAGE = "modelmill"


def dvc_files() -> list[Path]:
    return [REPO / "dvc.yaml", *sorted((REPO / "pipelines").glob("*/dvc.yaml"))]


def stages(dvcfile: Path):
    """(name, cmd, deps) of each stage, `foreach` expanded."""
    for name, stage in yaml.safe_load(dvcfile.read_text())["stages"].items():
        if "foreach" in stage:
            for item in stage["foreach"]:
                text = yaml.safe_dump(stage["do"]).replace("${item}", str(item))
                body = yaml.safe_load(text)
                yield f"{name}@{item}", body["cmd"], body.get("deps", [])
        else:
            yield name, stage["cmd"], stage.get("deps", [])


def module_file(module: str) -> Path | None:
    base = SRC / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """The project modules `path` imports anywhere in its body (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module
            found.add(parent)
            found.update(f"{parent}.{alias.name}" for alias in node.names)  # `from . import s3`
    return {m for m in found if m.split(".")[0] == PACKAGE and module_file(m)}


def files_run_by(module: str) -> set[Path]:
    """Every project file that `python -m module` executes: its imports, their imports, and
    the __init__.py of each package on the way."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts)):
            todo.append(".".join(parts[:i]))  # importing a.b.c runs a/__init__ and a/b/__init__
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(imported_modules(path, name))
    return seen


def is_code_free(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


CASES = [(dvcfile, name, cmd, deps) for dvcfile in dvc_files() for name, cmd, deps in stages(dvcfile)]


@pytest.mark.parametrize(
    "dvcfile, name, cmd, deps", CASES, ids=[f"{d.parent.relative_to(REPO)}:{n}" for d, n, _, _ in CASES]
)
def test_stage_deps_cover_every_module_it_runs(dvcfile, name, cmd, deps):
    match = re.search(r"python -m ([\w.]+)", cmd)
    assert match, f"{name}: cmd does not run a module: {cmd}"
    run = files_run_by(match.group(1))
    assert run, f"{name}: module {match.group(1)} not found under src/"
    dep_paths = [(dvcfile.parent / dep).resolve() for dep in deps]

    def covered(path: Path) -> bool:
        return any(path == dep or dep in path.parents for dep in dep_paths)

    missing = sorted(
        str(p.relative_to(REPO)) for p in run if not covered(p) and not (p.name == "__init__.py" and is_code_free(p))
    )
    assert not missing, (
        f"{dvcfile.relative_to(REPO)} stage {name} runs these files but its deps leave them out: {missing}"
    )
    stale = sorted(str(d.relative_to(REPO)) for d in dep_paths if d.suffix == ".py" and d not in run)
    assert not stale, f"{dvcfile.relative_to(REPO)} stage {name} lists deps its command never runs: {stale}"
    # A folder of code as a dep reruns the stage for any file in it: core's monitoring code would
    # retrain every model. So a code folder is listed only if the stage runs all of it.
    broad = sorted(
        str(d.relative_to(REPO))
        for d in dep_paths
        if d.is_dir() and SRC in d.parents and any(p not in run and not is_code_free(p) for p in d.rglob("*.py"))
    )
    assert not broad, (
        f"{dvcfile.relative_to(REPO)} stage {name} lists code folders holding files it never runs "
        f"(list the files it runs instead): {broad}"
    )


def test_package_inits_hold_no_code():
    """An __init__.py may be left out of deps only because it runs nothing."""
    for path in (SRC / PACKAGE).rglob("__init__.py"):
        assert is_code_free(path), (
            f"{path.relative_to(REPO)} holds code: list it in the deps of the stages that import it"
        )


def test_the_graph_sees_transitive_imports():
    """The landcover train stage reaches small_maps.py only through model.py."""
    run = {p.relative_to(SRC).as_posix() for p in files_run_by("modelmill.landcover.train")}
    assert "modelmill/landcover/small_maps.py" in run
    assert "modelmill/core/torchkit.py" in run
    assert "modelmill/registry/publish.py" not in run


def test_every_stage_waits_for_the_params_check():
    """Issue 20: each pipeline's first stage reads the whole params file, and every other stage
    depends on its output, so a bad value stops dvc there, before any output is removed."""
    from modelmill.core.config import PARAMS_CHECKED

    for dvcfile in dvc_files():
        raw = yaml.safe_load(dvcfile.read_text())["stages"]
        assert list(raw)[0] == "params", dvcfile
        assert raw["params"]["params"] == [{"params.yaml": None}], dvcfile
        assert raw["params"]["outs"] == [{PARAMS_CHECKED.as_posix(): {"persist": True}}]  # cached: dvc pull brings it
        for name, _, deps in stages(dvcfile):
            assert name == "params" or PARAMS_CHECKED.as_posix() in deps, f"{dvcfile}: {name}"
