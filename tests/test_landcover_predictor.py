"""The EuroSAT predictor's answers: those of the trained network as evaluate runs it (bit for bit),
and those of a reference computed the straightforward way (PIL decode -> float -> normalise ->
resize -> plain torchvision ResNet18); its bad-input messages, word for word."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from modelmill.core.torchkit import memory_format
from modelmill.core.vision import Preprocess
from modelmill.landcover import predictor
from modelmill.landcover.data import CLASSES, IMAGE_SIZE
from modelmill.landcover.model import build_model
from modelmill.landcover.model import predict as evaluate_predict
from modelmill.landcover.small_maps import SmallMapConv2d
from modelmill.landcover.synthetic import synthetic_image

MEAN, STD = [0.344, 0.380, 0.408], [0.203, 0.137, 0.116]
# Float rounding only: the predictor and the plain network agree to about 3e-7 in probability on
# this test's network (at 64 px and resized to 32, JPEG, PNG and .npy); a wrong channel order,
# normalisation or resize is off by far more.
REFERENCE_ATOL = 1e-6


def _tiles(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([synthetic_image(i % len(CLASSES), rng) for i in range(n)])


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _jpeg(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG", quality=95)
    return out.getvalue()


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict:
    """A ResNet18 whose every block counts (a fresh one's residual branches end in BatchNorm scales
    of zero, which would hide the small-map convolutions): BatchNorm scales and shifts drawn at
    random, its statistics those of tiles like the ones served, as after training."""
    torch.manual_seed(0)
    model = build_model("resnet18", len(CLASSES))
    draw = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data = torch.rand(module.num_features, generator=draw) * 0.5 + 0.25
            module.bias.data = torch.randn(module.num_features, generator=draw) * 0.1
            module.momentum = None  # a cumulative average: the statistics of this one batch
    model.train()
    with torch.no_grad():
        model(Preprocess(MEAN, STD)(torch.from_numpy(_tiles(128, seed=1))))
    path = tmp_path_factory.mktemp("landcover") / "satellite_model.pt"
    torch.save(model.state_dict(), path)
    return {"path": path, "state": model.state_dict()}


def _metadata(input_size: int, channels_last: bool) -> dict:
    return {
        "architecture": "resnet18",
        "num_classes": len(CLASSES),
        "class_names": list(CLASSES),
        "input_size": input_size,
        "normalization": {"mean": MEAN, "std": STD},
        "params": {"train": {"channels_last": channels_last}},
        "precision": "fp32",
    }


def _reference(state: dict, tiles: np.ndarray, input_size: int) -> torch.Tensor:
    """Probabilities the straightforward way: float pixels, normalised, resized, a plain ResNet18."""
    net = build_model("resnet18", len(CLASSES), small_maps=False)
    net.load_state_dict(state)
    x = torch.from_numpy(tiles).float() / 255
    x = ((x - torch.tensor(MEAN)) / torch.tensor(STD)).permute(0, 3, 1, 2)
    if input_size != IMAGE_SIZE:
        x = F.interpolate(
            x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=input_size < IMAGE_SIZE
        )
    with torch.no_grad():
        return net.eval()(x).softmax(1)


def _decoded(body: bytes, content_type: str) -> np.ndarray:
    if content_type == "application/x-npy":
        array = np.load(io.BytesIO(body))
        return array[None] if array.ndim == 3 else array
    return np.array(Image.open(io.BytesIO(body)).convert("RGB"))[None]


def _bodies() -> list[tuple[str, bytes, str]]:
    tiles = _tiles(24, seed=2)
    return [
        ("jpeg", _jpeg(tiles[0]), "image/jpeg"),
        ("png", _png(tiles[1]), "image/png"),
        ("npy", _npy(tiles), "application/x-npy"),
        ("npy, one tile of 3 dimensions", _npy(tiles[5]), "application/x-npy"),
    ]


def _as_arrays(answers: list[dict]) -> tuple[list[str], torch.Tensor]:
    return [a["class"] for a in answers], torch.tensor([[a["probabilities"][c] for c in CLASSES] for a in answers])


@pytest.mark.parametrize("input_size, channels_last", [(64, True), (64, False), (32, True), (32, False), (96, True)])
def test_answers_as_evaluate_bit_for_bit_and_as_the_straightforward_reference(weights, input_size, channels_last):
    served = predictor.load(weights["path"], _metadata(input_size, channels_last))
    assert served.precision == "fp32"
    # Today's network: the model evaluate builds (small-map convolutions gathering their matrix each
    # call), fed by the same Preprocess, through the same torchkit.predict.
    evaluated = build_model("resnet18", len(CLASSES))
    evaluated.load_state_dict(weights["state"])
    evaluated.eval().to(memory_format=memory_format(channels_last))
    assert any(type(m) is SmallMapConv2d for m in evaluated.modules())
    for name, body, content_type in _bodies():
        tiles = served.decode(body, content_type)
        assert tiles.dtype == torch.uint8 and tiles.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 3), name
        classes, probabilities = _as_arrays(served.predict(tiles))

        logits = evaluate_predict(evaluated, tiles, served.preprocess, predictor.BATCH, "fp32")
        assert classes == [CLASSES[i] for i in logits.argmax(1).tolist()], name
        assert torch.equal(probabilities, torch.tensor(logits.softmax(1).tolist())), name

        reference = _reference(weights["state"], _decoded(body, content_type), input_size)
        assert classes == [CLASSES[i] for i in reference.argmax(1).tolist()], name
        torch.testing.assert_close(probabilities, reference, rtol=0, atol=REFERENCE_ATOL, msg=name)


def test_answers_do_not_depend_on_the_requests_before(weights):
    """The kept matrices are the weights' own: one tile alone, in a batch, and again, answers alike."""
    served = predictor.load(weights["path"], _metadata(64, True))
    tiles = torch.from_numpy(_tiles(8, seed=3))
    first = served.predict(tiles[:1])
    batch = served.predict(tiles)
    assert served.predict(tiles[:1]) == first
    assert batch[0]["class"] == first[0]["class"]
    assert all(abs(batch[0]["probabilities"][c] - p) < 1e-6 for c, p in first[0]["probabilities"].items())


def test_the_served_copy_leaves_the_model_as_it_was_and_trains_as_before(weights):
    model = build_model("resnet18", len(CLASSES))
    model.load_state_dict(weights["state"])
    copy = predictor.answering(model.eval())
    assert all(type(m) is not predictor._KeptMatrixConv2d for m in model.modules())
    kept = [m for m in copy.modules() if type(m) is predictor._KeptMatrixConv2d]
    assert len(kept) == sum(type(m) is SmallMapConv2d for m in model.modules()) > 0
    x = Preprocess(MEAN, STD)(torch.from_numpy(_tiles(4, seed=4)))
    with torch.inference_mode():
        assert torch.equal(copy(x), model(x))
    # Where gradients are recorded it is SmallMapConv2d's own path, gradients and all.
    copy(x).sum().backward()
    model(x).sum().backward()
    assert torch.equal(kept[-1].weight.grad, dict(model.named_modules())[_name(copy, kept[-1])].weight.grad)


def _name(model: torch.nn.Module, module: torch.nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def test_bad_bodies_keep_their_messages(weights):
    served = predictor.load(weights["path"], _metadata(64, True))
    tile, rgb = _tiles(1, seed=5)[0], np.zeros((64, 64, 3), np.uint8)
    exact = [
        (b"\xff\xd8 this is no jpeg", "image/jpeg", "body is not a decodable JPEG image (not JPEG data)"),
        (_png(rgb), "image/jpeg", "body is not a decodable JPEG image (not JPEG data)"),
        (_png(np.zeros((32, 32, 3), np.uint8)), "image/png", "image is 32x32; expected a 64x64 EuroSAT tile"),
        (_png(np.zeros((64, 64), np.uint8)), "image/png", "image has 1 channel (mode L); expected 3 (RGB)"),
        (_png(np.zeros((64, 64, 4), np.uint8)), "image/png", "image has 4 channels (mode RGBA); expected 3 (RGB)"),
        (_npy(rgb[None].astype(np.float32)), "application/x-npy", "array has dtype float32; expected uint8"),
        (
            _npy(np.zeros((2, 32, 32, 3), np.uint8)),
            "application/x-npy",
            "array has shape (2, 32, 32, 3); expected (N, 64, 64, 3) RGB tiles",
        ),
        (
            _npy(np.zeros((64, 64), np.uint8)),
            "application/x-npy",
            "array has shape (64, 64); expected (N, 64, 64, 3) RGB tiles",
        ),
        (_npy(np.zeros((0, 64, 64, 3), np.uint8)), "application/x-npy", "array holds no tiles"),
        (b"not numpy", "application/x-npy", "body is not a .npy array (no .npy header; write it with numpy.save)"),
        (
            _npy(np.array([{}], dtype=object)),
            "application/x-npy",
            "body is a .npy array of Python objects, which is never loaded; send numbers",
        ),
    ]
    for body, content_type, message in exact:
        with pytest.raises(ValueError) as caught:
            served.decode(body, content_type)
        assert str(caught.value) == message
    # The reason in brackets is PIL's own words.
    with pytest.raises(ValueError, match=r"^body is not a decodable PNG image \(.+\)$"):
        served.decode(_png(tile)[:200], "image/png")
