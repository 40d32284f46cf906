"""The train stage's work (train.py runs it): a ResNet regressor on the prepared photos,
keeping the best epoch by val RMSE.

AdamW with a one-cycle schedule, MSE or Huber on the standardized (log1p) target, flips,
90-degree turns and colour jitter. Photos stay uint8 tensors in memory (decoded once by
verify); the loop is core/torchkit's. Writes models/biomass_model.pt (a plain state_dict),
models/card.json (what is needed to use it, the params and the git commit) and
metrics/train_history.csv (per-epoch curves for `dvc plots`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..core.cli import UserError
from ..core.hardware import place
from ..core.io import read_json, write_csv
from ..core.torchkit import Run, predict, save_weights, set_threads, train_one_epoch
from .card import ModelCard, git_commit
from .data import load_split
from .model import INFERENCE_PRECISION, MEAN, STD, Preprocess, Target, build_model, check_finite
from .params import TrainConfig
from .paths import DATA_REPORT, HISTORY_FILE, MODEL_CARD, MODEL_FILE, PREPARED_DIR
from .scoring import regression_metrics
from .transforms import augment

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "val_rmse_g", "lr")
HEAD = "Dropout -> Linear(hidden) -> ReLU -> Linear(1)"


def make_criterion(cfg: TrainConfig) -> nn.Module:
    return nn.HuberLoss(delta=cfg.huber_delta) if cfg.loss == "huber" else nn.MSELoss()


def train(
    cfg: TrainConfig,
    prepared: str | Path = PREPARED_DIR,
    model_out: str | Path = MODEL_FILE,
    card_out: str | Path = MODEL_CARD,
    history_out: str | Path = HISTORY_FILE,
    data_report: str | Path = DATA_REPORT,
) -> ModelCard:
    placement = place(cfg.device, cfg.precision, min_side=cfg.input_size)
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train_set, val_set = load_split(prepared, "train"), load_split(prepared, "val")
    if len(train_set["y"]) == 0 or len(val_set["y"]) == 0:
        raise UserError("the train and val splits must both hold photos; check the split fractions")
    image_size = int(read_json(data_report, "verify")["image_size"])
    x_train, grams_train = torch.from_numpy(train_set["x"]), torch.from_numpy(train_set["y"])
    x_val, grams_val = torch.from_numpy(val_set["x"]), torch.from_numpy(val_set["y"])
    target = Target.fit(grams_train, cfg.log_target)
    y_train = target.encode(grams_train)
    if placement.device.type == "cuda":
        x_train, y_train = x_train.to(placement.device), y_train.to(placement.device)

    model = build_model(cfg.arch, cfg.hidden, cfg.dropout, cfg.pretrained, cfg.freeze_backbone).to(placement.device)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    steps = cfg.epochs * -(-len(x_train) // cfg.batch_size)
    # Fewer steps than 4 cannot hold a warm-up and a decay: a constant rate then.
    schedule = (
        torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=steps, pct_start=max(0.25, 2 / steps))
        if steps >= 4
        else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    )
    criterion = make_criterion(cfg)
    run = Run(model, optimizer, schedule, criterion, torch.Generator().manual_seed(cfg.seed), placement.precision)
    pre = Preprocess(cfg.input_size, placement.device)
    print(
        f"train: {cfg.arch} ({cfg.pretrained} init, backbone {'frozen' if cfg.freeze_backbone else 'trained'}) "
        f"on {len(x_train)} photos, val {len(x_val)}, {cfg.epochs} epochs at {cfg.input_size}px | "
        f"{placement.name} ({placement.device.type}), {placement.precision}, {threads} thread(s)",
        file=sys.stderr,
    )

    def jitter(batch, targets, generator):
        return augment(batch, targets, generator, flip=cfg.flip, rotate=cfg.rotate, jitter=cfg.color_jitter)

    history, best, best_state = [], None, None
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        train_loss, _ = train_one_epoch(
            run,
            x_train,
            y_train,
            batch_size=cfg.batch_size,
            augment=jitter,
            preprocess=pre,
            desc=f"epoch {epoch}/{cfg.epochs}",
            correct=None,
        )
        check_finite(train_loss, "the training loss")
        z = predict_z(model, x_val, pre, max(cfg.batch_size, 256), placement.precision).cpu()
        val_loss = float(criterion(z, target.encode(grams_val)))
        val_rmse = regression_metrics(grams_val.double(), target.decode(z))["rmse_g"]
        row = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            "val_loss": round(val_loss, 6),
            "val_rmse_g": round(val_rmse, 6),
            "lr": round(optimizer.param_groups[0]["lr"], 8),
        }
        history.append(row)
        if best is None or val_rmse < best["val_rmse_g"]:
            best = row
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        print(
            f"train: epoch {epoch}/{cfg.epochs} loss {train_loss:.4f} | val loss {val_loss:.4f} "
            f"RMSE {val_rmse:.4f} g | {time.perf_counter() - start:.0f}s",
            file=sys.stderr,
        )

    assert best is not None and best_state is not None  # train.epochs >= 1 (params), so an epoch ran
    card = ModelCard(
        arch=cfg.arch,
        head=HEAD,
        hidden=cfg.hidden,
        image_size=image_size,
        input_size=cfg.input_size,
        normalization={"mean": list(MEAN), "std": list(STD)},
        target=asdict(target),
        train_mean_g=round(float(grams_train.double().mean()), 8),
        best_epoch=best["epoch"],
        val_rmse_g=best["val_rmse_g"],
        train_images=len(x_train),
        train_params=asdict(cfg),
        git_commit=git_commit(),
        artifacts={
            "model": str(model_out),
            "card": str(card_out),
            "history": str(history_out),
            "prepared": str(prepared),
        },
        runtime={
            "device": placement.device.type,
            "device_name": placement.name,
            "precision": placement.precision,
            "precision_reason": placement.reason,
            "inference_precision": INFERENCE_PRECISION,
            "threads": threads,
        },
    )
    save_outputs(best_state, card, history, model_out, card_out, history_out)
    print(f"train: best epoch {best['epoch']} (val RMSE {best['val_rmse_g']:.4f} g) -> {model_out}", file=sys.stderr)
    return card


def predict_z(model: nn.Module, x: torch.Tensor, pre: Preprocess, batch_size: int, precision: str) -> torch.Tensor:
    return predict(model, x, pre, batch_size, precision, 1).reshape(-1)


def save_outputs(
    state: dict,
    card: ModelCard,
    history: list[dict],
    model_out: str | Path,
    card_out: str | Path,
    history_out: str | Path,
) -> None:
    """Each file appears complete or not at all."""
    save_weights(state, model_out)
    card.write(card_out)
    write_csv(history_out, history, HISTORY_FIELDS)
