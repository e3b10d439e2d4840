"""The sources' own networks, or their documented layouts, rebuilt for tests of the weight converters.

- VMZ's PyTorch port: torchvision's VideoResNet with VMZ's conv classes, rebuilt here from the port's
  documented structure.
- VMZ's Caffe2 pickles: no Caffe2 here, so :class:`Caffe2Net` runs VMZ's builder logic (blob names,
  block and conv numbering, strides, eps 1e-3) directly on a dict of blobs, creating each blob with
  the shape the builder asks for. It shares no code with the converter.
"""

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.models.video.resnet as tvr
from torch import nn

from videozoo.models.layers import randomize_batch_norm

# -- VMZ's PyTorch port: torchvision's skeleton with VMZ's conv classes ----------------------------------

class VmzConv2Plus1D(nn.Sequential):
    """VMZ's (2+1)D conv: each conv computes its own middle width (Caffe2's rule), ignoring torchvision's."""

    def __init__(self, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        mid = (in_planes * out_planes * 27) // (in_planes * 9 + 3 * out_planes)
        super().__init__(
            nn.Conv3d(in_planes, mid, (1, 3, 3), (1, stride, stride), (0, padding, padding), bias=False),
            nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, out_planes, (3, 1, 1), (stride, 1, 1), (padding, 0, 0), bias=False))

    @staticmethod
    def get_downsample_stride(stride):
        return (stride, stride, stride)


class VmzDepthwise(nn.Conv3d):
    def __init__(self, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        super().__init__(in_planes, out_planes, 3, stride, padding, groups=in_planes, bias=False)

    @staticmethod
    def get_downsample_stride(stride):
        return (stride, stride, stride)


class VmzIpDepthwise(nn.Sequential):
    def __init__(self, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        super().__init__(nn.Conv3d(in_planes, out_planes, 1, bias=False), nn.BatchNorm3d(out_planes),
                         VmzDepthwise(out_planes, out_planes, None, stride))

    @staticmethod
    def get_downsample_stride(stride):
        return (stride, stride, stride)


class VmzStemPool(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(64),
                         nn.ReLU(inplace=True), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))


def vmz_port(name: str, num_classes: int) -> nn.Module:
    block, conv, layers, stem = {
        "r2plus1d_34": (tvr.BasicBlock, VmzConv2Plus1D, [3, 4, 6, 3], tvr.R2Plus1dStem),
        "r2plus1d_152": (tvr.Bottleneck, VmzConv2Plus1D, [3, 8, 36, 3], tvr.R2Plus1dStem),
        "ir_csn_152": (tvr.Bottleneck, VmzDepthwise, [3, 8, 36, 3], VmzStemPool),
        "ip_csn_152": (tvr.Bottleneck, VmzIpDepthwise, [3, 8, 36, 3], VmzStemPool),
    }[name]
    model = tvr.VideoResNet(block, [conv] * 4, layers, stem, num_classes=num_classes)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.eps = 1e-3  # VMZ sets Caffe2's eps on every BatchNorm
    if not next(model.parameters()).is_meta:
        randomize_batch_norm(model, torch.Generator().manual_seed(3))
    return model


class Caffe2Net:
    """VMZ's Caffe2 ResNets (c2/lib/models/r3d_model.py, builder/video_model.py) run on a dict of blobs.

    Blobs are created on first use with the shape the builder asks for, so a first forward pass lays out
    a complete synthetic checkpoint; later passes read the same blobs. Final pooling is the global mean
    (Caffe2's AveragePool of the last map's size, at the clip the weights were trained on).
    """

    def __init__(self, model: str, depth: int, num_labels: int, seed: int = 0, meta: bool = False,
                 clip_length: int = 8):
        self.model, self.depth, self.num_labels = model, depth, num_labels
        self.clip_length = clip_length  # R2D's first conv spans the clip
        self.blobs: dict[str, torch.Tensor] = {}
        self.rng = np.random.default_rng(seed)
        self.meta = meta  # shapes only: blobs on the meta device, for layout checks of full-size networks
        self.prefix = ""  # the audio-visual builder's "v_" / "a_" (AudioModelBuilder / VideoModelBuilder prefix)

    def blob(self, name: str, shape: tuple) -> torch.Tensor:
        name = self.prefix + name
        if name not in self.blobs:
            if self.meta:
                self.blobs[name] = torch.empty(shape, device="meta")
            else:
                if name.endswith("_riv") or name.endswith("_s"):
                    value = self.rng.uniform(0.5, 1.5, shape)
                else:
                    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 10
                    value = self.rng.normal(0, (2 / fan_in) ** 0.5 if len(shape) > 1 else 0.1, shape)
                self.blobs[name] = torch.from_numpy(value.astype(np.float32))
        assert tuple(self.blobs[name].shape) == tuple(shape), name
        return self.blobs[name]

    def numpy_blobs(self) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.blobs.items()}

    def conv(self, x, name, cout, kernel, stride=(1, 1, 1), pads=(0, 0, 0), group=1):
        w = self.blob(f"{name}_w", (cout, x.shape[1] // group, *kernel))
        return F.conv3d(x, w, None, stride, pads, groups=group)

    def bn(self, x, name):
        c = x.shape[1]
        s, b, rm, riv = (self.blob(f"{name}_{k}", (c,)) for k in ("s", "b", "rm", "riv"))
        return F.batch_norm(x, rm, riv, s, b, False, 0.0, 1e-3)

    # builder.add_conv: one numbered conv of a block, of the block type
    def add_conv(self, x, comp, idx, cout, kernel, stride, pads, block_type):
        idx += 1
        cin = x.shape[1]
        if block_type == "2.5d" and kernel != (1, 1, 1):
            mid = int(3 * cin * cout * kernel[1] * kernel[2] / (cin * kernel[1] * kernel[2] + 3 * cout))
            x = self.conv(x, f"comp_{comp}_conv_{idx}_middle", mid, (1, *kernel[1:]), (1, *stride[1:]),
                          (0, *pads[1:]))
            x = F.relu(self.bn(x, f"comp_{comp}_spatbn_{idx}_middle"))
            return self.conv(x, f"comp_{comp}_conv_{idx}", cout, (kernel[0], 1, 1), (stride[0], 1, 1),
                             (pads[0], 0, 0)), idx
        if block_type == "0.3d" and kernel != (1, 1, 1):
            x = self.conv(x, f"comp_{comp}_conv_{idx}_middle", cout, (1, 1, 1))
            x = self.bn(x, f"comp_{comp}_spatbn_{idx}_middle")
            return self.conv(x, f"comp_{comp}_conv_{idx}", cout, kernel, stride, pads, group=cout), idx
        if block_type == "3d-sep" and kernel != (1, 1, 1):
            idx += 1  # add_channelwise_conv counts again
            return self.conv(x, f"comp_{comp}_conv_{idx}", cout, kernel, stride, pads, group=cin), idx
        return self.conv(x, f"comp_{comp}_conv_{idx}", cout, kernel, stride, pads), idx

    def block(self, x, comp, cout, base, down, block_type, bottleneck, real_3d=True):
        # is_real_3d=False (R2D, f-R2D and the 2D stages of MCx / rMCx): 1×3×3 convs, no temporal striding.
        stride = ((2, 2, 2) if real_3d else (1, 2, 2)) if down else (1, 1, 1)
        k3, p3 = ((3, 3, 3), (1, 1, 1)) if real_3d else ((1, 3, 3), (0, 1, 1))
        cin, shortcut, idx = x.shape[1], x, 0
        if bottleneck:
            x, idx = self.add_conv(x, comp, idx, base, (1, 1, 1), (1, 1, 1), (0, 0, 0), block_type)
            x = F.relu(self.bn(x, f"comp_{comp}_spatbn_{idx}"))
            x, idx = self.add_conv(x, comp, idx, base, k3, stride, p3, block_type)
            x = F.relu(self.bn(x, f"comp_{comp}_spatbn_{idx}"))
            x, idx = self.add_conv(x, comp, idx, cout, (1, 1, 1), (1, 1, 1), (0, 0, 0), block_type)
        else:
            x, idx = self.add_conv(x, comp, idx, cout, k3, stride, p3, block_type)
            x = F.relu(self.bn(x, f"comp_{comp}_spatbn_{idx}"))
            x, idx = self.add_conv(x, comp, idx, cout, k3, (1, 1, 1), p3, block_type)
        x = self.bn(x, f"comp_{comp}_spatbn_{idx}")
        if cout != cin or down:
            shortcut = self.conv(shortcut, f"shortcut_projection_{comp}", cout, (1, 1, 1), stride)
            shortcut = self.bn(shortcut, f"shortcut_projection_{comp}_spatbn")
        return F.relu(x + shortcut)

    def c3d(self, x: torch.Tensor) -> torch.Tensor:
        """VMZ's C3D (c2/lib/models/c3d_model.py): 3×3×3 convs with bias, BN, ReLU; floor max-pools; fc6, fc7."""
        pools = {"conv1a": (1, 2, 2), **{name: (2, 2, 2) for name in ("conv2a", "conv3b", "conv4b", "conv5b")}}
        for name, width in (("conv1a", 64), ("conv2a", 128), ("conv3a", 256), ("conv3b", 256), ("conv4a", 512),
                            ("conv4b", 512), ("conv5a", 512), ("conv5b", 512)):
            w = self.blob(f"{name}_w", (width, x.shape[1], 3, 3, 3))
            x = F.relu(self.bn(F.conv3d(x, w, self.blob(f"{name}_b", (width,)), 1, 1), f"{name}_bn"))
            if name in pools:
                x = F.max_pool3d(x, pools[name], pools[name])
        x = x.flatten(1)
        for name, width in (("fc6", 4096), ("fc7", 4096), (f"last_out_L{self.num_labels}", self.num_labels)):
            x = x @ self.blob(f"{name}_w", (width, x.shape[1])).T + self.blob(f"{name}_b", (width,))
            x = F.relu(x) if name.startswith("fc") else x
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.model == "c3d":
            return self.c3d(x)
        return self.fc(self.features(x), f"last_out_L{self.num_labels}", self.num_labels)

    def fc(self, x: torch.Tensor, name: str, width: int) -> torch.Tensor:
        return x @ self.blob(f"{name}_w", (width, x.shape[1])).T + self.blob(f"{name}_b", (width,))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The visual trunk, globally average-pooled (``v_final_avg`` at the trained clip)."""
        block_type = {"r2plus1d": "2.5d", "ir-csn": "3d-sep", "ip-csn": "0.3d"}.get(self.model, "3d")
        # Which of conv2_x … conv5_x are 3D (create_mcx: below conv{x}_x; create_rmcx: from conv{x}_x on).
        real_3d = {f"mc{x}": tuple(i < x - 2 for i in range(4)) for x in (2, 3, 4, 5)}
        real_3d |= {f"rmc{x}": tuple(i >= x - 2 for i in range(4)) for x in (2, 3, 4, 5)}
        real_3d |= {"r2d": (False,) * 4, "r2df": (False,) * 4}
        stages_3d = real_3d.get(self.model, (True,) * 4)
        if self.model.startswith(("mc", "r2d", "rmc")):  # create_mcx: 3×7×7; the others: L×7×7 or 1×7×7
            t = 3 if self.model.startswith("mc") else self.clip_length if self.model == "r2d" else 1
            x = self.conv(x, "conv1", 64, (t, 7, 7), (1, 2, 2), (1 if t == 3 else 0, 3, 3))
            x = F.relu(self.bn(x, "conv1_spatbn_relu"))
        elif block_type == "2.5d":
            x = F.relu(self.bn(self.conv(x, "conv1_middle", 45, (1, 7, 7), (1, 2, 2), (0, 3, 3)),
                               "conv1_middle_spatbn_relu"))
            x = F.relu(self.bn(self.conv(x, "conv1", 64, (3, 1, 1), (1, 1, 1), (1, 0, 0)), "conv1_spatbn_relu"))
        else:
            x = F.relu(self.bn(self.conv(x, "conv1", 64, (3, 7, 7), (1, 2, 2), (1, 3, 3)), "conv1_spatbn_relu"))
            if self.model.endswith("csn"):  # the CSN models use pool1
                x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        layers = LAYERS[self.depth]
        bottleneck = self.depth > 34
        filters = [[256, 64], [512, 128], [1024, 256], [2048, 512]] if bottleneck else \
            [[64, 64], [128, 128], [256, 256], [512, 512]]
        comp = 0
        for stage, n in enumerate(layers):
            for i in range(n):
                x = self.block(x, comp, filters[stage][0], filters[stage][1], stage > 0 and i == 0, block_type,
                               bottleneck, stages_3d[stage])
                comp += 1
        return x.mean(dim=(2, 3, 4))

    # -- G-Blend's audio-visual nets (c2/lib/models/audio_visual_model.py, builder/audio_model.py) ----------

    def conv2d(self, x, name, cout, kernel, stride=1, pad=0, bias=False):
        w = self.blob(f"{name}_w", (cout, x.shape[1], kernel, kernel))
        return F.conv2d(x, w, self.blob(f"{name}_b", (cout,)) if bias else None, stride, pad)

    def bn2d(self, x, name):
        return self.bn(x.unsqueeze(2), name).squeeze(2)

    def audio_block(self, x, comp, cout, base, down, bottleneck):
        """AudioModelBuilder.add_bottleneck / add_simple_block: the 3×3 strides, 1×1 projection on a change."""
        stride, cin, shortcut = 2 if down else 1, x.shape[1], x
        convs = ((1, base, 1), (3, base, stride), (1, cout, 1)) if bottleneck else ((3, cout, stride), (3, cout, 1))
        for idx, (k, width, s) in enumerate(convs, 1):
            x = self.bn2d(self.conv2d(x, f"comp_{comp}_conv_{idx}", width, k, s, k // 2), f"comp_{comp}_spatbn_{idx}")
            x = F.relu(x) if idx < len(convs) else x
        if cout != cin or down:
            shortcut = self.bn2d(self.conv2d(shortcut, f"shortcut_projection_{comp}", cout, 1, stride),
                                 f"shortcut_projection_{comp}_spatbn")
        return F.relu(x + shortcut)

    def audio_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 100, 40)`` log-Mels → ``a_final_avg`` (a 4×2 max-pool of the 4×2 map), ``(B, 2048)``."""
        x = self.conv2d(x, "conv1", 16, 3, 1, 1, bias=True)  # model.Conv: a bias, no BN, no ReLU
        comp = 0
        for down in (True, False, False):
            x = self.audio_block(x, comp, 32, 0, down, False)
            comp += 1
        filters = [[256, 64], [512, 128], [1024, 256], [2048, 512]]
        for stage, n in enumerate(LAYERS[self.depth]):
            for i in range(n):
                x = self.audio_block(x, comp, filters[stage][0], filters[stage][1], i == 0, True)
                comp += 1
        return F.max_pool2d(x, (4, 2), 1).flatten(1)

    def audio_visual(self, rgb: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """create_av_resnet with g_blend=True: the visual, audio and fused logits."""
        n = self.num_labels
        self.prefix = "v_"
        v = self.features(rgb)
        self.prefix = "a_"
        a = self.audio_features(audio)
        self.prefix = ""
        h = F.relu(self.fc(torch.cat([v, a], 1), "av_fc1", 2048))
        h = F.relu(self.fc(h, "av_fc2", 2048))
        return {"rgb": self.fc(v, f"v_last_out_L{n}", n), "audio": self.fc(a, f"a_last_out_L{n}", n),
                "fused": self.fc(h, f"last_out_L{n}", n)}


LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}




# -- mmaction2's ResNet3dCSN, rebuilt from its module tree (mmaction2 1.2.0's wheel does not import) ----------

class ConvModule(nn.Module):
    """mmcv's ConvModule: ``conv`` (no bias), ``bn`` (eps 1e-3 in ResNet3dCSN, 1e-5 in ResNet3d), optional ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0, groups=1, act=True, eps=1e-3):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=eps)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class MmCsnBottleneck(nn.Module):
    def __init__(self, cin, planes, stride, temporal_stride, mode):
        super().__init__()
        self.conv1 = ConvModule(cin, planes, 1)
        conv2 = [ConvModule(planes, planes, 1, act=False)] if mode == "ip" else []
        conv2.append(ConvModule(planes, planes, 3, (temporal_stride, stride, stride), 1, groups=planes))
        self.conv2 = nn.Sequential(*conv2)
        self.conv3 = ConvModule(planes, planes * 4, 1, act=False)
        self.downsample = None
        if stride != 1 or temporal_stride != 1 or cin != planes * 4:
            self.downsample = ConvModule(cin, planes * 4, 1, (temporal_stride, stride, stride), act=False)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class MmBackbone(nn.Module):
    def __init__(self, depth, mode):
        super().__init__()
        self.conv1 = ConvModule(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3))
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        cin = 64
        for i, n in enumerate({50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}[depth]):
            planes, s = 64 * 2 ** i, 1 if i == 0 else 2
            blocks = [MmCsnBottleneck(cin if j == 0 else planes * 4, planes, s if j == 0 else 1,
                                      s if j == 0 else 1, mode) for j in range(n)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = planes * 4

    def forward(self, x):  # with_pool2=False, as the CSN configs set
        x = self.maxpool(self.conv1(x))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class MmHead(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.fc_cls = nn.Linear(2048, num_classes)


class MmI3dBottleneck(nn.Module):
    """ResNet3d's Bottleneck3d, ``inflate_style='3x1x1'``: conv1 3×1×1 where inflated (else 1×1×1), conv2 1×3×3."""

    def __init__(self, cin, planes, stride, inflate):
        super().__init__()
        self.conv1 = ConvModule(cin, planes, (3, 1, 1) if inflate else 1, 1, (1, 0, 0) if inflate else 0, eps=1e-5)
        self.conv2 = ConvModule(planes, planes, (1, 3, 3), (1, stride, stride), (0, 1, 1), eps=1e-5)
        self.conv3 = ConvModule(planes, planes * 4, 1, act=False, eps=1e-5)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = ConvModule(cin, planes * 4, 1, (1, stride, stride), act=False, eps=1e-5)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class MmI3dBackbone(nn.Module):
    """configs/_base_/models/i3d_r50.py: ResNet3d depth 50, conv1 5×7×7 stride 2×2×2, pool1 stride 2×2×2,
    pool2 (2×1×1) after layer1, inflate ((1,1,1), (1,0,1,0), (1,0,1,0,1,0), (0,1,0))."""

    INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))

    def __init__(self):
        super().__init__()
        self.conv1 = ConvModule(3, 64, (5, 7, 7), (2, 2, 2), (2, 3, 3), eps=1e-5)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (2, 2, 2), (0, 1, 1))
        self.pool2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1))
        cin = 64
        for i, inflate in enumerate(self.INFLATE):
            planes, s = 64 * 2 ** i, 1 if i == 0 else 2
            blocks = [MmI3dBottleneck(cin if j == 0 else planes * 4, planes, s if j == 0 else 1, flag)
                      for j, flag in enumerate(inflate)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = planes * 4

    def forward(self, x):
        x = self.pool2(self.layer1(self.maxpool(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(x)))


class MmRecognizer(nn.Module):
    """Recognizer3D: backbone → I3DHead (global average, dropout, fc_cls); its checkpoint holds the data
    preprocessor's mean and std as buffers beside the weights."""

    def __init__(self, depth, mode, num_classes):
        super().__init__()
        self.backbone = MmI3dBackbone() if mode == "i3d" else MmBackbone(depth, mode)
        self.cls_head = MmHead(num_classes)
        self.data_preprocessor = nn.Module()
        self.data_preprocessor.register_buffer("mean", torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1))
        self.data_preprocessor.register_buffer("std", torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1, 1))
        if not next(self.parameters()).is_meta:
            randomize_batch_norm(self, torch.Generator().manual_seed(5))

    def forward(self, x):
        return self.cls_head.fc_cls(self.backbone(x).mean(dim=(2, 3, 4)))


def mmaction2_resnet3d(name: str, num_classes: int) -> MmRecognizer:
    """mmaction2's ResNet3d-family network by our converter name (``ircsn_r152``, ``ipcsn_r50``, ``i3d_r50``)."""
    mode, depth = name.rsplit("_r", 1)[0].removesuffix("csn"), int(name.rsplit("_r", 1)[1])
    return MmRecognizer(depth, mode, num_classes)


# -- kylemin/S3D's module tree (base.N, SepConv3d's conv_s / bn_s / conv_t / bn_t, fc.0) ----------------------

class KmBasic(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3)
        self.relu = nn.ReLU()


class KmSep(nn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv_s = nn.Conv3d(cin, cout, (1, k, k), (1, stride, stride), (0, padding, padding), bias=False)
        self.bn_s = nn.BatchNorm3d(cout, eps=1e-3)
        self.conv_t = nn.Conv3d(cout, cout, (k, 1, 1), (stride, 1, 1), (padding, 0, 0), bias=False)
        self.bn_t = nn.BatchNorm3d(cout, eps=1e-3)

    def forward(self, x):
        return torch.relu(self.bn_t(self.conv_t(torch.relu(self.bn_s(self.conv_s(x))))))


class KmMixed(nn.Module):
    def __init__(self, cin, b0, b1r, b1, b2r, b2, b3):
        super().__init__()
        self.branch0 = nn.Sequential(KmBasic(cin, b0))
        self.branch1 = nn.Sequential(KmBasic(cin, b1r), KmSep(b1r, b1, 3, 1, 1))
        self.branch2 = nn.Sequential(KmBasic(cin, b2r), KmSep(b2r, b2, 3, 1, 1))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), KmBasic(cin, b3))

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


KM_MIXED = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), (480, 192, 96, 208, 16, 48, 64),
            (512, 160, 112, 224, 24, 64, 64), (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
            (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
            (832, 384, 192, 384, 48, 128, 128)]


class KyleminS3D(nn.Module):
    """kylemin/S3D's ``S3D(num_class)``: the trunk, then a 2×H×W average, the 1×1×1 ``fc``, the mean over time."""

    def __init__(self, num_classes: int):
        super().__init__()
        m = [KmMixed(*w) for w in KM_MIXED]
        self.base = nn.Sequential(
            KmSep(3, 64, 7, 2, 3), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)), KmBasic(64, 64),
            KmSep(64, 192, 3, 1, 1), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)), m[0], m[1],
            nn.MaxPool3d(3, 2, 1), *m[2:7], nn.MaxPool3d(2, 2, 0), m[7], m[8])
        self.fc = nn.Sequential(nn.Conv3d(1024, num_classes, 1, bias=True))
        if not next(self.parameters()).is_meta:
            randomize_batch_norm(self, torch.Generator().manual_seed(6))

    def forward(self, x):
        y = self.base(x)
        y = F.avg_pool3d(y, (2, y.size(3), y.size(4)), stride=1)
        return self.fc(y).flatten(2).mean(2)


# -- piergiaj/pytorch-i3d's module tree: every conv and pool pads as TensorFlow's "SAME" at run time ---------------

def _tf_same(x, kernel, stride):
    pads = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride, strict=True))):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class PiUnit3D(nn.Module):
    def __init__(self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), bn=True, bias=False, act=True):
        super().__init__()
        self.kernel, self.stride, self.act = kernel, stride, act
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, 0, bias=bias)
        if bn:
            self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x):
        x = self.conv3d(_tf_same(x, self.kernel, self.stride))
        x = self.bn(x) if hasattr(self, "bn") else x
        return F.relu(x) if self.act else x


class PiPool(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        return F.max_pool3d(_tf_same(x, self.kernel, self.stride), self.kernel, self.stride)


class PiMixed(nn.Module):
    def __init__(self, cin, b0, b1r, b1, b2r, b2, b3):
        super().__init__()
        self.b0, self.b1a, self.b1b = PiUnit3D(cin, b0), PiUnit3D(cin, b1r), PiUnit3D(b1r, b1, (3, 3, 3))
        self.b2a, self.b2b = PiUnit3D(cin, b2r), PiUnit3D(b2r, b2, (3, 3, 3))
        self.b3a, self.b3b = PiPool((3, 3, 3), (1, 1, 1)), PiUnit3D(cin, b3)

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class PytorchI3D(nn.Module):
    """piergiaj's ``InceptionI3d``: its endpoints, then a 2×7×7 average, dropout, the 1×1×1 ``logits`` conv;
    its forward leaves one logit vector per remaining time step, and a clip's logits are their mean."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.Conv3d_1a_7x7 = PiUnit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = PiPool((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = PiUnit3D(64, 64)
        self.Conv3d_2c_3x3 = PiUnit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = PiPool((1, 3, 3), (1, 2, 2))
        mixed = dict(zip(("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c"), KM_MIXED, strict=True))
        for name in ("3b", "3c"):
            self.add_module(f"Mixed_{name}", PiMixed(*mixed[name]))
        self.MaxPool3d_4a_3x3 = PiPool((3, 3, 3), (2, 2, 2))
        for name in ("4b", "4c", "4d", "4e", "4f"):
            self.add_module(f"Mixed_{name}", PiMixed(*mixed[name]))
        self.MaxPool3d_5a_2x2 = PiPool((2, 2, 2), (2, 2, 2))
        for name in ("5b", "5c"):
            self.add_module(f"Mixed_{name}", PiMixed(*mixed[name]))
        self.avg_pool = nn.AvgPool3d((2, 7, 7), (1, 1, 1))
        self.logits = PiUnit3D(1024, num_classes, bn=False, bias=True, act=False)
        if not next(self.parameters()).is_meta:
            randomize_batch_norm(self, torch.Generator().manual_seed(8))

    def trunk(self, x):
        """The last endpoint's map (Mixed_5c)."""
        for name, module in self.named_children():
            if name not in ("avg_pool", "logits"):
                x = module(x)
        return x

    def forward(self, x):
        return self.logits(self.avg_pool(self.trunk(x))).flatten(2).mean(2)


# -- qijiezhao/pseudo-3d-pytorch's module tree: 3D bottlenecks (A, B, C cycling) in res2–res4, 2D res5 ------------

class P3dBottleneck(nn.Module):
    def __init__(self, cin, planes, index, depth_3d, downsample):
        super().__init__()
        self.index, self.depth_3d, self.st = index, depth_3d, "ABC"[index % 3]
        self.downsample = downsample
        three_d = index < depth_3d
        conv, bn = (nn.Conv3d, nn.BatchNorm3d) if three_d else (nn.Conv2d, nn.BatchNorm2d)
        stride = (1, 2, 2) if three_d and downsample is not None and index > 0 else 1
        if index == depth_3d:
            stride = 2
        self.conv1, self.bn1 = conv(cin, planes, 1, stride=stride, bias=False), bn(planes)
        if three_d:
            self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), 1, (0, 1, 1), bias=False)
            self.conv3 = nn.Conv3d(planes, planes, (3, 1, 1), 1, (1, 0, 0), bias=False)
            self.bn2, self.bn3 = nn.BatchNorm3d(planes), nn.BatchNorm3d(planes)
        else:
            self.conv_normal, self.bn_normal = nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv4, self.bn4 = conv(planes, planes * 4, 1, bias=False), bn(planes * 4)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        if self.index < self.depth_3d:
            s = F.relu(self.bn2(self.conv2(out)))
            if self.st == "A":
                out = F.relu(self.bn3(self.conv3(s)))
            elif self.st == "B":
                out = s + F.relu(self.bn3(self.conv3(out)))
            else:
                out = s + F.relu(self.bn3(self.conv3(s)))
        else:
            out = F.relu(self.bn_normal(self.conv_normal(out)))
        out = self.bn4(self.conv4(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class P3dPort(nn.Module):
    """The port's ``P3D(Bottleneck, layers)`` at 160×160: res5 runs as 2D on the frames folded into the batch."""

    def __init__(self, layers, num_classes):
        super().__init__()
        self.conv1_custom = nn.Conv3d(3, 64, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        depth_3d, cin, index = sum(layers[:3]), 64, 0
        for i, n in enumerate(layers):
            planes = 64 * 2 ** i
            downsample = None
            if i > 0 or cin != planes * 4:
                if index < depth_3d:
                    downsample = nn.Sequential(nn.Conv3d(cin, planes * 4, 1, 1 if index == 0 else (1, 2, 2),
                                                         bias=False), nn.BatchNorm3d(planes * 4))
                else:
                    downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, 2, bias=False),
                                               nn.BatchNorm2d(planes * 4))
            blocks = [P3dBottleneck(cin, planes, index, depth_3d, downsample)]
            cin, index = planes * 4, index + 1
            for _ in range(1, n):
                blocks.append(P3dBottleneck(cin, planes, index, depth_3d, None))
                index += 1
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(2048, num_classes)
        if not next(self.parameters()).is_meta:
            randomize_batch_norm(self, torch.Generator().manual_seed(9))

    def forward(self, x):
        x = F.max_pool3d(F.relu(self.bn1(self.conv1_custom(x))), (2, 3, 3), 2, (0, 1, 1))
        for layer in (self.layer1, self.layer2, self.layer3):
            x = F.max_pool3d(layer(x), (2, 1, 1), (2, 1, 1))
        b, c, t, h, w = x.shape
        x = self.layer4(x.transpose(1, 2).reshape(b * t, c, h, w))
        return self.fc(x.mean(dim=(2, 3)).view(b, t, -1).mean(1))


# -- mmaction2's ResNet2Plus1d (conv_cfg Conv2plus1d: every conv, the shortcut's too) ------------------------------

class MmConv2plus1d(nn.Module):
    def __init__(self, cin, cout, kernel, stride=(1, 1, 1), padding=(0, 0, 0)):
        super().__init__()
        mid = int(3 * (cin * cout * kernel[1] * kernel[2]) / (cin * kernel[1] * kernel[2] + 3 * cout))
        self.conv_s = nn.Conv3d(cin, mid, (1, *kernel[1:]), (1, *stride[1:]), (0, *padding[1:]), bias=False)
        self.bn_s = nn.BatchNorm3d(mid, eps=1e-3)
        self.conv_t = nn.Conv3d(mid, cout, (kernel[0], 1, 1), (stride[0], 1, 1), (padding[0], 0, 0), bias=False)

    def forward(self, x):
        return self.conv_t(torch.relu(self.bn_s(self.conv_s(x))))


class MmConvModule2plus1d(nn.Module):
    def __init__(self, cin, cout, kernel, stride=(1, 1, 1), padding=(0, 0, 0), act=True):
        super().__init__()
        self.conv = MmConv2plus1d(cin, cout, kernel, stride, padding)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return torch.relu(x) if self.act else x


class MmBasicBlock2plus1d(nn.Module):
    def __init__(self, cin, planes, t_stride, s_stride):
        super().__init__()
        stride = (t_stride, s_stride, s_stride)
        self.conv1 = MmConvModule2plus1d(cin, planes, (3, 3, 3), stride, (1, 1, 1))
        self.conv2 = MmConvModule2plus1d(planes, planes, (3, 3, 3), (1, 1, 1), (1, 1, 1), act=False)
        self.downsample = None
        if stride != (1, 1, 1) or cin != planes:
            self.downsample = MmConvModule2plus1d(cin, planes, (1, 1, 1), stride, act=False)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv2(self.conv1(x)) + identity)


class MmR2plus1dBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = MmConvModule2plus1d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3))
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        cin = 64
        for i, n in enumerate((3, 4, 6, 3)):
            planes, s = 64 * 2 ** i, 1 if i == 0 else 2
            self.add_module(f"layer{i + 1}", nn.Sequential(*[
                MmBasicBlock2plus1d(cin if j == 0 else planes, planes, s if j == 0 else 1, s if j == 0 else 1)
                for j in range(n)]))
            cin = planes

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class MmR2plus1d(nn.Module):
    """mmaction2's ``ResNet2Plus1d`` (depth 34) with an ``I3DHead``."""

    def __init__(self, num_classes):
        super().__init__()
        self.backbone = MmR2plus1dBackbone()
        self.cls_head = nn.Module()
        self.cls_head.fc_cls = nn.Linear(512, num_classes)
        if not next(self.parameters()).is_meta:
            randomize_batch_norm(self, torch.Generator().manual_seed(11))

    def forward(self, x):
        return self.cls_head.fc_cls(self.backbone(x).mean(dim=(2, 3, 4)))


def mmaction2_model(name: str, num_classes: int) -> nn.Module:
    """mmaction2's network by our converter name (``ircsn_r152``, ``ipcsn_r50``, ``r2plus1d_r34`` …)."""
    if name == "c3d":
        return MmC3D(num_classes)
    return MmR2plus1d(num_classes) if name == "r2plus1d_r34" else mmaction2_resnet3d(name, num_classes)


class MmC3D(nn.Module):
    """mmaction2's C3D backbone (ConvModules without BN, pool5 padded by one in H and W) with an I3DHead-style
    ``cls_head.fc_cls`` on fc7."""

    def __init__(self, num_classes):
        super().__init__()
        self.backbone = nn.Module()
        cin = 3
        for name, width in (("conv1a", 64), ("conv2a", 128), ("conv3a", 256), ("conv3b", 256), ("conv4a", 512),
                            ("conv4b", 512), ("conv5a", 512), ("conv5b", 512)):
            module = nn.Module()
            module.conv = nn.Conv3d(cin, width, 3, 1, 1)
            self.backbone.add_module(name, module)
            cin = width
        self.backbone.fc6, self.backbone.fc7 = nn.Linear(8192, 4096), nn.Linear(4096, 4096)
        self.cls_head = nn.Module()
        self.cls_head.fc_cls = nn.Linear(4096, num_classes)

    def forward(self, x):
        b = self.backbone
        pools = {"conv1a": ((1, 2, 2), 0), "conv2a": ((2, 2, 2), 0), "conv3b": ((2, 2, 2), 0),
                 "conv4b": ((2, 2, 2), 0), "conv5b": ((2, 2, 2), (0, 1, 1))}
        for name in ("conv1a", "conv2a", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b"):
            x = torch.relu(getattr(b, name).conv(x))
            if name in pools:
                kernel, padding = pools[name]
                x = F.max_pool3d(x, kernel, kernel, padding)
        x = torch.relu(b.fc7(torch.relu(b.fc6(x.flatten(1)))))
        return self.cls_head.fc_cls(x)
