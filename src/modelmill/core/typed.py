"""Checking a JSON document (metadata.json, baseline.json) against the TypedDict that defines it.

    problems(value, Metadata)   # [] when every required key is there with a value of its type

Follows what the definitions use: TypedDicts (required and NotRequired keys; extra keys are
allowed, as a line adds its own fields), str, int, float (an int is a float in JSON), bool,
None, unions, and dict[str, X] / list[X]. Any or a bare dict/list checks nothing inside.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union, get_args, get_origin, is_typeddict


def problems(value: object, kind: Any, where: str = "") -> list[str]:
    """What in `value` does not match `kind`, one line each, naming the key's dotted path."""
    if kind is Any or kind is object:
        return []
    if is_typeddict(kind):
        return _typeddict(value, kind, where)
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = get_args(kind)
        if any(not problems(value, option, where) for option in options):
            return []
        return [f"{where or 'the document'} is {_name(value)}, not {_kind_name(kind)}"]
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            return [f"{where or 'the document'} is {_name(value)}, not a mapping"]
        args = get_args(kind)
        if not args:
            return []
        return [p for key, item in value.items() for p in problems(item, args[1], f"{where}.{key}".lstrip("."))]
    if origin is list or kind is list:
        if not isinstance(value, list):
            return [f"{where or 'the document'} is {_name(value)}, not a list"]
        args = get_args(kind)
        return [p for i, item in enumerate(value) for p in problems(item, args[0], f"{where}[{i}]")] if args else []
    if kind is type(None):
        return [] if value is None else [f"{where} is {_name(value)}, not null"]
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    return [] if ok else [f"{where} is {_name(value)}, not {_kind_name(kind)}"]


def _typeddict(value: object, kind: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where or 'the document'} is {_name(value)}, not a {kind.__name__} mapping"]
    hints = typing.get_type_hints(kind)
    found = [f"{where}.{key}".lstrip(".") + " is missing" for key in sorted(kind.__required_keys__) if key not in value]
    for key, hint in hints.items():
        if key in value:
            found += problems(value[key], hint, f"{where}.{key}".lstrip("."))
    return found


def _kind_name(kind: Any) -> str:
    if get_origin(kind) in (Union, types.UnionType):
        return " or ".join(_kind_name(option) for option in get_args(kind))
    return getattr(kind, "__name__", str(kind)).replace("NoneType", "null")


def _name(value: object) -> str:
    return "null" if value is None else f"a {type(value).__name__} ({value!r:.40})"
