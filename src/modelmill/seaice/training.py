"""The train stage's work (train.py runs it): one of the three networks, keeping its best
epoch on val.

AdamW with a one-cycle learning-rate schedule; after each epoch the val score (classifier
macro-F1, forecaster worst-lead skill, change IoU) decides whether this epoch's weights are the
best so far.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..core.cli import UserError
from ..core.hardware import place
from ..core.io import atomic_output, write_csv
from ..core.torchkit import Run, save_weights, set_threads, train_one_epoch
from .params import TrainConfig
from .paths import DAILY, DATASETS, card_file, history_file, model_file
from .tasks import TASKS


def train_model(name: str, cfg: TrainConfig, folder: str | Path = ".") -> dict:
    """Train `name` on the data under `folder` (the line's folder) and write its outputs there."""
    folder = Path(folder)
    mcfg = getattr(cfg, name)
    threads = set_threads(mcfg.threads)
    torch.manual_seed(mcfg.seed)
    task = TASKS[name](mcfg, folder / DATASETS, folder / DAILY)
    if len(task.x_train) == 0:
        raise UserError(f"the {name}'s training split is empty; use more days or a larger split.train")
    placement = place(mcfg.device, mcfg.precision, min_side=task.side)
    model = task.model.to(placement.device)
    steps = mcfg.epochs * -(-len(task.x_train) // mcfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=mcfg.lr, weight_decay=mcfg.weight_decay)
    if steps >= 4:
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=mcfg.lr, total_steps=steps, pct_start=max(0.25, 2 / steps)
        )
    else:  # too few steps for a warm-up and a decay
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    run = Run(
        model,
        optimizer,
        schedule,
        task.criterion.to(placement.device),
        torch.Generator().manual_seed(mcfg.seed),
        placement.precision,
    )
    print(
        f"train {name}: {len(task.x_train)} {task.unit}s, {mcfg.epochs} epochs, batch {mcfg.batch_size} | "
        f"{placement.device.type}, {placement.precision}, {threads} thread(s)",
        file=sys.stderr,
    )
    history, best, best_state = [], None, None
    for epoch in range(1, mcfg.epochs + 1):
        start = time.perf_counter()
        loss, accuracy = train_one_epoch(
            run,
            task.x_train,
            task.y_train,
            batch_size=mcfg.batch_size,
            augment=task.augment,
            preprocess=task.preprocess,
            unit=task.unit,
            desc=f"{name} {epoch}/{mcfg.epochs}",
            correct=task.correct,
        )
        val = task.validate(model, placement.precision)
        row = {
            "epoch": epoch,
            "train_loss": round(loss, 6),
            **({"train_accuracy": round(accuracy, 6)} if accuracy is not None else {}),
            **{f"val_{k}": v for k, v in val.items() if k != "score"},
            "lr": round(optimizer.param_groups[0]["lr"], 8),
        }
        history.append(row)
        if best is None or val["score"] > best[1]["score"]:
            best = (epoch, val)
            best_state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
        print(
            f"train {name}: epoch {epoch}/{mcfg.epochs} loss {loss:.5f} | val "
            + ", ".join(f"{k} {v:.4f}" for k, v in val.items() if k != "score")
            + f" | {time.perf_counter() - start:.0f}s",
            file=sys.stderr,
        )
    assert best is not None and best_state is not None  # train.epochs >= 1 (params), so an epoch ran
    card = {
        **task.card,
        "best_epoch": best[0],
        "val": {k: v for k, v in best[1].items() if k != "score"},
        "train_params": asdict(mcfg),
        # evaluate and the predictor both run fp32, so serving answers what evaluate scored on any CPU
        "runtime": {
            "precision": placement.precision,
            "precision_reason": placement.reason,
            "inference_precision": "fp32",
        },
    }
    save_outputs(folder, name, best_state, card, history)
    print(f"train {name}: best epoch {best[0]} -> {folder / model_file(name)}", file=sys.stderr)
    return card


def save_outputs(folder: Path, name: str, state: dict, card: dict, history: list[dict]) -> None:
    """Each file appears complete or not at all."""
    save_weights(state, folder / model_file(name))
    with atomic_output(folder / card_file(name)) as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n")
    write_csv(folder / history_file(name), history)
