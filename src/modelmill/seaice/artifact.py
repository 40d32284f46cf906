"""What the registry publishes for the sea-ice line: three models, each under its own name,
and how a downloaded copy of each is checked (loaded safely, run on one real input)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.cli import UserError
from ..core.io import file_digest, npy_bytes, read_json_if_present
from .artifact_figures import figures as model_figures
from .data import load_set
from .params import PARAMS_FILE, load_params
from .paths import DAILY, DATASETS, METRICS_FILE, MODELS, card_file, model_file
from .physics import simulate
from .render import render

__all__ = ["ARTIFACTS", "ModelArtifact"]
_HOW = "make repro PIPELINE=seaice"


@dataclass(frozen=True)
class ModelArtifact:
    name: str  # classifier | forecaster | change

    def describe(self, folder: Path) -> dict:
        folder = Path(folder)
        params = load_params(folder / PARAMS_FILE)
        if not (folder / model_file(self.name)).exists():
            raise UserError(f"{folder / model_file(self.name)} is missing; run `{_HOW}` first")
        card, metrics = _read(folder / card_file(self.name)), read_json_if_present(folder / METRICS_FILE) or {}
        return {
            "framework": f"torch {torch.__version__}",
            "format": "state_dict (torch.save); load with torch.load(weights_only=True)",
            "model": self.name,
            "card": card,
            "test_metrics": metrics.get(self.name),
            "data_sha256": file_digest(folder / DAILY) if (folder / DAILY).exists() else None,
            "params": {
                "data": asdict(params.data),
                "split": asdict(params.split),
                "train": asdict(getattr(params.train, self.name)),
            },
        }

    def figures(self, folder: Path) -> dict[str, bytes]:
        return model_figures(self.name, Path(folder))

    def check(self, model_path: Path, metadata: dict, folder: Path) -> list[str]:
        from .predictor import load  # the serving code path, as the server loads it

        model_path = Path(model_path)
        if not model_path.exists():
            raise UserError(f"{model_path} is missing")
        predictor = load(model_path, metadata)
        x, source = sample_input(self.name, predictor.model_card, Path(folder))
        start = time.perf_counter()
        out = predictor.predict(predictor.decode(npy_bytes(x), "application/x-npy"))[0]
        ms = (time.perf_counter() - start) * 1000
        summary = {
            "classifier": lambda o: f"class {o['class']} (p {max(o['probabilities'].values()):.3f})",
            "forecaster": lambda o: f"7 days, lead-7 mean concentration {np.mean(o['forecast'][-1]):.3f}",
            "change": lambda o: f"{o['change_fraction']:.2%} of pixels changed",
        }[self.name](out)
        card = predictor.model_card
        epoch = card.get("best_epoch")
        kept = (
            f"last epoch {epoch}, trained on train + val"
            if card.get("trained_on") == "train+val"
            else f"best epoch {epoch}"
        )
        return [
            f"  {model_path.name}: the {self.name} ({kept})",
            f"  one {source} in {ms:.0f} ms: {summary}",
        ]


ARTIFACTS = tuple(ModelArtifact(name) for name in MODELS)


def sample_input(kind: str, card: dict, folder: Path) -> tuple[np.ndarray, str]:
    """One real input: from the line's test split when it is here, else from a short simulation."""
    test_dir = folder / DATASETS
    if (test_dir / kind / "test.npz").exists():
        if kind == "classifier":
            return load_set(kind, "test", test_dir)["x"][0], "test tile"
        if kind == "change":
            data = load_set(kind, "test", test_dir)
            return np.stack([data["before"][0], data["after"][0]]), "test pair"
        if (folder / DAILY).exists():
            from .data import forecast_arrays, load_daily

            history, _ = forecast_arrays(load_daily(folder / DAILY), load_set(kind, "test", test_dir)["starts"][:1])
            return history[0], "test 30-day history"
    grid = card.get("grid", [64, 64])[0] if kind != "classifier" else 16
    daily = simulate(grid, 40, "2021-01-01", 0.5, 0.05, seed=0)
    rng = np.random.default_rng(0)
    if kind == "classifier":
        n = card["tile_px"] // 2
        tile = render(daily.concentration[-1][:n, :n], daily.thickness[-1][:n, :n], daily.land[:n, :n], rng, 2)
        return tile[: card["tile_px"], : card["tile_px"]], "simulated tile"
    if kind == "forecaster":
        return daily.concentration[:30], "simulated 30-day history"
    scenes = [render(daily.concentration[d], daily.thickness[d], daily.land, rng) for d in (0, 10)]
    return np.stack(scenes), "simulated pair"


def _read(path: Path) -> dict:
    if not path.exists():
        raise UserError(f"{path} is missing; run `{_HOW}` first")
    return json.loads(path.read_text())
