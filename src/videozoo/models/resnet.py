"""One residual skeleton for R2D, f-R2D, R3D, MCx, rMCx, R(2+1)D, ip/ir-CSN and P3D.

::

    clip (B, C, T, H, W)
      │
      ▼
    stem ─── conv unit (kind, t×7×7, stride st×2×2) [→ max-pool] [→ basic blocks]
      │
      ▼
    layer1 ── conv2_x ┐
    layer2 ── conv3_x │ each a stack of basic or bottleneck blocks whose
    layer3 ── conv4_x │ spatiotemporal conv is the stage's kind (or a cycle
    layer4 ── conv5_x ┘ of kinds, for P3D); [temporal max-pool between stages]
      │                                        = forward_map(x)  (B, D, T', H', W')
      ▼
    global average (or max) pool → (B, D)   = forward_features(x)
      │
      ▼
    dropout → fc → (B, num_classes) = forward(x)

A network is a :class:`ResNetSpec`: a row of data. The differences between
the papers' networks (which conv each stage uses, where the stride sits,
what the stem does) are fields of that row, not subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import cycle

from torch import Tensor, nn

from .base import VideoNet
from .layers import (
    ClassifierHead,
    NormLayer,
    batch_norm,
    conv_kind,
    init_conv_weights,
    r2plus1d_mid_channels,
    scaled_width,
    spatiotemporal_conv,
)
from .shapes import Triple, Window, min_input_size

StageConv = str | tuple[str, ...]  # a kind, or kinds cycled block by block over the network (P3D)


@dataclass(frozen=True)
class ResNetSpec:
    """A residual network as data.

    Attributes:
        block: ``"basic"`` (two k×k convs) or ``"bottleneck"`` (1×1×1, k×k, 1×1×1 ×4).
        layers: blocks per stage, conv2_x … conv5_x.
        convs: conv kind per stage (see :mod:`videozoo.models.layers`); a tuple of
            kinds cycles block by block, counting across all stages that cycle.
        stem_kind: conv kind of the stem (``"3d"``, ``"2d"``, ``"2+1d"``).
        stem_temporal_kernel: t of the stem's t×7×7 (R2D: the clip length).
        stem_temporal_padding: None for "same"; 0 to collapse time (R2D).
        stem_temporal_stride, stem_spatial_stride: the stem's stride.
        stem_mid_channels: the (2+1)D stem's intermediate width (45 in the paper).
        stem_kernel: k of the stem's t×k×k (7; VMZ's audio nets: 3).
        stem_width: the stem's output width (64; VMZ's audio nets: 16).
        stem_norm: False for a stem conv with a bias and neither BatchNorm nor ReLU (VMZ's audio nets).
        stem_pool: ``(kernel, stride, padding)`` of a max-pool after the stem, or None.
        stem_blocks: ``(count, width)`` of basic blocks that end the stem, the first striding 2 in space
            (VMZ's audio nets: three at 32 wide, between their first conv and conv2_x); ``(0, 0)``: none.
        widths: block width per stage (bottleneck output is 4× this).
        temporal_strides: per stage; None derives 2 for stages 2–4 whose conv
            has temporal extent and 1 otherwise.
        spatial_strides: per stage (the papers: 1, 2, 2, 2; pytorchvideo's R(2+1)D-R50 strides in res2 too).
        shortcut: the projection shortcut's conv: ``"1x1"`` (1×1×1, the papers) or ``"2+1d"`` (a 1×1×1
            spatial then a 1×1×1 temporal conv with (2+1)D's width rule at t = 3, as mmaction2's R(2+1)D builds it).
        stride_on: where a bottleneck strides: ``"conv2"`` (the k×k conv;
            torchvision, VMZ) or ``"conv1"`` (the first 1×1×1; Caffe ResNet, P3D).
        temporal_pool_after: stages after which a 2×1×1 max-pool halves time (P3D, C2D, I3D-R50).
        conv1_temporal: per stage, the temporal kernel of each bottleneck's first conv (1: the usual
            1×1×1; 3: inflated to 3×1×1, as Slow and I3D-R50 do), or a tuple cycled over the stage's blocks.
        mid_channels: (2+1)D width rule, ``"per_conv"`` (paper, VMZ: each conv its
            own M) or ``"per_block"`` (torchvision: the block's first conv's M for both).
        bn_eps, bn_momentum: BatchNorm settings (PyTorch momentum convention).
        dropout: before the classifier.
        feature_pool: how the last map becomes the feature: ``"avg"`` (the papers) or ``"max"`` (VMZ's audio nets).
        in_channels: 3 for RGB, 2 for optical flow, 1 for grey.
        base_width: multiply every width by ``base_width / 64`` (tiny test models).
        zero_init_residual: start each block's last BN at zero (identity blocks).
    """

    block: str
    layers: tuple[int, int, int, int]
    convs: tuple[StageConv, StageConv, StageConv, StageConv]
    stem_kind: str = "3d"
    stem_temporal_kernel: int = 3
    stem_temporal_padding: int | None = None
    stem_temporal_stride: int = 1
    stem_spatial_stride: int = 2
    stem_mid_channels: int = 45
    stem_kernel: int = 7
    stem_width: int = 64
    stem_norm: bool = True
    stem_pool: tuple[Triple, Triple, Triple] | None = None
    stem_blocks: tuple[int, int] = (0, 0)
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    temporal_strides: tuple[int, int, int, int] | None = None
    spatial_strides: tuple[int, int, int, int] = (1, 2, 2, 2)
    shortcut: str = "1x1"
    stride_on: str = "conv2"
    temporal_pool_after: tuple[int, ...] = ()
    conv1_temporal: tuple[int | tuple[int, ...], ...] | None = None
    mid_channels: str = "per_conv"
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    dropout: float = 0.0
    feature_pool: str = "avg"
    in_channels: int = 3
    base_width: int = 64
    zero_init_residual: bool = False

    def __post_init__(self) -> None:
        if self.block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {self.block!r}")
        if self.mid_channels not in ("per_conv", "per_block"):
            raise ValueError(f"mid_channels must be 'per_conv' or 'per_block', got {self.mid_channels!r}")
        if self.shortcut not in ("1x1", "2+1d"):
            raise ValueError(f"shortcut must be '1x1' or '2+1d', got {self.shortcut!r}")
        if self.stride_on not in ("conv1", "conv2"):
            raise ValueError(f"stride_on must be 'conv1' or 'conv2', got {self.stride_on!r}")
        for name in ("in_channels", "base_width", "stem_temporal_kernel", "stem_temporal_stride",
                     "stem_spatial_stride", "stem_mid_channels", "stem_kernel", "stem_width"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if len(self.stem_blocks) != 2 or min(self.stem_blocks) < 0:
            raise ValueError(f"stem_blocks is (count, width), got {self.stem_blocks!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.conv1_temporal is not None and (len(self.conv1_temporal) != 4 or self.block != "bottleneck"):
            raise ValueError("conv1_temporal takes one entry per stage (4), and only for bottleneck blocks")

    def with_overrides(self, **overrides) -> ResNetSpec:
        return replace(self, **overrides)


def _as_tuple(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


def _stage_temporal_strides(spec: ResNetSpec) -> tuple[int, ...]:
    if spec.temporal_strides is not None:
        return spec.temporal_strides

    def temporal(kinds: StageConv) -> bool:
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        return any(conv_kind(k).temporal for k in kinds)

    return tuple(1 if i == 0 or not temporal(c) else 2 for i, c in enumerate(spec.convs))


class BasicBlock(nn.Module):
    """Two k×k convs of one kind with a shortcut.

    ::

        x ─► conv1 (kind, stride) ─► conv2 (kind) ─► (+) ─► ReLU
        └──────────── shortcut: identity or 1×1×1 projection ─┘
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, kind: str, stride: tuple[int, int],
                 spec: ResNetSpec, norm: NormLayer, conv1_t: int = 1) -> None:
        super().__init__()
        out = width
        mid1 = mid2 = None
        rule = conv_kind(kind).mid_rule  # (2+1)D: M matches the parameters of the t×k×k conv it replaces
        if rule is not None:
            mid1 = rule(in_channels, out)
            # per_block: torchvision reuses the first conv's M for the second.
            mid2 = mid1 if spec.mid_channels == "per_block" else rule(out, out)
        self.conv1 = spatiotemporal_conv(kind, in_channels, out, stride=stride, mid_channels=mid1, norm=norm)
        self.conv2 = spatiotemporal_conv(kind, out, out, mid_channels=mid2, norm=norm, act=False)
        self.shortcut = _shortcut(in_channels, out, stride, norm, spec.shortcut)
        self.relu = nn.ReLU(inplace=True)

    @property
    def last_bn(self) -> nn.Module:
        return _last_bn(self.conv2)

    @property
    def branch(self) -> tuple[nn.Module, ...]:
        """The residual branch's units in the order they run (the CPU inference path fuses the join into the last)."""
        return self.conv1, self.conv2

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1×1 down, k×k of the stage's kind, 1×1×1 up (×4), with a shortcut.

    ::

        x ─► conv1 1×1×1 ─► conv2 (kind) ─► conv3 1×1×1 ─► (+) ─► ReLU
        └────────── shortcut: identity or 1×1×1 projection ──┘

    The stride sits on conv2 (torchvision, VMZ, CSN) or conv1 (Caffe ResNet, P3D).
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, kind: str, stride: tuple[int, int],
                 spec: ResNetSpec, norm: NormLayer, conv1_t: int = 1) -> None:
        super().__init__()
        out = width * self.expansion
        stride1, stride2 = (stride, (1, 1)) if spec.stride_on == "conv1" else ((1, 1), stride)
        mid = None
        rule = conv_kind(kind).mid_rule
        if rule is not None:
            mid = rule(in_channels if spec.mid_channels == "per_block" else width, width)
        # conv1_t > 1: the "inflated" first conv of Slow / I3D-R50 bottlenecks, t×1×1.
        self.conv1 = spatiotemporal_conv("1x1" if conv1_t == 1 else "3d", in_channels, width, stride=stride1,
                                         kernel=(conv1_t, 1), norm=norm)
        self.conv2 = spatiotemporal_conv(kind, width, width, stride=stride2, mid_channels=mid, norm=norm)
        self.conv3 = spatiotemporal_conv("1x1", width, out, norm=norm, act=False)
        self.shortcut = _shortcut(in_channels, out, stride, norm, spec.shortcut)
        self.relu = nn.ReLU(inplace=True)

    @property
    def last_bn(self) -> nn.Module:
        return self.conv3.bn

    @property
    def branch(self) -> tuple[nn.Module, ...]:
        """The residual branch's units in the order they run."""
        return self.conv1, self.conv2, self.conv3

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _shortcut(in_channels: int, out_channels: int, stride: tuple[int, int], norm: NormLayer,
              kind: str = "1x1") -> nn.Module:
    if stride == (1, 1) and in_channels == out_channels:
        return nn.Identity()
    if kind == "2+1d":
        mid = r2plus1d_mid_channels(in_channels, out_channels, t=3, k=1)
        return spatiotemporal_conv("2+1d", in_channels, out_channels, stride=stride, kernel=(1, 1), mid_channels=mid,
                                   norm=norm, act=False)
    return spatiotemporal_conv("1x1", in_channels, out_channels, stride=stride, norm=norm, act=False)


def _last_bn(unit: nn.Module) -> nn.Module:
    return [m for m in unit.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)][-1]


class VideoResNet(VideoNet):
    """The residual skeleton; build it from a :class:`ResNetSpec` (see the module docstring).

    Input ``(B, in_channels, T, H, W)`` float; ``forward`` returns logits
    ``(B, num_classes)``, ``forward_features`` the pooled embedding ``(B, D)``.
    """

    def __init__(self, spec: ResNetSpec, num_classes: int = 400, name: str = "video_resnet") -> None:
        super().__init__()
        self.spec = spec
        self.name = name
        norm = batch_norm(spec.bn_eps, spec.bn_momentum)
        widths = [scaled_width(w, spec.base_width) for w in spec.widths]
        stem_width = scaled_width(spec.stem_width, spec.base_width)
        self.in_channels = spec.in_channels

        self.stem = self._make_stem(spec, stem_width, norm)
        stem_layers = [self.stem.conv, *([self.stem.pool] if spec.stem_pool is not None else [])]
        spine = [Window.of(m) for layer in stem_layers for m in layer.modules()
                 if isinstance(m, (nn.Conv3d, nn.MaxPool3d))]
        if spec.stem_blocks[0]:
            spine.append(Window((1, 3, 3), (1, 2, 2), (0, 1, 1)))  # the first stem block's strided 3×3

        block = BLOCKS[spec.block]
        kinds = self._block_kinds(spec)
        t_strides = _stage_temporal_strides(spec)
        channels = scaled_width(spec.stem_blocks[1], spec.base_width) if spec.stem_blocks[0] else stem_width
        for i, (n_blocks, width) in enumerate(zip(spec.layers, widths, strict=True)):
            stride = (t_strides[i], spec.spatial_strides[i])
            blocks = []
            conv1_t = cycle(_as_tuple(spec.conv1_temporal[i] if spec.conv1_temporal else 1))
            for j in range(n_blocks):
                blocks.append(block(channels, width, next(kinds[i]), stride if j == 0 else (1, 1), spec, norm,
                                    next(conv1_t)))
                channels = width * block.expansion
            if i in spec.temporal_pool_after:
                blocks.append(nn.MaxPool3d((2, 1, 1), (2, 1, 1)))
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            # Strided convs here all pad to "same", so the stage acts on sizes like a 3-wide window.
            st, ss = stride
            spine.append(Window((3 if st > 1 else 1, 3 if ss > 1 else 1, 3 if ss > 1 else 1),
                                (st, ss, ss), (1 if st > 1 else 0, 1 if ss > 1 else 0, 1 if ss > 1 else 0)))
            if i in spec.temporal_pool_after:
                spine.append(Window((2, 1, 1), (2, 1, 1)))
        self.spine = spine
        self.min_size = min_input_size(spine)
        self.num_features = channels
        self.head = ClassifierHead(channels, num_classes, spec.dropout, spec.feature_pool)

        init_conv_weights(self)
        if spec.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_bn.weight)

    @staticmethod
    def _make_stem(spec: ResNetSpec, width: int, norm: NormLayer) -> nn.Sequential:
        t = spec.stem_temporal_kernel
        pad_t = t // 2 if spec.stem_temporal_padding is None else spec.stem_temporal_padding
        mid = scaled_width(spec.stem_mid_channels, spec.base_width)
        k = spec.stem_kernel
        stem = nn.Sequential()
        stem.add_module("conv", spatiotemporal_conv(
            spec.stem_kind, spec.in_channels, width, kernel=(t, k), padding=(pad_t, k // 2),
            stride=(spec.stem_temporal_stride, spec.stem_spatial_stride), mid_channels=mid,
            norm=norm if spec.stem_norm else None, act=spec.stem_norm,
        ))
        if spec.stem_pool is not None:
            kernel, stride, padding = spec.stem_pool
            stem.add_module("pool", nn.MaxPool3d(kernel, stride, padding))
        count, block_width = spec.stem_blocks
        if count:
            block_width = scaled_width(block_width, spec.base_width)
            stem.add_module("blocks", nn.Sequential(*(
                BasicBlock(width if j == 0 else block_width, block_width, "2d", (1, 2 if j == 0 else 1), spec, norm)
                for j in range(count))))
        return stem

    @staticmethod
    def _block_kinds(spec: ResNetSpec) -> list:
        """An iterator of conv kinds per stage; cycling stages share one cycle, as P3D counts blocks."""
        cycled = [c for c in spec.convs if not isinstance(c, str)]
        shared = cycle(cycled[0]) if cycled else None
        return [cycle((c,)) if isinstance(c, str) else shared for c in spec.convs]

    @property
    def stages(self) -> list[nn.Sequential]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward_map(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → the last stage's map ``(B, D, T', H', W')``."""
        self.check_input(x)
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → pooled embedding ``(B, D)``."""
        return self.head.pool(self.forward_map(x))

