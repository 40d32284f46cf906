"""The train stage's work (train.py runs it): a ResNet on the prepared arrays, keeping the
best epoch by val accuracy.

The loop (core/torchkit.py) is shaped for the hardware at hand: images stay uint8 in memory
(decoded once by verify; moved to the GPU once when there is one), batches are augmented
as tensors (flips and 90-degree rotations suit overhead imagery), activations are
channels_last, and on a CPU the convolutions on the last stage's tiny maps run as matrix
products (small_maps.py). No DataLoader workers: on a small machine they would only compete
with the math for cores. `train.processes: N` runs N data-parallel ranks under torchrun;
each epoch ends with a checkpoint, so a killed run resumes where it stopped.

Writes models/satellite_model.pt (a plain state_dict), models/model.json (what is
needed to use it: architecture, classes, input size, normalization) and
metrics/train_history.csv (per-epoch curves for `dvc plots`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from ..core import distributed
from ..core.checkpoint import CHECKPOINT_DIR, Checkpoint, fingerprint, restore_rng, rng_state
from ..core.cli import UserError
from ..core.hardware import Placement, check_placement
from ..core.io import write_csv
from ..core.torchkit import Run, memory_format, save_weights, set_threads, train_one_epoch
from .card import ModelCard
from .data import load_meta, load_split
from .model import Preprocess, build_model, freeze_backbone, predict
from .params import TrainConfig
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
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999))


def make_schedule(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    if cfg.schedule == "onecycle" and total_steps >= 4:  # fewer steps cannot hold a warm-up and a decay
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.lr,
            total_steps=total_steps,
            pct_start=max(0.25, 2 / total_steps),
            div_factor=20.0,
            final_div_factor=200.0,
        )
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def train(
    cfg: TrainConfig,
    prepared: str | Path = PREPARED_DIR,
    model_out: str | Path = MODEL_FILE,
    card_out: str | Path = MODEL_CARD,
    history_out: str | Path = HISTORY_FILE,
    checkpoint_dir: str | Path = CHECKPOINT_DIR,
) -> ModelCard | None:
    """Train, resuming from this run's checkpoint if one is there; rank 0 writes the outputs
    and returns the card (other ranks of a data-parallel run return None)."""
    placement = check_request(cfg)
    group = distributed.join(placement.device)
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    meta = load_meta(prepared)
    x_train, y_train = load_split(prepared, "train")
    x_val, y_val = load_split(prepared, "val")
    if len(x_train) == 0 or len(x_val) == 0:
        raise UserError("the train and val splits must both hold images; check data.split")
    if placement.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        x_train, y_train = x_train.to(placement.device), y_train.to(placement.device)  # once: ~330 MB for EuroSAT

    model = build_model(cfg.arch, len(meta["classes"]), cfg.pretrained)
    if cfg.freeze_backbone:
        freeze_backbone(model)
    model = model.to(placement.device, memory_format=memory_format(cfg.channels_last))
    steps_per_epoch = -(-len(x_train) // cfg.batch_size)
    optimizer = make_optimizer(cfg, model)
    run = Run(
        distributed.wrap(model, group, placement.device, cfg.sync_batchnorm),
        optimizer,
        make_schedule(cfg, optimizer, cfg.epochs * steps_per_epoch),
        nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        torch.Generator().manual_seed(cfg.seed),
        placement.precision,
        group,
    )
    checkpoint = Checkpoint(
        Path(checkpoint_dir) / "landcover-train.pt",
        fingerprint({**asdict(cfg), "world": group.world}, [Path(prepared)]),
    )
    history, best, best_state = resume(checkpoint, run, model)

    if group.is_main:
        print(
            f"train: {cfg.arch} ({cfg.pretrained} init) on {len(x_train)} images, val {len(x_val)}, "
            f"{cfg.epochs} epochs, batch {cfg.batch_size} | {placement.name} ({placement.device.type}), "
            f"{placement.precision} ({placement.reason}), {group.world} process(es) x {threads} thread(s)"
            + (f" | resuming after epoch {len(history)}" if history else ""),
            file=sys.stderr,
        )
    val_pre = Preprocess(meta["mean"], meta["std"], cfg.input_size, cfg.channels_last, placement.device)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        start = time.perf_counter()
        size = epoch_input_size(cfg, epoch)
        train_pre = Preprocess(meta["mean"], meta["std"], size, cfg.channels_last, placement.device)
        train_loss, train_acc = train_one_epoch(
            run,
            x_train,
            y_train,
            batch_size=cfg.batch_size,
            preprocess=train_pre,
            augment=(lambda batch, labels, gen: (augment(batch, gen, cfg.translate), labels)) if cfg.augment else None,
            desc=f"epoch {epoch}/{cfg.epochs} ({size}px)",
        )
        if not group.is_main:
            continue  # rank 0 alone validates, keeps the best epoch and writes
        val_loss, val_acc = validate(model, x_val, y_val, val_pre, placement.precision, cfg.batch_size)
        row = {
            "epoch": epoch,
            "input_size": size,
            "train_loss": round(train_loss, 6),
            "train_accuracy": round(train_acc, 6) if train_acc is not None else None,
            "val_loss": round(val_loss, 6),
            "val_accuracy": round(val_acc, 6),
            "lr": round(optimizer.param_groups[0]["lr"], 8),
            "seconds": round(time.perf_counter() - start, 2),
        }
        history.append(row)
        if best is None or val_acc > best["val_accuracy"]:
            best = row
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        checkpoint.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": run.schedule.state_dict(),
                "rng": rng_state(run.generator),
                "history": history,
                "best": best,
                "best_state": best_state,
            }
        )
        # Printed once the epoch is saved: a run stopped after this line resumes after this epoch.
        print(
            f"train: epoch {epoch}/{cfg.epochs} ({size}px) loss {train_loss:.4f} acc {train_acc:.4f} | "
            f"val loss {val_loss:.4f} acc {val_acc:.4f} | {row['seconds']:.0f}s",
            file=sys.stderr,
        )
    distributed.leave()
    if not group.is_main:
        return None

    assert best is not None and best_state is not None  # train.epochs >= 1 (params), so an epoch ran
    card = ModelCard(
        arch=cfg.arch,
        classes=meta["classes"],
        input_size=cfg.input_size,
        mean=meta["mean"],
        std=meta["std"],
        best_epoch=best["epoch"],
        val_accuracy=best["val_accuracy"],
        val_loss=best["val_loss"],
        train_params=asdict(cfg),
        runtime={
            "device": placement.device.type,
            "device_name": placement.name,
            "precision": placement.precision,
            "precision_reason": placement.reason,
            "threads": threads,
            "processes": group.world,
        },
        trained_at_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    save_outputs(best_state, card, history, model_out, card_out, history_out)
    checkpoint.clear()
    print(
        f"train: best epoch {best['epoch']} (val accuracy {best['val_accuracy']:.4f}) -> {model_out}", file=sys.stderr
    )
    return card


def check_request(cfg: TrainConfig) -> Placement:
    """Where and how to train; every request the machine cannot honour fails here, before any work."""
    return check_placement(
        cfg.device,
        cfg.precision,
        cfg.processes,
        cfg.sync_batchnorm,
        min_side=min(epoch_input_size(cfg, e) for e in range(1, cfg.epochs + 1)),
    )


def resume(checkpoint: Checkpoint, run: Run, model: nn.Module) -> tuple[list[dict], dict | None, dict | None]:
    """Restore the last complete epoch of this very run, if a checkpoint holds one."""
    state = checkpoint.load()
    if state is None:
        return [], None, None
    model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    restore_rng(state["rng"], run.generator)
    return state["history"], state["best"], state["best_state"]


def validate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, preprocess: Preprocess, precision: str, batch_size: int
) -> tuple[float, float]:
    logits = predict(model, x, preprocess, max(batch_size, 256), precision).cpu()
    return float(nn.functional.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def save_outputs(
    state: dict,
    card: ModelCard,
    history: list[dict],
    model_out: str | Path,
    card_out: str | Path,
    history_out: str | Path,
) -> None:
    """Each file appears complete or not at all: a run killed here leaves no partial model."""
    save_weights(state, model_out)
    card.write(card_out)
    write_csv(history_out, history, HISTORY_FIELDS)
