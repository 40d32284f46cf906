"""The three networks' shapes, the forecaster's persistence start, the Siamese weight sharing,
and augmentations that move an image and its map alike."""

import torch

from modelmill.seaice.augment import brightness
from modelmill.seaice.models import Forecaster, SiameseChange, build, build_classifier
from modelmill.seaice.tasks import BceDice


def test_classifier_maps_tiles_to_three_classes():
    model = build_classifier("resnet18").eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 16, 16)).shape == (2, 3)


def test_forecaster_takes_30_days_and_returns_7_starting_as_persistence():
    model = Forecaster(hidden=4, layers=2).eval()
    history = torch.rand(3, 30, 32, 32)
    with torch.no_grad():
        out = model(history)
    assert out.shape == (3, 7, 32, 32)
    # Untrained, its increments are zero: exactly the last observed day, repeated.
    assert torch.equal(out, history[:, -1:].expand(-1, 7, -1, -1))


def test_change_detector_maps_a_pair_to_a_change_map_symmetrically():
    model = SiameseChange(width=4).eval()
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        forward = model(torch.cat([a, b], 1))
        backward = model(torch.cat([b, a], 1))
        same = model(torch.cat([a, a], 1))
    assert forward.shape == (2, 32, 32)
    assert torch.allclose(forward, backward, atol=1e-5)  # one shared encoder, |difference| of features
    assert not torch.allclose(forward, same)


def test_build_from_a_card():
    assert isinstance(build({"model": "change", "width": 4}), SiameseChange)
    assert isinstance(build({"model": "forecaster", "hidden": 4, "layers": 1}), Forecaster)


def test_brightness_spares_radar():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 8, 8, 6), dtype=torch.uint8)
    bright = brightness(images[..., :3], 0.3, generator)
    assert torch.equal(bright[..., 2], images[..., 2])
    assert not torch.equal(bright[..., :2], images[..., :2])


def test_bce_dice_is_lower_for_the_right_map():
    target = torch.zeros(1, 8, 8)
    target[0, 2:5, 2:5] = 1
    loss = BceDice(1.0)
    assert loss(target * 20 - 10, target) < loss(-target * 20 + 10, target)
