"""A synthetic set for temporal localisation, laid out as THUMOS'14: trimmed clips to train a classifier on,
untrimmed videos with known action segments to localise in.

- Training: ``per_class`` short clips of each motion of :mod:`~videozoo.data.synthetic` and as many of
  ``background`` (the striped objects standing still), listed in ``train.csv`` (THUMOS'14 trains on UCF101's
  trimmed clips and its background videos).
- Validation: untrimmed videos alternating background with actions (the objects moving one class's way),
  each of a length drawn at random; within a video the background and the colours stay the same, so only
  the motion marks where an action begins and ends. Their segments are in ``annotations.json``
  (ActivityNet's layout, subset ``validation``: what ``videozoo eval-localization`` reads) and, with the
  stretches between them labelled ``background``, in ``val.csv`` (``path,label,start,end``: classification
  accuracy on the segments during training).
- ``classes.txt``: the motions and ``background``.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encode import write_video
from .segments import BACKGROUND, Segment
from .synthetic import MOTIONS, REPRODUCIBLE_X264, render_motion


@dataclass(frozen=True)
class UntrimmedConfig:
    classes: int = 3
    per_class: int = 20  # trimmed training clips per class, background included
    clip_frames: int = 24
    val_videos: int = 4
    seconds: float = 10.0
    action_seconds: tuple[float, float] = (1.5, 3.0)
    gap_seconds: tuple[float, float] = (1.0, 2.5)
    size: int = 64
    fps: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.classes <= len(MOTIONS):
            raise ValueError(f"classes must be 1…{len(MOTIONS)}, got {self.classes}")
        if self.per_class < 1 or self.val_videos < 1 or self.clip_frames < 2:
            raise ValueError("per_class and val_videos must be ≥ 1, clip_frames ≥ 2")
        for name in ("action_seconds", "gap_seconds"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be (low, high) with 0 < low ≤ high, got {(lo, hi)}")
        if self.seconds < self.action_seconds[1] + 2 * self.gap_seconds[0]:
            raise ValueError(f"seconds ({self.seconds}) must hold an action and a gap on each side")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be even and at least 16, got {self.size}")

    @property
    def class_names(self) -> list[str]:
        return list(MOTIONS)[: self.classes]


def plan_segments(config: UntrimmedConfig, rng: np.random.Generator) -> list[Segment]:
    """Gap, action, gap, action, …, gap: actions of random classes and lengths while they fit, times on
    frame boundaries."""
    frame = 1.0 / config.fps
    t, out = float(rng.uniform(*config.gap_seconds)), []
    while True:
        length = float(rng.uniform(*config.action_seconds))
        if t + length + config.gap_seconds[0] > config.seconds:
            break
        start, end = round(t / frame) * frame, round((t + length) / frame) * frame
        out.append(Segment(start, end, config.class_names[int(rng.integers(config.classes))]))
        t = end + float(rng.uniform(*config.gap_seconds))
    return out


def render_untrimmed(segments: list[Segment], config: UntrimmedConfig, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(frames, size, size, 3)``: still objects, moving during each segment (one look per video)."""
    total = int(round(config.seconds * config.fps))
    look_seed = int(rng.integers(1 << 31))
    stretches, t = [], 0
    for s in segments:
        first, last = int(round(s.start * config.fps)), int(round(s.end * config.fps))
        stretches += [("still", first - t), (s.label, last - first)]
        t = last
    stretches.append(("still", total - t))
    parts = [render_motion(motion, n, config.size, rng, look=np.random.default_rng(look_seed))
             for motion, n in stretches if n > 0]
    return np.concatenate(parts)


def _background_stretches(segments: list[Segment], seconds: float) -> list[Segment]:
    edges = [0.0, *[t for s in segments for t in (s.start, s.end)], seconds]
    return [Segment(a, b, BACKGROUND) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 1e-6]


def make_untrimmed_dataset(out: str | os.PathLike, config: UntrimmedConfig = UntrimmedConfig()) -> dict[str, Path]:
    """Write the clips and videos, ``annotations.json``, ``train.csv``, ``val.csv`` and ``classes.txt`` (see the
    module docstring); returns their paths."""
    out = Path(out)
    rows = {"train": [], "val": []}
    for label, name in enumerate((*config.class_names, BACKGROUND)):
        for k in range(config.per_class):
            rng = np.random.default_rng([config.seed, 0, label, k])
            rel = Path("clips") / name / f"{name}_{k:04d}.mp4"
            frames = render_motion("still" if name == BACKGROUND else name, config.clip_frames, config.size, rng)
            write_video(out / rel, frames, config.fps, options=REPRODUCIBLE_X264)
            rows["train"].append((rel.as_posix(), name))
    database = {}
    for k in range(config.val_videos):
        rng = np.random.default_rng([config.seed, 1, k])
        segments = plan_segments(config, rng)
        name = f"video_{k:04d}"
        rel = Path("videos") / f"{name}.mp4"
        write_video(out / rel, render_untrimmed(segments, config, rng), config.fps, options=REPRODUCIBLE_X264)
        database[name] = {"subset": "validation", "duration": config.seconds, "url": rel.as_posix(),
                          "annotations": [{"segment": [s.start, s.end], "label": s.label} for s in segments]}
        for s in sorted([*segments, *_background_stretches(segments, config.seconds)], key=lambda s: s.start):
            rows["val"].append((rel.as_posix(), s.label, f"{s.start:.4f}", f"{s.end:.4f}"))
    paths = {"annotations": out / "annotations.json", "classes": out / "classes.txt"}
    paths["annotations"].write_text(json.dumps({"version": "videozoo synthetic", "database": database}, indent=1))
    for split, entries in rows.items():
        paths[split] = out / f"{split}.csv"
        with paths[split].open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "start", "end"] if split == "val" else ["path", "label"])
            writer.writerows(entries)
    paths["classes"].write_text("".join(f"{n}\n" for n in (*config.class_names, BACKGROUND)))
    return paths
