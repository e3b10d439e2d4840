"""The one reader interface every frame source implements: PyAV, TorchCodec, frame folders, flow.

:class:`ClipReader` is the interface as a :class:`typing.Protocol` (what the
data sets and the CLI rely on; a reader of your own only has to match it).
:class:`FrameReader` is the base the four built-in readers share: it checks
the arguments of ``get_clip`` / ``get_frames`` once, with the same one-line
messages for every source, asks its subclass for the distinct frames in
order, and hands them back in the order (and with the repeats) asked for::

    get_clip(start, n, stride) ─► get_frames(indices) ─► checks ─► _read(sorted distinct) ─► reorder
                                                                    (the only per-source method)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch


class VideoError(ValueError):
    """A video that is missing, unreadable, truncated or asked for frames it does not have."""


@runtime_checkable
class ClipReader(Protocol):
    """Random access to the frames of one video, whatever stores them.

    Frames come back as uint8 ``(T, H, W, C)``: ``C`` is 3 (RGB) for videos and
    frame folders, 2 (x, y) for flow. ``fps`` is frames per second and
    ``duration`` seconds; a reader is a context manager that closes its file.
    """

    path: Path
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    has_audio: bool

    def get_clip(self, start_frame: int, num_frames: int, stride: int = 1) -> torch.Tensor:
        """Frames ``start_frame, start_frame + stride, …`` (``num_frames`` of them): ``(T, H, W, C)``."""
        ...

    def get_frames(self, indices: Iterable[int]) -> torch.Tensor:
        """Any frames, in the order given (repeats allowed): ``(len(indices), H, W, C)``."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> ClipReader: ...

    def __exit__(self, *exc) -> None: ...


class FrameReader:
    """Base of the built-in readers: argument checks, reordering and the context manager, written once.

    A subclass sets the attributes :class:`ClipReader` declares (``path``, ``num_frames``, ``fps``,
    ``duration``, ``width``, ``height``; ``has_audio`` defaults to False) in its ``__init__`` and
    implements :meth:`_read`; :meth:`close` when it holds a file.
    """

    has_audio: bool = False

    def get_clip(self, start_frame: int, num_frames: int, stride: int = 1) -> torch.Tensor:
        """Frames ``start_frame, start_frame + stride, …`` (``num_frames`` of them): uint8 ``(T, H, W, C)``."""
        if num_frames < 1 or stride < 1:
            raise VideoError(f"num_frames and stride must be positive, got {num_frames} and {stride}")
        return self.get_frames(range(start_frame, start_frame + num_frames * stride, stride))

    def get_frames(self, indices: Iterable[int]) -> torch.Tensor:
        """Any frames, in the order given (repeats allowed): uint8 ``(len(indices), H, W, C)``."""
        indices = [int(i) for i in indices]
        if not indices:
            raise VideoError(f"{self.path}: no frames asked for")
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise VideoError(f"{self.path} has {self.num_frames} frames (0…{self.num_frames - 1}); "
                             f"asked for frame {bad[0]}")
        wanted = sorted(set(indices))
        frames = self._read(wanted)
        if len(wanted) == len(indices) and wanted == indices:
            return frames
        position = {i: k for k, i in enumerate(wanted)}
        return frames[[position[i] for i in indices]]

    def _read(self, wanted: Sequence[int]) -> torch.Tensor:
        """The frames ``wanted`` (sorted, distinct, in range): uint8 ``(len(wanted), H, W, C)``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file; the default holds none."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.path)!r}, {self.num_frames} frames, {self.fps:.3f} fps, "
                f"{self.width}×{self.height}{', audio' if self.has_audio else ''})")
