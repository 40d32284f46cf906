"""Try it: an example input sent to one version through the predictor `make serve` uses (the
version downloaded and checked against its metadata.json, loaded without running code from it),
and the answer shown. A few loaded versions are kept, the least recently used dropped."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from ..core.cli import UserError
from ..lines import Line, Predictor
from ..registry.fetch import download_version
from ..registry.store import Registry
from ..serve.app import invoke

KEEP = 4
EXTENSIONS = {".csv": "text/csv", ".npy": "application/x-npy", ".png": "image/png", ".jpg": "image/jpeg"}


class Predictors:
    def __init__(self) -> None:
        self._loaded: OrderedDict[tuple[str, str, int], Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, reg: Registry, line: Line, version: int) -> Predictor:
        key = (reg.bucket, reg.root, version)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        with tempfile.TemporaryDirectory(prefix="modelmill-ui-") as tmp:
            metadata, path = download_version(reg, tmp, f"v{version}", line=line)
            model = line.model_named(Path(path).name)
            predictor = model.predictor().load(path, metadata)
        with self._lock:
            self._loaded[key] = predictor
            while len(self._loaded) > KEEP:
                self._loaded.popitem(last=False)
        return predictor


class Examples:
    """The inputs `make examples` writes, for every model of every line, made once into a folder."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="modelmill-ui-examples-"))
        self._written: dict[str, dict[str, list[Path]]] = {}
        self._lock = threading.Lock()

    def of(self, line: Line, key: str) -> list[Path]:
        with self._lock:
            if line.name not in self._written:
                self._written[line.name] = line.examples(self._folder)
            return self._written[line.name].get(key, [])

    def find(self, line: Line, key: str, name: str) -> Path:
        for path in self.of(line, key):
            if path.name == name:
                return path
        raise UserError(f"no example named {name!r} for this model")


def content_type(path: Path, predictor: Predictor) -> str:
    wanted = EXTENSIONS.get(path.suffix.lower())
    if wanted not in predictor.content_types:
        raise UserError(f"{path.name}: this model takes {', '.join(predictor.content_types)}")
    return wanted


LOCK = threading.Lock()  # one prediction at a time, as each server worker answers


def answer(predictor: Predictor, body: bytes, kind: str) -> list[dict]:
    """The predictor's answers to one request body, as `make serve` gives them (its own code path);
    a body the model can't take is a UserError with the server's message."""
    status, payload = invoke(predictor, body, kind, LOCK)
    if status != 200:
        raise UserError(str(payload))
    return list(payload)  # type: ignore[call-overload]
