import pytest
import torch
import torch.nn.functional as F
from torchvision import models

from modelmill.landcover.model import build_model
from modelmill.landcover.small_maps import SmallMapConv2d, use_small_maps


def conv_and_grads(fn, x, weight, grad_out):
    x = x.detach().requires_grad_()
    weight = weight.detach().requires_grad_()
    out = fn(x, weight)
    grad_x, grad_w = torch.autograd.grad(out, (x, weight), grad_out)
    return out, grad_x, grad_w


def small_map_conv(x, weight):
    conv = SmallMapConv2d(weight.shape[1], weight.shape[0], 3, padding=1, bias=False)
    return torch.func.functional_call(conv, {"weight": weight}, (x,))


@pytest.mark.parametrize("h,w", [(1, 1), (2, 2), (1, 2), (2, 1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matrix_path_matches_the_convolution_and_its_gradients(h, w, channels_last):
    gen = torch.Generator().manual_seed(h * 10 + w)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(6, 16, h, w, generator=gen).contiguous(memory_format=fmt)
    weight = torch.randn(24, 16, 3, 3, generator=gen).contiguous(memory_format=fmt)
    grad_out = torch.randn(6, 24, h, w, generator=gen)
    expected = conv_and_grads(lambda a, b: F.conv2d(a, b, padding=1), x, weight, grad_out)
    got = conv_and_grads(small_map_conv, x, weight, grad_out)
    assert type(got[0].grad_fn).__name__ == "_SmallMapConvBackward"  # the matrix path, not the fallback
    for name, e, g in zip(("output", "input grad", "weight grad"), expected, got):
        assert g.shape == e.shape, name
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4, msg=name)


def test_larger_maps_and_bf16_take_the_ordinary_convolution():
    conv = SmallMapConv2d(8, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 8, 3, 3)
    assert torch.equal(conv(x), F.conv2d(x, conv.weight, padding=1))
    assert type(conv(x).grad_fn).__name__ == "ConvolutionBackward0"
    small = torch.randn(2, 8, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(conv(small), F.conv2d(small, conv.weight, padding=1))


def test_frozen_weight_gets_no_gradient_and_input_still_does():
    conv = SmallMapConv2d(8, 8, 3, padding=1, bias=False)
    conv.weight.requires_grad_(False)
    x = torch.randn(2, 8, 2, 2, requires_grad=True)
    conv(x).sum().backward()
    assert conv.weight.grad is None and x.grad is not None


def test_only_3x3_stride_1_convolutions_are_swapped_and_the_state_dict_stays_torchvisions():
    plain = models.resnet18(num_classes=10)
    swapped = models.resnet18(num_classes=10)
    swapped.load_state_dict(plain.state_dict())
    count = use_small_maps(swapped)
    # resnet18: 16 3x3 convolutions, 3 of them stride 2; the 7x7 stem and 1x1 shortcuts stay
    assert count == 13
    assert sum(type(m) is SmallMapConv2d for m in swapped.modules()) == 13
    assert swapped.state_dict().keys() == plain.state_dict().keys()
    for size in (32, 64):  # the last stage sees 1x1 maps at 32 px and 2x2 at 64 px
        x = torch.randn(4, 3, size, size)
        torch.testing.assert_close(swapped.eval()(x), plain.eval()(x), rtol=1e-4, atol=1e-4)


def test_training_step_matches_the_stock_model_in_channels_last():
    torch.manual_seed(0)
    fast = build_model("resnet18", 10).to(memory_format=torch.channels_last)
    stock = build_model("resnet18", 10, small_maps=False).to(memory_format=torch.channels_last)
    stock.load_state_dict(fast.state_dict())
    x = torch.randn(8, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (8,))
    for model in (fast, stock):
        F.cross_entropy(model.train()(x), y).backward()
    for (name, a), (_, b) in zip(fast.named_parameters(), stock.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-4, msg=name)
