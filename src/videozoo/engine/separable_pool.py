"""3D max pooling as three 1-D passes, for the CPU inference path.

PyTorch's CPU ``max_pool3d`` always runs ``max_pool3d_with_indices``: it computes the argmax of every window,
which inference never reads, and visits all k_t·k_h·k_w values per output. A max over a box is the max over
each axis in turn, so the same numbers come from (k_t − 1) + (k_h − 1) + (k_w − 1) element-wise maxima over
strided views. On a 2-core AMD EPYC (bf16, channels-last) a 3×3×3 stride-1 pool on 1 × 192 × 32×28² took
42 ms with ATen and 5–7 ms this way; S3D, which has one in each of its nine Inception blocks, went from 716 to
493 ms per 64×224² clip with identical logits (benchmarks/pool_speed.py, docs/speed.md).

Not for training: where a window holds equal maxima (frequent after a ReLU), ``torch.maximum`` splits the
gradient between them while max pooling gives it to one, so the Predictor swaps pools in its own copy only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.layers import as_triple


def separable_max_pool3d(x: Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int],
                         padding: tuple[int, int, int]) -> Tensor:
    """``F.max_pool3d(x, kernel, stride, padding)`` (no dilation, floor mode), exactly, without indices.

    ``x``: ``(B, C, T, H, W)``; returns ``(B, C, T', H', W')`` with ``T' = (T + 2p_t − k_t) // s_t + 1`` etc.
    """
    for axis in sorted(range(3), key=lambda a: -stride[a]):  # strided axes first: less left to do after them
        k, s, p = kernel[axis], stride[axis], padding[axis]
        if k > 1 or s > 1:
            x = _max_along(x, axis + 2, k, s, p)
    return x


def _max_along(x: Tensor, dim: int, k: int, s: int, p: int) -> Tensor:
    """Max pooling of window ``k``, stride ``s``, padding ``p`` along ``dim`` alone."""
    size = x.shape[dim]
    n = (size + 2 * p - k) // s + 1

    def strided(t: Tensor, start: int, count: int, step: int) -> Tensor:
        index = [slice(None)] * t.ndim
        index[dim] = slice(start, start + step * (count - 1) + 1, step)
        return t[tuple(index)]

    if p == 0:  # every window lies inside: the max of its k strided views
        out = torch.maximum(strided(x, 0, n, s), strided(x, 1, n, s)) if k > 1 else strided(x, 0, n, s).clone()
        for j in range(2, k):
            torch.maximum(out, strided(x, j, n, s), out=out)
        return out
    if (n - 1) * s <= size - 1:
        # Padding never wins a window (it is -inf), so skip it instead of writing it (F.pad fills and copies the
        # whole tensor): start from each window's offset-p element, which every window has, and fold in each
        # other offset j over the outputs whose element j is inside the input.
        out = strided(x, 0, n, s).clone()
        for j in range(k):
            lo, hi = max(0, -((j - p) // s)), min(n - 1, (size - 1 + p - j) // s)
            if j != p and hi >= lo:
                window = strided(out, lo, hi - lo + 1, 1)
                torch.maximum(window, strided(x, lo * s - p + j, hi - lo + 1, s), out=window)
        return out
    pads = [0] * (2 * (x.ndim - 2))
    pads[2 * (x.ndim - 1 - dim)] = pads[2 * (x.ndim - 1 - dim) + 1] = p
    return _max_along(F.pad(x, pads, value=float("-inf")), dim, k, s, 0)


class SeparableMaxPool3d(nn.MaxPool3d):
    """An ``nn.MaxPool3d`` (floor mode, no dilation, no indices) computed by :func:`separable_max_pool3d`."""

    def forward(self, x: Tensor) -> Tensor:
        return separable_max_pool3d(x, as_triple(self.kernel_size), as_triple(self.stride), as_triple(self.padding))


def separable_max_pools(model: nn.Module) -> int:
    """Make every plain ``nn.MaxPool3d`` of ``model`` (in place) a :class:`SeparableMaxPool3d`; returns how many.

    The module keeps its identity (a class swap), so hooks on it (I3D's TensorFlow "SAME" padding) still run.
    Pools in ceil mode, dilated or returning indices are left alone.
    """
    swapped = 0
    for m in model.modules():
        if (type(m) is nn.MaxPool3d and not m.ceil_mode and not m.return_indices
                and as_triple(m.dilation) == (1, 1, 1)):
            m.__class__ = SeparableMaxPool3d
            swapped += 1
    return swapped


def aten_max_pools(model: nn.Module) -> int:
    """Undo :func:`separable_max_pools` in place (ATen's pooling again, to compare against); returns how many."""
    restored = 0
    for m in model.modules():
        if isinstance(m, SeparableMaxPool3d):
            m.__class__ = nn.MaxPool3d
            restored += 1
    return restored
