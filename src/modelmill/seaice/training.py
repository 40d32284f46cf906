"""The train stage's work (train.py runs it): one of the three networks (or the change detector
again on clean renders, for the ceiling stage), keeping its best epoch on val (the change
detector with `refit`: trained on train + val, its last epoch).

AdamW with a one-cycle learning-rate schedule, through the core's fit loop (history, best
epoch, per-epoch checkpoint and resume, torchrun ranks with `processes: N`); after each epoch
the val score the task names (classifier macro-F1, forecaster worst-lead skill, change IoU)
decides whether this epoch's weights are the best so far.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import torch

from ..core import distributed
from ..core.checkpoint import CHECKPOINT_DIR
from ..core.cli import UserError
from ..core.fit import Best, EpochPlan, fit, one_cycle, save_outputs, set_up
from ..core.torchkit import Run
from .params import TrainConfig
from .paths import DAILY, DATASETS, card_file, history_file, model_file, params_key
from .tasks import TASKS


def train_model(name: str, cfg: TrainConfig, folder: str | Path = ".") -> dict | None:
    """Train `name` on the data under `folder` (the line's folder) and write its outputs there;
    rank 0 returns the card (other ranks of a data-parallel run return None)."""
    folder = Path(folder)
    mcfg = getattr(cfg, params_key(name))
    torch.manual_seed(mcfg.seed)  # the task builds the model: its initial weights come from this seed
    task = TASKS[name](mcfg, folder / DATASETS, folder / DAILY)
    if len(task.x_train) == 0:
        raise UserError(f"the {name}'s training split is empty; use more days or a larger split.train")
    setup = set_up(mcfg, min_side=task.side)
    device, precision = setup.placement.device, setup.placement.precision
    model = task.model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=mcfg.lr, weight_decay=mcfg.weight_decay)
    run = Run(
        distributed.wrap(model, setup.group, device, sync_batchnorm=False),
        optimizer,
        one_cycle(optimizer, mcfg.lr, mcfg.epochs * -(-len(task.x_train) // mcfg.batch_size)),
        task.criterion.to(device),
        torch.Generator().manual_seed(mcfg.seed),
        precision,
        setup.group,
    )
    setup.announce(f"train {name}", f"{len(task.x_train)} {task.unit}s, {mcfg.epochs} epochs, batch {mcfg.batch_size}")
    checkpoint = setup.checkpoint(
        folder / CHECKPOINT_DIR / f"seaice-train-{name}.pt",
        asdict(mcfg),
        [folder / DATASETS / params_key(name), folder / DAILY],
    )
    fitted = fit(
        run,
        model,
        task.x_train,
        task.y_train,
        epochs=mcfg.epochs,
        batch_size=mcfg.batch_size,
        plan=lambda epoch: EpochPlan(task.preprocess),
        augment=task.augment,
        validate=lambda net: task.validate(net, precision),
        best=Best(task.best),
        checkpoint=checkpoint,
        log=f"train {name}",
        unit=task.unit,
        correct=task.correct,
    )
    if fitted is None:
        return None
    card = {
        **task.card,
        "best_epoch": fitted.best_epoch,  # with refit (best None): the last epoch
        **({"val": fitted.best_scores} if task.best is not None else {}),
        "train_params": asdict(mcfg),
        # evaluate and the predictor both run fp32, so serving answers what evaluate scored on any CPU
        "runtime": {**setup.runtime(), "inference_precision": "fp32"},
    }
    save_outputs(fitted, card, folder / model_file(name), folder / card_file(name), folder / history_file(name))
    checkpoint.clear()
    kept = "best epoch" if task.best is not None else "last epoch (train + val)"
    print(f"train {name}: {kept} {fitted.best_epoch} -> {folder / model_file(name)}", file=sys.stderr)
    return card
