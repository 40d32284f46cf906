"""The statistics behind the drift checks: distributions summarised so they can be stored, and
two-sample tests of a window of captured values against those summaries.

A numeric feature is kept as its empirical CDF on a grid: the values at the 0th, 1st, ... 100th
percentiles of the reference sample (rounded, distinct) and the exact share of the sample at or
below each. The Kolmogorov-Smirnov statistic of a window is then taken on that grid,
max_j |F_window(t_j) - F_reference(t_j)|. Why the grid and not the whole sample:

- it is what a baseline.json can hold (about 100 numbers a feature, the same bytes every run);
- it is exact where features have point masses (a blob count, values clipped at a sensor's
  range): a CDF interpolated between quantiles would invent a slope at an atom and raise false
  alarms there, while both CDFs here are evaluated at the very same points;
- it is never above the full statistic, so its p-value (from the two-sample KS distribution)
  errs towards fewer alarms, and it is at most ~0.01 below it, the reference CDF's rise between
  two grid points of a continuous feature.

A Wasserstein distance would weigh how far the mass moved but needs a scale (the IQR is 0 for a
feature that is mostly one value, as many clipped ones are); the KS statistic is scale-free,
reads as "share of rows that moved" and comes with a p-value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

SIGNIFICANT = 7  # digits kept in baseline.json: the fire line's CSVs hold 7 too
CDF_LEVELS = np.linspace(0.0, 1.0, 101)
HISTOGRAM_BINS = 30
PROBABILITY_BINS = 20


def rounded(value: float, digits: int = SIGNIFICANT) -> float:
    """`value` to `digits` significant digits, as a plain float (the same text on every machine)."""
    return float(f"{float(value):.{digits}g}")


def rounded_list(values) -> list[float]:
    return [rounded(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def cdf_grid(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid points (rounded percentiles of `values`, distinct, ascending) and the exact share of
    `values` at or below each: the reference CDF the KS statistic is taken on."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    points = np.unique(rounded_list(np.quantile(ordered, CDF_LEVELS, method="inverted_cdf")))
    shares = np.searchsorted(ordered, points, side="right") / len(ordered)
    return points, shares


def ks_on_grid(values: np.ndarray, points: np.ndarray, shares: np.ndarray) -> float:
    """max_j |F_values(t_j) - shares_j|: the KS statistic of `values` against a stored CDF grid."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    observed = np.searchsorted(ordered, points, side="right") / len(ordered)
    return float(np.max(np.abs(observed - shares)))


def effective_rows(n: int, m: int) -> int:
    """The two-sample KS test's n·m/(n+m): the reference is a sample too, not the true CDF."""
    return max(1, round(n * m / (n + m)))


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """Two-sided p-value of a two-sample KS statistic between samples of n and m values."""
    return float(stats.kstwo.sf(statistic, effective_rows(n, m)))


def ks_critical(alpha: float, n: int, m: int) -> float:
    """The KS statistic whose p-value is `alpha`, for samples of n and m values."""
    return float(stats.kstwo.isf(alpha, effective_rows(n, m)))


def histogram_edges(values: np.ndarray) -> np.ndarray:
    """Fixed bin edges for a feature: one bin per integer for a small-count feature, else
    HISTOGRAM_BINS equal bins over the middle 99% (heavy tails would squeeze everything into one
    bin; the rest is counted below/above)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = (float(v) for v in np.quantile(values, [0.005, 0.995]))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if np.all(values == np.round(values)) and high - low <= 2 * HISTOGRAM_BINS:
        return np.arange(math.floor(low), math.floor(high) + 2) - 0.5
    if high <= low:
        return np.array([low - 0.5, low + 0.5])
    return np.array(rounded_list(np.linspace(low, high, HISTOGRAM_BINS + 1)))


def histogram(values: np.ndarray, edges: np.ndarray | Sequence[float]) -> dict:
    """Counts of `values` in the bins of `edges`, with those below the first and above the last."""
    values, edges = np.asarray(values, dtype=np.float64), np.asarray(edges, dtype=np.float64)
    counts, _ = np.histogram(values, bins=edges)
    return {
        "edges": rounded_list(edges),
        "counts": [int(c) for c in counts],
        "below": int((values < edges[0]).sum()),
        "above": int((values > edges[-1]).sum()),
    }


def positive_rate_test(positives: int, n: int, reference_rate: float, m: int) -> float:
    """Two-sided p-value of a two-proportion z-test: `positives` of `n` against a rate seen on `m` rows."""
    pooled = (positives + reference_rate * m) / (n + m)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    if spread == 0:
        return 1.0 if positives / n == reference_rate else 0.0
    z = (positives / n - reference_rate) / spread
    return float(2 * stats.norm.sf(abs(z)))


def class_test(observed: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(p-value, Jensen-Shannon distance) of class counts against reference class counts.

    The p-value is the chi-squared test of homogeneity of the two samples (the reference is a
    sample too); the distance (base 2: 0 for the same shares, 1 for disjoint ones) sizes the move.
    """
    observed, reference = np.asarray(observed, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    seen = (observed + reference) > 0  # a class in neither sample says nothing
    table = np.vstack([observed[seen], reference[seen]])
    p_value = 1.0 if table.shape[1] < 2 else float(stats.chi2_contingency(table, correction=False).pvalue)
    distance = _js_distance(observed / observed.sum(), reference / reference.sum())
    return p_value, distance


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    mean = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mean), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / mean), 0.0).sum()
    return float(math.sqrt(max(0.0, (kl_p + kl_q) / 2)))
