"""The audio modality: a video's own sound track as a waveform and as a log-Mel spectrogram.

The G-Blend paper feeds its audio networks 100×40 log-Mel patches: 40 Mel
bands, 100 frames of 10 ms (one second) per example. :func:`log_mel`
computes them with the usual speech settings: a 25 ms Hann window, 10 ms
hop, Mel bands on the HTK scale up to half the sample rate.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import av
import numpy as np
import torch

from .decode import VideoError, error_reason, open_container


def read_audio(path: str | os.PathLike, sample_rate: int = 16000, start: float = 0.0,
               duration: float | None = None) -> torch.Tensor:
    """The first audio track of ``path`` as mono float32 in [-1, 1] at ``sample_rate``: ``(num_samples,)``.

    ``start`` and ``duration`` (seconds) cut a window; a file without audio raises :class:`VideoError`
    (use :func:`has_audio` first, or the dataset's ``audio="zeros"`` mode).
    """
    path = Path(path)
    if not path.is_file():
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
