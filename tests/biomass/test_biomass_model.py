"""The biomass line's network, train, evaluate and predictor, in-process on a tiny prepared set."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
from biomass_support import write_params
from conftest import assert_one_line_error, run_module
from PIL import Image
from torchvision.models import get_model_weights

from modelmill.biomass import evaluation as evaluate_stage
from modelmill.biomass import generate as generate_stage
from modelmill.biomass import training as train_stage
from modelmill.biomass import verify as verify_stage
from modelmill.biomass.artifact import describe
from modelmill.biomass.card import ModelCard
from modelmill.biomass.model import TTA_VIEWS, Target, build_model, predict_target, preprocess
from modelmill.biomass.params import load_params
from modelmill.biomass.predictor import load as load_predictor
from modelmill.biomass.scoring import FLOOR_KEYS
from modelmill.biomass.sheet import TRUTH_NAME
from modelmill.biomass.synthetic import grams_from_share
from modelmill.biomass.transforms import augment
from modelmill.core.io import flatten
from modelmill.registry.compare import differences
from modelmill.registry.listing import headline_metrics
from modelmill.summary import headline


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A line folder taken through generate, verify, train and evaluate (tiny sizes)."""
    folder = tmp_path_factory.mktemp("biomass-trained")
    write_params(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        params = load_params()
        generate_stage.generate(params.data)
        verify_stage.verify(params.verify, params.split)
        train_stage.train(params.train)
        evaluate_stage.evaluate(params)
    return folder


def test_train_and_evaluate_write_every_output(trained):
    card = ModelCard.read(trained / "models/card.json")
    assert card.arch == "resnet18" and card.image_size == 16 and card.input_size == 16
    assert len(card.git_commit) == 40 or card.git_commit == "unknown"
    assert card.train_params["epochs"] == 2 and card.artifacts["model"] == "models/biomass_model.pt"
    assert card.target["log1p"] is True
    history = (trained / "metrics/train_history.csv").read_text().splitlines()
    assert history[0] == "epoch,train_loss,val_loss,val_rmse_g,lr" and len(history) == 3
    metrics = json.loads((trained / "metrics/metrics.json").read_text())
    for who in ("model", "baseline_mean"):
        assert set(metrics[who]) == {"mse_g2", "rmse_g", "mae_g", "r2"}
        assert metrics[who]["rmse_g"] == pytest.approx(metrics[who]["mse_g2"] ** 0.5, abs=1e-5)
    assert metrics["baseline_mean"]["r2"] <= 0.0 + 1e-9 or metrics["test_images"] > 0
    by_age = (trained / "metrics/by_age.csv").read_text().splitlines()
    assert by_age[0] == "age_days,images,mean_g,rmse_g,mae_g,baseline_rmse_g"
    assert sum(int(r.split(",")[1]) for r in by_age[1:]) == metrics["test_images"]
    log = json.loads((trained / "metrics/run_log.json").read_text())
    assert log["git_commit"] == card.git_commit and log["params"]["train"]["epochs"] == 2
    assert "models/biomass_model.pt" in log["artifacts"] and "data/prepared/test.npz" in log["artifacts"]
    assert (trained / "metrics/predicted_vs_actual.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_reports_the_floor_on_the_test_photos(trained):
    metrics = json.loads((trained / "metrics/metrics.json").read_text())
    test = np.load(trained / "data/prepared/test.npz")
    read_back = grams_from_share(test["canopy_share"])
    assert metrics["floor_rmse_g"] == pytest.approx(np.sqrt(np.mean((read_back - test["y"]) ** 2)), abs=1e-6)
    assert metrics["floor"]["rmse_g"] == metrics["floor_rmse_g"] and set(metrics["floor"]) == set(metrics["model"])
    model = metrics["model"]["rmse_g"]
    assert metrics["rmse_gap_g"] == pytest.approx(model - metrics["floor_rmse_g"], abs=2e-6)
    assert metrics["rmse_over_floor"] == pytest.approx(model / metrics["floor_rmse_g"], rel=1e-4)
    interval = metrics["rmse_over_floor_ci95"]
    assert interval["resamples"] == 1000 and interval["low"] <= metrics["rmse_over_floor"] <= interval["high"]
    meta = {**describe(trained), "line": "biomass"}
    assert {k: meta["test_metrics"][k] for k in FLOOR_KEYS} == {k: metrics[k] for k in FLOOR_KEYS}
    assert headline_metrics(meta)["rmse_over_floor"] == metrics["rmse_over_floor"]


def test_own_photos_have_no_floor_and_nothing_downstream_minds(trained, tmp_path, monkeypatch):
    """The trained model scored on photos verify split without the generator's truth beside them,
    as it splits a user's archive."""
    shutil.copytree(trained / "data/raw", tmp_path / "data/raw", ignore=shutil.ignore_patterns(TRUTH_NAME))
    shutil.copytree(trained / "models", tmp_path / "models")
    shutil.copy(trained / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    params = load_params()
    verify_stage.verify(params.verify, params.split)
    metrics = evaluate_stage.evaluate(params)
    assert not set(FLOOR_KEYS) & set(metrics), "own data has no floor: its keys are absent, not null or 0"
    synthetic = json.loads((trained / "metrics/metrics.json").read_text())
    assert metrics["model"] == synthetic["model"]  # the same photos, the same model: only the floor went
    meta = {**describe(tmp_path), "line": "biomass", "model_name": "plant-biomass", "version": "v1"}
    assert not set(FLOOR_KEYS) & set(meta["test_metrics"])
    # What reads metrics and metadata downstream takes the absence in its stride: make repro's
    # closing lines, the registry listing's headline metrics (make models, the UI), compare, serving.
    assert not any("floor" in text for text in headline(metrics))
    assert set(headline_metrics(meta)) == {"model.rmse_g", "model.r2", "rmse_ratio_to_baseline"}
    rows = {row["key"]: row for row in differences(flatten(meta), flatten(describe(trained)))}
    assert rows["test_metrics.rmse_over_floor"]["a"] is None
    info = load_predictor(tmp_path / "models/biomass_model.pt", meta).model_info()
    assert info["metrics"]["test"] == meta["test_metrics"]


def test_train_reruns_byte_identical(trained, tmp_path, monkeypatch):
    shutil.copytree(trained / "data", tmp_path / "data")
    shutil.copytree(trained / "metrics", tmp_path / "metrics")
    shutil.copy(trained / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    params = load_params()
    train_stage.train(params.train)
    evaluate_stage.evaluate(params)
    for name in (
        "models/biomass_model.pt",
        "models/card.json",
        "metrics/train_history.csv",
        "metrics/metrics.json",
        "metrics/predictions.csv",
        "metrics/predicted_vs_actual.png",
    ):
        assert (tmp_path / name).read_bytes() == (trained / name).read_bytes(), name


def test_head_is_dropout_linear_relu_linear_and_freezing_trains_only_it():
    model = build_model("resnet18", 256, 0.3, frozen=True)
    kinds = [type(m).__name__ for m in model.net.fc]
    assert kinds == ["Dropout", "Linear", "ReLU", "Linear"] and model.net.fc[1].out_features == 256
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("net.fc.") for n in trainable)
    model.train()
    before = model.net.bn1.running_mean.clone()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2,)
    assert not model.net.bn1.training and model.net.fc.training  # frozen BatchNorm keeps its statistics
    assert torch.equal(model.net.bn1.running_mean, before)


def test_target_scale_round_trips_grams():
    grams = torch.tensor([0.002, 0.1, 0.26, 2.11], dtype=torch.float64)
    for log1p in (True, False):
        t = Target.fit(grams, log1p)
        assert torch.allclose(t.decode(t.encode(grams)), grams, atol=1e-6)


def test_tta_is_the_mean_over_the_eight_views_and_blind_to_them():
    torch.manual_seed(0)
    model = build_model("resnet18", 8, 0.0).eval()
    x = torch.randint(0, 256, (5, 16, 16, 3), dtype=torch.uint8)
    pre = preprocess(16)
    one = predict_target(model, x, pre, 4, "fp32")
    mean = predict_target(model, x, pre, 4, "fp32", TTA_VIEWS)
    assert one.shape == mean.shape == (5,) and not torch.allclose(one, mean)
    for moved in (torch.rot90(x, 1, (1, 2)), x.flip(2), x.transpose(1, 2)):
        turned = predict_target(model, moved.contiguous(), pre, 4, "fp32", TTA_VIEWS)
        torch.testing.assert_close(turned, mean, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="views must be 1 or 8"):
        predict_target(model, x, pre, 4, "fp32", 2)


def test_augment_keeps_shapes_and_targets():
    batch = torch.randint(0, 256, (8, 12, 12, 3), dtype=torch.uint8)
    y = torch.arange(8.0)
    out, targets = augment(batch, y, torch.Generator().manual_seed(0), flip=True, rotate=True, jitter=0.3)
    assert out.shape == batch.shape and torch.equal(targets, y)
    assert float(out.min()) >= 0 and float(out.max()) <= 255
    plain, _ = augment(batch, y, torch.Generator().manual_seed(0), flip=False, rotate=False, jitter=0.0)
    assert torch.equal(plain, batch)


def test_imagenet_weights_from_torch_cache(tmp_path, monkeypatch):
    """A stand-in weights file where torchvision's cache would hold the real one."""
    weights = get_model_weights("resnet18")["IMAGENET1K_V1"]
    reference = build_model("resnet18", 8, 0.0).net
    stand_in = {
        k: torch.full_like(v, 0.5) if v.is_floating_point() else v
        for k, v in reference.state_dict().items()
        if not k.startswith("fc.")
    }
    stand_in.update({"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(stand_in, cache / weights.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = build_model("resnet18", 8, 0.0, pretrained="imagenet", frozen=True)
    assert torch.all(model.net.conv1.weight == 0.5) and model.net.fc[1].out_features == 8


def test_imagenet_weights_unavailable_is_one_line(trained, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    shutil.copytree(trained / "data", tmp_path / "data")
    shutil.copytree(trained / "metrics", tmp_path / "metrics")
    write_params(tmp_path, {"train.pretrained": "imagenet", "train.freeze_backbone": True})
    proxy = f"http://127.0.0.1:{closed}"  # stands for "offline" without leaving loopback
    result = run_module(
        "modelmill.biomass.train",
        tmp_path,
        env={"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": proxy, "HTTPS_PROXY": proxy},
    )
    assert_one_line_error(result, "ImageNet weights for resnet18 could not be loaded", "train.pretrained: none")
    assert not (tmp_path / "models").exists()


def _photo(fmt: str, size: int = 40) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def test_predictor_weighs_png_and_jpeg_as_evaluate_does(trained):
    meta = {**describe(trained), "model_name": "plant-biomass", "version": "v1"}
    predictor = load_predictor(trained / "models/biomass_model.pt", meta)
    for fmt, content_type in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        x = predictor.decode(_photo(fmt), content_type)
        assert x.shape == (1, 16, 16, 3)
        (answer,) = predictor.predict(x)
        assert answer["biomass_g"] >= 0
    test = np.load(trained / "data/prepared/test.npz")
    served = [p["biomass_g"] for p in predictor.predict(torch.from_numpy(test["x"]))]
    written = [float(line.split(",")[3]) for line in (trained / "metrics/predictions.csv").read_text().splitlines()[1:]]
    assert served == pytest.approx(written, abs=2e-6)
    info = predictor.model_info()
    assert info["line"] == "biomass" and info["output"]["biomass_g"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"not an image", "not a decodable image"),
        (b"\x89PNG\r\n\x1a\n broken", "not a decodable image"),
    ],
)
def test_predictor_refuses_bad_bodies_with_a_message(trained, body, fragment):
    meta = {**describe(trained), "model_name": "plant-biomass", "version": "v1"}
    predictor = load_predictor(trained / "models/biomass_model.pt", meta)
    with pytest.raises(ValueError, match=fragment):
        predictor.decode(body, "image/png")
