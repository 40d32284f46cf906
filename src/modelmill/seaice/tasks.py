"""What differs between the three trainings: data, inputs, augmentation, loss and the val score
that picks the best epoch (higher is better). training.py runs them through the core's fit loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.cli import UserError
from ..core.torchkit import count_correct, predict
from ..core.vision import Preprocess, flips_and_turns
from .augment import brightness
from .data import CLASSES, forecast_arrays, load_daily, load_set
from .models import Forecaster, SiameseChange, build_classifier
from .params import ChangeConfig, ClassifierConfig, ForecasterConfig
from .paths import CEILING
from .scores import class_scores, map_scores, r

EVAL_BATCH = 64


@dataclass
class Task:
    model: nn.Module
    card: dict  # what rebuilds the model and feeds it (models.build reads it)
    x_train: torch.Tensor
    y_train: torch.Tensor
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    augment: Callable | None
    criterion: nn.Module
    validate: Callable[[nn.Module, str], dict]  # (model, precision) -> val scores
    best: str | None  # the val score that picks the best epoch (higher is better); None: the last epoch
    correct: Callable | None = None
    unit: str = "sample"
    side: int | None = None  # the smallest image side the model trains on (the CPU bf16 floor)
    extra: dict = field(default_factory=dict)


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    flat = images.reshape(-1, images.shape[-1]).astype(np.float64)
    return [round(v, 4) for v in flat.mean(0)], [round(max(v, 1.0), 4) for v in flat.std(0)]


def classifier_task(cfg: ClassifierConfig, sets_dir: Path | None, daily_path: Path | None) -> Task:
    train, val = load_set("classifier", "train", sets_dir), load_set("classifier", "val", sets_dir)
    mean, std = channel_stats(train["x"])
    counts = np.bincount(train["y"], minlength=len(CLASSES))
    weights = counts.sum() / (len(CLASSES) * np.maximum(counts, 1)) if cfg.class_weights else np.ones(len(CLASSES))
    pre = Preprocess(mean, std, scale=1.0)
    x_val, y_val = torch.from_numpy(val["x"]), val["y"]

    def augment(images, labels, generator):
        images, _ = flips_and_turns(images, generator)
        return brightness(images, cfg.brightness, generator), labels

    def validate(model, precision):
        predicted = predict(model, x_val, pre, EVAL_BATCH, precision, len(CLASSES)).argmax(1).cpu().numpy()
        scores = class_scores(y_val, predicted, CLASSES)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    card = {
        "model": "classifier",
        "arch": cfg.arch,
        "classes": list(CLASSES),
        "mean": mean,
        "std": std,
        "tile_px": int(train["x"].shape[1]),
        "class_weights": [r(w) for w in weights],
        # Thin and thick ice are told apart by thickness: say where the labels' thickness came from.
        "thickness": str(train["thickness_source"].reshape(-1)[0]) if "thickness_source" in train else "simulated",
    }
    return Task(
        build_classifier(cfg.arch, len(CLASSES)),
        card,
        torch.from_numpy(train["x"]),
        torch.from_numpy(train["y"]),
        pre,
        augment if cfg.augment else None,
        nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32)),
        validate,
        "macro_f1",
        correct=count_correct,
        unit="tile",
        side=min(train["x"].shape[1:3]),
    )


def forecaster_task(cfg: ForecasterConfig, sets_dir: Path | None, daily_path: Path | None) -> Task:
    daily = load_daily(daily_path) if daily_path else load_daily()
    x, y = forecast_arrays(daily, load_set("forecaster", "train", sets_dir)["starts"])
    x_val, y_val = forecast_arrays(daily, load_set("forecaster", "val", sets_dir)["starts"])
    ocean = ~daily.land
    persistence = lead_rmse(np.repeat(x_val[:, -1:], y_val.shape[1], 1), y_val, ocean)
    # Each lead day's error counts relative to persistence's on the training windows: with a
    # plain MSE the large late-lead errors drown lead 1, where persistence is hardest to beat.
    scale = ((x[:, -1:] - y) ** 2)[..., ocean].mean(axis=(0, 2)) if len(x) else np.ones(y.shape[1])
    weights = 1 / np.maximum(scale, 1e-8)

    def validate(model, precision):
        out = predict(model, torch.from_numpy(x_val), lambda b: b, EVAL_BATCH, precision, 0).cpu().numpy()
        rmse = lead_rmse(np.clip(out, 0, 1), y_val, ocean)
        skill = 1 - rmse / np.maximum(persistence, 1e-12)
        # The worst lead's skill against persistence picks the epoch: the model must beat it at every lead.
        return {
            "min_skill": r(skill.min()),
            "rmse": r(np.sqrt((rmse**2).mean())),
            "persistence_rmse": r(np.sqrt((persistence**2).mean())),
        }

    card = {
        "model": "forecaster",
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "grid": list(daily.land.shape),
        "land": daily.land.astype(int).tolist(),
    }
    return Task(
        Forecaster(cfg.hidden, cfg.layers),
        card,
        torch.from_numpy(x),
        torch.from_numpy(y),
        lambda b: b,
        None,
        LeadWeightedMSE(weights / weights.mean()),
        validate,
        "min_skill",
        unit="window",
        side=min(daily.land.shape),
    )


def lead_rmse(forecast: np.ndarray, truth: np.ndarray, ocean: np.ndarray) -> np.ndarray:
    """(7,) RMSE per lead day of (n, 7, H, W) forecasts over sea cells."""
    return np.sqrt(((forecast - truth) ** 2)[..., ocean].mean(axis=(0, 2)))


class LeadWeightedMSE(nn.Module):
    def __init__(self, weights: np.ndarray):
        super().__init__()
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))

    def forward(self, forecast: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        return (((forecast - truth) ** 2).mean(dim=(0, 2, 3)) * self.weights).mean()


class BceDice(nn.Module):
    def __init__(self, dice_weight: float):
        super().__init__()
        self.dice_weight = dice_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits, target)
        p = torch.sigmoid(logits)
        dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
        return bce + self.dice_weight * dice


CLEAN = "_clean"  # the suffix of the pairs' clean renders, which split writes for simulated data only


def pair_images(data: dict, clean: bool = False) -> np.ndarray:
    """(n, H, W, 6): the two dates' channels side by side, as the Siamese network takes them;
    `clean`: the perfect sensor's renders of the same scenes."""
    suffix = CLEAN if clean else ""
    return np.concatenate([data[f"before{suffix}"], data[f"after{suffix}"]], axis=-1)


def has_clean(data: dict) -> bool:
    return f"before{CLEAN}" in data


def change_task(cfg: ChangeConfig, sets_dir: Path | None, daily_path: Path | None, clean: bool = False) -> Task:
    """The change detector; `clean`: the same detector on clean renders (the ceiling stage).
    `cfg.refit`: trained on the train and val pairs together, the last epoch kept, val not scored
    (it was trained on): the recipe was fixed on val, and val holds the freeze-up that test holds."""
    train, val = load_set("change", "train", sets_dir), load_set("change", "val", sets_dir)
    if not train["change"].any():
        raise UserError("the training change pairs hold no changed pixel; lower split.change or use more days")
    x, x_val = pair_images(train, clean), pair_images(val, clean)
    maps = train["change"]
    if cfg.refit:
        x, maps = np.concatenate([x, x_val]), np.concatenate([maps, val["change"]])
    mean, std = channel_stats(x[..., :3])
    pre = Preprocess(mean * 2, std * 2, scale=1.0)
    val_images, y_val = torch.from_numpy(x_val), val["change"].astype(bool)
    # Land is known: val is scored on sea pixels, as evaluate scores test.
    ocean = ~(load_daily(daily_path) if daily_path else load_daily()).land

    def augment(images, maps, generator):
        return flips_and_turns(images, generator, maps)

    def validate(model, precision):
        if cfg.refit:
            return {}  # val is in the training pairs: its score would say nothing
        logits = predict(model, val_images, pre, EVAL_BATCH, precision, 0).cpu().numpy()
        return map_scores(y_val, logits > 0, ocean)

    card = {
        "model": "change",
        "width": cfg.width,
        "mean": mean * 2,
        "std": std * 2,
        "threshold": 0.5,
        "grid": list(train["change"].shape[1:]),
        **({"inputs": "clean renders: no cloud, speckle or sensor noise (the ceiling)"} if clean else {}),
        "trained_on": "train+val" if cfg.refit else "train",
        "epoch_kept": "last (refit: val was trained on, so it neither picks the epoch nor is scored)"
        if cfg.refit
        else "best val IoU",
    }
    return Task(
        SiameseChange(cfg.width),
        card,
        torch.from_numpy(x),
        torch.from_numpy(maps),
        pre,
        augment if cfg.augment else None,
        BceDice(cfg.dice_weight),
        validate,
        None if cfg.refit else "iou",
        unit="pair",
        side=min(x.shape[1:3]),
    )


TASKS: dict[str, Callable[..., Task]] = {
    "classifier": classifier_task,
    "forecaster": forecaster_task,
    "change": change_task,
    CEILING: partial(change_task, clean=True),
}
