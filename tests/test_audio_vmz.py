"""VMZ's log-Mel features and their alignment to a clip, what its G-Blend audio-visual weights were trained on
(ops/LogMels.cc, ops/av_io.cc ClipTransformAudioLogmel): checked against a line-by-line transcription of the op."""

import math

import numpy as np
import pytest
import torch

from tests.videos import barcodes, tone
from videozoo.data import AudioConfig, ClipSampling, TransformConfig, VideoDataset, load_items, read_audio, write_video
from videozoo.data.audio import VMZ_GAIN, vmz_align, vmz_log_mel
from videozoo.data.datasets import open_reader
from videozoo.data.sampling import uniform_starts


def logmels_cc(samples: np.ndarray, sr: int = 16000, n: int = 40, win_ms: int = 16, step_ms: int = 10) -> np.ndarray:
    """LogSpectrum (normalized filters, 0 Hz to sr / 2) as LogMels.cc writes it, loop by loop, in its float32;
    FFmpeg's packed real FFT puts the Nyquist term beside the DC term, so the first power bin holds both."""
    f32 = np.float32
    win, step = int(win_ms * f32(sr) / f32(1000)), int(step_ms * f32(sr) / f32(1000))
    bits = int(math.log2(win))
    bits += 2 ** bits != win
    fft = 2 ** bits
    length = fft // 2 + 1
    window = np.array([f32(0.5) * f32(1 - math.cos(2 * math.pi * i / (win - 1))) for i in range(win)], f32)

    def hz2mel(hz):
        return f32(1127) * f32(math.log(1 + f32(hz) / f32(700)))

    def mel2hz(mel):
        return f32(700) * f32(math.exp(f32(mel) / f32(1127)) - 1)

    dx = (hz2mel(sr * 0.5) - hz2mel(0)) / f32(n + 1)
    freq_step = f32(sr) / f32(2) / f32(length)
    filters, ranges = np.zeros((n, length), f32), []
    for f in range(n):
        start, mid, end = (mel2hz(k * dx) / freq_step for k in (f, f + 1, f + 2))
        left, right = max(f32(1), mid - start), max(f32(1), end - mid)
        lo, hi = max(0, int(start)), min(length - 1, int(end) + 1)
        ranges.append((lo, hi))
        total = f32(0)
        for i in range(lo, hi + 1):
            value = 1 - ((mid - i) / left if i < mid else (i - mid) / right)
            if value > 0:
                filters[f, i] = value
                total += value
        if total > 0:
            filters[f, lo:hi + 1] /= total
    feats, pos = [], 0
    while len(samples) - pos > win:  # Read(): while the FIFO holds more than a window
        frame = np.zeros(fft, f32)
        frame[:win] = samples[pos:pos + win].astype(f32) * window
        pos += step
        spec = np.fft.rfft(frame.astype(np.float64))
        power = [spec[0].real ** 2 + spec[fft // 2].real ** 2] + [abs(spec[i]) ** 2 for i in range(1, fft // 2)]
        row = []
        for f in range(n):
            lo, hi = ranges[f]
            acc = sum(power[j] * float(filters[f, j]) * VMZ_GAIN for j in range(lo, hi))  # Apply: j < hi
            row.append(math.log(acc) if acc > math.e else acc / math.e)
        feats.append(row)
    return np.array(feats, np.float64).reshape(-1, n)


@pytest.mark.parametrize("length,amplitude", [(16000, 0.3), (5123, 1.0), (16000, 1e-7), (257, 0.5), (256, 0.5)])
def test_vmz_log_mel_is_the_ops_logmels(length, amplitude):
    rng = np.random.default_rng(length)
    wave = (amplitude * np.sin(np.arange(length) * 0.07) + amplitude * 0.3 * rng.standard_normal(length))
    wave = wave.astype(np.float32)
    expected = logmels_cc(wave)
    ours = vmz_log_mel(torch.from_numpy(wave))
    assert ours.shape == expected.shape == (max(0, -(-(length - 256) // 160)), 40)
    if expected.size:
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5, atol=1e-5)
    if amplitude == 1e-7:  # below e the op is linear (x / e), not a log
        assert (ours < 1).all()


def test_vmz_alignment_follows_the_ops_arithmetic():
    """align_audio=1: the track's rows are resized so that the clip's span of video frames gets 100 of them
    (integer arithmetic, OpenCV's nearest when shrinking, linear when growing), from the clip's first frame."""
    num_frames, start, span = 90, 30, 32
    total = num_frames * 100 // span  # 281 rows for the whole video
    first = start * total // num_frames
    shrink = torch.arange(300, dtype=torch.float32)[:, None].repeat(1, 40)  # row r holds r
    out = vmz_align(shrink, num_frames, start, span)
    expected = torch.tensor([math.floor((first + k) * 300 / total) for k in range(100)], dtype=torch.float32)
    assert torch.equal(out[:, 0], expected)
    grow = torch.arange(150, dtype=torch.float32)[:, None].repeat(1, 40)
    out = vmz_align(grow, num_frames, start, span)
    centres = torch.tensor([min(max((first + k + 0.5) * 150 / total - 0.5, 0), 149) for k in range(100)])
    torch.testing.assert_close(out[:, 0], centres, rtol=0, atol=1e-4)
    late = vmz_align(shrink, num_frames, 80, span)  # past the track's end: zeros, as the op's buffer
    assert torch.count_nonzero(late[total - 80 * total // num_frames:]) == 0
    assert torch.count_nonzero(vmz_align(torch.zeros(0, 40), num_frames, start, span)) == 0


def test_a_dataset_with_vmz_audio_gives_each_clip_its_aligned_rows(tmp_path):
    write_video(tmp_path / "a" / "a0.mp4", barcodes(60), fps=20, audio=tone(3))
    items, classes = load_items(tmp_path)
    ds = VideoDataset(items, classes, ClipSampling(8, stride=2), TransformConfig(crop=32), train=False,
                      num_clips=2, audio=AudioConfig(style="vmz"))
    sample = ds[0]
    assert sample["audio"].shape == (2, 1, 100, 40) and sample["has_audio"]
    track = vmz_log_mel(read_audio(items[0].path, 16000))
    with open_reader(items[0].path) as video:
        num_frames, fps = video.num_frames, video.fps
    starts = uniform_starts(num_frames, ds.sampling, 2, fps)  # two uniformly spaced 15-frame spans (8, step 2)
    assert len(set(starts)) == 2
    for k, start in enumerate(starts):
        torch.testing.assert_close(sample["audio"][k, 0], vmz_align(track, num_frames, int(start), 15))
    with pytest.raises(ValueError, match="audio style 'mfcc'"):
        AudioConfig(style="mfcc")
