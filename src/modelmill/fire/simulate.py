"""The synthetic fire data: scenes a ceiling thermal camera and an SCD41 would see, and the
true probability of fire given what they measure.

Rows are drawn in two steps, so that the best possible detector is known exactly:

1. A scene is drawn (`SCENES`: an empty or occupied room, sun glare, a heater, cooking, a
   flaming fire, a smouldering fire) and its 18 features are made from a few latent
   quantities: the hot source's excess temperature over the room, its area, how ragged its
   outline is, how fast it heats up, how much it flickers and at what frequency, and how much
   CO2 and moisture it adds. Hot non-fires (glare, heaters, cooking) and smouldering fires
   (a small warm spot, little flicker, but much CO2) make the hard cases.
2. The label is drawn from `p_fire(x)`, a function of the stored features alone (not of the
   scene), so `p_fire` is the Bayes-optimal score: no model can rank or calibrate better on
   average. With logit(p) = z:

       z = -3.2
           + 5.0 · flame          flame = σ((t_max - t_background - 50) / 15)
                                          · σ((flicker_c - 1.5) / 0.5) · σ((flicker_freq_hz - 1.5) / 0.5)
           + 2.2 · smoulder       smoulder = ln(co2_ppm / 450) · σ((t_max - t_background - 8) / 4)
           + 1.5 · tanh(rise_rate_c_per_s / 0.5)
           + 0.8 · (edge_irregularity - 1.5) · σ((hot_area_frac - 0.01) / 0.005)
           - 1.5 · steam          steam = max(scd41_humidity_pct - 55, 0) / 10 · σ((t_max - t_background - 40) / 10)

   A hot spot alone is not a fire (it must also flicker in the flame band); CO2 alone is
   not one either (people breathe) unless something is warm; steam makes a hot, flickering
   hob less likely to be a fire.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .features import FEATURES, Table

SCENES = ("room", "sun_glare", "heater", "cooking", "flaming", "smouldering")
SCENE_SHARES = (0.40, 0.08, 0.10, 0.12, 0.16, 0.14)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


def p_fire(x: np.ndarray) -> np.ndarray:
    """The true probability of fire for feature rows `x` (columns in FEATURES order)."""
    f = {name: x[:, i] for i, name in enumerate(FEATURES)}
    excess = f["t_max_c"] - f["t_background_c"]
    flame = (
        sigmoid((excess - 50) / 15)
        * sigmoid((f["flicker_c"] - 1.5) / 0.5)
        * sigmoid((f["flicker_freq_hz"] - 1.5) / 0.5)
    )
    smoulder = np.log(f["co2_ppm"] / 450) * sigmoid((excess - 8) / 4)
    ragged = (f["edge_irregularity"] - 1.5) * sigmoid((f["hot_area_frac"] - 0.01) / 0.005)
    steam = np.maximum(f["scd41_humidity_pct"] - 55, 0) / 10 * sigmoid((excess - 40) / 10)
    z = -3.2 + 5.0 * flame + 2.2 * smoulder + 1.5 * np.tanh(f["rise_rate_c_per_s"] / 0.5) + 0.8 * ragged - 1.5 * steam
    return sigmoid(z)


def generate(n: int, seed: int) -> Table:
    """`n` rows, the same for the same (n, seed): features, labels drawn from p_fire, and p_fire."""
    rng = np.random.default_rng(seed)
    scene = rng.choice(len(SCENES), size=n, p=SCENE_SHARES)
    x = _features(rng, scene)
    # Stored values are rounded (as write_csv writes them) before p_fire is computed, so
    # the stored p_fire is exactly the probability for the stored features.
    x = np.array([float(f"{v:.7g}") for v in x.ravel()]).reshape(x.shape) if n else x
    p = p_fire(x)
    y = (rng.random(n) < p).astype(np.int64)
    return Table(x, y, np.round(p, 7))


_Rule = Callable[[int], np.ndarray]  # k -> k draws


class _SceneDraws:
    """Latent values drawn one per row, each row by its own scene's rule, all from one generator."""

    def __init__(self, rng: np.random.Generator, scene: np.ndarray):
        self.rng, self.n = rng, len(scene)
        self.masks = {name: scene == i for i, name in enumerate(SCENES)}

    def per_scene(self, **rules: _Rule) -> np.ndarray:
        """One value per row; `rules` has one entry per name in SCENES."""
        out = np.zeros(self.n)
        for name, mask in self.masks.items():
            out[mask] = rules[name](int(mask.sum()))
        return out

    def lognormal(self, median: float, sigma: float) -> _Rule:
        return lambda k: median * np.exp(sigma * self.rng.standard_normal(k))

    def uniform(self, low: float, high: float) -> _Rule:
        return lambda k: self.rng.uniform(low, high, k)

    def normal(self, mean: float, sd: float) -> _Rule:
        return lambda k: self.rng.normal(mean, sd, k)


def _features(rng: np.random.Generator, scene: np.ndarray) -> np.ndarray:
    # Every value below comes from the one generator, in this order: drawing any of them
    # earlier or later changes every row that follows for the same seed.
    draws = _SceneDraws(rng, scene)
    person = draws.masks["room"] & (rng.random(draws.n) < 0.5)
    latent = _hot_source(draws, person)
    latent.update(_movement(draws))
    latent.update(_air(draws, person))
    return _readings(rng, **latent)


def _hot_source(draws: _SceneDraws, person: np.ndarray) -> dict[str, np.ndarray]:
    """The room's temperature and the hot source in it: how hot, how large, how ragged its outline."""
    lognormal, uniform, normal, rng = draws.lognormal, draws.uniform, draws.normal, draws.rng
    background = np.where(draws.masks["sun_glare"], rng.normal(26, 4, draws.n), rng.normal(21, 3, draws.n)).clip(5, 40)
    # The hot source: excess temperature over the room (°C) and share of the frame it fills.
    excess = draws.per_scene(
        room=lognormal(3, 0.5),
        sun_glare=lognormal(60, 0.5),
        heater=lognormal(55, 0.3),
        cooking=lognormal(90, 0.45),
        flaming=lognormal(150, 0.6),
        smouldering=lognormal(18, 0.6),
    )
    excess[person] = rng.normal(13, 2, person.sum())  # skin at ~34 °C
    area = draws.per_scene(
        room=lognormal(0.002, 0.5),
        sun_glare=lognormal(0.006, 0.6),
        heater=lognormal(0.07, 0.4),
        cooking=lognormal(0.05, 0.5),
        flaming=lognormal(0.05, 0.9),
        smouldering=lognormal(0.008, 0.6),
    )
    area[person] = rng.uniform(0.02, 0.08, person.sum())
    area = area.clip(0.0005, 0.6)
    irregularity = draws.per_scene(
        room=normal(1.2, 0.15),
        sun_glare=normal(1.15, 0.1),
        heater=normal(1.3, 0.15),
        cooking=normal(1.7, 0.4),
        flaming=normal(2.4, 0.7),
        smouldering=normal(1.5, 0.35),
    )
    irregularity = irregularity.clip(1.0, 6.0)
    edge_width = draws.per_scene(
        room=uniform(1.5, 3),
        sun_glare=uniform(0.8, 1.3),
        heater=uniform(1.0, 1.6),
        cooking=uniform(1.2, 2.5),
        flaming=uniform(1.8, 3.5),
        smouldering=uniform(1.5, 3.5),
    )
    return {
        "background": background,
        "excess": excess,
        "area": area,
        "irregularity": irregularity,
        "edge_width": edge_width,
    }


def _movement(draws: _SceneDraws) -> dict[str, np.ndarray]:
    """How the hot source changes from frame to frame: how fast it heats, how much and how often it
    flickers, and into how many blobs it breaks."""
    lognormal, uniform, normal, rng = draws.lognormal, draws.uniform, draws.normal, draws.rng
    rise = draws.per_scene(
        room=normal(0, 0.02),
        sun_glare=normal(0, 0.08),
        heater=lognormal(0.12, 0.8),
        cooking=lognormal(0.2, 0.8),
        flaming=lognormal(0.8, 0.8),
        smouldering=lognormal(0.05, 0.8),
    )
    flicker = draws.per_scene(
        room=uniform(0.1, 0.3),
        sun_glare=lognormal(1.2, 0.6),
        heater=uniform(0.2, 0.6),
        cooking=lognormal(1.5, 0.6),
        flaming=lognormal(4.0, 0.6),
        smouldering=lognormal(0.5, 0.5),
    )
    frequency = draws.per_scene(
        room=uniform(0, 16),
        sun_glare=lognormal(0.8, 0.6),
        heater=uniform(0, 16),
        cooking=lognormal(1.8, 0.5),
        flaming=normal(6, 2.5),
        smouldering=lognormal(0.6, 0.6),
    )
    blobs = 1 + draws.per_scene(
        room=lambda k: rng.poisson(0.3, k),
        sun_glare=lambda k: rng.poisson(0.8, k),
        heater=lambda k: rng.poisson(0.1, k),
        cooking=lambda k: rng.poisson(1.0, k),
        flaming=lambda k: rng.poisson(1.5, k),
        smouldering=lambda k: rng.poisson(0.3, k),
    )
    return {"rise": rise, "flicker": flicker, "frequency": frequency, "blobs": blobs}


def _air(draws: _SceneDraws, person: np.ndarray) -> dict[str, np.ndarray]:
    """What the SCD41 sees: CO2 and humidity added by people and by the source."""
    normal, rng = draws.normal, draws.rng
    # CO2 above the outdoor ~420 ppm: people breathing everywhere, plus combustion.
    occupancy = rng.exponential(250, draws.n) * np.where(person, 2.0, 1.0)
    combustion = draws.per_scene(
        room=lambda k: np.zeros(k),
        sun_glare=lambda k: np.zeros(k),
        heater=lambda k: rng.exponential(300, k) * (rng.random(k) < 0.3),
        cooking=lambda k: rng.exponential(400, k),
        flaming=lambda k: rng.exponential(700, k),
        smouldering=lambda k: 300 + rng.exponential(1500, k),
    )
    humidity_shift = draws.per_scene(
        room=normal(0, 2),
        sun_glare=normal(-2, 3),
        heater=normal(-8, 4),
        cooking=lambda k: rng.exponential(12, k),
        flaming=normal(-5, 4),
        smouldering=normal(3, 3),
    )
    return {"occupancy": occupancy, "combustion": combustion, "humidity_shift": humidity_shift}


def _readings(
    rng: np.random.Generator,
    *,
    background: np.ndarray,
    excess: np.ndarray,
    area: np.ndarray,
    irregularity: np.ndarray,
    edge_width: np.ndarray,
    rise: np.ndarray,
    flicker: np.ndarray,
    frequency: np.ndarray,
    blobs: np.ndarray,
    occupancy: np.ndarray,
    combustion: np.ndarray,
    humidity_shift: np.ndarray,
) -> np.ndarray:
    """The 18 stored features (columns in FEATURES order): the latent scene as the sensors measure it."""
    n = len(background)
    hot = area * sigmoid((excess - 20) / 3)  # pixels 20 °C or more above the room
    noise = rng.standard_normal((n, 18))
    t_max = background + excess + 0.5 * noise[:, 0]
    columns = {
        "t_max_c": t_max,
        "t_mean_c": background + 0.7 * excess * area + 0.3 * noise[:, 1],
        "t_std_c": 0.8 * excess * np.sqrt(area * (1 - area)) + 0.5 + 0.1 * np.abs(noise[:, 2]),
        "t_p95_c": background + 0.85 * excess * np.clip(area / 0.05, 0, 1) ** 0.7 + 0.5 * noise[:, 3],
        "t_background_c": background + 0.3 * noise[:, 4],
        "hot_area_frac": np.clip(hot * (1 + 0.1 * noise[:, 5]), 0, 1),
        "hot_blob_count": np.where(hot > 0.001, blobs, 0),
        "largest_blob_frac": np.clip(1 / blobs + 0.25 * (1 - 1 / blobs) * rng.random(n), 0, 1),
        "edge_irregularity": irregularity,
        "grad_max_c_per_px": excess / edge_width,
        "grad_mean_c_per_px": excess / edge_width * rng.uniform(0.3, 0.6, n),
        "rise_rate_c_per_s": rise + 0.02 * noise[:, 6],
        "mean_rise_rate_c_per_s": 0.7 * rise * area + 0.005 * noise[:, 7],
        "flicker_c": flicker,
        "flicker_freq_hz": frequency.clip(0, 16),
        "co2_ppm": np.clip(420 + occupancy + combustion + 15 * noise[:, 8], 400, 40000),
        "scd41_temperature_c": background + 0.05 * excess * np.sqrt(area) * 10 + 0.8 * noise[:, 9],
        "scd41_humidity_pct": np.clip(rng.normal(45, 10, n) + humidity_shift, 5, 95),
    }
    return np.column_stack([columns[name] for name in FEATURES])
