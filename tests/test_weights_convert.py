"""Every converter reproduces the source network's outputs (fp32, 1e-5) on random weights in the source's layout:
VMZ's port and Caffe2 models as ``weight_sources`` rebuilds them, pytorchvideo's own builders (a test extra)."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

import videozoo
from tests.weight_sources import Caffe2Net, KyleminS3D, MmR2plus1d, P3dPort, PytorchI3D, mmaction2_resnet3d, vmz_port
from videozoo.cli import main
from videozoo.engine.checkpoint import CheckpointError
from videozoo.engine.evaluate import audio_settings_of, load_for_inference
from videozoo.models.layers import randomize_batch_norm
from videozoo.weights.convert import convert_file


def _same_outputs(reference: nn.Module, ours: nn.Module, x: torch.Tensor) -> None:
    """fp32 logits within 1e-5 of the source's, relative to their scale: random BatchNorm statistics through
    50 layers give logits in the hundreds, where fp32's summation order alone moves the last digits."""
    reference.eval()
    ours.eval()
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5 * max(1.0, expected.abs().max().item()))


def _convert_via_cli(source: str, name: str, src, dst) -> nn.Module:
    assert main(["convert", source, name, str(src), str(dst)]) == 0
    return videozoo.load_model(dst)


@pytest.mark.parametrize("name,clip", [("r2plus1d_34", (8, 32, 32)), ("r2plus1d_152", (8, 32, 32)),
                                       ("ir_csn_152", (8, 64, 64)), ("ip_csn_152", (8, 64, 64))])
def test_vmz_port_weights_reproduce_the_port(name, clip, tmp_path):
    reference = vmz_port(name, num_classes=359)
    torch.save(reference.state_dict(), tmp_path / "w.pth")
    ours = _convert_via_cli("vmz", name, tmp_path / "w.pth", tmp_path / "w.safetensors")
    assert ours.arch == name and ours.num_classes == 359 and ours.spec.bn_eps == 1e-3
    _same_outputs(reference, ours, torch.randn(2, 3, *clip))


# -- VMZ's Caffe2 blobs ---------------------------------------------------------------------------------

def _caffe2_pickle(net: Caffe2Net, path, extra: dict | None = None) -> None:
    with open(path, "wb") as f:  # Python 2's pickles, as VMZ wrote them: protocol 2
        pickle.dump({"blobs": {**net.numpy_blobs(), **(extra or {})}}, f, protocol=2)


@pytest.mark.parametrize("model,depth,name,clip", [
    ("r2plus1d", 34, "r2plus1d_34", (8, 32, 32)),
    ("r2plus1d", 34, "r2plus1d_34_flow", (8, 32, 32)),  # the optical-flow stream: (x, y) into the stem
    ("r2plus1d", 152, "r2plus1d_152", (8, 32, 32)),
    ("ir-csn", 152, "ir_csn_152", (8, 64, 64)),
    ("ip-csn", 152, "ip_csn_152", (8, 64, 64)),
    ("ir-csn", 50, "ir_csn_50", (8, 64, 64)),
    ("c3d", 0, "c3d", (16, 112, 112)),
    ("r3d", 18, "r3d_18", (8, 32, 32)),
    ("r2plus1d", 18, "r2plus1d_18", (8, 32, 32)),
    ("r2d", 18, "r2d_18_8f", (8, 32, 32)),
    ("r2df", 18, "f_r2d_18", (8, 32, 32)),
    ("mc3", 18, "mc3_18", (8, 32, 32)),
    ("mc5", 18, "mc5_18", (8, 32, 32)),
    ("rmc2", 18, "rmc2_18", (8, 32, 32)),
    ("rmc4", 18, "rmc4_18", (8, 32, 32)),
])
def test_caffe2_blobs_reproduce_vmz(model, depth, name, clip, tmp_path):
    reference = Caffe2Net(model, depth, num_labels=487, clip_length=clip[0])
    x = torch.randn(2, 2 if name.endswith("_flow") else 3, *clip)
    with torch.no_grad():
        expected = reference(x)  # lays out every blob the network uses
    # Optimizer state and counters sit beside the weights in a training pickle; they are left out on purpose.
    momentum = {"conv1_w_momentum": np.zeros(1, np.float32), "model_iter": np.array([5], np.int64)}
    _caffe2_pickle(reference, tmp_path / "w.pkl", momentum)
    ours = _convert_via_cli("vmz-caffe2", name, tmp_path / "w.pkl", tmp_path / "w.safetensors").eval()
    assert ours.arch == {"c3d": "c3d_bn", "r2d_18_8f": "r2d_18", "r2plus1d_34_flow": "r2plus1d_34"}.get(name, name)
    assert ours.num_classes == 487 and ours.in_channels == x.shape[1]
    with torch.no_grad():
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)


def test_caffe2_audio_visual_blobs_reproduce_vmz_gblend(tmp_path):
    """G-Blend's audio-visual ip-CSN (VMZ's av_resnet builder with g_blend): its visual, audio and fused logits."""
    reference = Caffe2Net("ip-csn", 50, num_labels=7)
    rgb, audio = torch.randn(2, 3, 8, 64, 64), torch.randn(2, 1, 100, 40)
    with torch.no_grad():
        expected = reference.audio_visual(rgb, audio)
    _caffe2_pickle(reference, tmp_path / "av.pkl")
    ours = _convert_via_cli("vmz-caffe2", "av_ip_csn_50", tmp_path / "av.pkl", tmp_path / "av.safetensors").eval()
    assert ours.arch == "av_ip_csn_50" and ours.num_classes == 7 and ours.spec.fusion_hidden == 2048
    assert all(b.num_classes == 0 for b in ours.backbones.values())  # no unused classifier to leave unset
    with torch.no_grad():
        got = ours({"rgb": rgb, "audio": audio})
    for head in ("rgb", "audio", "fused"):  # random deep nets give logits in the hundreds: 1e-5 of their scale
        torch.testing.assert_close(got[head], expected[head], rtol=1e-5, atol=1e-5 * expected[head].abs().max())
    # The checkpoint says what the streams take: VMZ's frames statistics and VMZ's log-Mels (eval, predict and a
    # G-Blend fine-tune read them).
    assert audio_settings_of(tmp_path / "av.safetensors").style == "vmz"
    assert load_for_inference(tmp_path / "av.safetensors")[2].normalization == "kinetics"


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


# -- mmaction2: its CSN module tree ----------------------------------------------------------------------

@pytest.mark.parametrize("name,arch", [("ircsn_r152", "ir_csn_152"), ("ipcsn_r152", "ip_csn_152"),
                                       ("ircsn_r50", "ir_csn_50")])
def test_mmaction2_csn_reproduces_mmaction2(name, arch, tmp_path):
    reference = mmaction2_resnet3d(name, num_classes=400)
    torch.save({"meta": {"epoch": 58}, "state_dict": reference.state_dict()}, tmp_path / "w.pth")
    ours = _convert_via_cli("mmaction2", name, tmp_path / "w.pth", tmp_path / "w.safetensors")
    assert ours.arch == arch and ours.spec.bn_eps == 1e-3
    _same_outputs(reference, ours, torch.randn(2, 3, 8, 64, 64))


def test_mmaction2_i3d_r50_reproduces_mmaction2(tmp_path):
    """mmaction2's I3D-R50 is pytorchvideo's network with a stem and first pool that stride in time too."""
    reference = mmaction2_resnet3d("i3d_r50", num_classes=400)
    assert sum(p.numel() for p in reference.parameters()) == 28_043_472  # mmaction2's metafile count
    torch.save({"meta": {"epoch": 100}, "state_dict": reference.state_dict()}, tmp_path / "w.pth")
    ours = _convert_via_cli("mmaction2", "i3d_r50", tmp_path / "w.pth", tmp_path / "w.safetensors")
    assert ours.arch == "i3d_r50" and ours.spec.stem_temporal_stride == 2 and ours.spec.bn_eps == 1e-5
    _same_outputs(reference, ours, torch.randn(2, 3, 16, 64, 64))


def test_two_source_keys_for_one_place_are_refused():
    from videozoo.weights.convert import rename_keys

    with pytest.raises(CheckpointError, match=r"two source keys map to stem.conv.conv.weight \(the second is x\)"):
        rename_keys({"stem.0.weight": torch.zeros(1), "x": torch.zeros(1)},
                    [[(r"^stem\.0\.", "stem.conv.conv."), (r"^x$", "stem.conv.conv.weight")]])


# -- kylemin/S3D -------------------------------------------------------------------------------------------

def test_kylemin_s3d_reproduces_its_network(tmp_path):
    reference = KyleminS3D(num_classes=400)
    # Its own loader strips DistributedDataParallel's prefix, as ours does; its weight file keeps it.
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, tmp_path / "S3D_kinetics400.pt")
    ours = _convert_via_cli("s3d", "s3d", tmp_path / "S3D_kinetics400.pt", tmp_path / "w.safetensors")
    assert ours.arch == "s3d" and ours.num_classes == 400
    _same_outputs(reference, ours, torch.randn(1, 3, 16, 224, 224))  # the head's 2×7×7 average needs 224


@pytest.mark.parametrize("name,head_pool", [("slow_r50", (8, 2, 2)), ("c2d_r50", (4, 2, 2)), ("i3d_r50", (4, 2, 2))])
def test_pytorchvideo_resnet50s_reproduce_pytorchvideo(name, head_pool, tmp_path):
    from pytorchvideo.models.hub import resnet as hub
    from pytorchvideo.models.resnet import create_resnet

    # The hub's network, its head pooled for this clip (slow_r50 fixes its pool, so its builder call is repeated).
    if name == "slow_r50":
        reference = create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=head_pool, model_depth=50)
    else:
        reference = getattr(hub, name)(head_pool_kernel_size=head_pool)
    randomize_batch_norm(reference, torch.Generator().manual_seed(7))
    torch.save({"model_state": reference.state_dict()}, tmp_path / "w.pyth")
    ours = _convert_via_cli("pytorchvideo", name, tmp_path / "w.pyth", tmp_path / "w.safetensors")
    assert ours.arch == name
    _same_outputs(reference, ours, torch.randn(2, 3, 8, 64, 64))


# -- piergiaj/pytorch-i3d --------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [224, 225])  # an even and an odd size: the "SAME" padding differs
def test_pytorch_i3d_reproduces_its_network(size, tmp_path):
    reference = PytorchI3D(num_classes=157)
    torch.save(reference.state_dict(), tmp_path / "rgb_charades.pt")
    ours = _convert_via_cli("pytorch-i3d", "i3d", tmp_path / "rgb_charades.pt", tmp_path / "w.safetensors")
    assert ours.arch == "i3d" and ours.spec.padding == "tf_same" and ours.num_classes == 157
    x = torch.randn(1, 3, 16, size, size)
    _same_outputs(reference, ours, x)
    # The logits average the padding's effect nearly away; the maps show it (with symmetric padding the first
    # conv's map is off by as much as its own scale, the last map by a few 1e-5 of its scale).
    with torch.no_grad():
        maps = ours.forward_endpoints(x)
        for got, expected in ((maps["Conv2d_1a"], reference.Conv3d_1a_7x7(x)), (maps["Mixed_5c"], reference.trunk(x))):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


# -- qijiezhao/pseudo-3d-pytorch (P3D) -------------------------------------------------------------------------

def test_p3d_port_reproduces_its_network(tmp_path):
    reference = P3dPort((3, 8, 36, 3), num_classes=400)
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}},
               tmp_path / "p3d_rgb_199.checkpoint.pth.tar")
    ours = _convert_via_cli("p3d", "p3d_199", tmp_path / "p3d_rgb_199.checkpoint.pth.tar", tmp_path / "w.safetensors")
    assert ours.arch == "p3d_199"
    _same_outputs(reference, ours, torch.randn(2, 3, 16, 64, 64))


def test_pytorchvideo_r2plus1d_r50_reproduces_pytorchvideo(tmp_path):
    from pytorchvideo.models.r2plus1d import create_r2plus1d

    # The hub's r2plus1d_r50 (dropout 0.5), its head pooled for this clip. Its head ends in a softmax at
    # inference; logits are compared, the softmax left out.
    reference = create_r2plus1d(dropout_rate=0.5, head_pool_kernel_size=(2, 1, 1), model_num_class=400)
    reference.blocks[-1].activation = None
    randomize_batch_norm(reference, torch.Generator().manual_seed(10))
    torch.save({"model_state": reference.state_dict()}, tmp_path / "R2PLUS1D_16x4_R50.pyth")
    ours = _convert_via_cli("pytorchvideo", "r2plus1d_r50", tmp_path / "R2PLUS1D_16x4_R50.pyth",
                            tmp_path / "w.safetensors")
    assert ours.arch == "r2plus1d_r50"
    _same_outputs(reference, ours, torch.randn(2, 3, 8, 32, 32))


def test_mmaction2_r2plus1d_reproduces_mmaction2(tmp_path):
    reference = MmR2plus1d(num_classes=400)
    assert sum(p.numel() for p in reference.parameters()) == 63_759_281  # mmaction2's metafile count
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "w.pth")
    ours = _convert_via_cli("mmaction2", "r2plus1d_r34", tmp_path / "w.pth", tmp_path / "w.safetensors")
    assert ours.arch == "r2plus1d_34" and ours.spec.shortcut == "2+1d" and ours.spec.stem_mid_channels == 83
    _same_outputs(reference, ours, torch.randn(2, 3, 8, 64, 64))


def test_a_plain_conversion_carries_the_sources_normalisation(tmp_path):
    """VMZ's C3D takes VMZ's mean and std, not the C3D family's Caffe mean: the checkpoint says so."""
    from videozoo.engine.evaluate import load_for_inference
    from videozoo.weights.convert import SOURCE_NORMALIZATION, SOURCES

    assert set(SOURCE_NORMALIZATION) == set(SOURCES)
    reference = Caffe2Net("c3d", 0, num_labels=5)
    with torch.no_grad():
        reference(torch.randn(1, 3, 16, 112, 112))
    _caffe2_pickle(reference, tmp_path / "c3d.pkl")
    _convert_via_cli("vmz-caffe2", "c3d", tmp_path / "c3d.pkl", tmp_path / "c3d.safetensors")
    _, _, settings = load_for_inference(tmp_path / "c3d.safetensors")
    assert (settings.normalization, settings.num_frames, settings.crop) == ("kinetics", 16, 112)


def test_mmaction2_c3d_reproduces_mmaction2(tmp_path):
    from tests.weight_sources import MmC3D
    from videozoo.engine.evaluate import load_for_inference

    reference = MmC3D(num_classes=101)
    assert sum(p.numel() for p in reference.parameters()) == 78_409_573  # mmaction2's metafile count
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "c3d.pth")
    ours = _convert_via_cli("mmaction2", "c3d", tmp_path / "c3d.pth", tmp_path / "c3d.safetensors")
    assert ours.arch == "c3d" and ours.spec.pool5_padding
    _same_outputs(reference, ours, torch.randn(2, 3, 16, 112, 112))
    assert load_for_inference(tmp_path / "c3d.safetensors")[2].normalization == "c3d"  # Caffe's mean, not ImageNet's


# -- backbone-only files (published to start fine-tuning from: no classifier) ------------------------------------

def test_a_backbone_only_file_converts_to_a_model_without_a_head(tmp_path):
    """mmaction2's IG-65M CSN files hold ResNet3dCSN's bare keys: the converted model has no classifier and its
    output is the backbone's pooled features, equal to mmaction2's."""
    reference = mmaction2_resnet3d("ircsn_r50", num_classes=1)
    torch.save(reference.backbone.state_dict(), tmp_path / "ircsn_from_scratch_r50_ig65m.pth")
    ours = _convert_via_cli("mmaction2", "ircsn_r50", tmp_path / "ircsn_from_scratch_r50_ig65m.pth",
                            tmp_path / "w.safetensors")
    assert ours.arch == "ir_csn_50" and ours.num_classes == 0

    class Pooled(nn.Module):  # mmaction2's backbone, then I3DHead's global average
        def __init__(self):
            super().__init__()
            self.backbone = reference.backbone

        def forward(self, x):
            return self.backbone(x).mean(dim=(2, 3, 4))

    _same_outputs(Pooled(), ours, torch.randn(2, 3, 8, 64, 64))
    ours.reset_classifier(5)  # a head for the new classes, on the backbone's device and dtype
    assert ours(torch.randn(1, 3, 8, 64, 64)).shape == (1, 5)


def test_a_row_refuses_a_file_with_another_head(tmp_path):
    from videozoo.engine.checkpoint import CheckpointError
    from videozoo.weights.catalogue import get_weights
    from videozoo.weights.hub import convert_row_file

    with_head = mmaction2_resnet3d("ircsn_r50", num_classes=400)
    torch.save({"state_dict": with_head.state_dict()}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="holds ir_csn_50 with 400 classes; expected a backbone without a"):
        convert_row_file(get_weights("ir_csn_50.mmaction2_ig65m_backbone"), tmp_path / "w.pth", tmp_path / "o.st")
    assert not (tmp_path / "o.st").exists()


def test_a_backbone_checkpoint_extracts_and_fine_tunes_but_does_not_predict(tmp_path, capsys):
    from tests.videos import barcodes
    from videozoo.data import write_video
    from videozoo.engine.trainer import finetune_source, load_backbone

    backbone = videozoo.create_model("r2plus1d_18", num_classes=0, base_width=8)
    randomize_batch_norm(backbone, torch.Generator().manual_seed(0))
    ckpt = videozoo.save_model(backbone, tmp_path / "backbone.safetensors")
    video = write_video(tmp_path / "v.mp4", barcodes(20, 32, 32))
    (tmp_path / "list.csv").write_text(f"path,label\n{video},a\n")
    assert main(["extract", "--checkpoint", str(ckpt), "--data", str(tmp_path / "list.csv"),
                 "--precision", "fp32", "--workers", "0", "--out", str(tmp_path / "f"), "--quiet"]) == 0
    assert main(["predict", str(video), "--checkpoint", str(ckpt)]) != 0
    assert "is a backbone without a classifier: fine-tune it first" in capsys.readouterr().err
    model = videozoo.create_model("r2plus1d_18", num_classes=3, base_width=8)
    load_backbone(model, finetune_source(str(ckpt), ("r2plus1d_18",)))
    x = torch.randn(1, 3, 8, 32, 32)
    backbone.eval(), model.eval()
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), backbone(x))
