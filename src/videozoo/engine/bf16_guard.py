"""Guard against a oneDNN bug: wrong bf16 convolution weight gradients on AMX CPUs.

Measured with torch 2.14.1 (oneDNN 3.12) on this project's Xeon (AMX-BF16):
under bf16 autocast, ``Conv3d`` weight gradients come back NaN for some
shapes (128→256 channels, 1×3×3, input 8×128×4×28×28: exactly R(2+1)D-18's
conv3_x at 8×112×112) and 5–6% off for others (64→64, 8×64×4×56×56), against
0.3% for bf16 without AMX (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``). The
forward pass and the input gradients are right (0.3%).

So training checks once per process (:func:`bf16_weight_grads_ok`, a few
milliseconds) and, where the kernels are wrong, keeps AMX for the forward
pass and input gradients and computes conv weight gradients in fp32
(:func:`fp32_weight_grads`): about 1.9× faster than fp32 training, where the
broken kernels would be 3.7×, and correct.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@functools.cache
def bf16_weight_grads_ok() -> bool:
    """Do bf16 conv weight gradients on this CPU match fp32 on a shape the AMX bug breaks?"""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 128, 4, 28, 28, generator=g).contiguous(memory_format=torch.channels_last_3d)
    w = torch.randn(256, 128, 1, 3, 3, generator=g) * 0.05
    grad_out = torch.randn(8, 256, 4, 28, 28, generator=g)

    def weight_grad(dtype: torch.dtype | None) -> Tensor:
        weight = w.clone().contiguous(memory_format=torch.channels_last_3d).requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            y = F.conv3d(x, weight, padding=(0, 1, 1))
        (y.float() * grad_out).sum().backward()
        return weight.grad.float()

    reference, fast = weight_grad(None), weight_grad(torch.bfloat16)
    if not torch.isfinite(fast).all():
        return False
    return ((fast - reference).norm() / reference.norm()).item() < 0.02


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
