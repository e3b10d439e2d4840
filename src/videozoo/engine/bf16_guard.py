"""Guard against oneDNN bugs: wrong bf16 convolution weight gradients on some CPUs.

Measured with torch 2.14.1 (oneDNN 3.12), under bf16 autocast, against fp32:

- Intel Xeon with AMX-BF16: ``Conv3d`` weight gradients come back NaN for
  some shapes (128→256 channels, 1×3×3, input 8×128×4×28×28: exactly
  R(2+1)D-18's conv3_x at 8×112×112) and 5–6% off for others (64→64,
  8×64×4×56×56), against 0.3% for bf16 without AMX
  (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``);
- AMD EPYC with AVX-512 BF16 (no AMX): NaN or Inf whenever the input has
  fewer frames than a padded temporal kernel (2 frames, 3×1×1 or 3×3×3,
  any width: R(2+1)D's and R3D's conv4_x at 8 frames).

The forward pass and the input gradients are right (0.3%) on both, and 2D
convolutions are right on both.

So training checks once per process (:func:`bf16_weight_grads_ok`, under a
second, one probe per known bug) and, where any probe fails, keeps bf16
for the forward pass and input gradients and computes conv weight gradients
in fp32 (:func:`fp32_weight_grads`): about 1.9× faster than fp32 training on
the AMX Xeon, where the broken kernels would be 3.7×, and correct.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (input shape, weight shape, padding, channels-last): shapes on which a CPU's bf16 weight gradients were wrong
PROBES: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, int, int], bool], ...] = (
    ((8, 128, 4, 28, 28), (256, 128, 1, 3, 3), (0, 1, 1), True),  # Intel AMX: NaN
    ((8, 64, 2, 7, 7), (64, 64, 3, 1, 1), (1, 0, 0), False),  # AMD AVX-512 BF16: fewer frames than the kernel
    ((8, 64, 2, 7, 7), (64, 64, 3, 1, 1), (1, 0, 0), True),
)


def _probe_ok(x_shape: tuple[int, ...], w_shape: tuple[int, ...], padding: tuple[int, int, int],
              channels_last: bool) -> bool:
    """Does the bf16 weight gradient of one conv3d match fp32's (within bf16 rounding, 2%)?"""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    w = torch.randn(w_shape, generator=g) * 0.05
    out_shape = F.conv3d(x[:1], w, padding=padding).shape[1:]
    grad_out = torch.randn(x_shape[0], *out_shape, generator=g)

    def weight_grad(bf16: bool) -> Tensor:
        weight = w.clone()
        if channels_last:
            weight = weight.contiguous(memory_format=torch.channels_last_3d)
        weight.requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = F.conv3d(x, weight, padding=padding)
        (y.float() * grad_out).sum().backward()
        return weight.grad.float()

    reference, fast = weight_grad(False), weight_grad(True)
    if not torch.isfinite(fast).all():
        return False
    return ((fast - reference).norm() / reference.norm()).item() < 0.02


@functools.cache
def bf16_weight_grads_ok() -> bool:
    """Do bf16 conv weight gradients on this CPU match fp32 on every shape a known oneDNN bug breaks?"""
    return all(_probe_ok(*probe) for probe in PROBES)


class _ConvFp32WeightGrad(torch.autograd.Function):
    """conv3d whose weight gradient is computed in fp32; forward and input gradient in the input's dtype."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, stride, padding, dilation, groups) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, groups)
        return F.conv3d(x, weight, None, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv3d_input(x.shape, weight, grad, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv3d_weight(x.float(), weight.shape, grad.float(), stride, padding, dilation,
                                                 groups).to(weight.dtype)
        return grad_x, grad_w, None, None, None, None


class Conv3dFp32WeightGrad(nn.Conv3d):
    """A Conv3d (same parameters, same state dict) whose weight gradient stays in fp32 under CPU autocast."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not (torch.is_autocast_enabled("cpu") and x.device.type == "cpu" and self.padding_mode == "zeros"):
            return super()._conv_forward(x, weight, bias)
        dtype = torch.get_autocast_dtype("cpu")
        with torch.autocast("cpu", enabled=False):
            y = _ConvFp32WeightGrad.apply(x.to(dtype), weight.to(dtype), self.stride, self.padding, self.dilation,
                                          self.groups)
            if bias is not None:
                y = y + bias.to(dtype).view(1, -1, 1, 1, 1)
        return y


def fp32_weight_grads(model: nn.Module) -> int:
    """Switch every Conv3d of ``model`` to fp32 weight gradients (in place); returns how many."""
    count = 0
    for m in model.modules():
        if type(m) is nn.Conv3d:
            m.__class__ = Conv3dFp32WeightGrad
            count += 1
    return count
