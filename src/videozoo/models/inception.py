"""One Inception skeleton for I2D, I3D, S3D, S3D-G and the bottom- and top-heavy variants.

The trunk is Inception-v1 inflated to video (Xie et al., ECCV 2018; TF
``s3dg.py``; torchvision ``s3d``), written as a table of endpoints::

    Conv2d_1a  7×7×7 /2, 64          ─┐
    MaxPool_2a 1×3×3 /(1,2,2)         │
    Conv2d_2b  1×1×1, 64              │ "bottom"
    Conv2d_2c  3×3×3, 192   [gate]    │
    MaxPool_3a 1×3×3 /(1,2,2)         │
    Mixed_3b, Mixed_3c               ─┘
    MaxPool_4a 3×3×3 /2              ─┐
    Mixed_4b … Mixed_4f               │ "top"
    MaxPool_5a 2×2×2 /2               │
    Mixed_5b, Mixed_5c               ─┘
    AvgPool 2×7×7 /1 → mean → dropout → fc

A Mixed block has four branches, concatenated::

    x ─┬─ 1×1×1 ───────────────────── [gate] ─┐
       ├─ 1×1×1 → k×k×k (conv kind) ── [gate] ─┤
       ├─ 1×1×1 → k×k×k (conv kind) ── [gate] ─┼─ concat
       └─ max-pool 3×3×3 → 1×1×1 ──── [gate] ─┘

Each conv endpoint is 2D, full 3D or separable (a row's ``conv`` kind, or 2D
on one side of ``boundary`` for the heavy variants), and S3D-G gates every
branch: Y = σ(W·pool(X) + b) ⊙ X.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import VideoNet
from .layers import (
    ClassifierHead,
    ConvNormAct,
    NormLayer,
    as_triple,
    batch_norm,
    init_conv_weights,
    scaled_width,
    spatiotemporal_conv,
)
from .shapes import Window, min_input_size

# (name, kind, arguments). Mixed: (b0, b1 reduce, b1, b2 reduce, b2, b3).
TRUNK = (
    ("Conv2d_1a", "conv", (64, 7, 2)),
    ("MaxPool_2a", "pool", ((1, 3, 3), (1, 2, 2), (0, 1, 1))),
    ("Conv2d_2b", "pointwise", 64),
    ("Conv2d_2c", "conv", (192, 3, 1)),
    ("MaxPool_3a", "pool", ((1, 3, 3), (1, 2, 2), (0, 1, 1))),
    ("Mixed_3b", "mixed", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", "mixed", (128, 128, 192, 32, 96, 64)),
    ("MaxPool_4a", "pool", ((3, 3, 3), (2, 2, 2), (1, 1, 1))),
    ("Mixed_4b", "mixed", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", "mixed", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", "mixed", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", "mixed", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", "mixed", (256, 160, 320, 32, 128, 128)),
    ("MaxPool_5a", "pool", ((2, 2, 2), (2, 2, 2), (0, 0, 0))),
    ("Mixed_5b", "mixed", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", "mixed", (384, 192, 384, 48, 128, 128)),
)
ENDPOINTS = tuple(name for name, _, _ in TRUNK)
HEAD_POOL = (2, 7, 7)  # the published head's average-pool window over Mixed_5c
CONV_ENDPOINTS = tuple(name for name, kind, _ in TRUNK if kind in ("conv", "mixed"))


@dataclass(frozen=True)
class InceptionSpec:
    """An Inception network as data.

    Attributes:
        conv: kind of every spatiotemporal conv: ``"3d"`` (I3D), ``"sep"`` (S3D), ``"2d"`` (I2D).
        layout: ``"uniform"``; ``"bottom"`` (bottom-heavy: ``conv`` below ``boundary``, 2D from it);
            ``"top"`` (top-heavy: 2D below ``boundary``, ``conv`` from it).
        boundary: the first endpoint of the upper part (the paper sweeps it).
        gating: S3D-G's self-gating after Conv2d_2c and on every Mixed branch.
        first_temporal_kernel: t of Conv2d_1a's t×7×7 (where it is not 2D).
        head_pool: ``"auto"`` (the published head, AvgPool 2×7×7 stride 1 then the mean, where the last map
            is at least 2×7×7, i.e. clips of about 13×209×209 and more: torchvision's outputs at 224; the global
            average below, as the peers' adaptive heads: 112 or 160 px crops fine-tune), ``"fixed"`` (always the
            published head: smaller clips are refused) or ``"global"`` (always the global average).
        padding: ``"symmetric"`` (static, as torchvision's S3D) or ``"tf_same"``: TensorFlow's "SAME",
            computed from each input's size, so a strided conv or pool over an even size pads one more at
            the end (DeepMind's I3D as piergiaj/pytorch-i3d runs it).
        bn_eps, bn_momentum, dropout, in_channels: as for the residual zoo.
        base_width: scales every width by ``base_width / 64`` (tiny test models).
    """

    conv: str = "3d"
    layout: str = "uniform"
    boundary: str = "Mixed_4b"
    gating: bool = False
    first_temporal_kernel: int = 7
    head_pool: str = "auto"
    padding: str = "symmetric"
    bn_eps: float = 1e-3
    bn_momentum: float = 0.1
    dropout: float = 0.2
    in_channels: int = 3
    base_width: int = 64

    def __post_init__(self) -> None:
        if self.conv not in ("3d", "sep", "2d"):
            raise ValueError(f"conv must be '3d', 'sep' or '2d', got {self.conv!r}")
        if self.layout not in ("uniform", "bottom", "top"):
            raise ValueError(f"layout must be 'uniform', 'bottom' or 'top', got {self.layout!r}")
        if self.boundary not in CONV_ENDPOINTS:
            raise ValueError(f"boundary must be one of {', '.join(CONV_ENDPOINTS)}, got {self.boundary!r}")
        if self.head_pool not in ("auto", "fixed", "global"):
            raise ValueError(f"head_pool must be 'auto', 'fixed' or 'global', got {self.head_pool!r}")
        if self.padding not in ("symmetric", "tf_same"):
            raise ValueError(f"padding must be 'symmetric' or 'tf_same', got {self.padding!r}")
        if not isinstance(self.in_channels, int) or self.in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {self.in_channels!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def with_overrides(self, **overrides) -> InceptionSpec:
        return replace(self, **overrides)

    def kind_at(self, endpoint: str) -> str:
        """The conv kind of one endpoint under this row's layout."""
        if self.layout == "uniform":
            return self.conv
        upper = CONV_ENDPOINTS.index(endpoint) >= CONV_ENDPOINTS.index(self.boundary)
        return self.conv if upper == (self.layout == "top") else "2d"

    def gated(self, endpoint: str) -> bool:
        return self.gating and endpoint != "Conv2d_1a"


def _pad_tf_same(module: nn.Conv3d | nn.MaxPool3d, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """A forward pre-hook: pad the input as TensorFlow's "SAME" would for this window and stride (the total is
    k − s, or k − size mod s, split with the extra one at the end). Zeros serve pools too: they follow ReLUs."""
    x = args[0]
    kernel, stride = (as_triple(module.kernel_size), as_triple(module.stride))
    pads: list[int] = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride, strict=True))):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return (F.pad(x, pads), *args[1:])


class SelfGating(nn.Module):
    """S3D-G's feature gating: Y = σ(W·avgpool(X) + b) ⊙ X, W of size C×C. Shape-preserving."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        weights = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * weights[:, :, None, None, None]


def _conv_endpoint(kind: str, in_ch: int, out_ch: int, kernel: int, stride: int, t_kernel: int,
                   norm: NormLayer) -> nn.Module:
    # A 2D endpoint keeps its temporal stride (TF s3dg: stride 2 in every dim at Conv2d_1a).
    t = 1 if kind == "2d" else t_kernel
    return spatiotemporal_conv(kind, in_ch, out_ch, stride=(stride, stride), kernel=(t, kernel), norm=norm)


class MixedBlock(nn.Module):
    """Inception-v1 block with four branches; ``(B, C_in, T, H, W)`` → ``(B, b0+b1+b2+b3, T, H, W)``."""

    def __init__(self, in_ch: int, widths: tuple[int, ...], kind: str, gated: bool, norm: NormLayer) -> None:
        super().__init__()
        b0, b1r, b1, b2r, b2, b3 = widths
        t = 1 if kind == "2d" else 3

        def gate(channels: int) -> dict:
            return {"gate": SelfGating(channels)} if gated else {}

        def pointwise(i: int, o: int) -> nn.Module:
            return ConvNormAct(i, o, 1, norm=norm)

        def spatiotemporal(i: int, o: int) -> nn.Module:
            return spatiotemporal_conv(kind, i, o, kernel=(t, 3), norm=norm)

        self.branch0 = nn.Sequential(OrderedDict(proj=pointwise(in_ch, b0), **gate(b0)))
        self.branch1 = nn.Sequential(OrderedDict(reduce=pointwise(in_ch, b1r), conv=spatiotemporal(b1r, b1),
                                                 **gate(b1)))
        self.branch2 = nn.Sequential(OrderedDict(reduce=pointwise(in_ch, b2r), conv=spatiotemporal(b2r, b2),
                                                 **gate(b2)))
        self.branch3 = nn.Sequential(OrderedDict(pool=nn.MaxPool3d(3, 1, 1), proj=pointwise(in_ch, b3),
                                                 **gate(b3)))
        self.out_channels = b0 + b1 + b2 + b3

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)


class Inception3D(VideoNet):
    """The Inception skeleton; build it from an :class:`InceptionSpec` (see the module docstring).

    Input ``(B, in_channels, T, H, W)`` float; ``forward`` returns logits ``(B, num_classes)``,
    ``forward_features`` the pooled 1024-d embedding ``(B, D)``, ``forward_endpoints`` the maps by name.
    """

    def __init__(self, spec: InceptionSpec, num_classes: int = 400, name: str = "inception3d") -> None:
        super().__init__()
        self.spec = spec
        self.name = name
        self.in_channels = spec.in_channels
        norm = batch_norm(spec.bn_eps, spec.bn_momentum)

        def width(c: int) -> int:
            return scaled_width(c, spec.base_width)

        features: OrderedDict[str, nn.Module] = OrderedDict()
        spine: list[Window] = []
        channels = spec.in_channels
        for endpoint, kind, args in TRUNK:
            if kind == "pool":
                features[endpoint] = nn.MaxPool3d(*args)
                spine.append(Window.of(features[endpoint]))
            elif kind == "pointwise":
                features[endpoint] = ConvNormAct(channels, width(args), 1, norm=norm)
                channels = width(args)
            elif kind == "conv":
                out, k, stride = args
                unit = _conv_endpoint(spec.kind_at(endpoint), channels, width(out), k, stride,
                                      spec.first_temporal_kernel if endpoint == "Conv2d_1a" else 3, norm)
                spine += [Window.of(m) for m in unit.modules() if isinstance(m, nn.Conv3d)]
                if spec.gated(endpoint):
                    unit = nn.Sequential(OrderedDict(conv=unit, gate=SelfGating(width(out))))
                features[endpoint] = unit
                channels = width(out)
            else:
                block = MixedBlock(channels, tuple(width(c) for c in args), spec.kind_at(endpoint),
                                   spec.gated(endpoint), norm)
                features[endpoint] = block
                channels = block.out_channels
        self.features = nn.Sequential(features)
        if spec.padding == "tf_same":  # strided windows only: at stride 1, "SAME" is the symmetric padding
            for m in self.features.modules():
                if isinstance(m, (nn.Conv3d, nn.MaxPool3d)) and max(as_triple(m.stride)) > 1:
                    m.padding = (0, 0, 0)
                    m.register_forward_pre_hook(_pad_tf_same)
        self.head_pool = nn.AvgPool3d(HEAD_POOL, stride=1) if spec.head_pool != "global" else nn.Identity()
        if spec.head_pool == "fixed":  # the published head's window is part of what the clip must cover
            spine.append(Window.of(self.head_pool))
        self.spine = spine
        self.min_size = min_input_size(spine)
        self.num_features = channels
        self.head = ClassifierHead(channels, num_classes, spec.dropout)
        init_conv_weights(self)

    def forward_endpoints(self, x: Tensor, until: str = "Mixed_5c") -> OrderedDict[str, Tensor]:
        """The trunk's maps by endpoint name (Conv2d_1a … Mixed_5c), up to ``until``."""
        if until not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {until!r}; expected one of {', '.join(ENDPOINTS)}")
        self.check_input(x)
        maps: OrderedDict[str, Tensor] = OrderedDict()
        for endpoint, module in self.features.named_children():
            x = maps[endpoint] = module(x)
            if endpoint == until:
                break
        return maps

    def forward_map(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → Mixed_5c's map ``(B, 1024, T', H', W')``."""
        self.check_input(x)
        return self.features(x)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → pooled embedding ``(B, 1024)``.

        The fixed head averages 2×7×7 windows, then all windows: the same
        numbers as torchvision's avgpool → 1×1×1 conv → mean, with the linear
        classifier applied once instead of per window.
        """
        x = self.forward_map(x)
        if self.spec.head_pool == "fixed" or (self.spec.head_pool == "auto"
                                              and all(n >= w for n, w in zip(x.shape[2:], HEAD_POOL, strict=True))):
            x = self.head_pool(x)
        return self.head.pool(x)

    @property
    def head_description(self) -> str:
        """What the head pools, for the model card."""
        return {"auto": "AvgPool 2×7×7 then the mean where the last map is at least 2×7×7 (the published head; "
                        "clips of about 13×209×209 and more), the global average below",
                "fixed": "AvgPool 2×7×7 then the mean (the published head; clips of about 13×209×209 and more)",
                "global": "global average pool (any clip)"}[self.spec.head_pool]
