"""An optional decoder behind the :class:`~videozoo.data.decode.VideoReader` interface: TorchCodec.

TorchCodec needs the system's FFmpeg libraries (``apt-get install ffmpeg``)
and ``pip install torchcodec``; :func:`available` says whether it loads.
Its exact seek mode scans the file once, like our own index, so frame
counts come from the stream here too.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from .decode import VideoError, VideoMetadata, open_checked


@functools.cache
def available() -> bool:
    """True when torchcodec imports and finds its FFmpeg libraries."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return False
    return True


class TorchCodecReader:
    """Frames of one video file through TorchCodec; same attributes and methods as ``VideoReader``."""

    def __init__(self, path: str | os.PathLike, threads: int = 0) -> None:
        if not available():
            raise VideoError("the torchcodec backend is not available (pip install torchcodec; it needs the "
                             "system FFmpeg libraries: apt-get install ffmpeg)")
        from torchcodec.decoders import VideoDecoder

        self.path = Path(path)
        container = open_checked(self.path)  # the same checks and messages as the PyAV reader
        self.has_audio = bool(container.streams.audio)
        container_name = container.format.name
        container.close()
        try:
            self._decoder = VideoDecoder(str(self.path), seek_mode="exact", num_ffmpeg_threads=threads or 1)
        except (RuntimeError, ValueError) as e:
            raise VideoError(f"cannot read {self.path}: {' '.join(str(e).split())}") from None
        meta = self._decoder.metadata
        self.num_frames = int(meta.num_frames or 0)
        if self.num_frames < 1:
            raise VideoError(f"{self.path} has a video stream with no frames")
        self.fps = float(meta.average_fps or 0.0)
        self.duration = self.num_frames / self.fps if self.fps else 0.0
        self.width, self.height = meta.width, meta.height
        self.codec = meta.codec
        self.header_frames = int(meta.num_frames_from_header or 0)
        self._container_name = container_name

    @property
    def metadata(self) -> VideoMetadata:
        return VideoMetadata(path=str(self.path), fps=round(self.fps, 6), num_frames=self.num_frames,
                             duration=round(self.duration, 6), width=self.width, height=self.height,
                             has_audio=self.has_audio, codec=self.codec, container=self._container_name,
                             header_frames=self.header_frames)

    def get_clip(self, start_frame: int, num_frames: int, stride: int = 1) -> torch.Tensor:
        if num_frames < 1 or stride < 1:
            raise VideoError(f"num_frames and stride must be positive, got {num_frames} and {stride}")
        return self.get_frames(range(start_frame, start_frame + num_frames * stride, stride))

    def get_frames(self, indices) -> torch.Tensor:
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if not indices or bad:
            raise VideoError(f"{self.path} has {self.num_frames} frames (0…{self.num_frames - 1}); "
                             f"asked for frame {bad[0] if bad else 'none'}")
        wanted = sorted(set(indices))
        try:
            batch = self._decoder.get_frames_at(wanted).data  # (N, 3, H, W) uint8
        except (RuntimeError, IndexError) as e:
            raise VideoError(f"cannot decode {self.path}: {' '.join(str(e).split())}") from None
        position = {i: k for k, i in enumerate(wanted)}
        return batch[[position[i] for i in indices]].permute(0, 2, 3, 1).contiguous()

    def close(self) -> None:
        self._decoder = None

    def __enter__(self) -> TorchCodecReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
