"""Which line publishes a registry model name: read from the lines' params files alone, so finding
a model never imports its line's code (nor its framework)."""

from __future__ import annotations

from pathlib import Path

from .. import lines
from ..core.cli import UserError
from ..lines import Line, Model
from .store import Registry


def find_line(name: str, repo: str | Path = ".", pipeline: str | None = None) -> tuple[Line, Model, Registry]:
    """The line, and its model, whose publish config (after the environment's overrides)
    names model `name`. Reads the lines' params files only: no model code is imported."""
    found, unreadable = [], []
    for line in lines.LINES.values():
        if pipeline is None or line.name == pipeline:
            try:
                targets = Registry.each_for_line(line, repo)
            except UserError as exc:  # another line's broken params must not stop this model
                unreadable.append(f"{line.name}: {exc}")
                continue
            found += [(line, model, reg) for model, reg in targets if reg.model_name == name]
    if not found:
        raise UserError(
            f"no line publishes a model named {name!r}; the lines publish: "
            f"{', '.join(published_names(repo))}" + (f" (unreadable: {'; '.join(unreadable)})" if unreadable else "")
        )
    if len(found) > 1:
        raise UserError(
            f"lines {', '.join(line.name for line, _, _ in found)} all publish as {name!r} "
            "(MODEL_NAME set?); pass --pipeline to pick one"
        )
    return found[0]


def published_names(repo: str | Path = ".") -> list[str]:
    names = []
    for line in lines.LINES.values():
        try:
            names += [f"{reg.model_name} ({line.name})" for _, reg in Registry.each_for_line(line, repo)]
        except UserError:
            pass  # find_line names why
    return names
