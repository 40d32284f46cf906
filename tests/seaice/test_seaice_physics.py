"""The simulator's physics: bounded concentration, a seasonal cycle, drift that moves ice, a closed coast;
the forcing it records and the ceiling run forward from it."""

import numpy as np
import pytest

from modelmill.seaice.physics import (
    Daily,
    advect,
    air_temperature,
    day_of_year,
    diffuse,
    drift_field,
    run_forward,
    simulate,
    step_day,
)


@pytest.fixture(scope="module")
def daily():
    return simulate(grid=32, days=730, start="2020-01-01", drift_speed=0.5, diffusion=0.05, seed=3)


def test_concentration_stays_within_0_and_1_and_is_zero_on_land(daily):
    assert daily.concentration.min() >= 0.0
    assert daily.concentration.max() <= 1.0
    assert daily.land.any() and (~daily.land).any()
    assert not daily.concentration[:, daily.land].any()
    assert not daily.thickness[:, daily.land].any()
    assert daily.thickness.min() >= 0.0
    assert np.all(np.diff(daily.dates).astype(int) == 1)


def test_the_seasonal_cycle_is_there(daily):
    doy = day_of_year(daily.dates)
    ocean = ~daily.land
    extent = (daily.concentration[:, ocean] >= 0.15).mean(1)
    march, september = extent[(doy >= 59) & (doy < 90)].mean(), extent[(doy >= 243) & (doy < 273)].mean()
    assert march > september + 0.2, (march, september)
    # Thickness grows through the winter: late March thicker than early December.
    h = daily.thickness[:, ocean].mean(1)
    assert h[(doy >= 80) & (doy < 90)].mean() > h[(doy >= 335) & (doy < 345)].mean()


def test_advection_moves_a_feature_the_way_the_drift_points():
    field = np.zeros((32, 32), np.float32)
    field[14:18, 6:10] = 1.0
    u = np.full_like(field, 0.8)  # along columns (east)
    v = np.full_like(field, -0.4)  # along rows, towards row 0 (north)
    moved = field
    for _ in range(10):
        moved = advect(moved, u, v)
    rows, cols = np.mgrid[0:32, 0:32]
    before = (rows * field).sum() / field.sum(), (cols * field).sum() / field.sum()
    after = (rows * moved).sum() / moved.sum(), (cols * moved).sum() / moved.sum()
    assert after[1] - before[1] == pytest.approx(8.0, abs=0.5)
    assert after[0] - before[0] == pytest.approx(-4.0, abs=0.5)
    assert moved.min() >= 0 and moved.max() <= 1


def test_diffusion_conserves_the_sea_total_and_never_crosses_the_coast():
    rng = np.random.default_rng(0)
    field = rng.uniform(0, 1, (24, 24))
    ocean = np.ones((24, 24), bool)
    ocean[:, 12] = False  # a wall of land down the middle
    field[~ocean] = 0
    out = field
    for _ in range(50):
        out = diffuse(out, ocean, 0.2)
    assert out[ocean].sum() == pytest.approx(field[ocean].sum())
    assert out[:, :12].sum() == pytest.approx(field[:, :12].sum())  # nothing leaked across the wall
    assert out.std() < field.std()


def test_drift_field_turns_with_its_angle():
    u, v = drift_field(16, angle=0.0, speed=1.0)
    assert u.mean() > 0.9 and abs(v.mean()) < 0.1
    u, v = drift_field(16, angle=np.pi / 2, speed=1.0)
    assert v.mean() > 0.9 and abs(u.mean()) < 0.1


def test_same_seed_same_fields_and_another_seed_differs():
    a = simulate(16, 60, "2021-01-01", 0.5, 0.05, seed=1)
    b = simulate(16, 60, "2021-01-01", 0.5, 0.05, seed=1)
    c = simulate(16, 60, "2021-01-01", 0.5, 0.05, seed=2)
    assert np.array_equal(a.concentration, b.concentration)
    assert not np.array_equal(a.concentration, c.concentration)


def test_the_recorded_forcing_steps_each_day_to_the_next(daily):
    """Stepping day t with day t+1's recorded weather, wind and year gives day t+1: the forcing the
    simulator records is the one it ran on, so the ceiling starts from the true state."""
    forcing, ocean, grid = daily.forcing, ~daily.land, daily.land.shape[0]
    assert forcing is not None
    for t in (40, 200, 400):
        weather = forcing.weather[t + 1].astype(np.float64)
        temperature = air_temperature(
            float(day_of_year(daily.dates[t + 1])), grid, forcing.year_anomaly[t + 1], weather
        )
        drift = drift_field(grid, forcing.angle[t + 1], forcing.drift_speed)
        c, h = (a[t].astype(np.float64) for a in (daily.concentration, daily.thickness))
        stepped, _ = step_day(c, h, ocean, drift, forcing.diffusion, temperature)
        moved = np.abs(daily.concentration[t + 1] - daily.concentration[t]).max()
        assert np.abs(stepped - daily.concentration[t + 1]).max() < 1e-4 < moved


def test_the_ceiling_beats_persistence_at_every_lead_and_loses_skill_with_lead(daily):
    days = np.arange(30, len(daily) - 8, 7)
    truth = np.stack([daily.concentration[d + 1 : d + 8] for d in days])
    ceiling = np.stack([run_forward(daily, d, 7) for d in days])
    ocean = ~daily.land

    def rmse(forecast):
        return np.sqrt(((forecast - truth) ** 2)[..., ocean].mean(axis=(0, 2)))

    persistence = rmse(np.repeat(daily.concentration[days][:, None], 7, 1))
    assert (rmse(ceiling) < persistence).all()
    assert np.all(np.diff(rmse(ceiling)) > 0)
    assert not ceiling[:, :, daily.land].any() and 0 <= ceiling.min() and ceiling.max() <= 1


def test_observed_data_has_no_forcing_and_no_ceiling(daily):
    observed = Daily(daily.dates, daily.concentration, daily.thickness, daily.land, "estimated")
    with pytest.raises(ValueError, match="generated data only"):
        run_forward(observed, 100, 7)
