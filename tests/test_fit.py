"""The one training loop every torch line uses (core/fit.py), on a tiny regression: best epoch,
resume after an interruption, and a loss that blows up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelmill.core.checkpoint import Checkpoint
from modelmill.core.cli import UserError
from modelmill.core.fit import Best, EpochPlan, Fitted, constant, fit, one_cycle
from modelmill.core.torchkit import Run

X = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0])


def run_fit(checkpoint: Checkpoint, epochs: int = 4, lr: float = 0.05, stop_after: int | None = None) -> Fitted:
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    schedule = one_cycle(optimizer, lr, epochs * 4) if lr < 1 else constant(optimizer)
    run = Run(model, optimizer, schedule, nn.MSELoss(), torch.Generator().manual_seed(1))
    validated = []

    def validate(net: nn.Module) -> dict[str, float]:
        if len(validated) == stop_after:
            raise KeyboardInterrupt  # stopped after `stop_after` complete epochs, as a killed run is
        validated.append(1)
        with torch.no_grad():
            return {"rmse": float(((net(X).squeeze(1) - Y) ** 2).mean().sqrt())}

    fitted = fit(
        run,
        model,
        X,
        Y.unsqueeze(1),
        epochs=epochs,
        batch_size=16,
        plan=lambda epoch: EpochPlan(lambda batch: batch),
        augment=None,
        validate=validate,
        best=Best("rmse", higher_is_better=False),
        checkpoint=checkpoint,
        log="train tiny",
        unit="row",
    )
    assert fitted is not None
    return fitted


def test_the_best_epoch_is_the_lowest_score_when_lower_is_better(tmp_path):
    fitted = run_fit(Checkpoint(tmp_path / "c.pt", "run"))
    scores = [row["val_rmse"] for row in fitted.history]
    assert [row["epoch"] for row in fitted.history] == [1, 2, 3, 4]
    assert fitted.best_epoch == 1 + scores.index(min(scores)) and fitted.best_scores == {"rmse": min(scores)}
    assert set(fitted.history[0]) == {"epoch", "train_loss", "val_rmse", "lr"}


def test_an_interrupted_fit_resumes_to_the_same_weights_and_history(tmp_path, capsys):
    whole = run_fit(Checkpoint(tmp_path / "whole.pt", "run"))
    checkpoint = Checkpoint(tmp_path / "stopped.pt", "run")
    with pytest.raises(KeyboardInterrupt):
        run_fit(checkpoint, stop_after=2)
    resumed = run_fit(checkpoint)
    assert "train tiny: resuming after epoch 2" in capsys.readouterr().err
    assert resumed.history == whole.history and resumed.best_epoch == whole.best_epoch
    assert resumed.best_state is not None and whole.best_state is not None
    assert all(torch.equal(resumed.best_state[k], whole.best_state[k]) for k in whole.best_state)


def test_a_loss_that_blows_up_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"train tiny: the training loss became (nan|inf) in epoch \d+; lower"):
        run_fit(Checkpoint(tmp_path / "c.pt", "run"), lr=1e30)
