"""`videozoo check-data`: find the videos of a data set that cannot be read, and say why."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .datasets import VideoItem, open_reader
from .decode import VideoError


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


def write_failures(path: str | os.PathLike, failed: dict[str, str]) -> Path:
    """``failed.csv`` of a command that skips what it cannot read (`prepare`, `shard`): ``path,reason``, sorted."""
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "reason"])
        writer.writerows(sorted(failed.items()))
    return path


def inspect_video(path: str, full: bool = False) -> tuple[dict | None, str | None]:
    """(metadata, None) when the video opens and its first, middle and last frames decode (every frame with
    ``full``), else (None, the reason in one line). The metadata are :class:`~videozoo.data.decode.VideoMetadata`'s
    fields (a frame folder's: rate, count and size)."""
    try:
        with open_reader(path, threads=0) as video:
            n = video.num_frames
            indices = range(n) if full else sorted({0, n // 2, n - 1})
            video.get_frames(indices)
            meta = getattr(video, "metadata", None)
            meta = meta.as_dict() if meta is not None else {
                "path": str(path), "fps": video.fps, "num_frames": n, "width": video.width, "height": video.height}
    except VideoError as e:
        return None, str(e)
    except (OSError, RuntimeError, ValueError) as e:  # anything else a broken file can raise
        return None, f"{path}: {type(e).__name__}: {' '.join(str(e).split())}"
    return meta, None


def check_video(path: str, full: bool = False) -> str | None:
    """None when the video opens and its first, middle and last frames decode (every frame with ``full``), else
    why not."""
    return inspect_video(path, full)[1]


def check_items(items: Sequence[VideoItem], full: bool = False,
                progress: Callable[[int, int], None] | None = None, workers: int = 0,
                cache: str | os.PathLike | None = None) -> list[Problem]:
    """The unreadable videos of ``items``. The quick check (first, middle and last frames) runs through the
    data list's index (:func:`~videozoo.data.index.build_index`: ``workers`` processes, answers cached in
    ``cache``); ``full`` decodes every frame of every video, here, each time."""
    if not full:
        from .index import build_index

        entries = build_index((item.path for item in items), cache, workers, progress)
        return [Problem(p, e.error) for p, e in entries.items() if e.error is not None]
    problems = []
    for k, item in enumerate(items):
        reason = check_video(item.path, full)
        if reason is not None:
            problems.append(Problem(item.path, reason))
        if progress:
            progress(k + 1, len(items))
    return problems
