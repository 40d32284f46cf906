"""The image plumbing every torch line shares (core/vision.py): freezing, preprocessing, flips and turns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelmill.core.cli import UserError
from modelmill.core.vision import Preprocess, backbone, flips_and_turns, freeze_backbone, whiten_first_conv


def test_an_architecture_outside_the_line_choices_is_one_clear_error():
    with pytest.raises(UserError, match="unknown architecture 'vgg11'; choose one of resnet18, resnet34"):
        backbone("vgg11", ("resnet18", "resnet34"))


def test_freezing_trains_only_the_head_and_keeps_every_backbone_batchnorm_as_loaded():
    model = backbone("resnet18", ("resnet18",))
    model.fc = nn.Linear(512, 3)
    freeze_backbone(model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in norms]
    model.train()  # as every training epoch starts
    model(torch.rand(4, 3, 32, 32))
    assert not any(m.training for m in norms) and model.fc.training
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before, strict=True))


def test_preprocess_normalizes_resizes_and_lays_out_as_asked():
    batch = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    out = Preprocess(mean, std, channels_last=False)(batch)
    expected = (batch.permute(0, 3, 1, 2).float() - torch.tensor(mean).view(1, 3, 1, 1) * 255) / (
        torch.tensor(std).view(1, 3, 1, 1) * 255
    )
    assert torch.allclose(out, expected) and out.is_contiguous()
    pixels = Preprocess([128.0] * 3, [64.0] * 3, scale=1.0)(batch)  # statistics in pixel units
    assert torch.allclose(pixels, (batch.permute(0, 3, 1, 2).float() - 128) / 64)
    assert pixels.is_contiguous(memory_format=torch.channels_last)
    assert Preprocess(mean, std, input_size=16)(batch).shape == (2, 3, 16, 16)


def test_flips_and_turns_move_an_image_and_its_map_alike():
    images = torch.arange(4 * 5 * 5 * 2, dtype=torch.int64).view(4, 5, 5, 2)
    maps = images[..., 0].clone()  # a per-pixel target equal to the first channel
    out, out_maps = flips_and_turns(images, torch.Generator().manual_seed(1), maps)
    assert out_maps is not None and torch.equal(out[..., 0], out_maps)
    assert not torch.equal(out, images)  # some sample moved
    for before, after in zip(images, out, strict=True):  # each sample is one of its 8 symmetries
        views = [torch.rot90(v, k, dims=(0, 1)) for v in (before, before.flip(1)) for k in range(4)]
        assert any(torch.equal(after, v) for v in views)
    same, _ = flips_and_turns(images, torch.Generator().manual_seed(1), flip=False, rotate=False)
    assert torch.equal(same, images)


def test_a_whitened_first_convolution_gives_uncorrelated_unit_variance_features():
    torch.manual_seed(0)
    images = nn.functional.avg_pool2d(torch.randn(32, 3, 24, 24), 3, 1, 1)  # neighbouring pixels correlate
    conv = backbone("resnet18", ("resnet18",)).conv1
    whiten_first_conv(conv, images)
    features = conv(images).detach()
    first_half = features[:, :32].permute(0, 2, 3, 1).reshape(-1, 32)
    assert torch.allclose(first_half.var(0), torch.ones(32), atol=0.02)
    assert (torch.corrcoef(first_half.T) - torch.eye(32)).abs().max() < 1e-3
    assert torch.equal(features[:, 32:], -features[:, :32])  # each component with both signs


def test_whitening_needs_pairs_of_filters_within_the_patch_size():
    with pytest.raises(ValueError, match="cannot whiten"):
        whiten_first_conv(nn.Conv2d(3, 7, 3), torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="cannot whiten"):
        whiten_first_conv(nn.Conv2d(1, 4, 1), torch.randn(2, 1, 8, 8))
