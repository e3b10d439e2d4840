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
from videozoo.data import SynthConfig, make_synthetic_dataset, write_video
from videozoo.data.decode import probe
from videozoo.data.synthetic import render_motion, smooth_background
from videozoo.data.transforms import ToModelInput
from videozoo.engine.config import load_config
from videozoo.engine.evaluate import load_for_inference
from videozoo.engine.explain import default_cam_layer, grad_cam, overlay
from videozoo.engine.trainer import train


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
    # Guided Grad-CAM: pixel-fine, zero wherever the layer's map is; guided backprop reaches every ReLU
    guided = grad_cam(model, x, target=result.target, method="guided")
    assert guided.method == "guided" and guided.heatmap.shape == clip
    assert guided.heatmap.min() >= 0 and guided.heatmap.max() == 1 and guided.heatmap.std() > 0


def test_grad_cam_refuses_what_it_cannot_explain():
    model = videozoo.create_model("r2plus1d_18", 3, base_width=8)
    with pytest.raises(ValueError, match="no layer 'layer9'"):
        grad_cam(model, torch.randn(1, 3, 4, 32, 32), layer="layer9")
    with pytest.raises(ValueError, match="one clip"):
        grad_cam(model, torch.randn(2, 3, 4, 32, 32))
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(model, torch.randn(1, 3, 4, 32, 32), target=7)
    with pytest.raises(ValueError, match="method 'smooth' is not one of gradcam, guided"):
        grad_cam(model, torch.randn(1, 3, 4, 32, 32), method="smooth")
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
    assert main(["explain", str(video), "--checkpoint", str(ckpt), "--method", "guided", "--out",
                 str(tmp_path / "guided.gif")]) == 0
    assert "Guided Grad-CAM of" in capsys.readouterr().out and Image.open(tmp_path / "guided.gif").n_frames == 4
    assert main(["explain", str(video), "--checkpoint", str(ckpt), "--class", "swim", "--out",
                 str(tmp_path / "x.gif")]) != 0
    assert "class 'swim' is not one of the model's" in capsys.readouterr().err


@pytest.mark.parametrize("normalization", ["kinetics", "clip"])
def test_the_explained_clip_is_the_one_the_model_was_trained_to_see(tmp_path, normalization):
    """explain (and serve's Grad-CAM) feed the model its centre clip as evaluation does: the checkpoint's
    normalisation, per-clip standardisation included."""
    from dataclasses import replace

    from videozoo.data.datasets import VideoDataset, VideoItem
    from videozoo.engine.explain import _clip_and_frames

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", ["a", "b"])
    _, _, settings = load_for_inference(ckpt)
    settings = replace(settings, normalization=normalization)
    video = write_video(tmp_path / "v.mp4", barcodes(12), fps=10)
    clip, frames = _clip_and_frames(video, settings)
    expected = VideoDataset([VideoItem(str(video), 0)], ["a"], settings.sampling, settings.transform(1),
                            train=False, num_clips=1)[0]["video"]
    torch.testing.assert_close(clip, expected, rtol=1e-4, atol=1e-4)
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.uint8


def _regions(frames: np.ndarray, seed: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W)`` masks of a rendered clip: the moving object's path (pixels that change over the clip) and the
    still objects (pixels off the background that do not change). The background is render_motion's second
    draw from the clip's generator, after the speed."""
    rng = np.random.default_rng(seed)
    rng.uniform(0.8, 1.2)
    background = smooth_background(rng, frames.shape[1])
    moving = (np.abs(frames.astype(int) - frames[:1].astype(int)).max(-1) > 40).any(0)
    moving |= np.roll(moving, 1, 0) | np.roll(moving, -1, 0) | np.roll(moving, 1, 1) | np.roll(moving, -1, 1)
    objects = (np.abs(frames.astype(float) - background).max(-1) > 40).any(0)
    return moving, objects & ~moving


@pytest.mark.slow
def test_grad_cam_points_at_what_moves(tmp_path):
    """A briefly trained motion model (R(2+1)D-18 at width 16, four directions of motion; in every video two
    striped objects stand still behind the moving ones, so what is there does not tell the class) explained on
    fresh clips where one object moves in front of two still ones: Grad-CAM's peak lies on the moving object's
    path, the path holds a share of its mass well above its share of the frame, and more per pixel than the still
    objects; Guided Grad-CAM (pixel-fine) puts most of its mass on the path. Measured: docs/visual.md."""
    data = tmp_path / "d"
    make_synthetic_dataset(data, SynthConfig(classes=4, per_class=48, val_per_class=8, frames=16, size=64,
                                             still_objects=2))
    train(load_config(None, [f"data.train={data / 'train.csv'}", f"data.val={data / 'val.csv'}",
                             f"out={tmp_path / 'run'}", "model.name=r2plus1d_18", "model.overrides={base_width: 16}",
                             "data.num_frames=8", "data.crop=64", f"train.epochs={CAM_EPOCHS}",
                             "train.progress=false"]))
    model, classes, settings = load_for_inference(tmp_path / "run")
    to_input = ToModelInput(settings.normalization)
    hits, mass, area, moving_density, still_density, guided_mass = [], [], [], [], [], []
    for k in range(24):
        motion = classes[k % len(classes)]
        frames = render_motion(motion, 8, 64, np.random.default_rng([7, k]), objects=1, still_objects=2)
        moving, still = _regions(frames, [7, k])
        assert 0.02 < moving.mean() < 0.6 and 0.005 < still.mean() < 0.5, (moving.mean(), still.mean())
        clip = to_input(torch.from_numpy(frames).permute(0, 3, 1, 2))[None]
        result = grad_cam(model, clip, classes.index(motion), CAM_LAYER)
        if result.probability < 0.5:  # explained where the model is right
            continue
        heat = result.heatmap.numpy().sum(0)
        heat = heat / heat.sum()
        hits.append(moving[np.unravel_index(heat.argmax(), heat.shape)])
        mass.append(heat[moving].sum())
        area.append(moving.mean())
        moving_density.append(heat[moving].mean())
        still_density.append(heat[still].mean())
        guided = grad_cam(model, clip, classes.index(motion), CAM_LAYER, method="guided").heatmap.numpy().sum(0)
        guided_mass.append(guided[moving].sum() / guided.sum())
    ratio = np.mean(moving_density) / np.mean(still_density)
    print(f"{len(hits)} of 24 clips right; peak on the moving path {np.mean(hits):.2f}; its mass {np.mean(mass):.3f} "
          f"over {np.mean(area):.3f} of the frame; density moving / still {ratio:.2f}; Guided Grad-CAM's mass on the "
          f"path {np.mean(guided_mass):.3f}")
    # Enough right clips for the means below to mean something: measured 19 of 24 on an AVX-512 EPYC and 12 on an
    # AMX Xeon (the same seeds train a different model where the bf16 kernels differ).
    assert len(hits) >= 10
    assert np.mean(hits) >= POINTING
    assert np.mean(mass) >= MASS_OVER_AREA * np.mean(area)
    assert ratio >= MOVING_OVER_STILL
    assert np.mean(guided_mass) > GUIDED_MASS  # most of it


# Measured (AMD EPYC): 19 of 24 clips right; the peak on the moving path in 0.84 of them; the path 0.36 of the
# mass over 0.21 of the frame (1.75×); 2.3× the still objects' mass per pixel. At width 32 (twice the minutes):
# 0.95, 1.9× and 2.6×. Not "most of the mass": see docs/visual.md. Guided Grad-CAM, measured on an AMX Xeon (12 clips
# right): 0.63 of the mass on the path (0.69 median); with the last stage's stride 1, 0.53.
CAM_EPOCHS, CAM_LAYER = 25, "layer3"
POINTING, MASS_OVER_AREA, MOVING_OVER_STILL, GUIDED_MASS = 0.65, 1.4, 1.6, 0.5
