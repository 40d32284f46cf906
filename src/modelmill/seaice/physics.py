"""The sea-ice simulator: daily concentration and thickness on a grid, shaped by physics, not noise.

Each day, in order:
1. advection: ice moves with a drift field (a steady gyre plus a wind-driven part whose
   direction wanders slowly), by a semi-Lagrangian step (each cell takes the value found
   upstream, bilinearly interpolated), so features travel the way the drift points;
2. diffusion: an explicit, no-flux-at-the-coast Laplacian step (floes spreading);
3. thermodynamics: air temperature = a seasonal cycle (coldest in mid-February), a
   north-south gradient, a per-year anomaly and slowly evolving weather; below 0 C open
   water freezes over and thickness grows with accumulated freezing degree days (Stefan's
   law, h^2 grows linearly with them), above 0 C concentration and thickness melt.
Concentration stays in [0, 1] and is 0 on land. A year of spin-up runs before the first
recorded day so the series starts in its seasonal rhythm.

The simulator also records its hidden forcing each day (the weather field, the wind's angle, the
year's anomaly): `run_forward` starts from that true state and steps the same physics with the
weather's expectation, the forecaster's ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SPIN_UP_DAYS = 365
YEAR = 365.25
COLDEST_DAY = 45  # day of year of the coldest air, mid-February
SEASONAL_AMPLITUDE = 13.0  # C, half the winter-summer swing
NORTH_MEAN, SOUTH_MEAN = -16.0, 6.0  # C, the annual mean at the top and bottom rows
WEATHER_SD, WEATHER_MEMORY = 3.0, 0.85  # C, and the day-to-day correlation of the weather
YEAR_SD = 2.0  # C, one year warmer or colder than another
FREEZE_RATE, MELT_RATE = 0.012, 0.015  # concentration per C-day
STEFAN = 0.0008  # m^2 per freezing degree day
THICKNESS_MELT = 0.006  # m per melting degree day
NEW_ICE = 0.05  # m, the thickness of ice formed on open water


@dataclass(frozen=True)
class Forcing:
    """The simulator's hidden state beside the ice, each recorded day (absent for observed data)."""

    weather: np.ndarray  # (T, H, W) float32 C, that day's weather anomaly
    angle: np.ndarray  # (T,) float64 radians, that day's wind-drift direction
    year_anomaly: np.ndarray  # (T,) float64 C, that day's year's anomaly
    drift_speed: float
    diffusion: float


@dataclass(frozen=True)
class Daily:
    dates: np.ndarray  # (T,) datetime64[D], consecutive days
    concentration: np.ndarray  # (T, H, W) float32 in [0, 1], 0 on land
    thickness: np.ndarray  # (T, H, W) float32 metres, 0 where there is no ice
    land: np.ndarray  # (H, W) bool
    thickness_source: str = "simulated"  # what the model card says of it: simulated, the archive's, or estimated
    forcing: Forcing | None = None  # the simulator's hidden state: only for generated data

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def simulated(self) -> bool:
        """The simulator made these fields (data.source: generate), so what a perfect sensor would see is known."""
        return self.thickness_source == "simulated"


def day_of_year(dates: np.ndarray) -> np.ndarray:
    """0-based day of year of datetime64[D] dates."""
    return (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)


def land_mask(grid: int, rng: np.random.Generator) -> np.ndarray:
    """A coast along the southern edge with bays, plus a few islands: about 15% of cells."""
    noise = ndimage.gaussian_filter(rng.standard_normal((grid, grid)), grid / 10, mode="wrap")
    noise /= noise.std()
    south = np.linspace(-1.5, 2.5, grid)[:, None] ** 3 / 4  # land rises towards the bottom rows
    field = noise + south
    return field > np.quantile(field, 0.85)


def drift_field(grid: int, angle: float, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) in cells per day (u along columns, v along rows): a gyre plus a uniform wind drift."""
    y, x = np.mgrid[0:grid, 0:grid] / (grid - 1)
    # The gyre's streamfunction sin(pi x) sin(pi y): a closed clockwise circulation.
    u_gyre = np.sin(np.pi * x) * np.cos(np.pi * y)
    v_gyre = -np.cos(np.pi * x) * np.sin(np.pi * y)
    return (speed * (0.6 * u_gyre + np.cos(angle))).astype(np.float32), (speed * (0.6 * v_gyre + np.sin(angle))).astype(
        np.float32
    )


def advect(field: np.ndarray, u: np.ndarray, v: np.ndarray, dt: float = 1.0) -> np.ndarray:
    """One semi-Lagrangian step: each cell takes the value upstream at (row - v dt, col - u dt)."""
    rows, cols = np.mgrid[0 : field.shape[0], 0 : field.shape[1]].astype(np.float32)
    return ndimage.map_coordinates(field, [rows - v * dt, cols - u * dt], order=1, mode="nearest")


def diffuse(field: np.ndarray, ocean: np.ndarray, k: float) -> np.ndarray:
    """One explicit diffusion step with no flux across the coast (conserves the ocean's total)."""
    out = field.copy()
    for axis in (0, 1):
        for shift in (1, -1):
            neighbour = np.roll(field, shift, axis)
            open_edge = ocean & np.roll(ocean, shift, axis)
            edge = np.ones_like(ocean)  # no wrap-around at the grid's border
            border = 0 if shift == 1 else -1
            edge[(border, slice(None)) if axis == 0 else (slice(None), border)] = False
            out += k * (neighbour - field) * (open_edge & edge)
    return out


def air_temperature(doy: float, grid: int, year_anomaly: float, weather: np.ndarray) -> np.ndarray:
    latitude = np.linspace(NORTH_MEAN, SOUTH_MEAN, grid)[:, None]
    season = -SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (doy - COLDEST_DAY) / YEAR)
    return latitude + season + year_anomaly + weather


def step_ice(c: np.ndarray, h: np.ndarray, temperature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One day of freezing or melting."""
    frost = np.maximum(-temperature, 0.0)
    thaw = np.maximum(temperature, 0.0)
    c_new = np.clip(c + FREEZE_RATE * frost * (1 - c) - MELT_RATE * thaw, 0.0, 1.0)
    h_new = np.where(frost > 0, np.sqrt(np.maximum(h, NEW_ICE) ** 2 + STEFAN * frost), h - THICKNESS_MELT * thaw)
    h_new = np.where(c_new > 0.01, np.maximum(h_new, 0.0), 0.0)
    return c_new, h_new


def step_day(
    c: np.ndarray,
    h: np.ndarray,
    ocean: np.ndarray,
    drift: tuple[np.ndarray, np.ndarray],
    diffusion: float,
    temperature: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One simulated day: advection, diffusion, then freezing or melting."""
    u, v = drift
    c = np.where(ocean, advect(c, u, v), 0.0)
    h = np.where(ocean, advect(h, u, v), 0.0)
    c, h = diffuse(c, ocean, diffusion), diffuse(h, ocean, diffusion)
    c, h = step_ice(np.clip(c, 0, 1), np.maximum(h, 0), temperature)
    return np.where(ocean, c, 0.0), np.where(ocean, h, 0.0)


def simulate(grid: int, days: int, start: str, drift_speed: float, diffusion: float, seed: int) -> Daily:
    rng = np.random.default_rng(seed)
    land = land_mask(grid, rng)
    ocean = ~land
    dates = np.datetime64(start, "D") + np.arange(-SPIN_UP_DAYS, days)
    doys = day_of_year(dates)
    years = dates.astype("datetime64[Y]").astype(int)
    year_anomaly = {y: rng.normal(0, YEAR_SD) for y in np.unique(years)}
    c = np.where(ocean, np.linspace(1, 0, grid)[:, None] * np.ones(grid), 0.0)
    h = c * 1.0
    weather = np.zeros((grid, grid))
    angle = rng.uniform(0, 2 * np.pi)
    conc = np.empty((days, grid, grid), np.float32)
    thick = np.empty((days, grid, grid), np.float32)
    weathers = np.empty((days, grid, grid), np.float32)
    angles = np.empty(days)
    for t in range(len(dates)):
        shock = ndimage.gaussian_filter(rng.standard_normal((grid, grid)), grid / 8, mode="wrap")
        weather = WEATHER_MEMORY * weather + np.sqrt(1 - WEATHER_MEMORY**2) * WEATHER_SD * shock / shock.std()
        angle += rng.normal(0, 0.15)
        temperature = air_temperature(doys[t], grid, year_anomaly[years[t]], weather)
        c, h = step_day(c, h, ocean, drift_field(grid, angle, drift_speed), diffusion, temperature)
        if t >= SPIN_UP_DAYS:
            k = t - SPIN_UP_DAYS
            conc[k], thick[k], weathers[k], angles[k] = c, h, weather, angle
    recorded = years[SPIN_UP_DAYS:]
    forcing = Forcing(weathers, angles, np.array([year_anomaly[y] for y in recorded]), drift_speed, diffusion)
    return Daily(dates[SPIN_UP_DAYS:], conc, thick, land, forcing=forcing)


def run_forward(daily: Daily, day: int, leads: int) -> np.ndarray:
    """(leads, H, W): the simulator stepped on from the true state at the end of `day`, with the
    weather's expectation given that state: its anomaly decays by WEATHER_MEMORY a day, the wind
    keeps its angle (a random walk's mean), the year keeps its anomaly (a new year's is 0).
    Generated data only (`daily.forcing`)."""
    forcing = daily.forcing
    if forcing is None:
        raise ValueError("run_forward needs the simulator's forcing: generated data only")
    grid = daily.land.shape[0]
    ocean = ~daily.land
    drift = drift_field(grid, float(forcing.angle[day]), forcing.drift_speed)
    year = daily.dates[day].astype("datetime64[Y]")
    c, h = daily.concentration[day].astype(np.float64), daily.thickness[day].astype(np.float64)
    out = np.empty((leads, *daily.land.shape), np.float32)
    for k in range(1, leads + 1):
        target = daily.dates[day] + k
        year_anomaly = float(forcing.year_anomaly[day]) if target.astype("datetime64[Y]") == year else 0.0
        weather = WEATHER_MEMORY**k * forcing.weather[day].astype(np.float64)
        temperature = air_temperature(float(day_of_year(target)), grid, year_anomaly, weather)
        c, h = step_day(c, h, ocean, drift, forcing.diffusion, temperature)
        out[k - 1] = c
    return out
