"""Building blocks shared by every skeleton.

The one idea of the zoo lives here: :func:`spatiotemporal_conv` turns a conv
*kind* into a module, so a network says "this stage is (2+1)D" and the
skeleton never cares how that is built.

Every unit returned here is conv → BatchNorm (→ ReLU): it takes
``(B, C_in, T, H, W)`` and returns ``(B, C_out, T', H', W')`` already
normalised, so blocks compose units without knowing what is inside.

Kinds (``t`` the temporal kernel, ``k`` the spatial one):

=========  ==============================================================
``3d``     one t×k×k convolution (C3D, R3D)
``2d``     one 1×k×k convolution: no temporal extent (R2D, MCx upper stages)
``2+1d``   1×k×k to M channels, BN, ReLU, then t×1×1 (R(2+1)D); M from the
           paper's parameter-matching formula unless given
``sep``    1×k×k then t×1×1 with M = C_out (S3D's separable conv)
``t+2d``   t×1×1 then 1×k×k, M = C_out: time first (pytorchvideo's R(2+1)D-R50)
``ir``     t×k×k depthwise (interaction-reduced CSN)
``ip``     1×1×1 then t×k×k depthwise (interaction-preserved CSN)
``p3d-a``  S then T in series: T(S(x))            (P3D-A)
``p3d-b``  S and T in parallel: S(x) + T(x)       (P3D-B)
``p3d-c``  S, then T on top as a residual: S(x) + T(S(x))  (P3D-C)
``1x1``    pointwise 1×1×1
=========  ==============================================================
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import Tensor, nn

Triple = tuple[int, int, int]
NormLayer = Callable[[int], nn.Module]



def batch_norm(eps: float = 1e-5, momentum: float = 0.1) -> NormLayer:
    """A BatchNorm3d factory with the given eps and (PyTorch-convention) momentum."""
    return partial(nn.BatchNorm3d, eps=eps, momentum=momentum)


def scaled_width(width: int, base_width: int) -> int:
    """``width`` at ``base_width / 64`` of the published network (``base_width=64`` is the paper's)."""
    return max(1, round(width * base_width / 64))


def as_triple(value: int | tuple[int, ...]) -> Triple:
    if isinstance(value, int):
        return (value, value, value)
    if len(value) != 3:
        raise ValueError(f"expected an int or 3 values (t, h, w), got {value!r}")
    return tuple(value)  # type: ignore[return-value]


def same_padding(kernel: Triple) -> Triple:
    return tuple(k // 2 for k in kernel)  # type: ignore[return-value]


class ConvNormAct(nn.Module):
    """Conv3d → BatchNorm3d → optional ReLU.

    ``(B, C_in, T, H, W)`` → ``(B, C_out, T', H', W')``. ``norm=None`` drops the BN
    (C3D); the conv has a bias when there is no BN, unless ``bias`` says otherwise.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | Triple,
        stride: int | Triple = 1,
        padding: int | Triple | None = None,
        groups: int = 1,
        norm: NormLayer | None = nn.BatchNorm3d,
        act: bool = True,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        kernel = as_triple(kernel)
        padding = same_padding(kernel) if padding is None else as_triple(padding)
        self.conv = nn.Conv3d(
            in_channels, out_channels, kernel, as_triple(stride), padding, groups=groups,
            bias=norm is None if bias is None else bias,
        )
        self.bn = norm(out_channels) if norm is not None else nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class ParallelSum(nn.Module):
    """P3D-B: two units on the same input, outputs added. ``S(x) + T(x)``."""

    def __init__(self, spatial: nn.Module, temporal: nn.Module) -> None:
        super().__init__()
        self.spatial = spatial
        self.temporal = temporal

    def forward(self, x: Tensor) -> Tensor:
        return self.spatial(x) + self.temporal(x)


class ResidualTemporal(nn.Module):
    """P3D-C: the temporal unit sits on top of the spatial one as a residual. ``S(x) + T(S(x))``."""

    def __init__(self, spatial: nn.Module, temporal: nn.Module) -> None:
        super().__init__()
        self.spatial = spatial
        self.temporal = temporal

    def forward(self, x: Tensor) -> Tensor:
        s = self.spatial(x)
        return s + self.temporal(s)


def r2plus1d_mid_channels(in_channels: int, out_channels: int, t: int = 3, k: int = 3) -> int:
    """M = ⌊t·k²·N_in·N_out / (k²·N_in + t·N_out)⌋: the (2+1)D width with the parameters of t×k×k."""
    return (t * k * k * in_channels * out_channels) // (k * k * in_channels + t * out_channels)


@dataclass(frozen=True)
class ConvArgs:
    """What a conv kind's maker builds from: widths, ``(t, k)`` kernel, ``(st, ss)`` stride, ``(pt, ps)``
    padding, the intermediate width (None: the kind's own rule), the norm, and whether the unit ends in ReLU."""

    in_channels: int
    out_channels: int
    t: int
    k: int
    st: int
    ss: int
    pt: int
    ps: int
    mid_channels: int | None
    norm: NormLayer | None
    act: bool

    def unit(self, c_in: int, c_out: int, kernel: Triple | int, stride: Triple | int = 1,
             padding: Triple | int = 0, groups: int = 1, act: bool | None = None) -> ConvNormAct:
        return ConvNormAct(c_in, c_out, kernel, stride, padding, groups, norm=self.norm,
                           act=self.act if act is None else act)

    def spatial(self, c_in: int, c_out: int, stride: int | None = None, act: bool | None = None) -> ConvNormAct:
        """1×k×k, the spatial stride (``stride`` in time, default 1)."""
        return self.unit(c_in, c_out, (1, self.k, self.k), (stride or 1, self.ss, self.ss), (0, self.ps, self.ps),
                         act=act)

    def temporal(self, c_in: int, c_out: int, spatial_stride: int = 1, act: bool | None = None) -> ConvNormAct:
        """t×1×1, the temporal stride."""
        return self.unit(c_in, c_out, (self.t, 1, 1), (self.st, spatial_stride, spatial_stride), (self.pt, 0, 0),
                         act=act)

    def full(self, c_in: int, c_out: int, groups: int = 1, act: bool | None = None) -> ConvNormAct:
        """t×k×k with both strides."""
        return self.unit(c_in, c_out, (self.t, self.k, self.k), (self.st, self.ss, self.ss),
                         (self.pt, self.ps, self.ps), groups, act)


@dataclass(frozen=True)
class ConvKind:
    """One conv kind: its maker (:class:`ConvArgs` → module), whether its kernel reaches across frames (a stage
    of it may stride in time), and, where the kind matches a t×k×k conv's parameters with an intermediate
    width, that width's rule ``(c_in, c_out) → M`` (blocks apply it with their own width policy)."""

    make: Callable[[ConvArgs], nn.Module]
    temporal: bool = True
    mid_rule: Callable[[int, int], int] | None = None


def _ir(a: ConvArgs) -> nn.Module:
    if a.in_channels != a.out_channels:
        raise ValueError(f"an ir (depthwise) conv keeps its width: got {a.in_channels} → {a.out_channels}")
    return a.full(a.in_channels, a.out_channels, groups=a.in_channels)


def _ip(a: ConvArgs) -> nn.Module:
    return nn.Sequential(OrderedDict(
        pointwise=a.unit(a.in_channels, a.out_channels, 1, act=False),
        depthwise=a.full(a.out_channels, a.out_channels, groups=a.out_channels),
    ))


def _spatial_then_temporal(a: ConvArgs) -> nn.Module:
    mid = a.out_channels if a.mid_channels is None else a.mid_channels
    return nn.Sequential(OrderedDict(spatial=a.spatial(a.in_channels, mid, act=True),
                                     temporal=a.temporal(mid, a.out_channels)))


def _r2plus1d(a: ConvArgs) -> nn.Module:
    mid = r2plus1d_mid_channels(a.in_channels, a.out_channels, a.t, a.k) if a.mid_channels is None else \
        a.mid_channels
    return _spatial_then_temporal(replace(a, mid_channels=mid))


def _temporal_then_spatial(a: ConvArgs) -> nn.Module:
    return nn.Sequential(OrderedDict(temporal=a.temporal(a.in_channels, a.out_channels, act=True),
                                     spatial=a.spatial(a.out_channels, a.out_channels)))


def _p3d_spatial(a: ConvArgs, kind: str) -> nn.Module:
    if not a.act:  # both branches end activated, so the sum is post-activation as in P3D
        raise ValueError(f"{kind} ends in a sum of activated branches; it cannot be the last unit of a block")
    return a.spatial(a.in_channels, a.out_channels)


def _p3d_b(a: ConvArgs) -> nn.Module:
    return ParallelSum(_p3d_spatial(a, "p3d-b"), a.temporal(a.in_channels, a.out_channels, spatial_stride=a.ss))


def _p3d_c(a: ConvArgs) -> nn.Module:
    return ResidualTemporal(_p3d_spatial(a, "p3d-c"), a.temporal(a.out_channels, a.out_channels))


# The conv kinds, one entry each: a new kind is one more row (see docs/models.md).
CONV_MAKERS: dict[str, ConvKind] = {
    "3d": ConvKind(lambda a: a.full(a.in_channels, a.out_channels)),
    "2d": ConvKind(lambda a: a.spatial(a.in_channels, a.out_channels, stride=a.st), temporal=False),
    "2+1d": ConvKind(_r2plus1d, mid_rule=r2plus1d_mid_channels),
    "sep": ConvKind(_spatial_then_temporal),
    "t+2d": ConvKind(_temporal_then_spatial),
    "ir": ConvKind(_ir),
    "ip": ConvKind(_ip),
    "p3d-a": ConvKind(_spatial_then_temporal),
    "p3d-b": ConvKind(_p3d_b),
    "p3d-c": ConvKind(_p3d_c),
    "1x1": ConvKind(lambda a: a.unit(a.in_channels, a.out_channels, 1, (a.st, a.ss, a.ss)), temporal=False),
}


def conv_kind(kind: str) -> ConvKind:
    """The :class:`ConvKind` named ``kind`` (a clear error naming the kinds for an unknown one)."""
    if kind not in CONV_MAKERS:
        raise ValueError(f"unknown conv kind {kind!r}; expected one of {', '.join(CONV_MAKERS)}")
    return CONV_MAKERS[kind]


def spatiotemporal_conv(
    kind: str,
    in_channels: int,
    out_channels: int,
    *,
    stride: tuple[int, int] = (1, 1),
    kernel: tuple[int, int] = (3, 3),
    mid_channels: int | None = None,
    norm: NormLayer | None = nn.BatchNorm3d,
    act: bool = True,
    padding: tuple[int, int] | None = None,
) -> nn.Module:
    """Build one normalised spatiotemporal conv unit of the given kind.

    Args:
        kind: a key of :data:`CONV_MAKERS`.
        stride: ``(temporal, spatial)`` stride.
        kernel: ``(t, k)``: temporal and spatial kernel size.
        mid_channels: the intermediate width of two-conv kinds; the kind's own rule when None.
        norm: the BatchNorm factory; None for convs with a bias and no BatchNorm.
        act: end with ReLU (False for the last unit of a residual branch).
        padding: ``(temporal, spatial)``; "same" (kernel // 2) when None.

    Returns a module mapping ``(B, in_channels, T, H, W)`` to
    ``(B, out_channels, T/st, H/ss, W/ss)``.
    """
    (st, ss), (t, k) = stride, kernel
    pt, ps = (t // 2, k // 2) if padding is None else padding
    maker = conv_kind(kind)
    return maker.make(ConvArgs(in_channels, out_channels, t, k, st, ss, pt, ps, mid_channels, norm, act))


class ClassifierHead(nn.Module):
    """Global pool (average, or max as VMZ's audio nets) → dropout → linear.

    ``pool(x)``: ``(B, C, T, H, W)`` → ``(B, C)``; ``forward(features)``: ``(B, C)`` → ``(B, num_classes)``.
    With ``num_classes=0`` there is no linear layer (a backbone: ``forward`` returns the features, as timm's).
    """

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0, pool: str = "avg") -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"the feature pool is 'avg' or 'max', got {pool!r}")
        self.in_features = in_features
        self.pool_mode = pool
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc: nn.Module = nn.Identity()
        self.reset(num_classes)

    @property
    def num_classes(self) -> int:
        return self.fc.out_features if isinstance(self.fc, nn.Linear) else 0

    def pool(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3, 4)) if self.pool_mode == "avg" else x.amax(dim=(2, 3, 4))

    def forward(self, features: Tensor) -> Tensor:
        return self.fc(self.dropout(features))

    def reset(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` outputs (none for 0), on the head's device and dtype."""
        if num_classes == 0:
            self.fc = nn.Identity()
            return
        self.fc = nn.Linear(self.in_features, num_classes)
        init_linear(self.fc)


def init_linear(fc: nn.Linear) -> None:
    nn.init.normal_(fc.weight, 0, 0.01)
    nn.init.zeros_(fc.bias)


def init_conv_weights(model: nn.Module) -> None:
    """He init for convs (fan-out, as torchvision and VMZ), BN to identity."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def count_parameters(model: nn.Module, *, batch_norm: bool = True) -> int:
    """Learnable parameters; with ``batch_norm=False`` BN's scale and shift are left out (the papers' rule)."""
    total = sum(p.numel() for p in model.parameters())
    if batch_norm:
        return total
    bn = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters(recurse=False)
    )
    return total - bn


@torch.no_grad()
def randomize_batch_norm(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """Give every BN random affine parameters and running statistics.

    Fresh BN layers are the identity in eval mode, which would hide a converter
    that puts BN tensors in the wrong place; tests and benchmarks call this first.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
            m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
            m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
