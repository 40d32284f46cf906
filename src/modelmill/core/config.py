"""params.yaml sections: read and validated once, into typed, frozen dataclasses.

Each model line declares its schema as dataclasses whose fields carry their rules
(`choice(...)`, `span(...)`) and passes it to `load`. Every key must be present (DVC
tracks them in the file, so the file is the single source of truth); every wrong,
missing or unknown key is reported at once, in one line that names the key and, for a
typo, the closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

try:
    from typing import dataclass_transform
except ImportError:  # Python 3.10
    from typing_extensions import dataclass_transform

import yaml

from .cli import UserError
from .io import atomic_output

# The `params` stage's output, relative to a line's folder; every other stage depends on it.
PARAMS_CHECKED = Path("data/.params-checked")

T = TypeVar("T")
Check = Callable[[T], "list[str]"]


def choice(*values: str) -> Any:
    """A string field that must be one of `values`."""
    return field(metadata={"choices": values})


def uri(*schemes: str) -> Any:
    """A string field that is empty or a `scheme://bucket/...` location of one of `schemes`."""
    return field(metadata={"schemes": schemes})


def span(low: float | None = None, high: float | None = None, *, open_low: bool = False) -> Any:
    """A number field within [low, high] ((low, high] with open_low)."""
    return field(metadata={"low": low, "high": high, "open_low": open_low})


# Where and how a torch line trains: every such section (EuroSAT's train, biomass's, each sea-ice
# model's) declares these fields with these rules, and core.fit reads them (`RunRequest`). They are
# declared once here and placed by each section among its own fields, not inherited from a base
# class: a base class would put them first, and the `train_params` each model card records (in
# field order) would change its bytes.
def run_device() -> Any:
    """train.device: auto (a GPU when there is one), cpu or cuda."""
    return choice("auto", "cpu", "cuda")


def run_precision() -> Any:
    """train.precision: auto (bf16 where this CPU or GPU runs it natively and faster), fp32 or bf16."""
    return choice("auto", "fp32", "bf16")


def run_threads() -> Any:
    """Intra-op threads per process; 0: every core this process may use."""
    return span(0, 1024)


def run_processes() -> Any:
    """Data-parallel ranks under torchrun on this machine (on each node, with several)."""
    return span(1, 1024)


def run_checkpoint_uri() -> Any:
    """Where each epoch's checkpoint goes: empty for the line's .checkpoints/ folder, or
    s3://bucket/prefix, which a replacement machine can resume from."""
    return uri("s3://")


def run_peer_timeout() -> Any:
    """Seconds a rank waits on a silent peer (process or node) before the run stops naming it."""
    return span(1, 86_400)


# The rules of each shared field (seed has none: any integer); the contract test holds every torch
# line's training sections to them.
RUN_FIELDS = {
    "device": run_device,
    "precision": run_precision,
    "threads": run_threads,
    "processes": run_processes,
    "checkpoint_uri": run_checkpoint_uri,
    "peer_timeout": run_peer_timeout,
}


class RunRequest(Protocol):
    """The params every torch line's training section holds about where and how it runs (RUN_FIELDS)."""

    @property
    def device(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def threads(self) -> int: ...
    @property
    def processes(self) -> int: ...
    @property
    def checkpoint_uri(self) -> str: ...
    @property
    def peer_timeout(self) -> int: ...
    @property
    def seed(self) -> int: ...


@dataclass_transform(
    frozen_default=True,
    field_specifiers=(
        field,
        span,
        choice,
        uri,
        run_device,
        run_precision,
        run_threads,
        run_processes,
        run_checkpoint_uri,
        run_peer_timeout,
    ),
)
def section(cls: type[T]) -> type[T]:
    """A params.yaml section: a frozen dataclass whose fields carry their checks (`span`,
    `choice`); declared so that a type checker reads those fields as having no default."""
    return dataclass(frozen=True)(cls)


@section
class PublishConfig:
    """Where a line publishes its model (every line's params.yaml has this section)."""

    bucket: str
    region: str
    prefix: str
    model_name: str
    kms_key_id: str


@section
class SplitConfig:
    """A seeded train/val/test split; `check_fractions(..., exact=True)` makes them sum to 1."""

    train: float = span(0.0, 1.0, open_low=True)
    val: float = span(0.0, 1.0, open_low=True)
    test: float = span(0.0, 1.0, open_low=True)
    seed: int


def mark_checked(folder: str | Path = ".") -> Path:
    """Write the `params` stage's output. Its bytes never change, so a valid change to one
    section reruns only the stages that read it (DVC sees this dependency unchanged), while
    an invalid one stops `dvc repro` in this first stage, before DVC removes any other
    stage's outputs to rerun it."""
    dest = Path(folder) / PARAMS_CHECKED
    with atomic_output(dest) as tmp:
        tmp.write_text("params.yaml checked: every section valid\n")
    return dest


def check_machine_request(device: str, precision: str, processes: int = 1, sync_batchnorm: bool = False) -> None:
    """A params stage's check of what training asks of this machine (hardware.check_placement),
    made only where it can refuse: an explicit cuda or bf16, or SyncBatchNorm across ranks. Other
    requests (auto, cpu, fp32) always resolve, and not importing torch saves each such run seconds."""
    if device == "cuda" or precision == "bf16" or (sync_batchnorm and processes > 1):
        from .hardware import check_placement

        check_placement(device, precision, processes, sync_batchnorm)


def read_yaml(path: str | Path) -> object:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path} not found; run from the pipeline's folder or pass its path") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{where}: invalid YAML: {problem}") from None


def load(path: str | Path, schema: type[T], checks: typing.Iterable[Check] = ()) -> T:
    """`path` built into `schema`; `checks` (run once every field is valid) return more problems."""
    problems: list[str] = []
    params = _build(schema, read_yaml(path), "", problems)
    if not problems:
        for check in checks:
            problems.extend(check(params))
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return params


def build_section(schema: type[T], raw: object, where: str) -> T:
    """One section, `raw` (a mapping read from a params file), built into `schema` and checked as
    `load` checks a whole file; `where` names it in the one-line error."""
    problems: list[str] = []
    section_value = _build(schema, raw, f"{where}.", problems)
    if problems:
        raise UserError("; ".join(problems))
    return section_value


def check_fractions(
    key: str, split: object, *, exact: bool = False, parts: tuple[str, ...] = ("train", "val", "test")
) -> list[str]:
    """The fractions of a split section (its `parts`) must sum to at most 1 (exactly 1 with `exact`)."""
    total = sum(getattr(split, part) for part in parts)
    if total > 1.0 + 1e-9:
        return [f"{key} fractions sum to {total:g}, above 1"]
    if exact and total < 1.0 - 1e-9:
        return [f"{key} fractions sum to {total:g}, below 1"]
    return []


def _build(cls: type, raw: object, prefix: str, problems: list[str]):
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a mapping of keys, got {_kind(raw)}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else f" (valid: {', '.join(fields)})"
            problems.append(f"unknown key {prefix}{key}{hint}")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name not in raw:
            problems.append(f"{key} is missing")
            continue
        values[name] = _value(hints[name], raw[name], key, f.metadata, problems)
    if len(values) != len(fields) or any(v is None for v in values.values()):
        return None
    return cls(**values)


def _value(kind: type, value: object, key: str, rules: typing.Mapping, problems: list[str]):
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, key + ".", problems)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and value is None:
        value = ""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problems.append(f"{key} must be {_kind_name(kind)}, got {_kind(value)} {value!r}")
        return None
    choices = rules.get("choices")
    if choices and value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{key} must be one of {', '.join(choices)}; got {value!r}{hint}")
        return None
    schemes = rules.get("schemes")
    if schemes and isinstance(value, str) and value and not any(_locates(value, s) for s in schemes):
        problems.append(f"{key} must be empty or {' or '.join(s + 'bucket/prefix' for s in schemes)}, got {value!r}")
        return None
    low, high = rules.get("low"), rules.get("high")
    if low is not None and (value <= low if rules.get("open_low") else value < low):
        problems.append(f"{key} must be {'>' if rules.get('open_low') else '>='} {low:g}, got {value!r}")
        return None
    if high is not None and value > high:
        problems.append(f"{key} must be <= {high:g}, got {value!r}")
        return None
    return value


def _locates(value: str, scheme: str) -> bool:
    return value.startswith(scheme) and bool(value[len(scheme) :].strip("/"))


def _kind_name(kind: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), type(value).__name__)
