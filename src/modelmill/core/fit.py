"""The one training loop of every torch line, around torchkit's `train_one_epoch`.

A line gives its model, data, loss and a `validate` that scores the model on val; `fit` runs
the epochs and keeps the history (one row an epoch, for `dvc plots`), the best epoch by the
metric the line names, and a checkpoint after every epoch, so a run killed part-way resumes
after its last complete epoch and ends with the same bytes as an uninterrupted one. Under
torchrun every rank trains its shard of each batch and rank 0 alone validates, keeps the best
weights, checkpoints and returns what the stage writes.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from . import distributed, recipe
from .checkpoint import Checkpoint, fingerprint, inputs_digest, location, restore_rng, rng_state
from .cli import UserError
from .config import RunRequest
from .distributed import Group
from .hardware import Placement, check_placement
from .io import write_csv, write_json
from .torchkit import Augment, Run, save_weights, set_threads, train_one_epoch

DIGITS = 6  # history and card values are rounded to this many decimals


@dataclass(frozen=True)
class Setup:
    """Where a training runs: the device and precision, this process's rank and its threads."""

    placement: Placement
    group: Group
    threads: int
    checkpoint_uri: str = ""  # empty: each line's .checkpoints/ folder

    def announce(self, log: str, what: str) -> None:
        """Rank 0 says what trains, and where, before the first epoch."""
        if self.group.is_main:
            p = self.placement
            print(
                f"{log}: {what} | {p.name} ({p.device.type}), {p.precision} ({p.reason}), "
                f"{self.group.world} process(es) x {self.threads} thread(s)",
                file=sys.stderr,
            )

    def checkpoint(self, path: Path, params: dict, inputs: list[Path]) -> Checkpoint:
        """This run's checkpoint, keyed by its params, its number of ranks and its input files:
        `path`, or its name under the section's checkpoint_uri. With several processes, every
        node must hold that same recipe (and commit): the first that does not stops them all."""
        data = inputs_digest(inputs)
        recipe.agree(self.group, params, data)
        return Checkpoint(location(path, self.checkpoint_uri), fingerprint({**params, "world": self.group.world}, data))

    def runtime(self) -> dict:
        """What ran, for the model card."""
        return {
            "device": self.placement.device.type,
            "device_name": self.placement.name,
            "precision": self.placement.precision,
            "precision_reason": self.placement.reason,
            "threads": self.threads,
            "processes": self.group.world,
            "nodes": self.group.world // self.group.local_world,
        }


def set_up(cfg: RunRequest, *, min_side: int | None, sync_batchnorm: bool = False) -> Setup:
    """Place the run (a request this machine cannot honour fails here, before any work), join
    torchrun's group when there is one, size the threads and seed torch. `min_side`: the smallest
    image side trained at (the CPU bf16 floor)."""
    placement = check_placement(cfg.device, cfg.precision, cfg.processes, sync_batchnorm, min_side)
    group = distributed.join(placement.device, cfg.peer_timeout)
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    return Setup(placement, group, threads, cfg.checkpoint_uri)


def one_cycle(
    optimizer: torch.optim.Optimizer,
    lr: float,
    total_steps: int,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> torch.optim.lr_scheduler.LRScheduler:
    """A one-cycle schedule peaking at `lr` (warm-up a quarter of the steps, at least two), or a
    constant rate when fewer than 4 steps cannot hold a warm-up and a decay."""
    if total_steps < 4:
        return constant(optimizer)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=lr,
        total_steps=total_steps,
        pct_start=max(0.25, 2 / total_steps),
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )


def constant(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


@dataclass(frozen=True)
class Best:
    """Which epoch is kept: the one with the best `metric` (a key of what validate returns), or
    with `metric` None the last one (a refit on train + val, where val can no longer pick one)."""

    metric: str | None
    higher_is_better: bool = True

    def improves(self, scores: dict[str, float], best: dict[str, float] | None) -> bool:
        if best is None or self.metric is None:
            return True
        new, old = scores[self.metric], best[self.metric]
        return new > old if self.higher_is_better else new < old


@dataclass(frozen=True)
class EpochPlan:
    """What may change from one epoch to the next (progressive resizing, say)."""

    preprocess: Callable[[torch.Tensor], torch.Tensor]
    columns: dict = field(default_factory=dict)  # extra history columns, e.g. the input size
    note: str = ""  # said after "epoch e/n" in the log


@dataclass
class Fitted:
    """What rank 0 keeps from a training: every epoch's row and the best epoch's weights."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_scores: dict[str, float] | None = None  # validate's scores at the best epoch, rounded
    best_state: dict[str, torch.Tensor] | None = None


def fit(
    run: Run,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    plan: Callable[[int], EpochPlan],
    augment: Augment | None,
    validate: Callable[[nn.Module], dict[str, float]],
    best: Best,
    checkpoint: Checkpoint,
    log: str = "train",
    unit: str = "img",
    correct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    timed: bool = False,
) -> Fitted | None:
    """Train `model` (wrapped for DDP in `run.model`) for `epochs` epochs, resuming from
    `checkpoint` when it holds this very run; rank 0 returns what it kept, other ranks None.

    `validate(model)` scores the bare model on val (its weight average, when `run.average` keeps
    one: then that is what the best epoch keeps); `correct` counts the training batch's
    correct answers (a classifier's training accuracy). `timed`: the history holds each epoch's
    seconds (then it differs between otherwise byte-identical reruns); the log always says them."""
    group = run.group
    try:
        fitted = resume(checkpoint, run, model)
        if fitted.history and group.is_main:
            print(f"{log}: resuming after epoch {len(fitted.history)}", file=sys.stderr)
        for epoch in range(len(fitted.history) + 1, epochs + 1):
            start = time.perf_counter()
            step = plan(epoch)
            loss, accuracy = train_one_epoch(
                run,
                x,
                y,
                batch_size=batch_size,
                augment=augment,
                preprocess=step.preprocess,
                desc=f"epoch {epoch}/{epochs}{step.note}",
                unit=unit,
                correct=correct,
            )
            if not math.isfinite(loss):
                raise UserError(f"{log}: the training loss became {loss} in epoch {epoch}; lower the learning rate")
            if not group.is_main:
                # Rank 0 alone validates, keeps the best epoch and writes; the others wait for it
                # here, for as long as it lives, not in a collective bounded by peer_timeout.
                group.wait_for_main(f"epoch-{epoch}")
                continue
            scored = run.average.averaged if run.average is not None else model  # the weights the stage would save
            started = time.perf_counter()
            scores = {k: round(float(v), DIGITS) for k, v in validate(scored).items()}
            validation = time.perf_counter() - started
            row = epoch_row(epoch, step, loss, accuracy, scores, run.optimizer.param_groups[0]["lr"])
            seconds = round(time.perf_counter() - start, 2)
            keep(fitted, {**row, "seconds": seconds} if timed else row, scores, scored, best)
            save(checkpoint, run, model, fitted)
            group.release(f"epoch-{epoch}")
            # Printed once the epoch is saved: a run stopped after this line resumes after this epoch.
            print(
                f"{log}: epoch {epoch}/{epochs}{step.note} {describe(row)} | {seconds:.0f}s (val {validation:.1f}s)",
                file=sys.stderr,
            )
    except (RuntimeError, dist.DistError) as exc:
        if group.liveness is None:
            raise
        raise group.liveness.stopped(exc) from None
    distributed.leave(group)
    if not group.is_main:
        return None
    assert fitted.best_state is not None  # epochs >= 1 (every line's params), so an epoch ran
    return fitted


def epoch_row(
    epoch: int, step: EpochPlan, loss: float, accuracy: float | None, scores: dict[str, float], lr: float
) -> dict:
    """One history row: the epoch, the plan's columns, the training loss (and accuracy), the val scores, the rate."""
    return {
        "epoch": epoch,
        **step.columns,
        "train_loss": round(loss, DIGITS),
        **({"train_accuracy": round(accuracy, DIGITS)} if accuracy is not None else {}),
        **{f"val_{k}": v for k, v in scores.items()},
        "lr": round(lr, 8),
    }


def keep(fitted: Fitted, row: dict, scores: dict[str, float], model: nn.Module, best: Best) -> None:
    fitted.history.append(row)
    if best.improves(scores, fitted.best_scores):
        fitted.best_epoch, fitted.best_scores = row["epoch"], scores
        fitted.best_state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def describe(row: dict) -> str:
    train = f"loss {row['train_loss']:.4f}" + (f" acc {row['train_accuracy']:.4f}" if "train_accuracy" in row else "")
    val = ", ".join(f"{k[4:]} {v:.4f}" for k, v in row.items() if k.startswith("val_"))
    return f"{train} | val {val}" if val else train  # no val scores: a refit on train + val


def save(checkpoint: Checkpoint, run: Run, model: nn.Module, fitted: Fitted) -> None:
    checkpoint.save(
        {
            "model": model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "schedule": run.schedule.state_dict(),
            "rng": rng_state(run.generator),
            "average": run.average.state_dict() if run.average is not None else None,
            "history": fitted.history,
            "best_epoch": fitted.best_epoch,
            "best_scores": fitted.best_scores,
            "best_state": fitted.best_state,
        }
    )


def resume(checkpoint: Checkpoint, run: Run, model: nn.Module) -> Fitted:
    """The last complete epoch of this very run, restored if the checkpoint holds one. Rank 0
    reads it (a file here, or S3) and hands every other rank what it needs to go on in lockstep:
    a node that joins, or replaces a lost one, needs no copy of its own."""
    group = run.group
    state = checkpoint.load() if group.is_main else None
    if group.world > 1:
        if group.is_main:
            group.release("resume")
        else:
            group.wait_for_main("resume")
        shared = [None if state is None else {k: v for k, v in state.items() if k != "best_state"}]
        dist.broadcast_object_list(shared, src=0)
        if not group.is_main:
            state = shared[0]
    if state is None:
        return Fitted()
    model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    restore_rng(state["rng"], run.generator)
    if run.average is not None:
        run.average.load_state_dict(state["average"])
    return Fitted(state["history"], state["best_epoch"], state["best_scores"], state.get("best_state"))


def save_outputs(
    fitted: Fitted, card: dict, model_out: str | Path, card_out: str | Path, history_out: str | Path
) -> None:
    """The best weights, the card and the history, each appearing complete or not at all: a run
    killed here leaves no partial model."""
    assert fitted.best_state is not None
    save_weights(fitted.best_state, model_out)
    write_json(card_out, card)
    write_csv(history_out, fitted.history)
