"""Writing real video files with PyAV (synthetic data sets and tests).

``write_video`` takes uint8 ``(T, H, W, 3)`` frames and optionally a mono
float waveform, and picks codecs by container: mp4 and mkv get H.264, avi
MPEG-4 part 2, webm VP9; audio AAC, MP3, Opus as each container takes it.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

DEFAULT_CODECS = {  # container suffix: (video codec, audio codec)
    ".mp4": ("libx264", "aac"),
    ".mkv": ("libx264", "libopus"),
    ".avi": ("mpeg4", "mp3"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".mov": ("libx264", "aac"),
}
AUDIO_RATES = {"libopus": 48000}  # Opus encodes at 48 kHz only


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | torch.Tensor,
    fps: float = 25,
    *,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
    audio: np.ndarray | torch.Tensor | None = None,
    sample_rate: int = 16000,
    audio_codec: str | None = None,
    timestamps: list[float] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write ``frames`` (uint8 ``(T, H, W, 3)``) to ``path``.

    Args:
        fps: frame rate (ignored for timing when ``timestamps`` are given).
        codec, audio_codec: override the container's defaults.
        pix_fmt: the encoder's pixel format (``yuv444p`` keeps odd sizes, ``yuv420p`` plays everywhere).
        audio: optional mono waveform in [-1, 1] at ``sample_rate``.
        timestamps: seconds per frame, for variable frame rate files.
        options: encoder options, e.g. ``{"crf": "0"}`` for lossless H.264.
    """
    path = Path(path)
    frames = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3); got {frames.dtype} {frames.shape}")
    suffix = path.suffix.lower()
    video_codec, default_audio = DEFAULT_CODECS.get(suffix, ("libx264", "aac"))
    codec = codec or video_codec
    audio_codec = audio_codec or default_audio
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        if options:
            stream.options = dict(options)
        if timestamps is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        audio_stream = None
        if audio is not None:
            audio_rate = AUDIO_RATES.get(audio_codec, sample_rate)
            audio_stream = container.add_stream(audio_codec, rate=audio_rate, layout="mono")
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if timestamps is not None:
                frame.pts = round(timestamps[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            _write_audio(container, audio_stream, audio, sample_rate)
    return path


def _write_audio(container, stream, audio, sample_rate: int) -> None:
    wave = audio.numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    wave = np.clip(wave.astype(np.float32).reshape(1, -1), -1, 1)
    source = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
    source.sample_rate = sample_rate
    source.pts = 0
    source.time_base = Fraction(1, sample_rate)
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono",
                                  rate=stream.codec_context.sample_rate,
                                  frame_size=stream.codec_context.frame_size or None)
    for frame in resampler.resample(source) + resampler.resample(None):
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
