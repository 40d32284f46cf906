"""Live drift scores for a server's gauges: the last `window` rows it answered against the baseline.

    live = LiveDrift(baseline, window=1000, every=100)
    live.update(rows, predictions)        # the same summaries Capture takes (core/summaries.py)
    live.scores()                         # {"t_max_c": 0.031, ..., "prediction": 0.02}

Each feature's score is the KS statistic of the window against the baseline's CDF grid (as
drift.py computes it); "prediction" is p(fire)'s KS statistic, for a classifier the
Jensen-Shannon distance of the window's predicted classes, for continuous outputs the largest of
their KS statistics (with more than one output, each also as "prediction.<output>"). Scores are recomputed every `every`
rows (a sort of the window per feature: about a millisecond for 1,000 rows of 18 features), and
are absent until the window holds `min_rows`. Thread-safe: requests may update it concurrently.
"""

from __future__ import annotations

import threading

import numpy as np

from ..core.stats import class_test, ks_on_grid

PREDICTION = "prediction"


class LiveDrift:
    def __init__(self, baseline: dict, window: int = 1000, every: int = 100, min_rows: int = 200):
        if window < 1 or every < 1 or not 1 <= min_rows <= window:
            raise ValueError("LiveDrift needs window >= 1, every >= 1 and 1 <= min_rows <= window")
        self.names = list(baseline["feature_order"])
        self.grids = {
            name: (np.asarray(s["cdf"]["points"]), np.asarray(s["cdf"]["shares"]))
            for name, s in baseline["features"].items()
        }
        self.prediction = baseline["prediction"]
        self.classes = list(self.prediction.get("classes", []))
        # The answer's columns: each continuous output, or the one field (p(fire), a class).
        self.outputs = list(self.prediction["fields"]) if self.prediction["kind"] == "value" else []
        self.window, self.every, self.min_rows = window, every, min_rows
        # One ring of rows: the features, then the prediction (p(fire), the class's index, or the outputs).
        self._ring = np.full((window, len(self.names) + max(1, len(self.outputs))), np.nan)
        self._next = self._filled = self._pending = 0
        self._scores: dict[str, float] = {}
        self._lock = threading.Lock()

    def update(self, rows: list[dict], predictions: list[dict]) -> None:
        values = [self._row(row, answer) for row, answer in zip(rows, predictions)]
        with self._lock:
            for value in values:
                self._ring[self._next] = value
                self._next = (self._next + 1) % self.window
            self._filled = min(self.window, self._filled + len(values))
            self._pending += len(values)
            due = self._pending >= self.every and self._filled >= self.min_rows
            window = self._ring[: self._filled].copy() if due else None
            if due:
                self._pending = 0
        if window is not None:  # outside the lock: other requests go on updating meanwhile
            scores = self._compute(window)
            with self._lock:
                self._scores = scores

    def _row(self, row: dict, answer: dict) -> list[float]:
        inputs = [_number(row.get(name)) for name in self.names]
        if self.outputs:
            return inputs + [_number(answer.get(name)) for name in self.outputs]
        field = self.prediction["field"]
        if self.prediction["kind"] == "class":
            value = answer.get(field)
            outcome = float(self.classes.index(value)) if value in self.classes else np.nan
        else:
            outcome = _number(answer.get(field))
        return inputs + [outcome]

    def _compute(self, window: np.ndarray) -> dict[str, float]:
        scores = {}
        for i, name in enumerate(self.names):
            column = window[:, i][np.isfinite(window[:, i])]
            if len(column):
                scores[name] = round(ks_on_grid(column, *self.grids[name]), 4)
        if self.outputs:
            return {**scores, **self._output_scores(window[:, len(self.names) :])}
        outcome = window[:, -1][np.isfinite(window[:, -1])]
        if len(outcome):
            scores[PREDICTION] = round(self._prediction_score(outcome), 4)
        return scores

    def _output_scores(self, outputs: np.ndarray) -> dict[str, float]:
        scores = {}
        for i, name in enumerate(self.outputs):
            column = outputs[:, i][np.isfinite(outputs[:, i])]
            if len(column):
                grid = self.prediction["outputs"][name]["cdf"]
                scores[name] = round(ks_on_grid(column, np.asarray(grid["points"]), np.asarray(grid["shares"])), 4)
        named = {f"{PREDICTION}.{name}": score for name, score in scores.items()} if len(self.outputs) > 1 else {}
        return {PREDICTION: max(scores.values()), **named} if scores else {}

    def _prediction_score(self, outcome: np.ndarray) -> float:
        if self.prediction["kind"] == "class":
            observed = np.bincount(outcome.astype(np.int64), minlength=len(self.classes))
            reference = np.array([self.prediction["counts"][name] for name in self.classes])
            return class_test(observed, reference)[1]
        grid = self.prediction["cdf"]
        return ks_on_grid(outcome, np.asarray(grid["points"]), np.asarray(grid["shares"]))

    def scores(self) -> dict[str, float]:
        """{feature: score, "prediction": score}; empty until the window holds min_rows."""
        with self._lock:
            return dict(self._scores)


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
