"""Overrides that the issue names: stem strides, (2+1)D width rule, BN eps, dropout, in_channels."""

import pytest
import torch
from torch import nn

import videozoo
from videozoo.models.layers import r2plus1d_mid_channels


def test_stem_strides():
    model = videozoo.create_model("r3d_18", stem_temporal_stride=2, stem_spatial_stride=1, base_width=8)
    conv = model.stem.conv.conv
    assert conv.stride == (2, 1, 1)
    out = model.stem(torch.randn(1, 3, 8, 32, 32))
    assert out.shape[2:] == (4, 32, 32)


def test_r2plus1d_mid_channels_per_conv_and_per_block():
    paper = videozoo.create_model("r2plus1d_18")
    tv = videozoo.create_model("r2plus1d_18", mid_channels="per_block")
    block = paper.layer2[0]  # 64 → 128, the first block of conv3_x
    assert block.conv1.spatial.conv.out_channels == r2plus1d_mid_channels(64, 128) == 230
    assert block.conv2.spatial.conv.out_channels == r2plus1d_mid_channels(128, 128) == 288
    assert tv.layer2[0].conv2.spatial.conv.out_channels == 230  # torchvision reuses the first conv's M
    assert [paper.layer3[0].conv2.spatial.conv.out_channels, paper.layer4[0].conv2.spatial.conv.out_channels] == [
        576, 1152]
    assert [tv.layer3[0].conv2.spatial.conv.out_channels, tv.layer4[0].conv2.spatial.conv.out_channels] == [
        460, 921]


def test_bn_eps_and_momentum():
    model = videozoo.create_model("ir_csn_26", bn_eps=1e-4, bn_momentum=0.01, base_width=8)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert bns and all(m.eps == 1e-4 and m.momentum == 0.01 for m in bns)
    assert videozoo.create_model("ir_csn_26", base_width=8).layer1[0].conv1.bn.eps == 1e-3  # VMZ's default


def test_dropout_before_head():
    model = videozoo.create_model("r3d_18", dropout=0.5, base_width=8)
    assert isinstance(model.head.dropout, nn.Dropout) and model.head.dropout.p == 0.5
    assert isinstance(videozoo.create_model("r3d_18", base_width=8).head.dropout, nn.Identity)


@pytest.mark.parametrize("channels", [1, 2])
def test_in_channels_for_flow_and_grey(channels):
    model = videozoo.create_model("r2plus1d_18", in_channels=channels, num_classes=4, base_width=8)
    assert model(torch.randn(2, channels, 4, 32, 32)).shape == (2, 4)
    with pytest.raises(ValueError, match=rf"\(B, {channels}, T, H, W\)"):
        model(torch.randn(2, 3, 4, 32, 32))


def test_bad_override_values_are_named():
    with pytest.raises(ValueError, match="mid_channels"):
        videozoo.create_model("r2plus1d_18", mid_channels="sometimes")
    with pytest.raises(ValueError, match="in_channels"):
        videozoo.create_model("r3d_18", in_channels=0)
    with pytest.raises(ValueError, match="dropout"):
        videozoo.create_model("r3d_18", dropout=1.5)
    with pytest.raises(ValueError, match="did you mean bn_eps"):
        videozoo.create_model("r3d_18", bn_epsilon=1e-3)
    with pytest.raises(ValueError, match=r"num_classes must be a positive integer \(0 for a backbone"):
        videozoo.create_model("r3d_18", num_classes=-1)
    with pytest.raises(ValueError, match="num_classes"):
        videozoo.create_model("r3d_18", num_classes=2.5)


def test_model_card():
    card = videozoo.model_card("r3d_18")
    assert card.params == 33_371_472
    assert card.params_no_bn < card.params
    assert abs(card.gmacs - 40.697) < 0.001
    assert card.clip == (16, 112, 112)
    assert "Closer Look" in card.paper
    assert set(card.sources) >= {"params", "params_no_bn", "gmacs", "clip"}
    assert any("torchvision" in r.source for r in card.reported)
    assert card.as_dict()["reported"]
