"""The audio modality: a video's own sound track as a waveform and as a log-Mel spectrogram.

The G-Blend paper feeds its audio networks 100×40 log-Mel patches: 40 Mel
bands, 100 frames of 10 ms (one second) per example. :func:`log_mel`
computes them with the usual speech settings: a 25 ms Hann window, 10 ms
hop, Mel bands on the HTK scale up to half the sample rate.

VMZ's published audio-visual weights were trained on its own op's features
instead (ops/LogMels.cc and av_io.cc): :func:`vmz_log_mel` computes them and
:func:`vmz_align` places a clip's 100 rows the way VMZ's AVInput op does.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from .decode import VideoError, error_reason, open_container


def read_audio(path: str | os.PathLike, sample_rate: int = 16000, start: float = 0.0,
               duration: float | None = None) -> torch.Tensor:
    """The first audio track of ``path`` as mono float32 in [-1, 1] at ``sample_rate``: ``(num_samples,)``.

    ``start`` and ``duration`` (seconds) cut a window; a file without audio raises :class:`VideoError`
    (use :func:`has_audio` first, or the dataset's ``audio="zeros"`` mode).
    """
    from .shards import is_shard_ref

    path = Path(path)
    if not path.is_file() and not is_shard_ref(path):
        raise VideoError(f"video not found: {path}")
    try:
        with open_container(path) as container:
            if not container.streams.audio:
                raise VideoError(f"{path} has no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as e:
        raise VideoError(f"cannot decode the audio of {path}: {error_reason(e)}") from None
    wave = torch.from_numpy(np.concatenate(chunks) if chunks else np.zeros(0, np.float32))
    return audio_window(wave, sample_rate, start, duration)


def audio_window(wave: torch.Tensor, sample_rate: int, start: float = 0.0, duration: float | None = None
                 ) -> torch.Tensor:
    """The samples of ``wave`` ``(num_samples,)`` from ``start`` seconds for ``duration`` seconds (or to the end)."""
    first = int(round(start * sample_rate))
    last = None if duration is None else first + int(round(duration * sample_rate))
    return wave[first:last].contiguous()


def has_audio(path: str | os.PathLike) -> bool:
    try:
        with open_container(path) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError):
        return False


def hz_to_mel(hz: torch.Tensor | float) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular filters on the HTK Mel scale: ``(n_mels, n_fft // 2 + 1)``, each peaking at 1."""
    f_max = f_max or sample_rate / 2
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                                     dtype=torch.float64))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).float()


def log_mel(waveform: torch.Tensor, sample_rate: int = 16000, n_mels: int = 40, win_ms: float = 25.0,
            hop_ms: float = 10.0, eps: float = 1e-6) -> torch.Tensor:
    """Log-Mel spectrogram ``(frames, n_mels)`` of a mono waveform ``(num_samples,)``: 100 frames a second.

    ``frames = 1 + num_samples // hop`` (centred windows).
    """
    if waveform.ndim != 1:
        raise ValueError(f"expected a mono waveform (num_samples,), got shape {tuple(waveform.shape)}")
    win = int(round(sample_rate * win_ms / 1000))
    hop = int(round(sample_rate * hop_ms / 1000))
    n_fft = 1 << math.ceil(math.log2(win))
    if waveform.numel() == 0:
        return torch.full((1, n_mels), math.log(eps))
    spec = torch.stft(waveform.float(), n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win), center=True, pad_mode="constant", return_complex=True)
    power = spec.abs().pow(2)  # (freq, frames)
    mel = mel_filterbank(n_mels, n_fft, sample_rate) @ power
    return torch.log(mel + eps).T.contiguous()


# -- VMZ's LogMels op -------------------------------------------------------------------------------

VMZ_GAIN = 1080674186.3482928  # LogMels.cc's kGain: the power of float samples on a 16-bit-like scale


def _vmz_filters(n_mels: int, fft: int, sample_rate: int) -> torch.Tensor:
    """LogSpectrum::Init's filters as Apply uses them, ``(n_mels, fft // 2)``: triangles on the Mel scale
    (1127·ln(1 + f/700)) from 0 Hz to half the sample rate, over bins spaced ``rate / 2 / (fft/2 + 1)`` (the op's
    own step, not the FFT's), each normalised to sum 1 over its range; Apply stops before each range's last bin."""
    length = fft // 2 + 1
    step = sample_rate / 2 / length
    dx = 1127.0 * math.log1p(sample_rate / 2 / 700) / (n_mels + 1)
    filters = np.zeros((n_mels, length))
    for f in range(n_mels):
        start, mid, end = (700.0 * math.expm1(k * dx / 1127.0) / step for k in (f, f + 1, f + 2))
        lo, hi = max(0, int(start)), min(length - 1, int(end) + 1)
        i = np.arange(lo, hi + 1)
        value = 1.0 - np.where(i < mid, (mid - i) / max(1.0, mid - start), (i - mid) / max(1.0, end - mid))
        value = np.clip(value, 0, None)
        if value.sum() > 0:
            value /= value.sum()
        filters[f, lo:hi] = value[:-1]
    return torch.from_numpy(filters[:, : fft // 2])


def vmz_log_mel(waveform: torch.Tensor, sample_rate: int = 16000, n_mels: int = 40, win_ms: int = 16,
                hop_ms: int = 10) -> torch.Tensor:
    """VMZ's LogMels op on a mono waveform ``(num_samples,)`` in [-1, 1]: ``(frames, n_mels)``.

    Uncentred windows (one frame per hop while more than a window of samples remains), a symmetric Hann
    window of 16 ms, the power spectrum of the zero-padded power-of-two FFT (its first bin also holds the
    Nyquist term, as FFmpeg's packed real FFT leaves it), the filters of :func:`_vmz_filters` times
    :data:`VMZ_GAIN`, then ``ln(x)`` above e and ``x / e`` below.
    """
    if waveform.ndim != 1:
        raise ValueError(f"expected a mono waveform (num_samples,), got shape {tuple(waveform.shape)}")
    win, hop = int(win_ms * sample_rate / 1000), int(hop_ms * sample_rate / 1000)
    fft = 1 << math.ceil(math.log2(win))
    count = -(-(waveform.numel() - win) // hop) if waveform.numel() > win else 0
    if count == 0:
        return torch.zeros(0, n_mels)
    window = 0.5 * (1 - torch.cos(2 * math.pi * torch.arange(win, dtype=torch.float64) / (win - 1)))
    frames = waveform.double()[torch.arange(count)[:, None] * hop + torch.arange(win)] * window.float().double()
    spec = torch.fft.rfft(frames, n=fft)
    power = spec.real.square() + spec.imag.square()
    power[:, 0] += spec[:, fft // 2].real.square()  # the packed DC + Nyquist bin
    mel = power[:, : fft // 2] @ _vmz_filters(n_mels, fft, sample_rate).T * VMZ_GAIN
    return torch.where(mel > math.e, mel.clamp_min(math.e).log(), mel / math.e).float()


def vmz_align(mels: torch.Tensor, num_frames: int, start_frame: int, span: int, rows: int = 100) -> torch.Tensor:
    """The ``rows`` log-Mel rows of a clip, as VMZ's AVInput op aligns them (``align_audio=1``): the track's
    rows ``(R, M)`` are resized (OpenCV, linear up, nearest down) so that the clip's ``span`` video frames get
    ``rows`` of them, and the clip's rows start at its first frame; ``(rows, M)``, zeros past the track's end.
    ``num_frames`` is the video's frame count (0 when unknown: the track's first rows)."""
    out = torch.zeros(rows, mels.shape[1])
    if mels.shape[0] == 0:
        return out
    if num_frames <= 0 or span <= 0:
        out[: min(rows, mels.shape[0])] = mels[:rows]
        return out
    total = num_frames * rows // span  # the op's integer arithmetic
    if total == 0:
        return out
    interpolation = cv2.INTER_LINEAR if total >= mels.shape[0] else cv2.INTER_NEAREST
    resized = cv2.resize(mels.numpy(), (mels.shape[1], total), interpolation=interpolation).reshape(total, -1)
    first = start_frame * total // num_frames
    piece = torch.from_numpy(resized[first:first + rows])
    out[: piece.shape[0]] = piece
    return out

