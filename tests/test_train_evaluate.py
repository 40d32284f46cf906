import csv
import dataclasses
import json
import pickle

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN, assert_one_line_error, run_module, write_params
from torchvision.models import get_model_weights

from modelmill.core.cli import UserError
from modelmill.core.hardware import cpu_bf16_supported
from modelmill.core.torchkit import load_weights
from modelmill.core.vision import Preprocess
from modelmill.landcover.card import ModelCard
from modelmill.landcover.data import load_tensors
from modelmill.landcover.evaluation import class_scores, evaluate
from modelmill.landcover.model import build_model, load_model
from modelmill.landcover.params import load_params
from modelmill.landcover.training import epoch_input_size, scores, train
from modelmill.landcover.transforms import augment, shift
from modelmill.landcover.verify import verify

TINY = {k.replace(".", "__"): v for k, v in TINY_TRAIN.items()}


@pytest.fixture(scope="module")
def prepared(synthetic_zip, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    cfg = load_params(write_params(out / "params.yaml", {})).data
    verify(cfg, synthetic_zip, out / "prepared", out / "data.json")
    return out / "prepared"


def run_training(make_params, prepared, out, **overrides):
    params = make_params(**{**TINY, **overrides})
    card = train(params.train, prepared, out / "model.pt", out / "model.json", out / "history.csv", out / "checkpoints")
    metrics = evaluate(
        params.evaluate, prepared, out / "model.pt", out / "model.json", out / "metrics.json", out / "predictions.csv"
    )
    return card, metrics


@pytest.mark.e2e  # trains: seconds to minutes
def test_training_learns_and_writes_everything(make_params, prepared, tmp_path):
    card, metrics = run_training(make_params, prepared, tmp_path, train__epochs=4, evaluate__tta=True)
    assert metrics["accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert set(metrics) >= {"accuracy", "macro_f1", "loss", "per_class"}
    n_test = len(load_tensors(prepared, "test")[1])
    assert sum(c["support"] for c in metrics["per_class"].values()) == n_test
    with open(tmp_path / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in history] == [1, 2, 3, 4]
    assert set(history[0]) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "input_size"}
    best = max(history, key=lambda row: float(row["val_accuracy"]))
    assert card.best_epoch == int(best["epoch"])
    predictions = (tmp_path / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == n_test + 1
    state = load_weights(tmp_path / "model.pt")
    assert isinstance(state, dict) and state["fc.weight"].shape == (10, 512)


def test_bf16_channels_last_and_frozen_backbone_run(make_params, prepared, tmp_path):
    """bf16 where this CPU has it (else fp32: asking for bf16 there is refused, tested in test_scaling)."""
    precision = "bf16" if cpu_bf16_supported() else "fp32"
    card, metrics = run_training(
        make_params,
        prepared,
        tmp_path,
        train__epochs=1,
        train__precision=precision,
        train__channels_last=True,
        train__freeze_backbone=True,
        train__optimizer="adamw",
        train__schedule="cosine",
        train__input_size=48,
    )
    assert 0 <= metrics["accuracy"] <= 1
    assert card.precision == precision


@pytest.mark.e2e  # trains: seconds to minutes
def test_a_whitened_stem_and_a_weight_average_train_and_are_what_is_saved(make_params, prepared, tmp_path):
    card, metrics = run_training(make_params, prepared, tmp_path, train__whiten_stem=True, train__ema=0.9)
    assert 0 <= metrics["accuracy"] <= 1
    assert card.train_params["whiten_stem"] is True and card.train_params["ema"] == 0.9
    # The saved weights are the ones validated (the average): they score the card's val loss again.
    model = load_model(tmp_path / "model.pt", card.arch, card.classes)
    x_val, y_val = load_tensors(prepared, "val")
    pre = Preprocess(card.mean, card.std, input_size=card.input_size)
    assert scores(model, x_val, y_val, pre, card.precision, 64)["loss"] == pytest.approx(card.val_loss, abs=1e-5)


@pytest.mark.e2e  # trains: seconds to minutes
def test_progressive_resizing_grows_to_the_input_size(make_params, prepared, tmp_path):
    cfg = make_params(
        train__epochs=6, train__progressive_epochs=4, train__progressive_min_size=32, train__progressive_step=8
    ).train
    assert [epoch_input_size(cfg, e) for e in range(1, 7)] == [32, 40, 48, 56, 64, 64]
    run_training(make_params, prepared, tmp_path, train__epochs=2, train__progressive_epochs=1, train__input_size=64)
    with open(tmp_path / "history.csv") as f:
        assert [int(row["input_size"]) for row in csv.DictReader(f)] == [32, 64]


def test_progressive_sizes_share_the_progressive_epochs_equally(make_params):
    cfg = make_params(train__epochs=8, train__progressive_epochs=6, train__progressive_step=32).train
    assert [epoch_input_size(cfg, e) for e in range(1, 9)] == [32] * 6 + [64] * 2
    cfg = make_params(train__input_size=96, train__epochs=17, train__progressive_epochs=14).train
    assert [epoch_input_size(cfg, e) for e in range(1, 18)] == [32] * 7 + [64] * 7 + [96] * 3
    cfg = make_params(train__progressive_min_size=40, train__progressive_step=32).train
    assert epoch_input_size(cfg, 1) == 40  # never below the smallest size asked for
    cfg = make_params(train__progressive_min_size=64, train__progressive_epochs=3).train
    assert epoch_input_size(cfg, 1) == 64  # no size below input_size: nothing to grow from


def test_progressive_epochs_must_leave_full_size_epochs(make_params):
    with pytest.raises(UserError, match="train.progressive_epochs \\(5\\) must be below train.epochs \\(5\\)"):
        make_params(train__epochs=5, train__progressive_epochs=5)


def test_every_progressive_size_gets_an_epoch(make_params):
    with pytest.raises(UserError, match="train.progressive_epochs \\(3\\) leaves some of the 4 progressive sizes"):
        make_params(train__epochs=6, train__progressive_epochs=3, train__progressive_step=8)


def test_augment_only_moves_pixels():
    batch = torch.randint(0, 255, (16, 64, 64, 3), dtype=torch.uint8)
    out = augment(batch.clone(), torch.Generator().manual_seed(0))
    assert out.shape == batch.shape
    for a, b in zip(out, batch):
        assert torch.equal(a.flatten().sort().values, b.flatten().sort().values)
    assert not torch.equal(out, batch)


def test_shift_matches_a_crop_of_the_mirror_padded_tile():
    batch = torch.randint(0, 255, (5, 12, 12, 3), dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [3, -2], [-4, 4], [-1, 0], [2, 3]])
    out = shift(batch, offsets)
    padded = np.pad(batch.numpy(), ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    for i, (dy, dx) in enumerate(offsets.tolist()):
        assert np.array_equal(out[i].numpy(), padded[i, 4 + dy : 4 + dy + 12, 4 + dx : 4 + dx + 12])
    assert torch.equal(out[0], batch[0])


def test_augment_with_translate_keeps_shape_and_dtype():
    batch = torch.randint(0, 255, (16, 64, 64, 3), dtype=torch.uint8)
    out = augment(batch.clone(), torch.Generator().manual_seed(0), translate=4)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    assert not torch.equal(out, batch)


def test_class_scores_by_hand():
    y_true = torch.tensor([0, 0, 1, 1, 2])
    y_pred = torch.tensor([0, 1, 1, 1, 0])
    report = class_scores(y_true, y_pred, ["a", "b", "c"])
    assert report["accuracy"] == 0.6
    assert report["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_class"]["b"]["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx((0.5 + 0.8) / 3, abs=1e-6)


def test_imagenet_weights_from_torch_cache(tmp_path, monkeypatch):
    """A stand-in weights file where torchvision's cache would hold the real one."""
    weights = get_model_weights("resnet18")["IMAGENET1K_V1"]
    reference = build_model("resnet18", 1000)
    stand_in = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in reference.state_dict().items()}
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(stand_in, cache / weights.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = build_model("resnet18", 10, pretrained="imagenet")
    assert torch.all(model.conv1.weight == 0.5)
    assert model.fc.out_features == 10


def test_imagenet_weights_unavailable_is_one_clear_error(tmp_path, prepared):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    write_params(tmp_path / "params.yaml", {**TINY_TRAIN, "train.pretrained": "imagenet"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "prepared").symlink_to(prepared)
    proxy = f"http://127.0.0.1:{closed}"  # stands for "offline" without leaving loopback
    result = run_module(
        "modelmill.landcover.train",
        tmp_path,
        env={"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": proxy, "HTTPS_PROXY": proxy},
    )
    assert_one_line_error(result, "ImageNet weights for resnet18 could not be loaded", "train.pretrained: none")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_pickle_that_runs_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"fc.weight": Exploit()}))
    with pytest.raises(UserError, match="not a plain weights file and was refused"):
        load_weights(path)
    torch.save({"x": Exploit()}, tmp_path / "evil2.pt")
    with pytest.raises(UserError, match="refused"):
        load_weights(tmp_path / "evil2.pt")


def test_train_without_prepared_data_says_what_to_run(tmp_path):
    write_params(tmp_path / "params.yaml", TINY_TRAIN)
    assert_one_line_error(run_module("modelmill.landcover.train", tmp_path), "run the verify stage first")


def test_evaluate_without_model_says_what_to_run(tmp_path):
    write_params(tmp_path / "params.yaml", TINY_TRAIN)
    assert_one_line_error(run_module("modelmill.landcover.evaluate", tmp_path), "run the train stage first")


def test_model_card_holds_what_is_needed_to_use_the_model(make_params, prepared, tmp_path):
    card, _ = run_training(make_params, prepared, tmp_path, train__epochs=1)
    on_disk = json.loads((tmp_path / "model.json").read_text())
    assert on_disk == dataclasses.asdict(card)
    assert ModelCard.read(tmp_path / "model.json") == card
    assert on_disk["classes"][0] == "AnnualCrop" and on_disk["input_size"] == TINY_TRAIN["train.input_size"]
    assert len(on_disk["mean"]) == len(on_disk["std"]) == 3


def test_a_whitened_stem_needs_training_from_scratch(make_params):
    with pytest.raises(UserError, match="train.whiten_stem .* needs train.pretrained: none"):
        make_params(train__whiten_stem=True, train__pretrained="imagenet")
