"""Video decoding over PyAV: frame-exact clips without decoding the whole file.

:class:`VideoReader` indexes a file once by *demuxing* its video packets (no
decoding): their presentation timestamps give the true frame count and the
exact timestamp of every frame, also where the container header lies (many
AVI files do) and where the frame rate varies. A clip then costs one seek to
the keyframe at or before its first frame and the decoding of that keyframe's
group up to its last frame; only the frames asked for are converted to RGB.

Files without usable timestamps fall back to decoding from the start, so
they are slow but still right. Everything that goes wrong with a file raises
:class:`VideoError` with one line saying what and where.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from .reader import FrameReader, VideoError

# Frames larger than this are refused before any is decoded: 8192 × 8192 holds 8K video (7680 × 4320); a header that
# declares more is corrupt or hostile, and decoding it would allocate gigabytes per frame.
MAX_FRAME_PIXELS = 8192 * 8192

# What a corrupt file makes PyAV raise besides its own errors (fields it could not fill, overflowing stamps).
_BROKEN_FILE_ERRORS = (av.FFmpegError, AttributeError, OverflowError, IndexError, TypeError, MemoryError)


@dataclass(frozen=True)
class VideoMetadata:
    """What :class:`VideoReader` knows of a file; ``num_frames`` is counted, not read from the header."""

    path: str
    fps: float
    num_frames: int
    duration: float
    width: int
    height: int
    has_audio: bool
    codec: str
    container: str
    header_frames: int  # what the container claims (0 when it says nothing)
    audio_sample_rate: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def open_container(path: str | os.PathLike | io.BytesIO):
    """``av.open`` for reading (a path, a file's bytes, or a sample of a sharded data set, ``shards.json::<index>``),
    tolerant of undecodable metadata tags (PyAV ≤ 18 needs ``metadata_errors``; PyAV 19 dropped the argument)."""
    from .shards import is_shard_ref, open_member

    source = path if isinstance(path, io.IOBase) else str(path)
    if is_shard_ref(source):
        source = open_member(source)[0]
    try:
        return av.open(source, metadata_errors="ignore")
    except TypeError:
        return av.open(source)


def open_checked(path: Path):
    """``open_container`` after one-line checks: missing, a folder, empty (each a :class:`VideoError`). A sample of
    a sharded data set (``shards.json::<index>``, :mod:`videozoo.data.shards`) has no file to check: it opens from
    its bytes."""
    from .shards import is_shard_ref

    if not is_shard_ref(path):
        if not path.exists():
            raise VideoError(f"video not found: {path}")
        if path.is_dir():
            raise VideoError(f"{path} is a folder, not a video file (frame folders: use FrameFolderReader)")
        if path.stat().st_size == 0:
            raise VideoError(f"{path} is empty (0 bytes)")
    try:
        container = open_container(path)
    except av.FFmpegError as e:
        raise VideoError(f"cannot open {path} as a video: {error_reason(e)}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream")
    ctx = container.streams.video[0].codec_context
    if ctx is not None and ctx.width * ctx.height > MAX_FRAME_PIXELS:
        container.close()
        raise VideoError(f"{path} declares {ctx.width}×{ctx.height} frames, more than the 8192×8192 pixels a frame "
                         "may have here (a corrupt or hostile header)")
    return container


def error_reason(error: Exception) -> str:
    """One line for a decoding error: FFmpeg's message, or the exception's type and text."""
    text = getattr(error, "strerror", None) or str(error)
    text = " ".join(str(text).split()) or type(error).__name__
    return text if isinstance(error, av.FFmpegError) else f"{type(error).__name__}: {text}"


class VideoReader(FrameReader):
    """Random access to the frames of one video file.

    >>> with VideoReader("clip.mp4") as video:
    ...     video.num_frames, video.fps
    ...     clip = video.get_clip(start_frame=10, num_frames=16, stride=2)   # uint8 (16, H, W, 3)

    Attributes mirror :class:`VideoMetadata`: ``fps``, ``num_frames``,
    ``duration`` (seconds), ``width``, ``height``, ``has_audio``.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 0) -> None:
        self.path = Path(path)
        self.packets_decoded = 0  # video packets fed to the decoder by reads so far (what a clip costs)
        self._container = open_checked(self.path)
        self._stream = self._container.streams.video[0]
        if self._stream.codec_context is None:
            self.close()
            raise VideoError(f"{self.path}: its video codec is unknown or its codec parameters are corrupt")
        # Not frame threading: its pipeline delay makes a short read decode frames past the clip and pay
        # again after every seek (measured: 36.8 clips/s with slice threads, 28.8 with frame threads).
        self._stream.thread_type = "SLICE"
        if threads:
            self._stream.codec_context.thread_count = threads
        try:
            self._index()
        except _BROKEN_FILE_ERRORS as e:
            self.close()
            raise VideoError(f"cannot read {self.path}: {error_reason(e)}") from None
        except VideoError:
            self.close()
            raise

    # -- indexing -----------------------------------------------------------------------------
    def _index(self) -> None:
        stream = self._stream
        pts, keyframes = [], []
        for packet in self._container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            pts.append(stamp)
            if packet.is_keyframe:
                keyframes.append(stamp)
        if any(p is None for p in pts) or len(set(pts)) != len(pts):
            # No trustworthy timestamps: count by decoding, and decode from the start on every read.
            pts = self._decoded_timestamps()
            keyframes = []
            self._seekable = False
        else:
            self._seekable = True
        if not pts:
            raise VideoError(f"{self.path} has a video stream with no frames")
        self._pts = np.array(sorted(pts), dtype=np.int64)
        self._keyframes = np.array(sorted(keyframes), dtype=np.int64)
        self.num_frames = len(self._pts)
        time_base = stream.time_base or Fraction(1, 1)
        span = float((self._pts[-1] - self._pts[0]) * time_base)
        rate = stream.average_rate or stream.guessed_rate
        if rate:
            self.fps = float(rate)
        else:  # no rate in the header: frames per second of presentation, as measured
            self.fps = (self.num_frames - 1) / span if self.num_frames > 1 and span > 0 else 0.0
        self.duration = self.num_frames / self.fps if self.fps else 0.0
        ctx = stream.codec_context
        self.width, self.height = ctx.width, ctx.height
        self.has_audio = bool(self._container.streams.audio)
        self.codec = ctx.name
        self.header_frames = int(stream.frames or 0)
        self._rewind()

    def _decoded_timestamps(self) -> list[int]:
        self._rewind()
        stamps = []
        for i, frame in enumerate(self._container.decode(self._stream)):
            stamps.append(frame.pts if frame.pts is not None else i)
        # Decoders that give no timestamps get the frame's rank; either way they are in order.
        return list(range(len(stamps))) if len(set(stamps)) != len(stamps) else stamps

    def _rewind(self) -> None:
        self._container.seek(0, backward=True, any_frame=False, stream=self._stream)

    # -- metadata -------------------------------------------------------------------------------
    @property
    def metadata(self) -> VideoMetadata:
        audio = self._container.streams.audio
        return VideoMetadata(
            path=str(self.path), fps=round(self.fps, 6), num_frames=self.num_frames,
            duration=round(self.duration, 6), width=self.width, height=self.height, has_audio=self.has_audio,
            codec=self.codec, container=self._container.format.name, header_frames=self.header_frames,
            audio_sample_rate=audio[0].codec_context.sample_rate if audio else None,
        )

    def frame_time(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds from the first frame."""
        return float((self._pts[index] - self._pts[0]) * self._stream.time_base)

    # -- reading --------------------------------------------------------------------------------
    def _read(self, wanted: Sequence[int]) -> torch.Tensor:
        decoded = self._decode(list(wanted))
        return torch.from_numpy(np.stack([decoded[i] for i in wanted]))

    def _decode(self, wanted: list[int]) -> dict[int, np.ndarray]:
        """Decode frames by index; contiguous runs share one seek."""
        out: dict[int, np.ndarray] = {}
        for group in self._seek_groups(wanted):
            out.update(self._decode_group(group))
        return out

    def _seek_groups(self, wanted: list[int]) -> list[list[int]]:
        """Split sorted frame indices where seeking ahead skips frames that decoding on would waste."""
        if not self._seekable:
            return [wanted]
        groups: list[list[int]] = [[wanted[0]]]
        for i in wanted[1:]:
            k = np.searchsorted(self._keyframes, self._pts[i], side="right") - 1  # last keyframe at or before i
            key_index = int(np.searchsorted(self._pts, self._keyframes[k])) if k >= 0 else 0
            if key_index > groups[-1][-1] + 1:
                groups.append([i])
            else:
                groups[-1].append(i)
        return groups

    def _decode_group(self, group: list[int]) -> dict[int, np.ndarray]:
        targets = {int(self._pts[i]): i for i in group}
        first, last = int(self._pts[group[0]]), int(self._pts[group[-1]])
        found: dict[int, np.ndarray] = {}
        ctx = self._stream.codec_context
        try:
            if self._seekable:
                self._container.seek(first, backward=True, any_frame=False, stream=self._stream)
            else:
                self._rewind()
            rank, done = -1, False
            for packet in self._container.demux(self._stream):
                self.packets_decoded += packet.size > 0
                if self._seekable:
                    # A non-reference frame we do not want can be skipped outright: nothing depends on it.
                    ctx.skip_frame = "NONE" if packet.pts is None or packet.pts in targets else "NONREF"
                for frame in packet.decode():
                    rank += 1
                    stamp = frame.pts if self._seekable else int(self._pts[rank])
                    if stamp is None:
                        continue
                    if stamp in targets:
                        found[targets[stamp]] = frame.to_ndarray(format="rgb24")
                    # No file holds more frames than its index counted: a guard against corrupt timestamps.
                    done = stamp >= last or len(found) == len(group) or rank > self.num_frames + 16
                    if done:
                        break
                if done:
                    break
        except _BROKEN_FILE_ERRORS as e:
            raise VideoError(f"cannot decode {self.path}: {error_reason(e)}") from None
        finally:
            ctx.skip_frame = "NONE"
        missing = [i for i in group if i not in found]
        if missing and self._seekable and first != int(self._pts[0]):
            # A bad seek index can land after the frame; decoding from the start is always right.
            self._seekable = False
            try:
                return self._decode_group(group)
            finally:
                self._seekable = True
        if missing:
            raise VideoError(f"{self.path} is truncated or corrupt: frame {missing[0]} of {self.num_frames} "
                             "could not be decoded")
        return found

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None

    def __del__(self) -> None:
        self.close()


def read_clip(path: str | os.PathLike, start_frame: int, num_frames: int, stride: int = 1) -> torch.Tensor:
    """One call: uint8 ``(T, H, W, 3)`` frames ``start_frame, start_frame + stride, …`` of ``path``."""
    with VideoReader(path) as video:
        return video.get_clip(start_frame, num_frames, stride)


def probe(path: str | os.PathLike) -> VideoMetadata:
    """Metadata of a video file (frames counted by demuxing, not taken from the header)."""
    with VideoReader(path) as video:
        return video.metadata
