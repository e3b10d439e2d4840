"""Temporal Grad-CAM (`videozoo explain`): one (T, H, W) map in [0, 1] per clip, for every family of the zoo, drawn
over the clip's frames as MP4 or GIF."""

import numpy as np
import pytest
import torch
from PIL import Image

import videozoo
from tests.tiny import tiny_checkpoint
from tests.videos import barcodes
from videozoo.cli import main
from videozoo.data import write_video
from videozoo.data.decode import probe
from videozoo.engine.explain import default_cam_layer, grad_cam, overlay


@pytest.mark.parametrize("name,overrides,clip,layer", [
    ("r2plus1d_18", {"base_width": 8}, (8, 48, 48), "layer4"),
    ("ir_csn_50", {"base_width": 8}, (8, 48, 48), "layer4"),
    ("s3d", {}, (16, 48, 48), "features.Mixed_5c"),
    ("c3d", {}, (16, 112, 112), "features.conv5b"),
])
def test_grad_cam_maps_every_family(name, overrides, clip, layer):
    model = videozoo.create_model(name, 5, **overrides)
    x = torch.randn(1, 3, *clip)
    result = grad_cam(model, x)
    assert default_cam_layer(model) == layer == result.layer
    assert result.heatmap.shape == clip and result.heatmap.min() >= 0 and result.heatmap.max() <= 1
    with torch.no_grad():
        probs = model.eval()(x).softmax(-1)[0]
    assert result.target == int(probs.argmax()) and result.probability == pytest.approx(float(probs.max()), abs=1e-6)
    other = grad_cam(model, x, target=(result.target + 1) % 5)
    assert other.target == (result.target + 1) % 5 and other.heatmap.shape == clip


def test_grad_cam_refuses_what_it_cannot_explain():
    model = videozoo.create_model("r2plus1d_18", 3, base_width=8)
    with pytest.raises(ValueError, match="no layer 'layer9'"):
        grad_cam(model, torch.randn(1, 3, 4, 32, 32), layer="layer9")
    with pytest.raises(ValueError, match="one clip"):
        grad_cam(model, torch.randn(2, 3, 4, 32, 32))
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(model, torch.randn(1, 3, 4, 32, 32), target=7)
    late = videozoo.create_model("multimodal", 3, backbone_overrides={"rgb": {"base_width": 8},
                                                                      "audio": {"base_width": 8}})
    with pytest.raises(ValueError, match="single-clip video networks"):
        grad_cam(late, torch.randn(1, 3, 4, 32, 32))


def test_overlay_blends_the_map_over_the_frames():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    heat = np.zeros((2, 4, 4))
    heat[:, 0, 0] = 1.0
    out = overlay(frames, heat)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert out[0, 0, 0, 0] > out[0, 0, 0, 2]  # jet: hot is red
    assert out[0, 3, 3, 2] > out[0, 3, 3, 0]  # cold is blue


def test_explain_command_writes_the_overlay(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", ["jump", "run"])
    video = write_video(tmp_path / "v.mp4", barcodes(12), fps=10)
    assert main(["explain", str(video), "--checkpoint", str(ckpt), "--class", "run", "--out",
                 str(tmp_path / "cam.gif")]) == 0
    assert "Grad-CAM of 'run'" in capsys.readouterr().out
    gif = Image.open(tmp_path / "cam.gif")
    assert gif.size == (32, 32) and gif.n_frames == 4
    assert main(["explain", str(video), "--checkpoint", str(ckpt), "--out", str(tmp_path / "cam.mp4")]) == 0
    meta = probe(tmp_path / "cam.mp4")
    assert (meta.width, meta.height, meta.num_frames) == (32, 32, 4)
    assert main(["explain", str(video), "--checkpoint", str(ckpt), "--class", "swim", "--out",
                 str(tmp_path / "x.gif")]) != 0
    assert "class 'swim' is not one of the model's" in capsys.readouterr().err
