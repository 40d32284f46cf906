"""The one training loop every torch line uses (core/fit.py), on a tiny regression: best epoch,
resume after an interruption, and a loss that blows up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelmill.core.averaging import WeightAverage
from modelmill.core.checkpoint import Checkpoint
from modelmill.core.cli import UserError
from modelmill.core.fit import Best, EpochPlan, Fitted, constant, fit, one_cycle
from modelmill.core.torchkit import Run

X = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0])


def run_fit(
    checkpoint: Checkpoint, epochs: int = 4, lr: float = 0.05, stop_after: int | None = None, ema: float = 0.0
) -> Fitted:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    schedule = one_cycle(optimizer, lr, epochs * 4) if lr < 1 else constant(optimizer)
    average = WeightAverage(model, ema) if ema else None
    run = Run(model, optimizer, schedule, nn.MSELoss(), torch.Generator().manual_seed(1), average=average)
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


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_an_interrupted_fit_resumes_to_the_same_weights_and_history(tmp_path, capsys, ema):
    whole = run_fit(Checkpoint(tmp_path / "whole.pt", "run"), ema=ema)
    checkpoint = Checkpoint(tmp_path / "stopped.pt", "run")
    with pytest.raises(KeyboardInterrupt):
        run_fit(checkpoint, stop_after=2, ema=ema)
    resumed = run_fit(checkpoint, ema=ema)
    assert "train tiny: resuming after epoch 2" in capsys.readouterr().err
    assert resumed.history == whole.history and resumed.best_epoch == whole.best_epoch
    assert resumed.best_state is not None and whole.best_state is not None
    assert all(torch.equal(resumed.best_state[k], whole.best_state[k]) for k in whole.best_state)


def test_a_loss_that_blows_up_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"train tiny: the training loss became (nan|inf) in epoch \d+; lower"):
        run_fit(Checkpoint(tmp_path / "c.pt", "run"), lr=1e30)


def test_with_a_weight_average_the_average_is_scored_and_kept(tmp_path):
    plain, averaged = (run_fit(Checkpoint(tmp_path / f"{ema}.pt", "run"), epochs=3, ema=ema) for ema in (0.0, 0.8))
    # The same trajectory (the average never feeds back into training), scored through other weights.
    assert [row["train_loss"] for row in averaged.history] == [row["train_loss"] for row in plain.history]
    assert [row["val_rmse"] for row in averaged.history] != [row["val_rmse"] for row in plain.history]
    assert averaged.best_state is not None and plain.best_state is not None
    assert averaged.best_state.keys() == plain.best_state.keys()
    assert not torch.equal(averaged.best_state["0.weight"], plain.best_state["0.weight"])


def test_the_weight_average_is_the_normalised_exponential_average_of_the_steps():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    average = WeightAverage(model, decay=0.9)
    seen: list[dict[str, torch.Tensor]] = []  # the weights after each step, never the initial ones
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(40):
        model(torch.randn(8, 3)).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        average.update()
        seen.append({k: v.clone().double() for k, v in model.state_dict().items()})
    ages = torch.arange(len(seen) - 1, -1, -1, dtype=torch.float64)
    weights = 0.9**ages / (0.9**ages).sum()
    got = average.averaged.state_dict()
    for key, value in got.items():
        if value.is_floating_point():
            expected = sum(w * step[key] for w, step in zip(weights, seen, strict=True))
            assert torch.allclose(value.double(), expected, atol=1e-6), key
    assert got["1.num_batches_tracked"] == 40  # counters are copied, not averaged
    assert all(not p.requires_grad for p in average.averaged.parameters())


def test_a_weight_average_restored_from_its_state_continues_alike():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    first, second = WeightAverage(model, 0.95), WeightAverage(model, 0.95)
    for _ in range(5):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        first.update()
    second.load_state_dict(first.state_dict())
    with torch.no_grad():
        model.weight.add_(1.0)
    first.update()
    second.update()
    assert torch.equal(first.averaged.weight, second.averaged.weight)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_weight_average_needs_a_decay_between_0_and_1(decay):
    with pytest.raises(ValueError, match="decay must lie in"):
        WeightAverage(nn.Linear(2, 2), decay)


def test_best_without_a_metric_keeps_the_last_epoch():
    best = Best(None)
    assert best.improves({"rmse": 1.0}, None) and best.improves({}, {}) and best.improves({"rmse": 9.0}, {"rmse": 1.0})
