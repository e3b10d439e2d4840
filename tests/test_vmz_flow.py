"""VMZ's optical-flow input (normalization ``vmz_flow``): Farneback flow of the clip's own frames, computed as
caffe2/video's ClipTransformOpticalFlow does, what VMZ's flow R(2+1)D-34 was trained on."""

import math

import cv2
import numpy as np
import pytest
import torch

from videozoo.cli import main
from videozoo.data import write_video
from videozoo.data.transforms import NORMALIZATION, FramesToVmzFlow, TransformConfig
from videozoo.engine.config import ConfigError, DataConfig, check_config, load_config
from videozoo.engine.inputs import check_model_accepts, resolve_inputs
from videozoo.engine.trainer import train
from videozoo.models import create_model

MEAN, STD = (np.array(v, np.float32) for v in NORMALIZATION["vmz_flow"])


def clip_transform_optical_flow(frames: np.ndarray, crop: int, mirror: bool) -> np.ndarray:
    """caffe2/video/video_io.cc ClipTransformOpticalFlow with flow_alg_type 0, Flow2C, frame_gap_of 1, as written:
    per output frame, the centre crop ((size - crop) / 2, integer) of it and the next, mirrored, grey, Farneback
    with Caffe2's parameters (optical_flow.cc), minus the mean, times the inverse std. ``frames``: (T + 1, H, W, 3)."""
    h, w = frames.shape[1:3]
    top, left = (h - crop) // 2, (w - crop) // 2
    out = np.zeros((2, len(frames) - 1, crop, crop), np.float32)
    for t in range(len(frames) - 1):
        grays = []
        for img in frames[t:t + 2]:
            cropped = img[top:top + crop, left:left + crop].copy()
            if mirror:
                cropped = cv2.flip(cropped, 1)
            grays.append(cv2.cvtColor(cropped, cv2.COLOR_RGB2GRAY))
        flow = cv2.calcOpticalFlowFarneback(grays[0], grays[1], None, math.sqrt(2) / 2.0, 5, 10, 2, 7, 1.5,
                                            cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
        for c in range(2):
            out[c, t] = (flow[..., c] - MEAN[c]) * (1 / STD[c])
    return out


def moving_texture(frames: int, size: int = 64, speed: int = 1) -> np.ndarray:
    """(frames, size, size, 3) uint8: a smooth random texture sliding right by ``speed`` pixels a frame."""
    rng = np.random.default_rng(0)
    wide = cv2.GaussianBlur(rng.integers(0, 256, (size, size + frames * speed), np.uint8), (0, 0), 2)
    return np.stack([np.repeat(wide[:, (frames - t) * speed:(frames - t) * speed + size, None], 3, 2)
                     for t in range(frames)])


@pytest.mark.parametrize("mirror", [False, True])
def test_frames_to_vmz_flow_is_caffe2s_clip_transform(mirror):
    frames = moving_texture(5, 40)  # 40 - 32 = 8: both centre crops start at 4
    transform = TransformConfig(crop=32, resize_hw=(40, 40), normalization="vmz_flow", flip=False).eval()
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
    if mirror:
        clip = clip.flip(-1)
    ours = transform(clip, np.random.default_rng(0))[0]  # one view
    assert ours.shape == (2, 4, 32, 32) and ours.dtype == torch.float32
    expected = clip_transform_optical_flow(frames, 32, mirror)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, atol=1e-6)
    # The texture moves right one pixel a frame (left once mirrored): x flow ≈ ±1 px, y ≈ 0, in VMZ's units.
    x = ours[0, :, 8:-8, 8:-8].mean() * STD[0] + MEAN[0]
    y = ours[1, :, 8:-8, 8:-8].mean() * STD[1] + MEAN[1]
    assert abs(x - (-1 if mirror else 1)) < 0.2 and abs(y) < 0.2


def test_vmz_flow_refuses_what_it_cannot_use():
    with pytest.raises(ValueError, match="computes flow from uint8 RGB frames"):
        FramesToVmzFlow()(torch.zeros(4, 3, 8, 8))  # already float
    settings = resolve_inputs(DataConfig(num_frames=4, crop=32, normalization="vmz_flow"), "r2plus1d_18", [])
    assert settings.sampling.num_frames == 5 and settings.channels == 2  # T flows from T + 1 frames
    with pytest.raises(ConfigError, match="VMZ's optical flow .* r2plus1d_18 takes 3"):
        check_model_accepts(create_model("r2plus1d_18", 2, base_width=8), settings)
    check_model_accepts(create_model("r2plus1d_18", 2, base_width=8, in_channels=2), settings)
    with pytest.raises(ConfigError, match="vmz_flow .* data.stride 1"):
        check_config(load_config(None, ["data.train=x.csv", "data.normalization=vmz_flow", "data.stride=2"]))


def test_a_vmz_flow_stream_trains_and_predicts_from_video_files(tmp_path):
    """No `videozoo flow` files: training, eval and predict compute the flow from the decoded frames."""
    for label, speed in (("left", -2), ("right", 2)):
        for k in range(3):
            frames = moving_texture(12, 32, abs(speed))
            write_video(tmp_path / "data" / label / f"{label}{k}.mp4", frames if speed > 0 else frames[:, :, ::-1],
                        fps=10)
    cfg = load_config(None, [f"data.train={tmp_path / 'data'}", f"out={tmp_path / 'run'}", "model.name=r2plus1d_18",
                             "model.overrides={base_width: 8, in_channels: 2}", "data.normalization=vmz_flow",
                             "data.num_frames=4", "data.crop=32", "data.flip=false", "data.num_workers=0",
                             "train.epochs=1", "train.batch_size=2", "train.progress=false"])
    result = train(cfg)
    assert (result.out / "last.safetensors").is_file()
    assert main(["predict", str(tmp_path / "data" / "left" / "left0.mp4"), "--checkpoint", str(result.out)]) == 0
    assert main(["eval", "--checkpoint", str(result.out), "--data", str(tmp_path / "data"), "--json"]) == 0
