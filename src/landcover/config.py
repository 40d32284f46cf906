"""params.yaml: read and validated once, in one place, for every stage.

Every key must be present in params.yaml (DVC tracks them there, so the file is the
single source of truth); a wrong, missing or unknown key is reported as one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import UserError

PARAMS_FILE = Path("params.yaml")


def _choice(*values: str) -> dict:
    return {"choices": values}


def _range(low: float | None = None, high: float | None = None, *, open_low: bool = False) -> dict:
    return {"low": low, "high": high, "open_low": open_low}


@dataclass(frozen=True)
class SplitConfig:
    train: float = field(metadata=_range(0.0, 1.0, open_low=True))
    val: float = field(metadata=_range(0.0, 1.0))
    test: float = field(metadata=_range(0.0, 1.0, open_low=True))


@dataclass(frozen=True)
class DataConfig:
    source: str = field(metadata=_choice("eurosat", "archive", "synthetic"))
    archive: str
    sha256: str
    synthetic_per_class: int = field(metadata=_range(1, 100_000))
    split: SplitConfig
    seed: int
    on_corrupt: str = field(metadata=_choice("fail", "drop"))


@dataclass(frozen=True)
class TrainConfig:
    arch: str = field(metadata=_choice("resnet18", "resnet34"))
    pretrained: str = field(metadata=_choice("imagenet", "none"))
    freeze_backbone: bool
    input_size: int = field(metadata=_range(32, 512))
    epochs: int = field(metadata=_range(1, 10_000))
    progressive_epochs: int = field(metadata=_range(0, 10_000))
    progressive_min_size: int = field(metadata=_range(16, 512))
    batch_size: int = field(metadata=_range(1, 65_536))
    optimizer: str = field(metadata=_choice("sgd", "adamw"))
    lr: float = field(metadata=_range(0.0, 10.0, open_low=True))
    momentum: float = field(metadata=_range(0.0, 1.0))
    weight_decay: float = field(metadata=_range(0.0, 1.0))
    schedule: str = field(metadata=_choice("onecycle", "cosine", "constant"))
    label_smoothing: float = field(metadata=_range(0.0, 0.99))
    augment: bool
    translate: int = field(metadata=_range(0, 16))
    precision: str = field(metadata=_choice("bf16", "fp32"))
    channels_last: bool
    threads: int = field(metadata=_range(0, 1024))
    seed: int


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = field(metadata=_range(1, 65_536))
    tta: bool


@dataclass(frozen=True)
class PublishConfig:
    bucket: str
    region: str
    prefix: str
    model_name: str
    kms_key_id: str


@dataclass(frozen=True)
class Params:
    data: DataConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    publish: PublishConfig


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path} not found; run from the project root or pass its path") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{where}: invalid YAML: {problem}") from None
    problems: list[str] = []
    params = _build(Params, raw, "", problems)
    if not problems:
        _check_split(params.data.split, problems)
        _check_progressive(params.train, problems)
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return params


def _check_split(split: SplitConfig, problems: list[str]) -> None:
    total = split.train + split.val + split.test
    if total > 1.0 + 1e-9:
        problems.append(f"data.split fractions sum to {total:g}, above 1")


def _check_progressive(train: TrainConfig, problems: list[str]) -> None:
    if train.progressive_epochs and train.progressive_epochs >= train.epochs:
        problems.append(f"train.progressive_epochs ({train.progressive_epochs}) must be below train.epochs "
                        f"({train.epochs}), so that the last epochs train at train.input_size")
    if train.progressive_epochs and train.progressive_min_size > train.input_size:
        problems.append(f"train.progressive_min_size ({train.progressive_min_size}) must not exceed "
                        f"train.input_size ({train.input_size})")


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
    low, high = rules.get("low"), rules.get("high")
    if low is not None and (value <= low if rules.get("open_low") else value < low):
        problems.append(f"{key} must be {'>' if rules.get('open_low') else '>='} {low:g}, got {value!r}")
        return None
    if high is not None and value > high:
        problems.append(f"{key} must be <= {high:g}, got {value!r}")
        return None
    return value


def _kind_name(kind: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), type(value).__name__)
