"""PNG panels people look at: forecasts (truth | forecast | error) and change maps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..core.io import atomic_output  # noqa: E402

# No software/date stamps: reruns write the same bytes.
_PNG = {"metadata": {"Software": None}}


def forecast_panel(
    dest: Path,
    truth: np.ndarray,
    forecast: np.ndarray,
    persistence: np.ndarray,
    land: np.ndarray,
    title: str,
    leads: tuple[int, ...] = (1, 7),
) -> None:
    truth, forecast, persistence = (np.where(land, np.nan, a) for a in (truth, forecast, persistence))  # land: grey
    fig, axes = plt.subplots(len(leads), 4, figsize=(12, 3 * len(leads)), squeeze=False)
    for row, lead in zip(axes, leads):
        k = lead - 1
        panels = [
            (truth[k], "truth", "Blues_r", (0, 1)),
            (forecast[k], "forecast", "Blues_r", (0, 1)),
            (forecast[k] - truth[k], "forecast - truth", "RdBu", (-0.5, 0.5)),
            (persistence[k] - truth[k], "persistence - truth", "RdBu", (-0.5, 0.5)),
        ]
        for ax, (image, name, cmap, (lo, hi)) in zip(row, panels):
            colours = plt.get_cmap(cmap).with_extremes(bad="0.6")
            shown = ax.imshow(image, cmap=colours, vmin=lo, vmax=hi)
            ax.set_title(f"{name}, lead {lead}", fontsize=9)
            ax.axis("off")
            fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle(title)
    _save(fig, dest)


def change_panel(
    dest: Path,
    before: np.ndarray,
    after: np.ndarray,
    truth: np.ndarray,
    model: np.ndarray,
    baseline: np.ndarray,
    title: str,
) -> None:
    fig, axes = plt.subplots(1, 5, figsize=(15, 3.3))
    panels = [
        (before, "date 1 (bands as RGB)"),
        (after, "date 2"),
        (truth, "true change"),
        (model, "Siamese network"),
        (baseline, "|difference| > threshold"),
    ]
    for ax, (image, name) in zip(axes, panels):
        ax.imshow(image, cmap=None if image.ndim == 3 else "gray", vmin=0, vmax=255 if image.ndim == 3 else 1)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    _save(fig, dest)


def _save(fig, dest: Path) -> None:
    with atomic_output(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=80, **_PNG)
    plt.close(fig)
