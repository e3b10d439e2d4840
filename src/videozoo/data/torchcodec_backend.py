"""An optional decoder behind the :class:`~videozoo.data.decode.VideoReader` interface: TorchCodec.

TorchCodec needs the system's FFmpeg libraries (``apt-get install ffmpeg``)
and ``pip install torchcodec``; :func:`available` says whether it loads.
Its exact seek mode scans the file once, like our own index, so frame
counts come from the stream here too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .decode import VideoMetadata, open_checked
from .reader import FrameReader, VideoError


@functools.cache
def available() -> bool:
    """True when torchcodec imports and finds its FFmpeg libraries."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return False
    return True


class TorchCodecReader(FrameReader):
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

    def _read(self, wanted: Sequence[int]) -> torch.Tensor:
        try:
            batch = self._decoder.get_frames_at(list(wanted)).data  # (N, 3, H, W) uint8
        except (RuntimeError, IndexError) as e:
            raise VideoError(f"cannot decode {self.path}: {' '.join(str(e).split())}") from None
        return batch.permute(0, 2, 3, 1).contiguous()

    def close(self) -> None:
        self._decoder = None
