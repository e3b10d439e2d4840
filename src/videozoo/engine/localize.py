"""Temporal action localisation in untrimmed videos with a clip classifier.

::

    video ──► windows of one clip each, every ``stride`` seconds ──► class probabilities per window
          ──► per class, runs of windows above each of several thresholds (temporal actionness grouping)
          ──► each run scored inner − outer (its mean probability minus that of its flanks)
          ──► per-class temporal NMS ──► segments (start, end, class, score)

A window is one clip of the checkpoint's own sampling (its span in seconds), scored through the evaluation
path (a late-fusion model: its prediction head, frames and sound), so localisation sees exactly what
classification saw. The grouping at several thresholds is that of Zhao et al. (ICCV 2017, "temporal
actionness grouping"); the inner − outer score, the contrast that SSN and BSN use, ranks a run that covers
the action above one cut inside it (whose flanks still score high) and one spilling over it (whose inside
is diluted). A class named ``background`` (THUMOS'14's convention for what lies between actions; train
one from the stretches between annotated segments) is never reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data.datasets import AudioConfig, VideoDataset, VideoItem, open_reader
from ..data.decode import VideoError
from ..data.segments import BACKGROUND, Segment
from .evaluate import evaluate, evaluate_multimodal
from .inputs import InputSettings, multimodal_dataset
from .predictor import Predictor
from .segment_metrics import tiou


@dataclass(frozen=True)
class LocalizeConfig:
    """How windows are laid and grouped. ``stride``: seconds between window starts (None: a quarter of the
    clip's span); ``thresholds``: the probability levels runs are cut at; ``nms``: the tIoU above which a
    lower-scored segment of the same class is dropped; ``top``: segments kept per video."""

    stride: float | None = None
    thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    nms: float = 0.5
    min_score: float = 0.0
    top: int = 100
    background: str = BACKGROUND
    batch_size: int = 4
    num_workers: int = 2

    def __post_init__(self) -> None:
        if self.stride is not None and self.stride <= 0:
            raise ValueError(f"stride must be positive seconds, got {self.stride}")
        if not self.thresholds or any(not 0 < t < 1 for t in self.thresholds):
            raise ValueError(f"thresholds must be in (0, 1), got {self.thresholds}")
        if not 0 < self.nms <= 1:
            raise ValueError(f"nms must be a tIoU in (0, 1], got {self.nms}")
        if self.top < 1:
            raise ValueError(f"top must be at least 1, got {self.top}")


def window_starts(duration: float, length: float, stride: float) -> np.ndarray:
    """Starts of windows of ``length`` seconds every ``stride`` over ``duration``; the last ends at the video's
    end (one window from 0 when the video is shorter than a window)."""
    if duration <= length:
        return np.zeros(1)
    starts = np.arange(0.0, duration - length, stride)
    return np.append(starts, duration - length) if duration - length - starts[-1] > 1e-6 else starts


@dataclass
class WindowScores:
    """Class probabilities ``probs`` ``(windows, classes)`` of windows ``[starts, starts + length]``; a window
    that could not be read has a row of NaN."""

    starts: np.ndarray
    length: float
    duration: float
    probs: np.ndarray
    classes: list[str]

    def cells(self) -> np.ndarray:
        """``(windows, 2)``: the stretch each window stands for (split half-way between window centres), so that
        consecutive windows tile the video from 0 to its end."""
        centres = self.starts + self.length / 2
        bounds = np.concatenate([[0.0], (centres[1:] + centres[:-1]) / 2, [self.duration]])
        return np.stack([bounds[:-1], bounds[1:]], axis=1)


def score_windows(predictor: Predictor, path: str | os.PathLike, classes: list[str], settings: InputSettings,
                  config: LocalizeConfig = LocalizeConfig(), audio: AudioConfig | None = None) -> WindowScores:
    """The class probabilities of every window of ``path`` (one clip, centre crop, per window)."""
    with open_reader(path) as video:
        if not video.fps:
            raise VideoError(f"{path}: no frame rate, so no time axis to localise on")
        duration, length = video.num_frames / video.fps, settings.sampling.span(video.fps) / video.fps
    stride = config.stride or length / 4
    starts = window_starts(duration, length, stride)
    items = [VideoItem(str(path), 0, float(s), float(s + length)) for s in starts]
    net = predictor.model
    if net.modalities:
        dataset = multimodal_dataset(items, classes, settings, net.modalities, train=False,
                                     audio=audio or AudioConfig())
        result = evaluate_multimodal(predictor, dataset, batch_size=config.batch_size,
                                     num_workers=config.num_workers)[net.predict_head]
    else:
        dataset = VideoDataset(items, classes, settings.sampling, settings.transform(1), train=False)
        result = evaluate(predictor, dataset, batch_size=config.batch_size, num_workers=config.num_workers)
    probs = np.full((len(items), len(classes)), np.nan, dtype=np.float32)
    probs[result.video_indices] = result.video_probs
    if np.isnan(probs).all():
        raise VideoError(f"{path}: no window could be read ({next(iter(result.skipped.values()), 'unknown')})")
    return WindowScores(starts, length, duration, probs, list(classes))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each maximal run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2] - 1, strict=True))


def group_segments(scores: WindowScores, config: LocalizeConfig = LocalizeConfig()) -> list[Segment]:
    """Candidate segments of every class but the background: runs of windows at or above each threshold,
    scored inner − outer (flanks of a quarter of the run's windows, at least one, on each side)."""
    cells = scores.cells()
    probs = np.nan_to_num(scores.probs, nan=0.0)
    out = []
    for c, name in enumerate(scores.classes):
        if name == config.background:
            continue
        p = probs[:, c]
        seen = set()
        for threshold in config.thresholds:
            for first, last in _runs(p >= threshold):
                if (first, last) in seen:
                    continue
                seen.add((first, last))
                flank = max(1, (last - first + 1) // 4)
                outer = np.concatenate([p[max(0, first - flank):first], p[last + 1:last + 1 + flank]])
                score = float(p[first:last + 1].mean() - (outer.mean() if len(outer) else 0.0))
                if score > config.min_score:
                    out.append(Segment(float(cells[first, 0]), float(cells[last, 1]), name, score))
    return out


def temporal_nms(segments: list[Segment], iou: float, top: int | None = None) -> list[Segment]:
    """Greedy non-maximum suppression per class: highest score first, dropping later segments of the same class
    overlapping a kept one by tIoU above ``iou``; the ``top`` best kept, by score."""
    kept: list[Segment] = []
    for label in sorted({s.label for s in segments}):
        remaining = sorted((s for s in segments if s.label == label), key=lambda s: -s.score)
        chosen: list[Segment] = []
        for s in remaining:
            if not chosen or tiou((s.start, s.end), np.array([(k.start, k.end) for k in chosen])).max() <= iou:
                chosen.append(s)
        kept += chosen
    kept.sort(key=lambda s: -s.score)
    return kept[:top] if top is not None else kept


def localize_video(predictor: Predictor, path: str | os.PathLike, classes: list[str], settings: InputSettings,
                   config: LocalizeConfig = LocalizeConfig(), audio: AudioConfig | None = None
                   ) -> tuple[list[Segment], WindowScores]:
    """Action segments in ``path``, best first, and the window scores they came from."""
    scores = score_windows(predictor, path, classes, settings, config, audio)
    return temporal_nms(group_segments(scores, config), config.nms, config.top), scores
