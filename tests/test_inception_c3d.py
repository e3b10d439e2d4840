"""Issue 3: C3D and the Inception table (I3D, S3D, S3D-G, heavy variants)."""

import pytest
import torch
import torchvision.models.video as tvv

import videozoo
from videozoo.cli import main
from videozoo.models.cards import measure, model_card
from videozoo.models.inception import CONV_ENDPOINTS, SelfGating
from videozoo.models.layers import ConvNormAct, randomize_batch_norm


def test_s3d_parameters_exact():
    assert measure("s3d")[0] == 8_320_048


def test_s3d_from_torchvision_matches(tmp_path):
    reference = tvv.s3d(num_classes=400)
    randomize_batch_norm(reference, torch.Generator().manual_seed(3))
    src, dst = tmp_path / "s3d.pth", tmp_path / "s3d.safetensors"
    torch.save(reference.state_dict(), src)
    assert main(["convert", "torchvision", "s3d", str(src), str(dst)]) == 0
    ours = videozoo.load_model(dst).eval()
    reference.eval()
    for frames in (16, 24):  # 24 frames: the fixed 2×7×7 head averages several windows
        x = torch.randn(1, 3, frames, 224, 224)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)


def test_c3d_numbers():
    params, _, macs = measure("c3d", num_classes=487)
    assert params == 79_991_015
    assert abs(macs / 1e9 - 38.5) <= 0.385
    assert abs(measure("c3d_bn")[0] / 1e6 - 64.9) <= 0.005 * 64.9


def test_inception_numbers_and_the_papers_flops_story():
    assert abs(measure("i3d")[0] / 1e6 - 12.70) <= 0.127
    assert abs(measure("s3d_g")[0] / 1e6 - 9.55) <= 0.0955
    clip = (64, 224, 224)
    i3d, s3d, s3d_g = (measure(n, clip)[2] for n in ("i3d", "s3d", "s3d_g"))
    assert i3d > s3d_g > s3d
    assert s3d <= 0.7 * i3d  # "1.5× cheaper"


def test_c3d_feature_layers():
    model = videozoo.create_model("c3d", num_classes=5, base_width=8, fc_width=32).eval()
    x = torch.randn(2, 3, 16, 112, 112)
    with torch.no_grad():
        pool5 = model.forward_features(x, layer="pool5")
        fc6 = model.forward_features(x, layer="fc6")
        fc7 = model.forward_features(x)
        logits = model(x)
    assert pool5.shape == (2, 64 * 1 * 4 * 4)  # ceil-mode pool5: 1×4×4
    assert fc6.shape == fc7.shape == (2, 32)
    assert (fc6 >= 0).all()  # after ReLU, as Caffe's in-place ReLU leaves fc6
    torch.testing.assert_close(torch.relu(model.fc6(pool5)), fc6)
    torch.testing.assert_close(model.head.fc(fc7), logits)
    with pytest.raises(ValueError, match="no feature layer 'fc8'"):
        model.forward_features(x, layer="fc8")


def test_c3d_pool5_and_fc6_sizes():
    assert videozoo.create_model("c3d").fc6.in_features == 8192
    assert videozoo.create_model("c3d_bn").fc6.in_features == 4608
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in videozoo.create_model("c3d_bn", base_width=8).modules())


def test_c3d_refuses_other_clip_sizes():
    model = videozoo.create_model("c3d", base_width=8, fc_width=32)
    with pytest.raises(ValueError, match=r"fixed \(1, 4, 4\) map.*\(1, 3, 16, 144, 144\)"):
        model(torch.randn(1, 3, 16, 144, 144))
    with pytest.raises(ValueError, match="5-D"):
        model(torch.randn(3, 16, 112, 112))


def kinds(model):
    """Conv kind per endpoint, read off the built modules."""
    out = {}
    for endpoint in CONV_ENDPOINTS:
        convs = [m for m in model.features.get_submodule(endpoint).modules() if isinstance(m, torch.nn.Conv3d)]
        ks = {m.kernel_size for m in convs if m.kernel_size != (1, 1, 1)}
        out[endpoint] = ("sep" if {(1, 3, 3), (3, 1, 1)} <= ks or {(1, 7, 7), (7, 1, 1)} <= ks
                         else "3d" if any(k[0] > 1 and k[1] > 1 for k in ks) else "2d")
    return out


def test_uniform_rows():
    assert set(kinds(videozoo.create_model("i3d", base_width=8)).values()) == {"3d"}
    assert set(kinds(videozoo.create_model("s3d", base_width=8)).values()) == {"sep"}
    assert set(kinds(videozoo.create_model("i2d", base_width=8)).values()) == {"2d"}


@pytest.mark.parametrize("boundary", ["Conv2d_2c", "Mixed_4b", "Mixed_5b"])
def test_heavy_variants_split_at_the_boundary(boundary):
    at = CONV_ENDPOINTS.index(boundary)
    bottom = kinds(videozoo.create_model("i3d_bottom_heavy", base_width=8, boundary=boundary))
    top = kinds(videozoo.create_model("s3d_top_heavy", base_width=8, boundary=boundary))
    for i, endpoint in enumerate(CONV_ENDPOINTS):
        assert bottom[endpoint] == ("3d" if i < at else "2d"), endpoint
        assert top[endpoint] == ("2d" if i < at else "sep"), endpoint


def test_deflation_sweep_moves_cost_monotonically():
    """Moving the 3D/2D line up makes a top-heavy net cheaper and a bottom-heavy one dearer (the paper's study)."""
    clip = (64, 224, 224)
    top = [measure("i3d_top_heavy", clip, boundary=b)[2] for b in CONV_ENDPOINTS]
    bottom = [measure("i3d_bottom_heavy", clip, boundary=b)[2] for b in CONV_ENDPOINTS]
    assert top == sorted(top, reverse=True) and bottom == sorted(bottom)
    assert top[0] == measure("i3d", clip)[2]  # 3D from the first endpoint on is I3D itself
    assert bottom[0] == measure("i2d", clip)[2]


def test_gating_formula():
    gate = SelfGating(4)
    x = torch.randn(2, 4, 3, 5, 5)
    expected = torch.sigmoid(x.mean(dim=(2, 3, 4)) @ gate.fc.weight.T + gate.fc.bias)[:, :, None, None, None] * x
    torch.testing.assert_close(gate(x), expected)


def test_s3d_g_gates_conv2d_2c_and_every_branch():
    model = videozoo.create_model("s3d_g", base_width=8)
    gates = [name for name, m in model.named_modules() if isinstance(m, SelfGating)]
    assert "features.Conv2d_2c.gate" in gates
    assert len(gates) == 1 + 9 * 4
    assert not any(isinstance(m, SelfGating) for m in videozoo.create_model("s3d", base_width=8).modules())


def test_inception_endpoints_and_shape_errors():
    model = videozoo.create_model("s3d", base_width=8).eval()
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        maps = model.forward_endpoints(x, until="Mixed_4b")
    assert list(maps)[-1] == "Mixed_4b" and maps["Conv2d_1a"].shape[2:] == (8, 112, 112)
    fixed = videozoo.create_model("s3d", base_width=8, head_pool="fixed").eval()
    with pytest.raises(ValueError, match=r"T ≥ \d+, H ≥ \d+, W ≥ \d+"):
        fixed(torch.randn(1, 3, 16, 112, 112))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.randn(1, 2, 16, 224, 224))
    small = videozoo.create_model("s3d", base_width=8, head_pool="global").eval()
    with torch.no_grad():
        assert small(torch.randn(1, 3, 8, 112, 112)).shape == (1, 400)


@pytest.mark.parametrize("name", ["i3d", "s3d", "s3d_g"])
def test_the_default_head_is_the_published_one_where_it_fits_and_global_below(name):
    """head_pool="auto" (the default): at 224 the published 2×7×7 head (the outputs of "fixed", hence
    torchvision's); at the 112 and 160 crops small data sets fine-tune at, the global average ("global")."""
    torch.manual_seed(0)
    auto = videozoo.create_model(name, base_width=8).eval()
    fixed = videozoo.create_model(name, base_width=8, head_pool="fixed").eval()
    pooled = videozoo.create_model(name, base_width=8, head_pool="global").eval()
    fixed.load_state_dict(auto.state_dict())
    pooled.load_state_dict(auto.state_dict())
    with torch.no_grad():
        big = torch.randn(1, 3, 24, 224, 224)
        assert torch.equal(auto(big), fixed(big)) and not torch.allclose(auto(big), pooled(big))
        for size, frames in ((112, 8), (160, 16)):
            x = torch.randn(1, 3, frames, size, size)
            assert torch.equal(auto(x), pooled(x))
    assert "global average below" in model_card(name).head


def test_model_cards_of_issue_3():
    for name in ("c3d", "c3d_bn", "i2d", "i3d", "s3d", "s3d_g", "i3d_bottom_heavy", "i3d_top_heavy",
                 "s3d_bottom_heavy", "s3d_top_heavy"):
        card = model_card(name)
        assert card.params > 0 and card.gmacs > 0 and card.paper


def test_inception_units_keep_bn_eps_1e3():
    model = videozoo.create_model("s3d", base_width=8)
    assert all(u.bn.eps == 1e-3 for u in model.modules() if isinstance(u, ConvNormAct))
