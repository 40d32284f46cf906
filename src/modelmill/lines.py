"""The factory's model lines: where each one's pipeline lives and which module knows its artifact.

Each line's `artifact` module answers what the registry needs and nothing else:
`MODEL_FILE` (the one file published, relative to the line's folder),
`publish_config(folder)`, `describe(folder)` (the line's fields of metadata.json) and
`check(model_path, metadata, folder)` (load a downloaded copy safely, predict a little,
return lines to print). It is imported only when asked for, so publishing one line never
loads another line's framework.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .core.cli import UserError


@dataclass(frozen=True)
class Line:
    name: str
    folder: Path  # its dvc.yaml, params.yaml and outputs, relative to the project root
    artifact_module: str

    @property
    def dvcfile(self) -> Path:
        return self.folder / "dvc.yaml"

    def make(self, target: str) -> str:
        """The make command that runs `target` for this line, as a user would type it."""
        return f"make {target}" if self.name == DEFAULT else f"make {target} PIPELINE={self.name}"

    def artifact(self) -> ModuleType:
        return importlib.import_module(self.artifact_module)


LINES = {
    "landcover": Line("landcover", Path("."), "modelmill.landcover.artifact"),
    "fire": Line("fire", Path("pipelines/fire"), "modelmill.fire.artifact"),
}
DEFAULT = "landcover"


def get(name: str | None) -> Line:
    if not name:
        return LINES[DEFAULT]
    try:
        return LINES[name]
    except KeyError:
        raise UserError(f"unknown pipeline {name!r}; choose one of {', '.join(LINES)}") from None


def add_argument(parser) -> None:
    """`--pipeline NAME` for the commands that act on one line (default: the EuroSAT line)."""
    parser.add_argument("--pipeline", default=DEFAULT, type=get, metavar="|".join(LINES),
                        help=f"the model line (default: {DEFAULT})")
