"""train.change.refit: the change detector (and its ceiling) trained on the train and val pairs
together, the last epoch kept, val not scored; without it, train only and the best val epoch."""

import csv
import dataclasses

import numpy as np
import pytest
import torch
from seaice_helpers import write_line_params

from modelmill.core.io import read_json
from modelmill.seaice import training
from modelmill.seaice.data import load_set
from modelmill.seaice.generate import make_daily
from modelmill.seaice.params import load_params
from modelmill.seaice.paths import CEILING, card_file, history_file, model_file
from modelmill.seaice.split import split_days


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    """A tiny line folder after generate and split."""
    folder = tmp_path_factory.mktemp("seaice-refit")
    params = load_params(write_line_params(folder, {"train.change.threads": 1}))
    make_daily(params.data, folder / "data/daily.npz")
    split_days(params.split, *(folder / p for p in ("data/daily.npz", "data/split.json", "data/sets", "data.json")))
    return folder, params


def train(line, monkeypatch, name: str, refit: bool, epochs: int = 2):
    """Train `name` in the line folder; returns its card, its history and the model as the last epoch left it."""
    folder, params = line
    cfg = dataclasses.replace(params.train, change=dataclasses.replace(params.train.change, refit=refit, epochs=epochs))
    tasks = []
    build = training.TASKS[name]

    def keep_task(*args, **kwargs):
        tasks.append(build(*args, **kwargs))
        return tasks[-1]

    monkeypatch.setitem(training.TASKS, name, keep_task)
    card = training.train_model(name, cfg, folder)
    with open(folder / history_file(name)) as f:
        history = list(csv.DictReader(f))
    return card, history, tasks[0]


@pytest.mark.parametrize("name", ["change", CEILING])
def test_refit_trains_on_train_and_val_and_keeps_the_last_epoch(line, monkeypatch, name):
    folder, _ = line
    card, history, task = train(line, monkeypatch, name, refit=True)
    pairs = len(load_set("change", "train", folder / "data/sets")["change"])
    pairs += len(load_set("change", "val", folder / "data/sets")["change"])
    assert len(task.x_train) == len(task.y_train) == pairs and task.best is None
    assert card["trained_on"] == "train+val" and card["epoch_kept"].startswith("last")
    assert card["best_epoch"] == 2 and "val" not in card and card["train_params"]["refit"] is True
    assert read_json(folder / card_file(name), name) == card
    assert [row["epoch"] for row in history] == ["1", "2"] and not any(k.startswith("val_") for k in history[0])
    saved = torch.load(folder / model_file(name), weights_only=True)
    last = task.model.state_dict()  # the model as the last epoch left it
    assert saved.keys() == last.keys() and all(torch.equal(saved[k], last[k].cpu()) for k in saved)


def test_without_refit_the_detector_learns_from_train_and_keeps_the_best_val_epoch(line, monkeypatch):
    folder, _ = line
    card, history, task = train(line, monkeypatch, "change", refit=False)
    assert len(task.x_train) == len(load_set("change", "train", folder / "data/sets")["change"])
    assert card["trained_on"] == "train" and card["epoch_kept"] == "best val IoU"
    ious = [float(row["val_iou"]) for row in history]
    assert card["best_epoch"] == 1 + int(np.argmax(ious)) and card["val"]["iou"] == max(ious)
