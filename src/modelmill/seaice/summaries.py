"""What monitoring keeps of the sea-ice models' traffic (core/summaries.py):

- the classifier's tiles: the image summary every RGB line shares (`core.summaries.IMAGES`);
- the forecaster's 30-day histories of concentration maps: per history, its mean and standard
  deviation, the share of cells with ice, and the last day's mean and ice share; and, of its
  answer, the 7-day forecast's mean and ice share (`forecast_answers`: the answer's maps are
  lists, which capture would otherwise leave out);
- the change detector: not monitored (it has no baseline; see baseline.py).
"""

from __future__ import annotations

import numpy as np

from ..core.summaries import Summaries, rows_of

# The concentration from which a cell counts as ice in these summaries. Fixed, not split.open_water:
# a published baseline and the traffic compared with it must be summarised alike, whatever the params.
ICE = 0.15
HISTORY_FEATURES = ("history_mean", "history_std", "history_ice_fraction", "last_day_mean", "last_day_ice_fraction")
FORECAST_OUTPUTS = ("forecast_mean", "forecast_ice_fraction")


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


FORECASTS = Summaries(history_rows, forecast_answers)
