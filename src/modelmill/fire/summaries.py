"""What monitoring keeps of a fire request (core/summaries.py): the 18 sensor features of each row,
by name (a row is small: kept whole)."""

from __future__ import annotations

import numpy as np

from ..core.summaries import Summaries
from .features import FEATURES


def fire_columns(x: np.ndarray) -> dict[str, np.ndarray]:
    """{feature: values} of (n, 18) fire rows, columns in FEATURES order."""
    x = np.asarray(x, dtype=np.float64)
    return {name: x[:, i] for i, name in enumerate(FEATURES)}


def fire_rows(x: np.ndarray) -> list[dict]:
    """One {feature: value} per row of (n, 18) fire rows."""
    return [dict(zip(FEATURES, row)) for row in np.asarray(x, dtype=np.float64).tolist()]


SUMMARIES = Summaries(fire_rows)
