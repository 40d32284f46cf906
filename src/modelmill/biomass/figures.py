"""The line's figures (matplotlib, headless), saved byte-for-byte the same on every rerun."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a build machine; set before pyplot loads a backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..core.io import atomic_output  # noqa: E402

DPI = 80


def save_figure(fig, dest: str | Path) -> None:
    # No "Software" stamp: the PNG depends on the data and matplotlib's drawing alone.
    with atomic_output(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def scatter(actual: np.ndarray, predicted: np.ndarray, scores: dict, baseline: float):
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(actual, predicted, s=6, alpha=0.5, color="tab:green", label="test photos")
    top = float(max(actual.max(initial=0), predicted.max(initial=0))) * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="black", lw=1, label="perfect")
    ax.axhline(baseline, color="tab:red", lw=1, ls="--", label=f"mean baseline {baseline:.3f} g")
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="actual fresh weight (g)",
        ylabel="predicted (g)",
        title=f"test: RMSE {scores['rmse_g']:.3f} g, R² {scores['r2']:.3f}",
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def target_distribution(grams: np.ndarray):
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.hist(grams, bins=50, color="tab:green")
    a.set(xlabel="fresh_weight_total (g)", ylabel="photos", title="biomass (right-skewed)")
    b.hist(np.log1p(grams), bins=50, color="tab:olive")
    b.set(xlabel="log1p(fresh_weight_total)", title="log1p(biomass): the fitted scale")
    fig.tight_layout()
    return fig


def sample_images(images: list[np.ndarray], titles: list[str]):
    cols = min(4, len(images))
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(img)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def heatmap(names: list[str], matrix: np.ndarray):
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 1.0 * len(names) + 1.5))
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            if not np.isnan(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8, label="Pearson r (pairwise complete rows)")
    ax.set_title("correlations")
    fig.tight_layout()
    return fig


def age_vs_biomass(age: np.ndarray, grams: np.ndarray):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(age, grams, s=4, alpha=0.4, color="tab:green")
    ax.set(xlabel="age_days", ylabel="fresh_weight_total (g)", title="age vs biomass (rows with both)")
    fig.tight_layout()
    return fig


def channel_histograms(counts: np.ndarray):
    """counts: (3, 256) pixel counts per channel value."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for c, color in enumerate(("red", "green", "blue")):
        ax.plot(np.arange(256), counts[c] / max(counts[c].sum(), 1), color=color, label=color)
    ax.set(xlabel="pixel value", ylabel="share of pixels", title="per-channel pixel intensities")
    ax.legend()
    fig.tight_layout()
    return fig
