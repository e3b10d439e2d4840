"""Clip sampling as the papers do it.

- Training: one clip at a uniformly random start (R(2+1)D, CSN, VMZ).
- Testing: ``num_clips`` clips spread uniformly over the video (the papers
  use 10): the video is cut into ``num_clips`` equal segments of start
  positions and each clip starts at the centre of its segment, so one clip
  is the centre clip and ten cover the video evenly (as mmaction2's
  ``SampleFrames`` in test mode).
- A clip longer than the video is padded by looping: frame indices wrap
  around to the start (``0 1 … N-1 0 1 …``).
- ``stride`` is the frame sampling rate (every ``stride``-th frame); with
  ``fps`` set, clips are resampled to that frame rate first, so videos of
  different rates give clips of the same duration.

Random choices come from a generator seeded by (seed, epoch, video index),
never from global state, so a clip is the same whichever data-loader
worker draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClipSampling:
    """``num_frames`` frames, ``stride`` apart (at ``fps`` when given, else at the video's own rate)."""

    num_frames: int = 16
    stride: int = 1
    fps: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {self.num_frames!r}")
        if not isinstance(self.stride, int) or self.stride < 1:
            raise ValueError(f"stride must be a positive integer, got {self.stride!r}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps!r}")

    def step(self, video_fps: float) -> float:
        """Source frames between two sampled frames."""
        if self.fps is None or not video_fps:
            return float(self.stride)
        return self.stride * video_fps / self.fps

    def span(self, video_fps: float = 0.0) -> float:
        """Source frames one clip covers (first to last sampled frame, inclusive)."""
        return (self.num_frames - 1) * self.step(video_fps) + 1


def clip_indices(start: float, num_video_frames: int, sampling: ClipSampling, video_fps: float = 0.0) -> list[int]:
    """Frame indices of the clip starting at ``start``, looping past the end of a short video."""
    step = sampling.step(video_fps)
    return [int(start + k * step) % num_video_frames for k in range(sampling.num_frames)]


def random_start(num_video_frames: int, sampling: ClipSampling, rng: np.random.Generator,
                 video_fps: float = 0.0) -> float:
    """A uniformly random start frame (0 when the clip is longer than the video)."""
    room = num_video_frames - sampling.span(video_fps)
    return float(rng.integers(0, int(room) + 1)) if room > 0 else 0.0


def uniform_starts(num_video_frames: int, sampling: ClipSampling, num_clips: int,
                   video_fps: float = 0.0) -> list[float]:
    """Starts of ``num_clips`` clips at the centres of equal segments of the possible starts."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be positive, got {num_clips}")
    room = max(num_video_frames - sampling.span(video_fps) + 1, 1)
    segment = room / num_clips
    return [float(int(segment * (k + 0.5))) for k in range(num_clips)]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one video's random choices in one epoch, independent of worker and order."""
    return np.random.default_rng([seed, epoch, index])
