"""oneDNN convolutions for the CPU inference path: weights packed once, ReLU and residual add fused in.

ATen's CPU convolution hands each call to oneDNN with the weight in PyTorch's layout, so oneDNN reorders the
weight into its blocked layout on every call, and the ReLU and a residual block's add are passes of their own
over the activations. Here each folded conv unit becomes one oneDNN call on a weight packed once, with the ReLU
as a post-op, and a residual block's ``relu(branch + shortcut)`` is done by the branch's last convolution::

    ConvNormAct: conv ─► (BN, folded away) ─► ReLU     ─►  PackedConv: one oneDNN call, ReLU as its post-op
    block:  relu(conv_n(...conv_1(x)) + shortcut(x))   ─►  conv_n adds shortcut(x) and applies the ReLU itself

This is what OpenVINO and inductor's weight freezing do; doing it eagerly gets the same without a compile.
Measured on an AVX-512 BF16 EPYC, each path in a process of its own (benchmarks/fused_convs.py, docs/speed.md):
at batch 1, 1.06-2x (the CSNs 1.2-1.5x: their 1x1x1 convolutions on 7x7 maps spent most of their time reordering
weights; R2D-18 1.9x); at batch 8 the large networks within noise, the small ones 1.35-2x.

Module names are kept: a packed unit sits where its ``ConvNormAct`` was, and a fused block keeps its children;
only the ``conv`` / ``bn`` / ``act`` inside a unit are gone, a fused block's last unit returns the block's
output (``joins_residual``), and a ``Sequential`` inside a fused block's branch no longer runs as one module
(:func:`videozoo.engine.features.layer_output` refuses those layers in one line).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from ..models.layers import ConvNormAct
from ..models.resnet import BasicBlock, Bottleneck


def available() -> bool:
    """True where PyTorch was built with oneDNN (x86 and ARM Linux, macOS, Windows builds of PyTorch are)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class PackedConv(nn.Module):
    """A folded ``ConvNormAct`` as one oneDNN convolution: ``(B, C_in, T, H, W)`` → ``(B, C_out, T', H', W')``.

    The weight is packed for the first input shape it sees and again when the shape changes (a packed weight
    stays correct for any shape; the layout oneDNN picks depends on the shape). Inputs are cast to the
    weight's dtype, as autocast would. Inference only: no autograd through the packed weight.
    """

    def __init__(self, unit: ConvNormAct) -> None:
        super().__init__()
        conv = unit.conv
        self.args = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        # Plain attributes, not parameters: the packed tensor is opaque to everything but oneDNN.
        self.weight = conv.weight.detach().contiguous()
        self.bias = None if conv.bias is None else conv.bias.detach()
        self.relu = isinstance(unit.act, nn.ReLU)
        self.joins_residual = False  # set when it takes over its block's add + ReLU: its output is the block's
        self._packed: Tensor | None = None
        self._packed_for: tuple[int, ...] = ()

    @classmethod
    def packs(cls, unit: nn.Module) -> bool:
        """Whether ``unit`` can become a PackedConv: a conv unit whose BN is folded, ending in ReLU or nothing,
        with no hooks of its own (I3D's TensorFlow "SAME" padding is a pre-hook on its strided convs)."""
        return (isinstance(unit, ConvNormAct) and isinstance(unit.bn, nn.Identity)
                and isinstance(unit.act, (nn.ReLU, nn.Identity)) and type(unit.conv) is nn.Conv3d
                and unit.conv.padding_mode == "zeros" and not isinstance(unit.conv.padding, str)
                and not any(m._forward_pre_hooks or m._forward_hooks for m in unit.modules()))

    def __getstate__(self) -> dict:
        # The packed tensor has no storage to copy or pickle; a copy packs its own on its first call.
        return {**super().__getstate__(), "_packed": None, "_packed_for": ()}

    def _weight_for(self, x: Tensor) -> Tensor:
        if self._packed is None or self._packed_for != tuple(x.shape):
            self._packed = torch.ops.mkldnn._reorder_convolution_weight(self.weight, *self.args, list(x.shape))
            self._packed_for = tuple(x.shape)
        return self._packed

    def forward(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        """``act(conv(x))``; with ``residual`` (the last unit of a fused block), ``relu(conv(x) + residual)``."""
        x = x.to(self.weight.dtype)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(x, self._weight_for(x), self.bias, *self.args,
                                                           "relu" if self.relu else "none", [], "")
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual.to(self.weight.dtype), self._weight_for(x), self.bias, *self.args, "add", None, "relu",
            [], "")

    # What nn.Conv3d would say, for profilers and reprs.
    @property
    def groups(self) -> int:
        return self.args[3]

    @property
    def in_channels(self) -> int:
        return self.weight.shape[1] * self.groups

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[2:])

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={tuple(self.args[1])}, groups={self.groups}, relu={self.relu}, {self.weight.dtype}")


def _flat(units: tuple[nn.Module, ...]) -> Iterator[nn.Module]:
    """The units of a residual branch in the order they run, nn.Sequential opened up."""
    for unit in units:
        if type(unit) is nn.Sequential:
            yield from _flat(tuple(unit))
        else:
            yield unit


def _fused_block_forward(heads: list[nn.Module], tail: PackedConv, shortcut: nn.Module, x: Tensor) -> Tensor:
    h = x
    for unit in heads:
        h = unit(h)
    return tail(h, residual=shortcut(x))


def pack_convolutions(model: nn.Module) -> dict[str, int]:
    """Replace ``model``'s folded conv units by :class:`PackedConv` and fuse each residual block's add + ReLU into
    its last convolution, in place. Returns ``{"units": packed, "blocks": fused}``."""
    units = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if PackedConv.packs(child):
                setattr(parent, name, PackedConv(child))
                units += 1
    blocks = 0
    for block in model.modules():
        if not isinstance(block, (BasicBlock, Bottleneck)) or block._forward_pre_hooks or block._forward_hooks:
            continue
        *heads, tail = _flat(block.branch)
        if isinstance(tail, PackedConv) and not tail.relu:
            # An instance attribute, not a subclass: the block keeps its class, children and names.
            block.forward = functools.partial(_fused_block_forward, heads, tail, block.shortcut)
            tail.joins_residual = True
            blocks += 1
    return {"units": units, "blocks": blocks}
