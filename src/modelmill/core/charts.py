"""Small PNG charts a registry version publishes beside its model (a line's `figures`): a
confusion-matrix heatmap and line charts from a CSV's columns, drawn with matplotlib's Agg
renderer and no pyplot state, from matplotlib's default style whatever the user's matplotlibrc.

The same inputs give the same bytes (no "Software" stamp, fixed sizes): a rerun of a publish
that failed part-way uploads figures identical to the ones already there. Matplotlib is imported
when a chart is drawn, never when a line is named.

`FigureSet` collects a model's figures: a figure whose input file is missing is left out, said
once on stderr, so a publish never fails for want of a figure.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

WIDTH, HEIGHT, DPI = 5.0, 4.0, 100  # inches a panel, dots an inch: 500x400 px a panel


def read_columns(path: str | Path) -> dict[str, list[str]]:
    """{column: its values, as text} of a CSV file with a header row."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    return {name: [row[i] for row in body if i < len(row)] for i, name in enumerate(header)}


def numbers(values: Sequence[str]) -> list[float]:
    """Text cells as floats, an empty cell as NaN (a gap in the line)."""
    return [float(v) if v.strip() else float("nan") for v in values]


@dataclass(frozen=True)
class Panel:
    """One set of axes: {label: (x, y)} drawn as lines (with markers when there are few points)."""

    series: Mapping[str, tuple[Sequence[float], Sequence[float]]]
    xlabel: str
    ylabel: str
    title: str = ""
    diagonal: bool = False  # a dashed y = x line (calibration, chance)
    unit_square: bool = False  # both axes 0..1
    xticks: Sequence[str] = ()  # labels of x = 0, 1, 2, ... (categories such as age bins)
    whole_x: bool = False  # x ticks on whole numbers only (epochs, lead days)


def line_chart(panels: Sequence[Panel], title: str = "") -> bytes:
    """PNG bytes of the panels side by side, each WIDTH x HEIGHT inches."""
    fig = _figure(len(panels))
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for label, (x, y) in panel.series.items():
            marker = "o" if len(x) <= 30 else None
            ax.plot(list(x), list(y), label=label, marker=marker, markersize=3, linewidth=1.2)
        if panel.diagonal:
            ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=0.8, label="_diagonal")
        if panel.unit_square:
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
        if panel.whole_x:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if panel.xticks:
            ax.set_xticks(range(len(panel.xticks)), list(panel.xticks), rotation=30, ha="right", fontsize=8)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        if panel.title:
            ax.set_title(panel.title, fontsize=10)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        if panel.series:
            ax.legend(fontsize=7)
    return _png(fig, title)


def confusion_matrix(
    actual: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = (), title: str = ""
) -> bytes:
    """PNG bytes of a heatmap of counts, actual classes down, predicted across (`labels` in their
    order; by default every class either column holds, sorted)."""
    names = list(labels) or sorted(set(actual) | set(predicted))
    index = {name: i for i, name in enumerate(names)}
    counts = [[0] * len(names) for _ in names]
    for a, p in zip(actual, predicted):
        if a in index and p in index:
            counts[index[a]][index[p]] += 1
    total = sum(map(sum, counts))
    correct = sum(counts[i][i] for i in range(len(names)))
    fig = _figure(1)
    ax = fig.subplots()
    if not names:  # no classes and no rows: an empty frame that says so
        ax.set_axis_off()
        return _png(fig, f"{title}: no rows" if title else "no rows")
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, max((max(row) for row in counts), default=1)))
    fontsize = 8 if len(names) <= 6 else 6 if len(names) <= 12 else 4
    high = max((max(row) for row in counts), default=0)
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            colour = "white" if high and count > high / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=fontsize, color=colour)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=fontsize)
    ax.set_yticks(range(len(names)), names, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    accuracy = f"{correct / total:.1%} correct of {total}" if total else "no rows"
    return _png(fig, f"{title}: {accuracy}" if title else accuracy)


def _figure(panels: int):
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no display backend

    return Figure(figsize=(WIDTH * panels, HEIGHT), dpi=DPI)


def _png(fig, title: str) -> bytes:
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out = io.BytesIO()
    # Agg's PNG writer; no "Software" stamp: the bytes depend on the data and matplotlib's drawing alone.
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


@dataclass
class FigureSet:
    """A model's figures as they are gathered: {file name: PNG bytes}; what could not be made
    (an input file missing) is left out and said once, by `result`."""

    folder: Path  # the line's folder: inputs are named relative to it
    who: str  # the model, for the message ("the fire line's ensemble")
    figures: dict[str, bytes] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def draw(self, name: str, inputs: Sequence[Path], draw: Callable[..., bytes]) -> None:
        """`name` drawn by `draw(*paths)` from `inputs` (relative to the folder), when all exist."""
        paths = [self.folder / path for path in inputs]
        absent = [str(path) for path, full in zip(inputs, paths) if not full.exists()]
        if absent:
            self.missing += absent
            return
        with _default_style():
            self.figures[name] = draw(*paths)

    def copy(self, pattern: str, required: bool = True) -> None:
        """The PNG files a stage wrote that match `pattern` (relative to the folder), as they are.
        None found is a missing input when `required`, or when the folder they would be in is missing."""
        found = sorted(self.folder.glob(pattern))
        for path in found:
            self.figures[path.name] = path.read_bytes()
        if not found and (required or not (self.folder / pattern).parent.is_dir()):
            self.missing.append(pattern)

    def result(self) -> dict[str, bytes]:
        if self.missing:
            print(
                f"figures: {self.who} published without the figures made from {', '.join(self.missing)} "
                f"(not found in {self.folder})",
                file=sys.stderr,
            )
        return dict(sorted(self.figures.items()))


def _default_style():
    """matplotlib's own defaults, whatever the user's matplotlibrc or style says."""
    import matplotlib.style

    return matplotlib.style.context("default")


def history_panels(columns: Mapping[str, Sequence[str]], x: str = "epoch") -> list[Panel]:
    """A training history's curves (core/fit.py's train_history.csv): one panel per score that has
    a train_ or val_ column (loss, accuracy, rmse_g, ...), the two drawn against `x`."""
    steps = numbers(columns.get(x, []))
    scores = dict.fromkeys(
        name.partition("_")[2] for name in columns if name.startswith(("train_", "val_")) and name.partition("_")[2]
    )
    panels = []
    for score in scores:
        names = {split: f"{split}_{score}" for split in ("train", "val")}
        series = {split: (steps, numbers(columns[name])) for split, name in names.items() if name in columns}
        panels.append(Panel(series, x, score.replace("_", " "), whole_x=True))
    return panels
