"""What the monitor keeps of one request's inputs, per line: the same numbers the baseline is made
of, so captured rows and baseline compare like with like.

- fire: the 18 sensor features of each row, by name (a row is small: kept whole);
- landcover, the sea-ice classifier and biomass: per tile (or photo, of any size), the mean of
  each channel, its brightness (mean over every pixel and channel) and contrast (standard
  deviation over the same), in 0..255 units. Never the pixels.
- the sea-ice forecaster: per 30-day history of concentration maps, its mean and standard
  deviation, the share of cells with ice (concentration over 0.15), and the last day's mean and
  ice share; and, of its answer, the 7-day forecast's mean and ice share (`forecast_answers`:
  the answer's maps are lists, which capture would otherwise leave out).

`summariser(line, key)` picks the input summary of a line's model (`key`: its name in a
multi-model line, "" otherwise), `answer_summariser(line, key)` the answer's where one is needed.

Pure functions of the decoded batch: the server calls them (or hands them to `Capture` to call
off the request path), the baselines call the column forms on whole splits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..fire.features import FEATURES as FIRE_FEATURES

CHANNELS = ("red", "green", "blue")
IMAGE_FEATURES = (*(f"mean_{channel}" for channel in CHANNELS), "brightness", "contrast")
IMAGE_CHUNK_VALUES = 1 << 24  # pixel values summarised at a time (128 MB as float64), not a whole split
ICE = 0.15  # concentration from which a cell holds ice (the sea-ice line's split.open_water)
HISTORY_FEATURES = ("history_mean", "history_std", "history_ice_fraction", "last_day_mean", "last_day_ice_fraction")
FORECAST_OUTPUTS = ("forecast_mean", "forecast_ice_fraction")


def fire_columns(x: np.ndarray) -> dict[str, np.ndarray]:
    """{feature: values} of (n, 18) fire rows, columns in FEATURES order."""
    x = np.asarray(x, dtype=np.float64)
    return {name: x[:, i] for i, name in enumerate(FIRE_FEATURES)}


def fire_rows(x: np.ndarray) -> list[dict]:
    """One {feature: value} per row of (n, 18) fire rows."""
    return [dict(zip(FIRE_FEATURES, row)) for row in np.asarray(x, dtype=np.float64).tolist()]


def tile_columns(tiles) -> dict[str, np.ndarray]:
    """{summary: values} of uint8 NHWC RGB tiles or photos of any size (a numpy array or a CPU
    tensor): one value per tile."""
    tiles = np.asarray(tiles)
    if tiles.ndim == 3:
        tiles = tiles[None]
    chunk = max(1, IMAGE_CHUNK_VALUES // max(1, int(np.prod(tiles.shape[1:]))))
    parts = [_tile_summaries(tiles[start : start + chunk]) for start in range(0, len(tiles), chunk)]
    if not parts:
        return {name: np.zeros(0) for name in IMAGE_FEATURES}
    return {name: np.concatenate([part[name] for part in parts]) for name in IMAGE_FEATURES}


def _tile_summaries(tiles: np.ndarray) -> dict[str, np.ndarray]:
    pixels = tiles.reshape(len(tiles), -1, tiles.shape[-1]).astype(np.float64)
    means = pixels.mean(axis=1)
    flat = pixels.reshape(len(tiles), -1)
    columns = {f"mean_{channel}": means[:, i] for i, channel in enumerate(CHANNELS)}
    columns["brightness"] = flat.mean(axis=1)
    columns["contrast"] = flat.std(axis=1)
    return columns


def tile_rows(tiles) -> list[dict]:
    """One {summary: value} per tile of uint8 NHWC RGB tiles."""
    return rows_of(tile_columns(tiles))


def rows_of(columns: dict[str, np.ndarray]) -> list[dict]:
    """{name: values} as one {name: value} per row."""
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*(columns[name].tolist() for name in names))]


def history_columns(histories) -> dict[str, np.ndarray]:
    """{summary: values} of (n, days, H, W) concentration histories (0-1; one (days, H, W) is a
    batch of one): one value per history, over every cell (land is 0 in the line's grids)."""
    x = np.asarray(histories, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"histories must be (n, days, H, W) or (days, H, W); got shape {x.shape}")
    flat = x.reshape(len(x), -1).astype(np.float64)
    last = x[:, -1].reshape(len(x), -1).astype(np.float64)
    return {
        "history_mean": flat.mean(axis=1),
        "history_std": flat.std(axis=1),
        "history_ice_fraction": (flat > ICE).mean(axis=1),
        "last_day_mean": last.mean(axis=1),
        "last_day_ice_fraction": (last > ICE).mean(axis=1),
    }


def history_rows(histories) -> list[dict]:
    """One {summary: value} per history of the forecaster's decoded (n, 30, H, W) input."""
    return rows_of(history_columns(histories))


def forecast_columns(forecasts) -> dict[str, np.ndarray]:
    """{output: values} of (n, lead days, H, W) forecasts: the mean concentration and the share of
    cells with ice over every lead day and cell."""
    x = np.asarray(forecasts, dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    flat = x.reshape(len(x), -1)
    return {"forecast_mean": flat.mean(axis=1), "forecast_ice_fraction": (flat > ICE).mean(axis=1)}


def forecast_answers(answers: list[dict]) -> list[dict]:
    """The forecaster's answers ({"lead_days", "forecast": maps}) with the maps replaced by their
    summaries (FORECAST_OUTPUTS): what capture and the live window keep of them."""
    out = []
    for answer in answers:
        rest = {key: value for key, value in answer.items() if key != "forecast"}
        if "forecast" in answer:
            rest.update({name: float(v[0]) for name, v in forecast_columns(answer["forecast"]).items()})
        out.append(rest)
    return out


# The summary of a request's decoded inputs, by (line, model key): "" is a line's only model, or
# any of its models that has no entry of its own. Models not here (the sea-ice change detector)
# have no monitor.
SUMMARISERS: dict[tuple[str, str], Callable[..., list[dict]]] = {
    ("fire", ""): fire_rows,
    ("landcover", ""): tile_rows,
    ("biomass", ""): tile_rows,  # Predictor.decode: (1, S, S, 3) uint8 tensor
    ("seaice", "classifier"): tile_rows,  # (n, px, px, 3) uint8
    ("seaice", "forecaster"): history_rows,  # (n, 30, H, W) float32 0-1
}
ANSWER_SUMMARISERS: dict[tuple[str, str], Callable[[list[dict]], list[dict]]] = {
    ("seaice", "forecaster"): forecast_answers,
}


def summariser(line: str, key: str = "") -> Callable[..., list[dict]] | None:
    """What summarises the decoded inputs of `line`'s model `key`; None: not monitored."""
    return SUMMARISERS.get((line, key)) or SUMMARISERS.get((line, ""))


def answer_summariser(line: str, key: str = "") -> Callable[[list[dict]], list[dict]] | None:
    """What turns `line`'s model `key`'s answers into the plain values its baseline compares; None:
    the answers' plain values already are (a class, a probability, grams)."""
    return ANSWER_SUMMARISERS.get((line, key)) or ANSWER_SUMMARISERS.get((line, ""))


# By line alone, for the lines of one model (kept for callers that know no model key).
SUMMARISE: dict[str, Callable[..., list[dict]]] = {
    line: summarise for (line, key), summarise in SUMMARISERS.items() if not key
}
