"""Every registered model runs forward and backward on a tiny clip (reduced width, same code path)."""

import pytest
import torch

import videozoo
from videozoo.models import get_entry, list_models

TINY = {"c3d": {"fc_width": 64}}  # C3D's fc layers are 4096 wide whatever its conv widths


def tiny(name: str, batch: int = 2, **kwargs):
    """The model at reduced width and the smallest clip its strides and head accept (at least 8×32×32)."""
    model = videozoo.create_model(name, base_width=8, **TINY.get(get_entry(name).family, {}), **kwargs)
    if get_entry(name).family == "audio":  # spectrograms (B, 1, frames, mels)
        return model, torch.randn(batch, 1, 100, 40)
    if hasattr(model, "pool5_size"):  # C3D: fully connected layers over a fixed map
        t, h, w = model.spec.clip
    else:
        # At least 8 frames: torch 2.14.1's CPU conv3d weight gradient aborts the process for I3D's 7×7×7 stride-2
        # stem on exactly 5 frames (fp32; 4, 6, 7 and 8 are fine), the minimum its strides allow.
        t, h, w = (max(n, 8 if i == 0 else 32) for i, n in enumerate(model.min_size))
    return model, torch.randn(batch, model.in_channels, t, h, w)


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    model, x = tiny(name, num_classes=7)
    logits = model(x)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads), "every parameter takes part in the forward pass"
    assert all(torch.isfinite(g).all() for g in grads)
    features = model.forward_features(x)
    assert features.shape == (2, model.num_features)
    model.reset_classifier(3)
    assert model.eval()(x).shape == (2, 3)


def test_list_models_is_sorted_and_complete():
    names = list_models()
    assert names == sorted(names)
    expected = {
        "r2d_18", "f_r2d_18", "r3d_18", "r3d_34", "r3d_50", "r3d_101", "r3d_152", "res3d_18",
        *(f"mc{x}_18" for x in range(2, 6)), *(f"rmc{x}_18" for x in range(2, 6)),
        *(f"r2plus1d_{d}" for d in (10, 16, 18, 26, 34, 50, 101, 152)),
        *(f"{k}_csn_{d}" for k in ("ip", "ir") for d in (26, 50, 101, 152)),
        "p3d_63", "p3d_131", "p3d_199", "p3d_a_63", "p3d_b_63", "p3d_c_63",
    }
    assert expected <= set(names)


def test_default_clip_runs_at_full_width():
    model = videozoo.create_model("r2plus1d_18").eval()
    t, h, w = get_entry("r2plus1d_18").default_clip
    with torch.no_grad():
        assert model(torch.randn(1, 3, t, h, w)).shape == (1, 400)


def test_forward_features_is_the_head_input():
    model = videozoo.create_model("r3d_18", num_classes=5, base_width=8).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.head.fc(model.forward_features(x)), model(x))


def test_the_docs_example_adds_a_conv_kind_and_a_row():
    """docs/models.md's example, run as written: a conv kind is one entry, a model one row."""
    import re
    from pathlib import Path

    from videozoo.models import registry
    from videozoo.models.layers import CONV_MAKERS

    text = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    section = text[text.index("### Adding a conv kind and a model row"):]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ")[0], flags=re.S)
    try:
        exec(compile(code, "docs/models.md", "exec"), {})
        assert "dwpw_r18" in registry.list_models() and "dw+pw" in CONV_MAKERS
    finally:  # leave the zoo as it was for the other tests (the zoo table, the model list)
        registry._REGISTRY.pop("dwpw_r18", None)
        CONV_MAKERS.pop("dw+pw", None)


def test_every_model_has_the_one_interface():
    """Every zoo network is a VideoNet: one clip tensor (no modalities) with in_channels, or a late-fusion net
    over named modalities; reset_classifier gives new heads in both."""
    from videozoo.models.base import VideoNet

    for name in list_models():
        with torch.device("meta"):
            model = videozoo.create_model(name, num_classes=5)
        assert isinstance(model, VideoNet) and model.modalities == () and model.in_channels in (1, 2, 3), name
        assert model.num_classes == 5 and model.head_description
    net = videozoo.create_model("multimodal", num_classes=3, backbones={"rgb": "r3d_18", "audio": "audio_resnet_18"},
                                backbone_overrides={"rgb": {"base_width": 8}, "audio": {"base_width": 8}},
                                fusion_hidden=16).eval()
    assert isinstance(net, VideoNet) and net.modalities == ("rgb", "audio") and net.in_channels is None
    net.reset_classifier(4)
    out = net({"rgb": torch.randn(2, 3, 8, 32, 32), "audio": torch.randn(2, 1, 100, 40)})
    assert net.num_classes == 4 and all(v.shape == (2, 4) for v in out.values())
