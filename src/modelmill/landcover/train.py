"""Stage 3, train: a ResNet on the prepared arrays, keeping the best epoch by val accuracy.

A plain, explicit loop in the style of torchvision's reference scripts, shaped for a
CPU: images stay uint8 in memory (decoded once by verify), batches are augmented as
tensors (flips and 90-degree rotations suit overhead imagery), activations are
channels_last, and convolutions on the last stage's tiny maps run as matrix products
(small_maps.py). No DataLoader workers: on a small machine they would only compete
with the math for cores.

Writes models/satellite_model.pt (a plain state_dict), models/model.json (what is
needed to use it: architecture, classes, input size, normalization) and
metrics/train_history.csv (per-epoch curves for `dvc plots`).
"""

from __future__ import annotations

import copy
import csv
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from ..core.cli import UserError, cli
from ..core.io import atomic_output
from ..core.progress import bar
from ..core.torchkit import autocast, bf16_supported, memory_format, set_threads
from .card import ModelCard
from .data import load_meta, load_split
from .model import Preprocess, build_model, freeze_backbone, predict
from .params import TrainConfig, load_params
from .paths import HISTORY_FILE, MODEL_CARD, MODEL_FILE, PREPARED_DIR
from .transforms import augment
HISTORY_FIELDS = ("epoch", "input_size", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def epoch_input_size(cfg: TrainConfig, epoch: int) -> int:
    """Progressive resizing: the size grows from progressive_min_size to input_size over the
    first progressive_epochs epochs (in steps of 8 pixels); later epochs use input_size."""
    if epoch > cfg.progressive_epochs:
        return cfg.input_size
    fraction = (epoch - 1) / cfg.progressive_epochs
    size = cfg.progressive_min_size + (cfg.input_size - cfg.progressive_min_size) * fraction
    return min(cfg.input_size, 8 * round(size / 8))


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    # No weight decay on BatchNorm and bias parameters: decaying them only slows short schedules.
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999))


def make_schedule(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    if cfg.schedule == "onecycle" and total_steps >= 4:  # fewer steps cannot hold a warm-up and a decay
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps,
                                                   pct_start=max(0.25, 2 / total_steps), div_factor=20.0,
                                                   final_div_factor=200.0)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def train(cfg: TrainConfig, prepared: str | Path = PREPARED_DIR, model_out: str | Path = MODEL_FILE,
          card_out: str | Path = MODEL_CARD, history_out: str | Path = HISTORY_FILE) -> ModelCard:
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    meta = load_meta(prepared)
    x_train, y_train = load_split(prepared, "train")
    x_val, y_val = load_split(prepared, "val")
    if len(x_train) == 0 or len(x_val) == 0:
        raise UserError("the train and val splits must both hold images; check data.split")
    if cfg.precision == "bf16" and not bf16_supported():
        print("train: this CPU has no native bf16; training in fp32", file=sys.stderr)

    model = build_model(cfg.arch, len(meta["classes"]), cfg.pretrained)
    if cfg.freeze_backbone:
        freeze_backbone(model)
    model = model.to(memory_format=memory_format(cfg.channels_last))
    preprocess = Preprocess(meta["mean"], meta["std"], cfg.input_size, cfg.channels_last)  # validation: full size
    steps_per_epoch = -(-len(x_train) // cfg.batch_size)
    optimizer = make_optimizer(cfg, model)
    run = Run(model, optimizer, make_schedule(cfg, optimizer, cfg.epochs * steps_per_epoch),
              nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), torch.Generator().manual_seed(cfg.seed))

    print(f"train: {cfg.arch} ({cfg.pretrained} init) on {len(x_train)} images, val {len(x_val)}, "
          f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.precision}, {threads} threads", file=sys.stderr)
    history, best, best_state = [], None, None
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        size = epoch_input_size(cfg, epoch)
        train_pre = Preprocess(meta["mean"], meta["std"], size, cfg.channels_last)
        train_loss, train_acc = train_one_epoch(run, x_train, y_train, cfg, train_pre,
                                                desc=f"epoch {epoch}/{cfg.epochs} ({size}px)")
        val_loss, val_acc = validate(model, x_val, y_val, preprocess, cfg)
        row = {"epoch": epoch, "input_size": size, "train_loss": round(train_loss, 6), "train_accuracy": round(train_acc, 6),
               "val_loss": round(val_loss, 6), "val_accuracy": round(val_acc, 6),
               "lr": round(optimizer.param_groups[0]["lr"], 8), "seconds": round(time.perf_counter() - start, 2)}
        history.append(row)
        print(f"train: epoch {epoch}/{cfg.epochs} ({size}px) loss {train_loss:.4f} acc {train_acc:.4f} | "
              f"val loss {val_loss:.4f} acc {val_acc:.4f} | {row['seconds']:.0f}s", file=sys.stderr)
        if best is None or val_acc > best["val_accuracy"]:
            best = row
            best_state = copy.deepcopy(model.state_dict())

    card = ModelCard(arch=cfg.arch, classes=meta["classes"], input_size=cfg.input_size, mean=meta["mean"],
                     std=meta["std"], best_epoch=best["epoch"], val_accuracy=best["val_accuracy"],
                     val_loss=best["val_loss"], train_params=asdict(cfg),
                     trained_at_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    save_outputs(best_state, card, history, model_out, card_out, history_out)
    print(f"train: best epoch {best['epoch']} (val accuracy {best['val_accuracy']:.4f}) -> {model_out}", file=sys.stderr)
    return card


def validate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, preprocess: Preprocess,
             cfg: TrainConfig) -> tuple[float, float]:
    logits = predict(model, x, preprocess, max(cfg.batch_size, 256), cfg.precision)
    return float(nn.functional.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def save_outputs(state: dict, card: ModelCard, history: list[dict], model_out: str | Path, card_out: str | Path,
                 history_out: str | Path) -> None:
    """Each file appears complete or not at all: a run killed here leaves no partial model."""
    with atomic_output(model_out) as tmp:
        torch.save({k: v.contiguous() for k, v in state.items()}, tmp)  # plain layout: loads anywhere
    card.write(card_out)
    with atomic_output(history_out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        writer.writerows(history)


@dataclass
class Run:
    """What one training run carries from step to step."""
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    criterion: nn.Module
    generator: torch.Generator  # draws the epoch order and the augmentations


def train_one_epoch(run: Run, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, preprocess: Preprocess, *,
                    desc: str = "train") -> tuple[float, float]:
    run.model.train()
    order = torch.randperm(len(x), generator=run.generator)
    total_loss, correct, seen = 0.0, 0, 0
    with bar(len(x), desc, unit="img") as progress:
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            images, labels = x[idx], y[idx]
            if cfg.augment:
                images = augment(images, run.generator, cfg.translate)
            inputs = preprocess(images)
            with autocast(cfg.precision):
                logits = run.model(inputs)
                loss = run.criterion(logits.float(), labels)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.optimizer.step()
            run.schedule.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(idx)
            progress.update(len(idx))
    return total_loss / seen, correct / seen


@cli
def main() -> None:
    train(load_params().train)


if __name__ == "__main__":
    main()
