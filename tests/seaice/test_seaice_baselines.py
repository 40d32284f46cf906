"""The forecaster's baselines: damped anomaly persistence and the anomaly memory it is fitted with."""

import numpy as np

from modelmill.seaice.baselines import anomaly_memory, climatology, damped_persistence, persistence

DATES = np.datetime64("2021-01-01") + np.arange(400)


def ar1_anomalies(phi: float, days: int, cells: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((days, 1, cells))
    for t in range(1, days):
        out[t] = phi * out[t - 1] + rng.standard_normal((1, cells))
    return out


def test_anomaly_memory_is_the_lag_correlation_of_an_ar1_anomaly():
    table = np.full((366, 1, 500), 0.5, np.float32)  # a flat climatology: the anomaly is the series
    series = 0.5 + 0.05 * ar1_anomalies(0.8, len(DATES), 500, seed=0)
    ocean = np.ones((1, 500), bool)
    memory = anomaly_memory(series, DATES, [(0, 200), (250, 400)], table, ocean)
    assert np.allclose(memory, 0.8 ** np.arange(1, 8), atol=0.02), memory
    # Cells outside `ocean` do not count: land fixed at 0 would read as a perfectly kept anomaly.
    land = series.copy()
    land[:, :, :250] = 0.0
    ocean[:, :250] = False
    assert np.allclose(anomaly_memory(land, DATES, [(0, 200), (250, 400)], table, ocean), memory, atol=0.03)


def test_damped_persistence_runs_from_persistence_towards_climatology():
    rng = np.random.default_rng(1)
    table = rng.uniform(0.2, 0.8, (366, 4, 4)).astype(np.float32)
    history = rng.uniform(0, 1, (3, 30, 4, 4)).astype(np.float32)
    starts = np.array([0, 50, 300])
    target_climatology = climatology(table, DATES, starts)
    assert np.allclose(damped_persistence(history, table, DATES, starts, np.zeros(7)), target_climatology)
    kept = damped_persistence(history, table, DATES, starts, np.ones(7))
    last = table[(starts + 29) % 365][:, None]
    assert np.allclose(kept, np.clip(target_climatology + history[:, -1:] - last, 0, 1))
    # On a flat climatology, a kept anomaly is persistence.
    flat = np.full_like(table, 0.5)
    assert np.allclose(damped_persistence(history, flat, DATES, starts, np.ones(7)), persistence(history))
    half = damped_persistence(history, flat, DATES, starts, np.full(7, 0.5))
    assert np.allclose(half, 0.5 + 0.5 * (persistence(history) - 0.5))
