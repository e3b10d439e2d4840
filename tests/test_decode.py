"""Decoding: exact frames from files the tests write, in several containers and codecs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.videos import barcodes, read_barcode, tone
from videozoo.data import VideoError, VideoReader, probe, read_clip, write_video

CONTAINERS = [".mp4", ".avi", ".mkv", ".webm"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    frames = barcodes(90)
    out = {}
    for suffix in CONTAINERS:
        out[suffix] = write_video(root / f"a{suffix}", frames, fps=25, audio=tone(3.6))
        out[suffix + "-silent"] = write_video(root / f"s{suffix}", frames, fps=25)
    return out


@pytest.mark.parametrize("suffix", CONTAINERS)
@pytest.mark.parametrize("audio", [True, False])
def test_clips_have_the_right_frames(files, suffix, audio):
    path = files[suffix if audio else suffix + "-silent"]
    with VideoReader(path) as video:
        assert video.num_frames == 90
        assert video.fps == pytest.approx(25.0)
        assert video.duration == pytest.approx(3.6)
        assert (video.width, video.height) == (64, 48)
        assert video.has_audio is audio
        for start, n, stride in [(0, 16, 1), (40, 16, 3), (74, 16, 1), (89, 1, 1)]:
            clip = video.get_clip(start, n, stride)
            assert clip.shape == (n, 48, 64, 3) and clip.dtype == torch.uint8
            assert [read_barcode(f) for f in clip.numpy()] == list(range(start, start + n * stride, stride))
        order = [60, 3, 3, 89, 0]
        assert [read_barcode(f) for f in video.get_frames(order).numpy()] == order


def test_lossless_frames_are_exact_at_odd_sizes(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (20, 37, 51, 3), dtype=np.uint8)
    path = write_video(tmp_path / "odd.mkv", frames, codec="libx264", pix_fmt="yuv444p", options={"crf": "0"})
    got = read_clip(path, 5, 10)
    assert (got.shape[1], got.shape[2]) == (37, 51)
    # x264 at crf 0 is lossless in YUV; the RGB round trip loses at most a little to rounding.
    assert np.abs(got.numpy().astype(int) - frames[5:15]).max() <= 3
    ffv1 = write_video(tmp_path / "odd_ffv1.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    assert np.array_equal(read_clip(ffv1, 0, 20).numpy(), frames)


def test_variable_frame_rate(tmp_path):
    times = np.cumsum([0] + [0.02 if i % 3 else 0.09 for i in range(59)]).tolist()
    path = write_video(tmp_path / "vfr.mp4", barcodes(60), timestamps=times)
    with VideoReader(path) as video:
        assert video.num_frames == 60
        assert [round(video.frame_time(i), 2) for i in range(4)] == [0.0, 0.09, 0.11, 0.13]
        assert [read_barcode(f) for f in video.get_clip(20, 30).numpy()] == list(range(20, 50))


def test_frame_count_comes_from_the_stream_not_the_header(files):
    meta = probe(files[".avi"])
    assert meta.num_frames == 90
    assert meta.header_frames != 0  # AVI declares a count; we report what is actually there
    assert probe(files[".mkv"]).header_frames == 0 and probe(files[".mkv"]).num_frames == 90


def test_a_clip_decodes_only_its_group_of_pictures(tmp_path):
    path = write_video(tmp_path / "gop.mp4", barcodes(250), options={"g": "25", "keyint_min": "25"})
    with VideoReader(path) as video:
        clip = video.get_clip(200, 16)
        assert [read_barcode(f) for f in clip.numpy()] == list(range(200, 216))
        # From the keyframe at 200 to frame 215, plus the decoder's reorder delay: far from 250.
        assert video.packets_decoded < 40


def test_out_of_range_frames(files):
    with VideoReader(files[".mp4"]) as video, pytest.raises(VideoError, match="has 90 frames.*asked for frame 90"):
        video.get_clip(80, 16)


@pytest.mark.parametrize("make,match", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)), "cannot open"),
    (lambda p: p.write_text("just some text\n" * 20), "cannot open"),
])
def test_corrupt_files_raise_one_clear_error(tmp_path, make, match):
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(VideoError, match=match) as info:
        VideoReader(path)
    assert "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(VideoError, match="video not found"):
        VideoReader("/no/such/video.mp4")


def test_truncated_file(files, tmp_path):
    data = Path(files[".mkv"]).read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: len(data) // 2])
    try:
        with VideoReader(path) as video:  # the part that is there may open
            assert video.num_frames < 90
            video.get_clip(video.num_frames - 4, 4)
    except VideoError as e:
        assert str(path) in str(e)


FUZZ = r"""
import sys, numpy as np
from pathlib import Path
from videozoo.data import VideoReader, VideoError
src, out, seed, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = bytearray(src.read_bytes())
rng = np.random.default_rng(seed)
for k in range(n):
    mutated = bytearray(data)
    for _ in range(int(rng.integers(1, 20))):
        mutated[int(rng.integers(0, len(mutated)))] = int(rng.integers(0, 256))
    if rng.random() < 0.3:
        mutated = mutated[: int(rng.integers(1, len(mutated)))]
    out.write_bytes(bytes(mutated))
    try:
        with VideoReader(out) as v:
            v.get_clip(int(rng.integers(0, v.num_frames)), 1)
            v.get_frames([0, v.num_frames - 1])
    except VideoError:
        pass
print("survived", n)
"""


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_fuzzed_files_never_hang_or_crash(files, tmp_path, suffix):
    """Many mutated copies of a valid file: the reader raises VideoError or reads, within time, never dies."""
    result = subprocess.run([sys.executable, "-c", FUZZ, str(files[suffix]), str(tmp_path / f"fuzz{suffix}"),
                             "1", "150"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "survived 150" in result.stdout
