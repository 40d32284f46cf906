"""The drift report's figure: each feature's baseline histogram against the captured rows' (on the
baseline's own bin edges), drifted features in red, and the prediction's distribution last (one
panel per continuous output)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..core.io import atomic_output  # noqa: E402

BASELINE_COLOUR, CAPTURED_COLOUR, DRIFT_COLOUR = "0.55", "tab:blue", "tab:red"
COLUMNS = 5


def draw(
    baseline: dict, report: dict, captured: dict[str, np.ndarray], predictions: list | dict, dest: str | Path
) -> Path:
    """Write the figure to `dest` (PNG); `captured` holds each feature's captured values,
    `predictions` the answers (for continuous outputs: {output: captured values})."""
    names = list(baseline["feature_order"])
    prediction = baseline["prediction"]
    outputs = list(prediction["fields"]) if prediction["kind"] == "value" else []
    count = len(names) + max(1, len(outputs))
    columns = min(COLUMNS, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    panels = list(axes.ravel())
    for ax, name in zip(panels, names):
        _feature_panel(ax, name, baseline["features"][name], report["features"][name], captured[name])
    if outputs:
        assert isinstance(predictions, dict)
        for ax, name in zip(panels[len(names) :], outputs):
            result = report["prediction"]["outputs"][name]
            _feature_panel(ax, f"predicted {name}", prediction["outputs"][name], result, predictions[name])
    else:
        assert isinstance(predictions, list)
        _prediction_panel(panels[len(names)], prediction, report["prediction"], predictions)
    for ax in panels[count:]:
        ax.axis("off")
    model = report.get("model") or {}
    who = f"{model['name']} {model['version']}" if model.get("name") else f"the {baseline['line']} line"
    title = f"{who}: {report['rows']} captured rows"
    moved = list(report["drifted_features"]) + (["the prediction"] if report["prediction"]["drifted"] else [])
    verdict = "drift in " + ", ".join(moved) if moved else "no drift"
    window = f"{report['window']['first'][:16]} to {report['window']['last'][:16]}"
    fig.suptitle(textwrap.fill(f"{title}, {window}: {verdict}", 30 * columns), fontsize=10)
    fig.tight_layout()
    with atomic_output(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(dest)


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)  # outside: the end bins
    return counts / max(1, len(values))


def _feature_panel(ax, name: str, summary: dict, result: dict, values: np.ndarray) -> None:
    hist = summary["histogram"]
    edges = np.asarray(hist["edges"])
    reference = np.asarray(hist["counts"], dtype=np.float64)
    reference[0] += hist["below"]
    reference[-1] += hist["above"]
    colour = DRIFT_COLOUR if result["drifted"] else CAPTURED_COLOUR
    ax.stairs(reference / max(1.0, reference.sum()), edges, fill=True, color=BASELINE_COLOUR, alpha=0.5)
    ax.stairs(_shares(values, edges), edges, color=colour, linewidth=1.5)
    ax.set_title(f"{name}\nKS {result['statistic']:.3f} (alert at {result['threshold']:.3f})", fontsize=8, color=colour)
    ax.tick_params(labelsize=6)
    if result["drifted"]:
        for spine in ax.spines.values():
            spine.set_edgecolor(DRIFT_COLOUR)
            spine.set_linewidth(2)


def _prediction_panel(ax, prediction: dict, result: dict, predictions: list) -> None:
    colour = DRIFT_COLOUR if result["drifted"] else CAPTURED_COLOUR
    if prediction["kind"] == "probability":
        _feature_panel(
            ax,
            prediction["field"],
            prediction,
            {**result["distribution"], "drifted": result["drifted"]},
            np.asarray(predictions, dtype=np.float64),
        )
        ax.axvline(prediction["threshold"], color="k", linestyle=":", linewidth=1)
        rate = result["positive_rate"]
        ax.set_title(
            f"{prediction['field']}: positive rate {rate['captured']:.3f} (baseline {rate['baseline']:.3f})\n"
            f"KS {result['distribution']['statistic']:.3f}",
            fontsize=8,
            color=colour,
        )
        return
    classes = prediction["classes"]
    at = np.arange(len(classes))
    ax.bar(at - 0.2, [prediction["shares"][c] for c in classes], 0.4, color=BASELINE_COLOUR, label="baseline")
    ax.bar(at + 0.2, [result["shares"][c] for c in classes], 0.4, color=colour, label="captured")
    ax.set_xticks(at, classes, rotation=60, fontsize=6, ha="right")
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6)
    ax.set_title(f"predicted class: JS distance {result['distance']:.3f}", fontsize=8, color=colour)
