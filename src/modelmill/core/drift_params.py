"""The drift thresholds: a line's `monitor:` params.yaml section (every key required there), with
defaults for code and tests that have no params file. Standard library and core only, so a line's
params module can hold it as a section without importing numpy or scipy. drift.py says what each
threshold does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cli import UserError
from .config import build_section, read_yaml


def _rule(default: Any, low: float | None = None, high: float | None = None, *, open_low: bool = False) -> Any:
    """A field with a default and the range core.config checks a params.yaml value against."""
    return field(default=default, metadata={"low": low, "high": high, "open_low": open_low})


@dataclass(frozen=True)
class DriftParams:
    """The thresholds (params.yaml's `monitor:` section of a line, every key required there)."""

    alpha: float = _rule(0.01, 0.0, 1.0, open_low=True)  # false-alarm rate of a whole report
    min_statistic: float = _rule(0.1, 0.0, 1.0)  # KS statistics below this never alert
    max_out_of_range: float = _rule(0.02, 0.0, 1.0)  # share of rows outside the training range
    max_rate_shift: float = _rule(0.05, 0.0, 1.0)  # positive-rate change (absolute) worth an alert
    min_class_distance: float = _rule(0.1, 0.0, 1.0)  # Jensen-Shannon distance of predicted classes
    min_rows: int = _rule(200, 10, None)  # fewer captured rows: no test, an error saying so

    @classmethod
    def from_mapping(cls, raw: object, where: str = "monitor") -> DriftParams:
        """Built from a params.yaml section, every key required, checked as every section is."""
        return build_section(cls, raw, where)


def load_drift_params(path: str | Path) -> DriftParams:
    """The `monitor:` section of the params file `path`."""
    raw = read_yaml(path)
    if not isinstance(raw, dict) or "monitor" not in raw:
        raise UserError(f"{path} has no monitor: section")
    try:
        return DriftParams.from_mapping(raw["monitor"])
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
