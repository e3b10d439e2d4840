"""The CPU path's packed, fused oneDNN convolutions: the same numbers as the unfused path in every family."""

import pytest
import torch
from torch import nn

import videozoo
from videozoo.engine import onednn
from videozoo.engine.features import layer_output
from videozoo.engine.predictor import Predictor
from videozoo.models.layers import ConvNormAct, randomize_batch_norm

pytestmark = pytest.mark.skipif(not onednn.available(), reason="PyTorch built without oneDNN")

# One of each shape of network: (2+1)D basic blocks (the join's conv inside a Sequential), a depthwise
# bottleneck, P3D's parallel and residual units, Inception blocks without residuals, C3D's biased convs without
# BN, I3D with hooked ("SAME"-padded) strided convs, an audio net (4-D input made a clip).
FAMILIES = [("r2plus1d_18", {}), ("ir_csn_50", {}), ("ip_csn_26", {}), ("p3d_b_63", {}), ("p3d_c_63", {}),
            ("s3d_g", {}), ("c3d", {}), ("i3d", {"padding": "tf_same"}), ("audio_resnet_18", {})]


def _tiny(name: str, overrides: dict) -> nn.Module:
    model = videozoo.create_model(name, num_classes=7, base_width=8, **overrides)
    randomize_batch_norm(model, torch.Generator().manual_seed(0))
    return model.eval()


def _clip(model: nn.Module, batch: int, frames: int = 16, size: int = 64) -> torch.Tensor:
    if getattr(model, "as_clip", None) is not None:
        return torch.randn(batch, 1, 40, 32)  # a (B, 1, time, mel) spectrogram
    return torch.randn(batch, 3, frames, size, size)


@pytest.mark.parametrize("name,overrides", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_fused_path_gives_the_unfused_numbers(name, overrides):
    """fp32: within 1e-4 of the unfused path, on two input shapes one after the other (the weight is repacked
    for the second); bf16: within bf16's error of it. Every residual block's join is fused where its branch
    ends in a conv unit."""
    model = _tiny(name, overrides)
    fused, plain = Predictor(model, "fp32", "cpu"), Predictor(model, "fp32", "cpu", fuse_convs=False)
    assert fused.fused["units"] > 0 and not plain.fused
    assert not any(isinstance(m, ConvNormAct) and onednn.PackedConv.packs(m) for m in fused.model.modules())
    blocks = sum(1 for m in fused.model.modules() if hasattr(m, "branch"))
    if name.startswith(("r2plus1d", "ir_csn", "ip_csn", "p3d", "audio")):
        assert fused.fused["blocks"] == blocks > 0
    small, other = (112, 112) if name == "c3d" else (64, 48)  # C3D's fc6 fixes its clip: batch and T change
    for x in (_clip(model, 3, size=small), _clip(model, 2, frames=24 if name != "c3d" else 16, size=other)):
        torch.testing.assert_close(fused(x), plain(x), rtol=1e-4, atol=1e-4)
    x = _clip(model, 2, size=small)
    got, expected = Predictor(model, "bf16", "cpu")(x), Predictor(model, "bf16", "cpu", fuse_convs=False)(x)
    assert got.dtype == torch.float32
    assert ((got - expected).norm() / expected.norm()).item() < 0.02


def test_fused_predictor_keeps_module_names_and_refuses_a_layer_it_fused_away():
    """Blocks and units keep their names (features of a block are the block's); the last unit of a fused block
    returns the block's output, so asking for it is one clear error, and the unfused path still gives it."""
    model = _tiny("r3d_18", {})
    fused = Predictor(model, "fp32", "cpu")
    names = {n for n, _ in fused.model.named_modules()}
    assert {"layer2.1", "layer2.1.conv1", "layer2.1.conv2"} <= names and "layer2.1.conv1.conv" not in names
    x = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        expected = layer_output(model, x, "layer2.1")
    torch.testing.assert_close(fused.run(lambda v: layer_output(fused.model, v, "layer2.1"), x), expected,
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="fuse_convs=False"):  # a block's last unit: the block's output
        fused.run(lambda v: layer_output(fused.model, v, "layer2.1.conv2"), x)
    r21d_model = _tiny("r2plus1d_18", {})
    r21d = Predictor(r21d_model, "fp32", "cpu")  # its conv2 = Sequential(spatial, temporal)
    assert r21d.model.get_submodule("layer2.1.conv2.temporal").joins_residual
    for inner in ("layer2.1.conv2", "layer2.1.conv2.temporal"):
        with pytest.raises(ValueError, match="fuse_convs=False"):
            r21d.run(lambda v, inner=inner: layer_output(r21d.model, v, inner), x)
    unfused = Predictor(r21d_model, "fp32", "cpu", fuse_convs=False)
    torch.testing.assert_close(  # the units before the join still run, and hook, on their own
        r21d.run(lambda v: layer_output(r21d.model, v, "layer2.1.conv2.spatial"), x),
        unfused.run(lambda v: layer_output(unfused.model, v, "layer2.1.conv2.spatial"), x), rtol=1e-4, atol=1e-4)
    plain = Predictor(model, "fp32", "cpu", fuse_convs=False)
    with torch.no_grad():
        expected = layer_output(model, x, "layer2.1.conv2")
    torch.testing.assert_close(plain.run(lambda v: layer_output(plain.model, v, "layer2.1.conv2"), x), expected,
                               rtol=1e-4, atol=1e-4)


def test_only_the_cpu_eager_channels_last_path_is_fused():
    model = _tiny("r2plus1d_18", {})
    assert not Predictor(model, "fp32", "cpu", channels_last=False).fused
    assert not Predictor(model, "fp32", "cpu", fold_bn=False).fused["units"]  # BN still there: nothing to pack


def test_a_fused_model_copies_and_pickles():
    """The packed weight is opaque (no storage): a copy (another Predictor on this one's model) or a pickle packs
    its own on its first call, with the same numbers."""
    import pickle

    fused = Predictor(_tiny("r3d_18", {}), "fp32", "cpu")
    x = torch.randn(1, 3, 8, 32, 32)
    expected = fused(x)
    torch.testing.assert_close(Predictor(fused.model, "fp32", "cpu")(x), expected, rtol=1e-5, atol=1e-5)
    with torch.inference_mode():
        torch.testing.assert_close(pickle.loads(pickle.dumps(fused.model))(x), expected, rtol=1e-5, atol=1e-5)
