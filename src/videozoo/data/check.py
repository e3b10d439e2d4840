"""`videozoo check-data`: find the videos of a data set that cannot be read, and say why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .datasets import VideoItem, open_reader
from .decode import VideoError


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


def check_video(path: str, full: bool = False) -> str | None:
    """None when the video opens and its first, middle and last frames decode (every frame with ``full``)."""
    try:
        with open_reader(path, threads=0) as video:
            n = video.num_frames
            indices = range(n) if full else sorted({0, n // 2, n - 1})
            video.get_frames(indices)
    except VideoError as e:
        return str(e)
    except (OSError, RuntimeError, ValueError) as e:  # anything else a broken file can raise
        return f"{path}: {type(e).__name__}: {' '.join(str(e).split())}"
    return None


def check_items(items: Sequence[VideoItem], full: bool = False,
                progress: Callable[[int, int], None] | None = None) -> list[Problem]:
    problems = []
    for k, item in enumerate(items):
        reason = check_video(item.path, full)
        if reason is not None:
            problems.append(Problem(item.path, reason))
        if progress:
            progress(k + 1, len(items))
    return problems
