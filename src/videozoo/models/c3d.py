"""C3D (Tran et al., ICCV 2015): eight 3×3×3 convs, five pools, two 4096-d fully connected layers.

::

    conv1a 64 → pool1 1×2×2
    conv2a 128 → pool2 2×2×2
    conv3a, conv3b 256 → pool3
    conv4a, conv4b 512 → pool4
    conv5a, conv5b 512 → pool5 (ceil mode in Caffe's C3D: 1×4×4 at 16×112×112, fc6 takes 8192)
    fc6 4096 → ReLU → dropout
    fc7 4096 → ReLU → dropout
    fc8 num_classes

The paper's point is the fc6 feature under a linear classifier, so
``forward_features(x, layer=...)`` returns ``"pool5"`` (flattened), ``"fc6"`` or
``"fc7"`` (after their ReLU, as Caffe's in-place ReLU leaves them); the
default, ``"fc7"``, is the classifier's input.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from torch import Tensor, nn

from .base import VideoNet
from .layers import ClassifierHead, ConvNormAct, batch_norm, init_conv_weights, scaled_width
from .shapes import Window, check_clip, min_input_size, spine_output

LAYERS = (
    ("conv1a", 64), ("pool1", (1, 2, 2)),
    ("conv2a", 128), ("pool2", (2, 2, 2)),
    ("conv3a", 256), ("conv3b", 256), ("pool3", (2, 2, 2)),
    ("conv4a", 512), ("conv4b", 512), ("pool4", (2, 2, 2)),
    ("conv5a", 512), ("conv5b", 512), ("pool5", (2, 2, 2)),
)
FEATURE_LAYERS = ("pool5", "fc6", "fc7")


@dataclass(frozen=True)
class C3DSpec:
    """C3D as data.

    Attributes:
        batch_norm: BN after every conv (VMZ's variant; convs keep their bias, as VMZ's do).
        pool5_ceil: Caffe's ceil-mode pool5 (fc6 input 512×1×4×4 = 8192) or floor (VMZ: 4608).
        pool5_padding: pad pool5 by one in height and width instead (mmaction2's port of the Caffe weights:
            also 512×1×4×4, but its windows start one pixel earlier than Caffe's).
        fc_width: width of fc6 and fc7.
        clip: the clip the fully connected layers are sized for.
    """

    batch_norm: bool = False
    pool5_ceil: bool = True
    pool5_padding: bool = False
    fc_width: int = 4096
    dropout: float = 0.5
    clip: tuple[int, int, int] = (16, 112, 112)
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    in_channels: int = 3
    base_width: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.in_channels, int) or self.in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {self.in_channels!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def with_overrides(self, **overrides) -> C3DSpec:
        return replace(self, **overrides)


class C3D(VideoNet):
    """Input ``(B, in_channels, 16, 112, 112)`` (or the clip the spec names); logits ``(B, num_classes)``."""

    feature_layers = FEATURE_LAYERS

    def __init__(self, spec: C3DSpec, num_classes: int = 487, name: str = "c3d") -> None:
        super().__init__()
        self.spec = spec
        self.name = name
        self.in_channels = spec.in_channels
        norm = batch_norm(spec.bn_eps, spec.bn_momentum) if spec.batch_norm else None
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = spec.in_channels
        for layer, arg in LAYERS:
            if layer.startswith("conv"):
                width = scaled_width(arg, spec.base_width)
                layers[layer] = ConvNormAct(channels, width, 3, norm=norm, bias=True)
                channels = width
            else:
                pool5 = layer == "pool5"
                layers[layer] = nn.MaxPool3d(arg, arg, padding=(0, 1, 1) if pool5 and spec.pool5_padding else 0,
                                             ceil_mode=pool5 and spec.pool5_ceil and not spec.pool5_padding)
        self.features = nn.Sequential(layers)
        self.spine = [Window.of(m) for m in self.features.modules() if isinstance(m, (nn.Conv3d, nn.MaxPool3d))]
        self.min_size = min_input_size(self.spine)
        self.pool5_size = self.output_size = spine_output(self.spine, spec.clip)
        if min(self.pool5_size) < 1:
            raise ValueError(f"C3D clip {spec.clip} is too small for its five pools")
        fc_in = channels * self.pool5_size[0] * self.pool5_size[1] * self.pool5_size[2]
        self.fc6 = nn.Linear(fc_in, spec.fc_width)
        self.fc7 = nn.Linear(spec.fc_width, spec.fc_width)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(spec.dropout)
        self.num_features = spec.fc_width
        self.head = ClassifierHead(spec.fc_width, num_classes)  # fc8
        init_conv_weights(self)
        for fc in (self.fc6, self.fc7):
            nn.init.normal_(fc.weight, 0, 0.005)
            nn.init.constant_(fc.bias, 0.1 if not spec.batch_norm else 0.0)

    @property
    def head_description(self) -> str:
        """What the head sees, for the model card."""
        return "pool5 flattened into fc6: the clip size is fixed by fc6's input"

    @property
    def map_channels(self) -> int:
        return self.features.conv5b.conv.out_channels

    def forward_map(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → conv5b's map ``(B, 512, T/8, H/16, W/16)``, before pool5: any clip the five
        pools take (only fc6 fixes the size)."""
        check_clip(x, name=self.name, in_channels=self.in_channels, spine=self.spine, min_size=self.min_size)
        return self.features[:-1](x)

    def forward_features(self, x: Tensor, layer: str = "fc7") -> Tensor:
        """``(B, C, T, H, W)`` → the named layer's output: ``pool5`` ``(B, 512·t·h·w)``, ``fc6`` or ``fc7``
        ``(B, 4096)`` (after ReLU; dropout only in training)."""
        if layer not in FEATURE_LAYERS:
            raise ValueError(f"{self.name} has no feature layer {layer!r}; expected one of {', '.join(FEATURE_LAYERS)}")
        self.check_input(x)
        x = self.features(x).flatten(1)
        if layer == "pool5":
            return x
        x = self.relu(self.fc6(x))
        if layer == "fc6":
            return x
        return self.relu(self.fc7(self.dropout(x)))

    def forward_head(self, features: Tensor) -> Tensor:
        """fc7's output ``(B, 4096)`` → dropout → fc8 → logits."""
        return self.head(self.dropout(features))
