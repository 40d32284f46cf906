"""The train stage's work (train.py runs it): a ResNet on the prepared arrays, keeping the
best epoch by val accuracy.

The loop (core/fit.py, core/torchkit.py) is shaped for the hardware at hand: images stay uint8 in memory
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
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from ..core import distributed
from ..core.averaging import WeightAverage
from ..core.checkpoint import CHECKPOINT_DIR
from ..core.cli import UserError
from ..core.fit import Best, EpochPlan, Fitted, Setup, constant, fit, one_cycle, save_outputs, set_up
from ..core.hardware import Placement, check_placement
from ..core.torchkit import Run, count_correct, memory_format
from ..core.vision import Preprocess, freeze_backbone, whiten_first_conv
from .card import ModelCard
from .data import load_meta, load_tensors
from .model import build_model, predict
from .params import TrainConfig, progressive_sizes
from .paths import HISTORY_FILE, MODEL_CARD, MODEL_FILE, PREPARED_DIR
from .transforms import augment


def epoch_input_size(cfg: TrainConfig, epoch: int) -> int:
    """Progressive resizing: the first progressive_epochs epochs are shared equally, in order, among
    the sizes from progressive_min_size up to (not including) input_size in steps of progressive_step;
    later epochs use input_size."""
    sizes = progressive_sizes(cfg)
    if epoch > cfg.progressive_epochs or not sizes:
        return cfg.input_size
    return sizes[(epoch - 1) * len(sizes) // cfg.progressive_epochs]


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
    if cfg.schedule == "onecycle":
        return one_cycle(optimizer, cfg.lr, total_steps, div_factor=20.0, final_div_factor=200.0)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return constant(optimizer)


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
    setup = set_up(cfg, min_side=smallest_side(cfg), sync_batchnorm=cfg.sync_batchnorm)
    device = setup.placement.device
    meta = load_meta(prepared)
    x_train, y_train = load_tensors(prepared, "train")
    x_val, y_val = load_tensors(prepared, "val")
    if len(x_train) == 0 or len(x_val) == 0:
        raise UserError("the train and val splits must both hold images; check data.split")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        x_train, y_train = x_train.to(device), y_train.to(device)  # once: ~330 MB for EuroSAT
    stem = whitening_sample(cfg, meta, x_train) if cfg.whiten_stem else None
    model, run = make_run(cfg, setup, len(meta["classes"]), len(x_train), stem)
    setup.announce(
        "train",
        f"{cfg.arch} ({cfg.pretrained} init) on {len(x_train)} images, val {len(x_val)}, "
        f"{cfg.epochs} epochs, batch {cfg.batch_size}",
    )
    checkpoint = setup.checkpoint(Path(checkpoint_dir) / "landcover-train.pt", asdict(cfg), [Path(prepared)])
    val_pre = Preprocess(
        meta["mean"], meta["std"], input_size=cfg.input_size, channels_last=cfg.channels_last, device=device
    )
    fitted = fit(
        run,
        model,
        x_train,
        y_train,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        plan=lambda epoch: epoch_plan(cfg, meta, device, epoch),
        augment=(lambda batch, labels, gen: (augment(batch, gen, cfg.translate), labels)) if cfg.augment else None,
        validate=lambda net: scores(net, x_val, y_val, val_pre, run.precision, cfg.batch_size),
        best=Best("accuracy"),
        checkpoint=checkpoint,
        correct=count_correct,
        timed=True,
    )
    if fitted is None:
        return None
    card = make_card(cfg, meta, fitted, setup)
    save_outputs(fitted, asdict(card), model_out, card_out, history_out)
    checkpoint.clear()
    print(f"train: best epoch {card.best_epoch} (val accuracy {card.val_accuracy:.4f}) -> {model_out}", file=sys.stderr)
    return card


def make_run(
    cfg: TrainConfig, setup: Setup, num_classes: int, train_images: int, stem: torch.Tensor | None = None
) -> tuple[nn.Module, Run]:
    """The model (bare, as validate and the saved weights see it) and the run training it;
    `stem`: preprocessed training images whose patches start the first convolution as a whitening."""
    model = build_model(cfg.arch, num_classes, cfg.pretrained)
    if stem is not None:
        whiten_first_conv(model.conv1, stem)
    if cfg.freeze_backbone:
        freeze_backbone(model)
    device = setup.placement.device
    model = model.to(device, memory_format=memory_format(cfg.channels_last))
    optimizer = make_optimizer(cfg, model)
    wrapped = distributed.wrap(model, setup.group, device, cfg.sync_batchnorm)
    run = Run(
        wrapped,
        optimizer,
        make_schedule(cfg, optimizer, cfg.epochs * -(-train_images // cfg.batch_size)),
        nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        torch.Generator().manual_seed(cfg.seed),
        setup.placement.precision,
        setup.group,
        WeightAverage(model, cfg.ema) if cfg.ema else None,  # after wrap: it copies the weights rank 0 broadcast
    )
    return model, run


def whitening_sample(cfg: TrainConfig, meta: dict, x_train: torch.Tensor, images: int = 256) -> torch.Tensor:
    """A seeded sample of training images (never val or test) as the network sees them at input_size."""
    pick = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(cfg.seed))[:images]
    pre = Preprocess(meta["mean"], meta["std"], input_size=cfg.input_size, channels_last=False)
    return pre(x_train[pick.to(x_train.device)].cpu())


def epoch_plan(cfg: TrainConfig, meta: dict, device: torch.device, epoch: int) -> EpochPlan:
    size = epoch_input_size(cfg, epoch)
    pre = Preprocess(meta["mean"], meta["std"], input_size=size, channels_last=cfg.channels_last, device=device)
    return EpochPlan(pre, {"input_size": size}, f" ({size}px)")


def scores(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, preprocess: Preprocess, precision: str, batch_size: int
) -> dict[str, float]:
    """Val loss and accuracy, the scores that pick the best epoch."""
    logits = predict(model, x, preprocess, max(batch_size, 256), precision).cpu()
    return {
        "loss": float(nn.functional.cross_entropy(logits, y)),
        "accuracy": float((logits.argmax(1) == y).float().mean()),
    }


def make_card(cfg: TrainConfig, meta: dict, fitted: Fitted, setup: Setup) -> ModelCard:
    assert fitted.best_scores is not None
    return ModelCard(
        arch=cfg.arch,
        classes=meta["classes"],
        input_size=cfg.input_size,
        mean=meta["mean"],
        std=meta["std"],
        best_epoch=fitted.best_epoch,
        val_accuracy=fitted.best_scores["accuracy"],
        val_loss=fitted.best_scores["loss"],
        train_params=asdict(cfg),
        runtime=setup.runtime(),
        trained_at_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def smallest_side(cfg: TrainConfig) -> int:
    return min(epoch_input_size(cfg, e) for e in range(1, cfg.epochs + 1))


def check_request(cfg: TrainConfig) -> Placement:
    """Where and how to train; every request the machine cannot honour fails here, before any work."""
    return check_placement(cfg.device, cfg.precision, cfg.processes, cfg.sync_batchnorm, min_side=smallest_side(cfg))
