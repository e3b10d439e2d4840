"""Bad input gets one ValueError line naming the expected shape."""

import pytest
import torch

import videozoo


@pytest.fixture(scope="module")
def r3d():
    return videozoo.create_model("r3d_18", base_width=8)


def test_4d_tensor(r3d):
    with pytest.raises(ValueError, match=r"5-D clip batch \(B, 3, T, H, W\).*4-D"):
        r3d(torch.randn(3, 8, 32, 32))


def test_wrong_channel_count(r3d):
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\) with 3 channels.*\(2, 4, 8, 32, 32\)"):
        r3d(torch.randn(2, 4, 8, 32, 32))


def test_channels_last_input_gets_a_hint(r3d):
    with pytest.raises(ValueError, match="permute"):
        r3d(torch.randn(2, 8, 32, 32, 3))


def test_integer_input(r3d):
    with pytest.raises(ValueError, match="float"):
        r3d(torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8))


@pytest.mark.parametrize("name,shape", [("p3d_63", (1, 3, 8, 64, 64)), ("r2d_18", (1, 3, 8, 64, 64))])
def test_clip_too_short(name, shape):
    model = videozoo.create_model(name, base_width=8)
    with pytest.raises(ValueError, match=r"T ≥ 16"):
        model(torch.randn(*shape))


def test_forward_features_checks_too(r3d):
    with pytest.raises(ValueError, match="5-D"):
        r3d.forward_features(torch.randn(3, 8, 32, 32))


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match=r"did you mean r2plus1d_18"):
        videozoo.create_model("r2plus1d18")
    with pytest.raises(ValueError, match=r"ir_csn_152"):
        videozoo.create_model("ir-csn-152")
