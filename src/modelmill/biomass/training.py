"""The train stage's work (train.py runs it): a ResNet regressor on the prepared photos,
keeping the best epoch by val RMSE.

AdamW with a one-cycle schedule, MSE or Huber on the standardized (log1p) target, flips,
90-degree turns and colour jitter. Photos stay uint8 tensors in memory (decoded once by
verify); the loop is the core's (core/fit.py: per-epoch checkpoint and resume, torchrun
ranks). Writes models/biomass_model.pt (a plain state_dict), models/card.json (what is needed
to use it, the params and the git commit) and metrics/train_history.csv (per-epoch curves for
`dvc plots`).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from ..core import distributed
from ..core.checkpoint import CHECKPOINT_DIR
from ..core.cli import UserError
from ..core.fit import Best, EpochPlan, Fitted, Setup, fit, one_cycle, save_outputs, set_up
from ..core.io import read_json
from ..core.torchkit import Run
from ..core.vision import Preprocess
from .card import ModelCard, git_commit
from .data import load_arrays
from .model import INFERENCE_PRECISION, MEAN, STD, Target, build_model, predict_target, preprocess, views
from .params import TrainConfig
from .paths import DATA_REPORT, HISTORY_FILE, MODEL_CARD, MODEL_FILE, PREPARED_DIR
from .scoring import regression_metrics
from .transforms import augment

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
    checkpoint_dir: str | Path = CHECKPOINT_DIR,
) -> ModelCard | None:
    """Train, resuming from this run's checkpoint if one is there; rank 0 writes the outputs
    and returns the card (other ranks of a data-parallel run return None)."""
    setup = set_up(cfg, min_side=cfg.input_size)
    device = setup.placement.device
    train_set, val_set = load_arrays(prepared, "train"), load_arrays(prepared, "val")
    if len(train_set["y"]) == 0 or len(val_set["y"]) == 0:
        raise UserError("the train and val splits must both hold photos; check the split fractions")
    x_train, grams_train = torch.from_numpy(train_set["x"]), torch.from_numpy(train_set["y"])
    x_val, grams_val = torch.from_numpy(val_set["x"]), torch.from_numpy(val_set["y"])
    target = Target.fit(grams_train, cfg.log_target)
    y_train = target.encode(grams_train)
    if device.type == "cuda":
        x_train, y_train = x_train.to(device), y_train.to(device)
    model, run = make_run(cfg, setup, len(x_train))
    pre = preprocess(cfg.input_size, device)
    setup.announce(
        "train",
        f"{cfg.arch} ({cfg.pretrained} init, backbone {'frozen' if cfg.freeze_backbone else 'trained'}) "
        f"on {len(x_train)} photos, val {len(x_val)}, {cfg.epochs} epochs at {cfg.input_size}px",
    )

    checkpoint = setup.checkpoint(
        Path(checkpoint_dir) / "biomass-train.pt", asdict(cfg), [Path(prepared), Path(data_report)]
    )
    fitted = fit(
        run,
        model,
        x_train,
        y_train,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        plan=lambda epoch: EpochPlan(pre),
        augment=lambda batch, targets, gen: augment(
            batch, targets, gen, flip=cfg.flip, rotate=cfg.rotate, jitter=cfg.color_jitter
        ),
        validate=lambda net: val_scores(net, run, x_val, grams_val, target, pre, cfg.batch_size, views(cfg.tta)),
        best=Best("rmse_g", higher_is_better=False),
        checkpoint=checkpoint,
        unit="photo",
    )
    if fitted is None:
        return None
    card = make_card(cfg, fitted, setup, target, grams_train, read_json(data_report, "verify")["image_size"])
    card = replace(card, artifacts=artifacts(model_out, card_out, history_out, prepared))
    save_outputs(fitted, asdict(card), model_out, card_out, history_out)
    checkpoint.clear()
    print(f"train: best epoch {card.best_epoch} (val RMSE {card.val_rmse_g:.4f} g) -> {model_out}", file=sys.stderr)
    return card


def make_run(cfg: TrainConfig, setup: Setup, train_images: int) -> tuple[nn.Module, Run]:
    """The model (bare, as validate and the saved weights see it) and the run training it."""
    device = setup.placement.device
    model = build_model(cfg.arch, cfg.hidden, cfg.dropout, cfg.pretrained, cfg.freeze_backbone).to(device)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    run = Run(
        distributed.wrap(model, setup.group, device, sync_batchnorm=False),
        optimizer,
        one_cycle(optimizer, cfg.lr, cfg.epochs * -(-train_images // cfg.batch_size)),
        make_criterion(cfg),
        torch.Generator().manual_seed(cfg.seed),
        setup.placement.precision,
        setup.group,
    )
    return model, run


def val_scores(
    model: nn.Module,
    run: Run,
    x: torch.Tensor,
    grams: torch.Tensor,
    target: Target,
    pre: Preprocess,
    batch_size: int,
    n_views: int = 1,
) -> dict[str, float]:
    """The val loss (on the standardized target) and RMSE in grams, which picks the best epoch;
    scored as evaluate scores (`n_views`: train.tta), in the training's precision."""
    z = predict_target(model, x, pre, max(batch_size, 256), run.precision, n_views)
    rmse = regression_metrics(grams.double(), target.decode(z))["rmse_g"]
    return {"loss": float(run.criterion(z, target.encode(grams))), "rmse_g": rmse}


def artifacts(model_out: str | Path, card_out: str | Path, history_out: str | Path, prepared: str | Path) -> dict:
    return {"model": str(model_out), "card": str(card_out), "history": str(history_out), "prepared": str(prepared)}


def make_card(
    cfg: TrainConfig, fitted: Fitted, setup: Setup, target: Target, grams_train: torch.Tensor, image_size: int
) -> ModelCard:
    assert fitted.best_scores is not None
    return ModelCard(
        arch=cfg.arch,
        head=HEAD,
        hidden=cfg.hidden,
        image_size=int(image_size),
        input_size=cfg.input_size,
        normalization={"mean": list(MEAN), "std": list(STD)},
        target=asdict(target),
        train_mean_g=round(float(grams_train.double().mean()), 8),
        best_epoch=fitted.best_epoch,
        val_rmse_g=fitted.best_scores["rmse_g"],
        train_images=len(grams_train),
        train_params=asdict(cfg),
        git_commit=git_commit(),
        artifacts={},
        runtime={**setup.runtime(), "inference_precision": INFERENCE_PRECISION},
    )
