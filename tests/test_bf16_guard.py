"""The per-layer guard against wrong bf16 weight gradients: it fixes the layers that fail, keeps parameters and
forward, and leaves whole models with fp32's gradients (to bf16 rounding) on whichever CPU runs this."""

import copy

import pytest
import torch
from torch import nn

import videozoo
from videozoo.engine.bf16_guard import (
    FIXES,
    PROBES,
    TOLERANCE,
    Bf16Guard,
    Conv3dFp32WeightGrad,
    Conv3dPadTime,
    fp32_weight_grads,
    probe_case,
    weight_grad_error,
)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("fix", FIXES)
def test_a_fixed_conv_keeps_state_and_forward(fix):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(4, 8, (3, 3, 3), padding=(1, 1, 1)), nn.ReLU(), nn.Conv3d(8, 6, 3, bias=False))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 4, 5, 9, 9)
    with torch.autocast("cpu", torch.bfloat16):
        before = model(x).float()
    for m in model:
        if isinstance(m, nn.Conv3d):
            m.__class__ = fix
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with torch.autocast("cpu", torch.bfloat16):
        after = model(x).float()
    torch.testing.assert_close(after, before, rtol=2e-2, atol=1e-2)  # bf16: the bias is added after rounding
    torch.testing.assert_close(model(x), model(x))  # outside autocast: the plain conv


def test_fp32_weight_gradients_are_fp32s():
    """With bf16 inputs to the weight gradient, the result matches fp32 to bf16 rounding of its inputs."""
    torch.manual_seed(0)
    conv = nn.Conv3d(128, 256, (1, 3, 3), padding=(0, 1, 1), bias=False).to(memory_format=torch.channels_last_3d)
    x = torch.randn(8, 128, 4, 28, 28).contiguous(memory_format=torch.channels_last_3d)
    g = torch.randn(8, 256, 4, 28, 28)
    (conv(x) * g).sum().backward()
    reference = conv.weight.grad.clone()
    conv.weight.grad = None
    assert fp32_weight_grads(nn.Sequential(conv)) == 1
    with torch.autocast("cpu", torch.bfloat16):
        y = conv(x)
    (y.float() * g).sum().backward()
    assert torch.isfinite(conv.weight.grad).all()
    assert rel(conv.weight.grad, reference) < TOLERANCE


@pytest.mark.parametrize("probe", PROBES)
def test_both_fixes_are_right_on_the_known_bad_shapes(probe):
    """Padding time by hand is right where oneDNN's padded kernel was wrong (AMD: 2 frames, 3 taps), and fp32
    weight gradients are right everywhere."""
    case = probe_case(*probe)
    assert weight_grad_error(case, Conv3dFp32WeightGrad) < TOLERANCE
    if probe[2][0]:  # padded in time
        assert weight_grad_error(case, Conv3dPadTime) < TOLERANCE


@pytest.mark.parametrize("probe", PROBES)
def test_the_guard_leaves_every_known_bad_shape_right(probe):
    """The guard on a one-conv model at a shape some CPU got wrong: whatever this CPU does, the weight gradient
    after the guard is fp32's."""
    x_shape, w_shape, padding, channels_last = probe
    torch.manual_seed(0)
    conv = nn.Conv3d(x_shape[1], w_shape[0], w_shape[2:], padding=padding, bias=False)
    x = torch.randn(x_shape)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last_3d), x.contiguous(memory_format=torch.channels_last_3d)
    g = torch.randn(conv(x).shape)
    (conv(x) * g).sum().backward()
    reference = conv.weight.grad.clone()
    conv.weight.grad = None
    model = nn.Sequential(conv)
    guard = Bf16Guard(model)
    with torch.autocast("cpu", torch.bfloat16):
        (row,) = guard.prepare(lambda: model(x))
    assert row["layers"] == ["0"] and row["case"]["input_shape"] == tuple(x_shape[1:])
    assert (type(conv).__name__ if row["fix"] else None) == row["fix"]
    with torch.autocast("cpu", torch.bfloat16):
        y = conv(x)
    (y.float() * g).sum().backward()
    assert torch.isfinite(conv.weight.grad).all()
    assert rel(conv.weight.grad, reference) < TOLERANCE


def test_the_guard_records_without_touching_the_model():
    """Recording runs in eval mode with gradients off: BatchNorm statistics and training flags stay as they were;
    each distinct (shape, conv) is probed once and lists every layer that has it."""
    model = videozoo.create_model("r3d_18", num_classes=3, base_width=8).train()
    model.layer1[0].conv1.bn.eval()
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    guard = Bf16Guard(model)
    with torch.autocast("cpu", torch.bfloat16):
        report = guard.prepare(lambda: model(torch.randn(2, 3, 4, 32, 32)))
    assert all(torch.equal(buffers[k], v) for k, v in model.state_dict().items())
    assert model.training and not model.layer1[0].conv1.bn.training and model.layer1[0].conv2.bn.training
    layers = [name for row in report for name in row["layers"]]
    assert len(layers) == len(set(layers)) == sum(type(m) is nn.Conv3d or type(m) in FIXES
                                                   for m in model.modules())
    assert len(report) < len(layers)  # layer1's convolutions share one shape
    assert guard.summary()["cases"] == len(report) and not guard.pending


def _conv_grads(model: nn.Module, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        out = model(x)
    g = torch.Generator().manual_seed(3)
    (out.float() * torch.randn(out.shape, generator=g)).sum().backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.dim() == 5])


@pytest.mark.parametrize("frames", [8, 16])
@pytest.mark.parametrize("name", ["r2plus1d_18", "r3d_18", "ir_csn_50"])
def test_whole_model_gradients_after_the_guard(name, frames):
    """A whole model's conv weight gradients in bf16 after the guard: finite, within bf16 noise of fp32's (the
    model in eval mode, so that BatchNorm does not amplify it), and equal to those of the same bf16 forward
    with every weight gradient in fp32 (so no layer the guard left alone is wrong either)."""
    torch.manual_seed(0)
    model = videozoo.create_model(name, num_classes=10).to(memory_format=torch.channels_last_3d).eval()
    x = torch.randn(2, 3, frames, 48, 48).contiguous(memory_format=torch.channels_last_3d)
    fp32 = _conv_grads(model, x, bf16=False)
    safe = copy.deepcopy(model)
    fp32_weight_grads(safe)
    safe_grads = _conv_grads(safe, x, bf16=True)
    guard = Bf16Guard(model)
    with torch.autocast("cpu", torch.bfloat16):
        guard.prepare(lambda: model(x))
    guarded = _conv_grads(model, x, bf16=True)
    assert torch.isfinite(guarded).all()
    assert rel(guarded, safe_grads) < 1e-3
    assert rel(guarded, fp32) < 0.15
