"""Every converter reproduces the source network's outputs (fp32, 1e-5) on random weights in the source's layout.

- VMZ's PyTorch port: its networks are torchvision's VideoResNet with VMZ's conv classes; the test
  rebuilds those few classes from the port's documented structure and runs torchvision's skeleton.
- VMZ's Caffe2 pickles: no Caffe2 here, so :class:`Caffe2Net` runs VMZ's builder logic (blob names,
  block and conv numbering, strides, eps 1e-3) directly on a dict of blobs, creating each blob with
  the shape the builder asks for. It shares no code with the converter.
- pytorchvideo: its own builders (installed as a test extra).
"""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.models.video.resnet as tvr
from torch import nn

import videozoo
from videozoo.cli import main
from videozoo.engine.checkpoint import CheckpointError
from videozoo.models.layers import randomize_batch_norm
from videozoo.weights.convert import convert_file


def _same_outputs(reference: nn.Module, ours: nn.Module, x: torch.Tensor) -> None:
    reference.eval()
    ours.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)


def _convert_via_cli(source: str, name: str, src, dst) -> nn.Module:
    assert main(["convert", source, name, str(src), str(dst)]) == 0
    return videozoo.load_model(dst)


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
    randomize_batch_norm(model, torch.Generator().manual_seed(3))
    return model


@pytest.mark.parametrize("name,clip", [("r2plus1d_34", (8, 32, 32)), ("r2plus1d_152", (8, 32, 32)),
                                       ("ir_csn_152", (8, 64, 64)), ("ip_csn_152", (8, 64, 64))])
def test_vmz_port_weights_reproduce_the_port(name, clip, tmp_path):
    reference = vmz_port(name, num_classes=359)
    torch.save(reference.state_dict(), tmp_path / "w.pth")
    ours = _convert_via_cli("vmz", name, tmp_path / "w.pth", tmp_path / "w.safetensors")
    assert ours.arch == name and ours.num_classes == 359 and ours.spec.bn_eps == 1e-3
    _same_outputs(reference, ours, torch.randn(2, 3, *clip))


# -- VMZ's Caffe2 blobs ---------------------------------------------------------------------------------

class Caffe2Net:
    """VMZ's Caffe2 ResNets (c2/lib/models/r3d_model.py, builder/video_model.py) run on a dict of blobs.

    Blobs are created on first use with the shape the builder asks for, so a first forward pass lays out
    a complete synthetic checkpoint; later passes read the same blobs. Final pooling is the global mean
    (Caffe2's AveragePool of the last map's size, at the clip the weights were trained on).
    """

    def __init__(self, model: str, depth: int, num_labels: int, seed: int = 0):
        self.model, self.depth, self.num_labels = model, depth, num_labels
        self.blobs: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)

    def blob(self, name: str, shape: tuple) -> torch.Tensor:
        if name not in self.blobs:
            if name.endswith("_riv") or name.endswith("_s"):
                value = self.rng.uniform(0.5, 1.5, shape)
            else:
                fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 10
                value = self.rng.normal(0, (2 / fan_in) ** 0.5 if len(shape) > 1 else 0.1, shape)
            self.blobs[name] = value.astype(np.float32)
        assert self.blobs[name].shape == tuple(shape), name
        return torch.from_numpy(self.blobs[name])

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

    def block(self, x, comp, cout, base, down, block_type, bottleneck):
        stride = (2, 2, 2) if down else (1, 1, 1)
        k3, p3 = (3, 3, 3), (1, 1, 1)
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

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        block_type = {"r2plus1d": "2.5d", "ir-csn": "3d-sep", "ip-csn": "0.3d"}[self.model]
        if block_type == "2.5d":
            x = F.relu(self.bn(self.conv(x, "conv1_middle", 45, (1, 7, 7), (1, 2, 2), (0, 3, 3)),
                               "conv1_middle_spatbn_relu"))
            x = F.relu(self.bn(self.conv(x, "conv1", 64, (3, 1, 1), (1, 1, 1), (1, 0, 0)), "conv1_spatbn_relu"))
        else:  # the CSN models use pool1
            x = F.relu(self.bn(self.conv(x, "conv1", 64, (3, 7, 7), (1, 2, 2), (1, 3, 3)), "conv1_spatbn_relu"))
            x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        layers = {34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 152: (3, 8, 36, 3)}[self.depth]
        bottleneck = self.depth > 34
        filters = [[256, 64], [512, 128], [1024, 256], [2048, 512]] if bottleneck else \
            [[64, 64], [128, 128], [256, 256], [512, 512]]
        comp = 0
        for stage, n in enumerate(layers):
            for i in range(n):
                x = self.block(x, comp, filters[stage][0], filters[stage][1], stage > 0 and i == 0, block_type,
                               bottleneck)
                comp += 1
        x = x.mean(dim=(2, 3, 4))
        w = self.blob(f"last_out_L{self.num_labels}_w", (self.num_labels, x.shape[1]))
        return x @ w.T + self.blob(f"last_out_L{self.num_labels}_b", (self.num_labels,))


def _caffe2_pickle(net: Caffe2Net, path, extra: dict | None = None) -> None:
    with open(path, "wb") as f:  # Python 2's pickles, as VMZ wrote them: protocol 2
        pickle.dump({"blobs": {**net.blobs, **(extra or {})}}, f, protocol=2)


@pytest.mark.parametrize("model,depth,name,clip", [
    ("r2plus1d", 34, "r2plus1d_34", (8, 32, 32)),
    ("r2plus1d", 152, "r2plus1d_152", (8, 32, 32)),
    ("ir-csn", 152, "ir_csn_152", (8, 64, 64)),
    ("ip-csn", 152, "ip_csn_152", (8, 64, 64)),
    ("ir-csn", 50, "ir_csn_50", (8, 64, 64)),
])
def test_caffe2_blobs_reproduce_vmz(model, depth, name, clip, tmp_path):
    reference = Caffe2Net(model, depth, num_labels=487)
    x = torch.randn(2, 3, *clip)
    with torch.no_grad():
        expected = reference(x)  # lays out every blob the network uses
    # Optimizer state and counters sit beside the weights in a training pickle; they are left out on purpose.
    momentum = {"conv1_w_momentum": np.zeros(1, np.float32), "model_iter": np.array([5], np.int64)}
    _caffe2_pickle(reference, tmp_path / "w.pkl", momentum)
    ours = _convert_via_cli("vmz-caffe2", name, tmp_path / "w.pkl", tmp_path / "w.safetensors").eval()
    assert ours.arch == name and ours.num_classes == 487
    with torch.no_grad():
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)


def test_caffe2_leftover_or_missing_blobs_are_refused(tmp_path):
    reference = Caffe2Net("r2plus1d", 34, num_labels=400)
    with torch.no_grad():
        reference(torch.randn(1, 3, 8, 32, 32))
    _caffe2_pickle(reference, tmp_path / "extra.pkl", {"comp_99_conv_1_w": np.zeros((1,), np.float32)})
    with pytest.raises(CheckpointError, match=r"1 source keys with no place in the model \(comp_99_conv_1_w\)"):
        convert_file("vmz-caffe2", "r2plus1d_34", tmp_path / "extra.pkl", tmp_path / "o.safetensors")
    del reference.blobs["comp_3_spatbn_2_rm"]
    _caffe2_pickle(reference, tmp_path / "missing.pkl")
    with pytest.raises(CheckpointError, match=r"1 missing \(layer2.0.conv2.temporal.bn.running_mean\)"):
        convert_file("vmz-caffe2", "r2plus1d_34", tmp_path / "missing.pkl", tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()


def test_a_pickle_that_carries_code_is_refused_without_running_it(tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"blobs": {"x": Payload()}}, f, protocol=2)
    with pytest.raises(CheckpointError, match="refusing to load io.open|refusing to load builtins.open"):
        convert_file("vmz-caffe2", "r2plus1d_34", tmp_path / "evil.pkl", tmp_path / "o.safetensors")
    assert not (tmp_path / "ran").exists()


# -- pytorchvideo: its own builders ----------------------------------------------------------------------

def test_pytorchvideo_csn_r101_reproduces_pytorchvideo(tmp_path):
    from pytorchvideo.models.csn import create_csn

    # The hub's csn_r101, with its head's average pool sized to this test's clip (the pool has no weights).
    reference = create_csn(model_depth=101, stem_pool=nn.MaxPool3d, head_pool_kernel_size=(1, 2, 2))
    randomize_batch_norm(reference, torch.Generator().manual_seed(4))
    torch.save({"model_state": reference.state_dict()}, tmp_path / "CSN_32x2_R101.pyth")
    ours = _convert_via_cli("pytorchvideo", "csn_r101", tmp_path / "CSN_32x2_R101.pyth", tmp_path / "w.safetensors")
    assert ours.arch == "ir_csn_101" and ours.spec.bn_eps == 1e-5
    _same_outputs(reference, ours, torch.randn(2, 3, 8, 64, 64))
