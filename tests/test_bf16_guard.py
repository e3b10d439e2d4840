"""The guard against wrong bf16 weight gradients: same parameters, same forward, fp32 weight gradients."""

import pytest
import torch
from torch import nn

from videozoo.engine.bf16_guard import PROBES, Conv3dFp32WeightGrad, bf16_weight_grads_ok, fp32_weight_grads


def test_patched_conv_keeps_state_and_forward():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(4, 8, (1, 3, 3), padding=(0, 1, 1)), nn.ReLU(), nn.Conv3d(8, 6, 3, bias=False))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 4, 5, 9, 9)
    with torch.autocast("cpu", torch.bfloat16):
        before = model(x).float()
    assert fp32_weight_grads(model) == 2
    assert all(isinstance(m, Conv3dFp32WeightGrad) for m in model if isinstance(m, nn.Conv3d))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with torch.autocast("cpu", torch.bfloat16):
        after = model(x).float()
    torch.testing.assert_close(after, before, rtol=2e-2, atol=1e-2)  # bf16: the bias is added after rounding
    torch.testing.assert_close(model(x), model(x))  # outside autocast: the plain conv


def test_weight_gradients_are_the_fp32_ones():
    """With bf16 inputs to the weight-gradient, the result matches fp32 to bf16 rounding of its inputs."""
    torch.manual_seed(0)
    conv = nn.Conv3d(128, 256, (1, 3, 3), padding=(0, 1, 1), bias=False).to(memory_format=torch.channels_last_3d)
    x = torch.randn(8, 128, 4, 28, 28).contiguous(memory_format=torch.channels_last_3d)
    g = torch.randn(8, 256, 4, 28, 28)
    (conv(x) * g).sum().backward()
    reference = conv.weight.grad.clone()
    conv.weight.grad = None
    fp32_weight_grads(nn.Sequential(conv))
    with torch.autocast("cpu", torch.bfloat16):
        y = conv(x)
    (y.float() * g).sum().backward()
    grad = conv.weight.grad
    assert torch.isfinite(grad).all()
    assert ((grad - reference).norm() / reference.norm()).item() < 0.02


def test_self_check_runs():
    assert isinstance(bf16_weight_grads_ok(), bool)


@pytest.mark.parametrize("x_shape, w_shape, padding, channels_last", PROBES)
def test_guarded_weight_gradients_are_right_on_every_known_bad_shape(x_shape, w_shape, padding, channels_last):
    """What training does (patch the convs where the self-check fails) gives fp32's weight gradient on each shape
    a CPU's bf16 kernels got wrong, whichever CPU runs this (AMD AVX-512 BF16: a 2-frame input, 3×1×1 kernel)."""
    torch.manual_seed(0)
    conv = nn.Conv3d(x_shape[1], w_shape[0], w_shape[2:], padding=padding, bias=False)
    x = torch.randn(x_shape)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last_3d), x.contiguous(memory_format=torch.channels_last_3d)
    g = torch.randn(conv(x).shape)
    (conv(x) * g).sum().backward()
    reference = conv.weight.grad.clone()
    conv.weight.grad = None
    if not bf16_weight_grads_ok():
        fp32_weight_grads(nn.Sequential(conv))
    with torch.autocast("cpu", torch.bfloat16):
        y = conv(x)
    (y.float() * g).sum().backward()
    assert torch.isfinite(conv.weight.grad).all()
    assert ((conv.weight.grad - reference).norm() / reference.norm()).item() < 0.02
