"""Clip sampling and transforms."""

import numpy as np
import pytest
import torch

from videozoo.data.sampling import ClipSampling, clip_indices, random_start, sample_rng, uniform_starts
from videozoo.data.transforms import (
    NORMALIZATION,
    CenterCrop,
    MultiCrop,
    RandomCrop,
    RandomHorizontalFlip,
    ShortSideResize,
    ThreeCrop,
    ToModelInput,
    TransformConfig,
    transform_config_for,
)


def test_random_clip_stays_inside_the_video():
    s = ClipSampling(16, stride=2)
    for k in range(200):
        start = random_start(100, s, sample_rng(0, 0, k))
        idx = clip_indices(start, 100, s)
        assert idx == list(range(int(start), int(start) + 32, 2)) and max(idx) < 100


def test_random_clips_cover_all_starts_and_are_seeded():
    s = ClipSampling(16)
    starts = {random_start(40, s, sample_rng(0, e, 3)) for e in range(400)}
    assert starts == set(map(float, range(25)))
    assert random_start(40, s, sample_rng(5, 1, 3)) == random_start(40, s, sample_rng(5, 1, 3))


def test_uniform_test_clips():
    s = ClipSampling(16)
    assert uniform_starts(100, s, 1) == [42.0]  # the centre clip
    starts = uniform_starts(250, s, 10)
    assert len(starts) == 10 and starts == sorted(starts)
    assert starts[0] >= 0 and starts[-1] + 16 <= 250
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1


def test_short_video_loops():
    assert clip_indices(0, 10, ClipSampling(16)) == list(range(10)) + list(range(6))
    assert uniform_starts(10, ClipSampling(16), 3) == [0.0, 0.0, 0.0]


def test_fps_resampling():
    s = ClipSampling(8, stride=1, fps=10)
    assert clip_indices(0, 200, s, video_fps=30) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert s.span(30) == 22


def test_bad_sampling():
    with pytest.raises(ValueError, match="num_frames"):
        ClipSampling(0)
    with pytest.raises(ValueError, match="stride"):
        ClipSampling(8, stride=0)


def clip(t=4, h=60, w=80):
    return torch.arange(t * 3 * h * w, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(t, 3, h, w)


def test_resize_crop_flip_shapes_and_consistency():
    rng = np.random.default_rng(0)
    x = clip()
    assert ShortSideResize(30)(x).shape == (4, 3, 30, 40)
    crop = RandomCrop(32)(x, rng)
    assert crop.shape == (4, 3, 32, 32)
    # The same box on every frame: the crop is a sub-array of each frame at one place.
    flipped = RandomHorizontalFlip(p=1.0)(x, rng)
    assert torch.equal(flipped, x.flip(-1))
    assert CenterCrop(100)(x).shape == (4, 3, 100, 100)  # small videos are padded, not refused


def test_three_crop_spans_the_long_side():
    x = clip(w=120)
    views = ThreeCrop(60)(x)
    assert views.shape == (3, 4, 3, 60, 60)
    assert torch.equal(views[0], x[..., :60]) and torch.equal(views[2], x[..., 60:])
    assert MultiCrop(40, flips=True)(x).shape == (10, 4, 3, 40, 40)


def test_normalisation_and_layout():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = ToModelInput("kinetics")(x)
    assert out.shape == (3, 2, 4, 4) and out.dtype == torch.float32
    mean, std = NORMALIZATION["kinetics"]
    assert out[0, 0, 0, 0].item() == pytest.approx((1 - mean[0]) / std[0], rel=1e-5)
    c3d = ToModelInput("c3d")(x)
    assert c3d[2, 0, 0, 0].item() == pytest.approx(255 - 128, rel=1e-4)


def test_per_clip_standardisation():
    """Preset "clip": each channel of each clip (each view of a multi-view input) to mean 0 and std 1; a blank
    clip stays finite."""
    from videozoo.data.transforms import CLIP_STD_FLOOR

    gen = torch.Generator().manual_seed(0)
    dark = (torch.rand(8, 3, 16, 16, generator=gen) * 20).to(torch.uint8)  # a dim, flat clip
    bright = (torch.rand(8, 3, 16, 16, generator=gen) * 200 + 40).to(torch.uint8)
    views = torch.stack([dark, bright])  # (V, T, C, H, W)
    out = ToModelInput("clip")(views)
    assert out.shape == (2, 3, 8, 16, 16)
    assert torch.allclose(out.mean(dim=(2, 3, 4)), torch.zeros(2, 3), atol=1e-5)
    assert torch.allclose(out.std(dim=(2, 3, 4)), torch.ones(2, 3), atol=1e-4)
    # the dim clip is lifted to the bright one's scale: a fixed normalisation leaves it 10× smaller
    fixed = ToModelInput("kinetics")(views)
    assert fixed[1].std() / fixed[0].std() > 8 and out[1].std() / out[0].std() == pytest.approx(1, abs=1e-3)
    blank = ToModelInput("clip")(torch.full((4, 3, 8, 8), 77, dtype=torch.uint8))
    assert torch.isfinite(blank).all() and blank.abs().max() == 0
    assert CLIP_STD_FLOOR > 0


def test_presets():
    train = TransformConfig(crop=112).train()(clip(8, 150, 200), np.random.default_rng(0))
    assert train.shape == (3, 8, 112, 112)
    three = TransformConfig(crop=112, test_crops=3).eval()(clip(8, 150, 200), None)
    assert three.shape == (3, 3, 8, 112, 112)
    one = TransformConfig(crop=112).eval()(clip(8, 150, 200), None)
    assert one.shape == (1, 3, 8, 112, 112)
    c3d = transform_config_for("c3d", 112)
    assert c3d.resize_hw == (128, 171) and c3d.normalization == "c3d"
    jitter = TransformConfig(crop=112, scale_jitter=(128, 160)).train()
    assert jitter(clip(2, 150, 200), np.random.default_rng(1)).shape == (3, 2, 112, 112)
    with pytest.raises(ValueError, match="test_crops"):
        TransformConfig(test_crops=4)
