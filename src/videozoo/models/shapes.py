"""Input checking: what clip shape a network accepts, and a clear error when it gets another.

A skeleton records its *spine*: the windowed operations (convs and pools) on
its main path, in order. Every size-changing op of our networks sits on that
path once (parallel branches change sizes in step), so the spine alone says
which clip sizes survive to the head and which shrink to nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class Window:
    """One sliding-window op: kernel, stride, padding per (T, H, W)."""

    kernel: Triple
    stride: Triple
    padding: Triple = (0, 0, 0)
    ceil_mode: bool = False

    @classmethod
    def of(cls, module: nn.Module) -> Window:
        """The window of a Conv3d, MaxPool3d or AvgPool3d."""
        from .layers import as_triple

        return cls(
            as_triple(module.kernel_size),
            as_triple(module.stride),
            as_triple(module.padding),
            bool(getattr(module, "ceil_mode", False)),
        )

    def output_size(self, size: Triple) -> Triple:
        out = []
        for n, k, s, p in zip(size, self.kernel, self.stride, self.padding, strict=True):
            span = n + 2 * p - k
            if span < 0:
                out.append(0)
                continue
            steps = math.ceil(span / s) if self.ceil_mode else span // s
            if self.ceil_mode and steps * s >= n + p:  # PyTorch drops a last window that starts in the padding
                steps -= 1
            out.append(steps + 1)
        return tuple(out)  # type: ignore[return-value]


def spine_output(spine: list[Window], size: Triple) -> Triple:
    for window in spine:
        size = window.output_size(size)
        if min(size) < 1:
            return size
    return size


def min_input_size(spine: list[Window], limit: int = 4096) -> Triple:
    """The smallest T, H and W (each alone, the others large) that reach the end of the spine."""
    mins = []
    for dim in range(3):
        for n in range(1, limit + 1):
            size = [limit, limit, limit]
            size[dim] = n
            if min(spine_output(spine, tuple(size))) >= 1:  # type: ignore[arg-type]
                mins.append(n)
                break
        else:
            mins.append(limit)
    return tuple(mins)  # type: ignore[return-value]


def expected_shape(in_channels: int) -> str:
    return f"(B, {in_channels}, T, H, W)"


def check_clip(
    x: Tensor,
    *,
    name: str,
    in_channels: int,
    spine: list[Window],
    min_size: Triple,
    output_size: Triple | None = None,
) -> None:
    """Raise ``ValueError`` naming the expected shape unless ``x`` fits the network.

    ``output_size``, when given, is the one spine output the network accepts
    (a network with fully connected layers over its final map, such as C3D).
    """
    shape = tuple(x.shape)
    want = expected_shape(in_channels)
    if x.ndim != 5:
        raise ValueError(f"{name} expects a 5-D clip batch {want}; got a {x.ndim}-D tensor of shape {shape}")
    if shape[1] != in_channels:
        hint = " (channels-first: permute a (B, T, H, W, C) batch with x.permute(0, 4, 1, 2, 3))" if (
            shape[-1] == in_channels
        ) else ""
        raise ValueError(f"{name} expects {want} with {in_channels} channels; got shape {shape}{hint}")
    if not x.is_floating_point():
        raise ValueError(f"{name} expects a float clip batch {want}; got dtype {x.dtype} (convert and normalise it)")
    thw = shape[2:]
    out = spine_output(spine, thw)
    if min(out) < 1:
        t, h, w = min_size
        raise ValueError(
            f"{name} expects {want} with T ≥ {t}, H ≥ {h}, W ≥ {w} for its strides; got shape {shape}"
        )
    if output_size is not None and out != output_size:
        raise ValueError(
            f"{name} has fully connected layers over a fixed {output_size} map and expects its default clip "
            f"size; got shape {shape} (its final map would be {out})"
        )
