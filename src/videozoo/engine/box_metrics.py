"""Spatio-temporal detection metrics: frame-mAP and video-mAP (UCF101-24, JHMDB-21).

- **frame-mAP** at an IoU (0.5 in the papers): per class, every detected box of every frame with its score
  for the class, highest first; each is a true positive when it overlaps (IoU ≥ the threshold) an annotated
  box of that class on that frame that no higher-scored box has taken; AP over every annotated box of the
  class on every annotated frame of the videos evaluated; the mean over the classes.
- **video-mAP** at a spatio-temporal IoU δ (0.2 and 0.5 usual): the same over tubes, whose overlap with an
  annotated tube is their temporal IoU times the mean box IoU over the frames both cover (Weinzaepfel et
  al., ICCV 2015; the ACT detector's evaluation).

AP is the all-points interpolated area of :func:`~videozoo.engine.segment_metrics.interpolated_ap`: the
protocol of the ACT evaluation code and of PASCAL VOC 2010+.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torchvision.ops import box_iou

from ..data.boxes import BoxedVideo, Tube
from .segment_metrics import interpolated_ap


@dataclass
class FrameDetections:
    """The scored boxes of one frame: ``boxes`` ``(k, 4)``, ``scores`` ``(k, C)`` (one column per action)."""

    frame: int
    boxes: np.ndarray
    scores: np.ndarray


@dataclass
class PredictedTube:
    label: int
    score: float
    frames: np.ndarray
    boxes: np.ndarray


def box_ious(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU matrix ``(n, m)`` of boxes ``(n, 4)`` and ``(m, 4)`` (torchvision's ``box_iou``)."""
    boxes, others = np.asarray(boxes).reshape(-1, 4), np.asarray(others).reshape(-1, 4)
    if len(boxes) == 0 or len(others) == 0:
        return np.zeros((len(boxes), len(others)))
    return box_iou(torch.as_tensor(boxes, dtype=torch.float64), torch.as_tensor(others, dtype=torch.float64)).numpy()


def _ap(scores: list[float], hits: list[bool], positives: int) -> float:
    if positives == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.asarray(hits, np.float64)[order]
    if len(tp) == 0:
        return 0.0
    cum_tp = np.cumsum(tp)
    precision = cum_tp / np.arange(1, len(tp) + 1)
    return interpolated_ap(precision, cum_tp / positives)


class _FrameMatches:
    """Per (video, frame) of the detections: the annotated labels there and the IoU of every detected box with
    every annotated one, computed once for all classes."""

    def __init__(self, detections: Mapping[str, Sequence[FrameDetections]], truth: Mapping[str, BoxedVideo]) -> None:
        labels_all = [item.boxes_at(f)[1] for item in truth.values() for f in item.frames]
        self.positives = np.bincount(np.concatenate(labels_all), minlength=1) if labels_all else np.zeros(1, int)
        self.frames = []  # (detections of the frame, gt labels, iou (k, g))
        for video, frames in detections.items():
            if video not in truth:
                continue
            for det in frames:
                boxes, labels = truth[video].boxes_at(det.frame)
                self.frames.append((det, labels, box_ious(det.boxes, boxes)))

    def ap(self, label: int, iou: float) -> float:
        positives = int(self.positives[label]) if label < len(self.positives) else 0
        preds = [(det.scores[k, label], n, k) for n, (det, _, _) in enumerate(self.frames)
                 for k in range(len(det.boxes))]
        preds.sort(key=lambda p: -p[0])
        taken = [labels != label for _, labels, _ in self.frames]  # other classes' boxes are never matched
        hits = []
        for _, n, k in preds:
            overlaps = np.where(taken[n], -1.0, self.frames[n][2][k])
            hit = len(overlaps) > 0 and overlaps.max() >= iou
            if hit:
                taken[n][int(overlaps.argmax())] = True
            hits.append(bool(hit))
        return _ap([p[0] for p in preds], hits, positives)


def frame_ap(detections: Mapping[str, Sequence[FrameDetections]], truth: Mapping[str, BoxedVideo], label: int,
             iou: float = 0.5) -> float:
    """AP of class ``label`` over the annotated frames of the videos in ``truth`` (other videos' detections
    ignored)."""
    return _FrameMatches(detections, truth).ap(label, iou)


def tube_overlap(a_frames: np.ndarray, a_boxes: np.ndarray, b_frames: np.ndarray, b_boxes: np.ndarray) -> float:
    """Spatio-temporal IoU: temporal IoU of the frame spans × mean box IoU over the frames in both."""
    start, end = max(a_frames.min(), b_frames.min()), min(a_frames.max(), b_frames.max())
    if end < start:
        return 0.0
    union = max(a_frames.max(), b_frames.max()) - min(a_frames.min(), b_frames.min()) + 1
    temporal = (end - start + 1) / union
    a = {int(f): box for f, box in zip(a_frames, a_boxes, strict=True)}
    b = {int(f): box for f, box in zip(b_frames, b_boxes, strict=True)}
    common = sorted(set(a) & set(b))
    if not common:
        return 0.0
    spatial = float(np.mean(np.diag(box_ious(np.stack([a[f] for f in common]), np.stack([b[f] for f in common])))))
    return float(temporal * spatial)


def video_ap(tubes: Mapping[str, Sequence[PredictedTube]], truth: Mapping[str, BoxedVideo], label: int,
             threshold: float) -> float:
    """AP of class ``label`` over tubes at spatio-temporal IoU ``threshold``."""
    gt: dict[str, list[Tube]] = {video: [t for t in item.tubes if t.label == label] for video, item in truth.items()}
    positives = sum(len(t) for t in gt.values())
    preds = sorted(((t.score, video, t) for video, ts in tubes.items() if video in truth for t in ts
                    if t.label == label), key=lambda p: -p[0])
    taken = {video: np.zeros(len(t), bool) for video, t in gt.items()}
    hits = []
    for _, video, tube in preds:
        overlaps = np.array([-1.0 if taken[video][j] else tube_overlap(tube.frames, tube.boxes, g.frames, g.boxes)
                             for j, g in enumerate(gt[video])])
        hit = False
        if len(overlaps) and overlaps.max() >= threshold:
            taken[video][int(overlaps.argmax())] = hit = True
        hits.append(hit)
    return _ap([p[0] for p in preds], hits, positives)


@dataclass
class DetectionResult:
    classes: list[str]
    frame_iou: float
    frame_ap: list[float]
    video_thresholds: tuple[float, ...]
    video_ap: list[list[float]]  # per threshold, per class
    num_videos: int
    missing_videos: list[str] = field(default_factory=list)

    @staticmethod
    def _mean(values: Sequence[float]) -> float:
        values = [v for v in values if v == v]
        return float(np.mean(values)) if values else float("nan")

    @property
    def frame_map(self) -> float:
        return self._mean(self.frame_ap)

    @property
    def video_map(self) -> list[float]:
        return [self._mean(row) for row in self.video_ap]

    def as_dict(self) -> dict:
        return {"frame_mAP": self.frame_map, "frame_iou": self.frame_iou,
                "video_mAP": dict(zip(map(str, self.video_thresholds), self.video_map, strict=True)),
                "per_class": {c: {"frame_AP": self.frame_ap[k],
                                  "video_AP": {str(t): self.video_ap[j][k] for j, t in
                                               enumerate(self.video_thresholds)}}
                              for k, c in enumerate(self.classes)},
                "videos": self.num_videos, "missing_videos": self.missing_videos}


def detection_map(detections: Mapping[str, Sequence[FrameDetections]], tubes: Mapping[str, Sequence[PredictedTube]],
                  truth: Mapping[str, BoxedVideo], classes: Sequence[str], frame_iou: float = 0.5,
                  video_thresholds: Sequence[float] = (0.2, 0.5)) -> DetectionResult:
    """frame-mAP and video-mAP of ``detections`` / ``tubes`` (video id → …) against ``truth`` (video id → its
    annotations). A video of the annotations with no detections counts: its actors are all missed."""
    matches = _FrameMatches(detections, truth)
    frame = [matches.ap(k, frame_iou) for k in range(len(classes))]
    video = [[video_ap(tubes, truth, k, t) for k in range(len(classes))] for t in video_thresholds]
    missing = sorted(set(truth) - set(detections))
    return DetectionResult(list(classes), frame_iou, frame, tuple(video_thresholds), video, len(truth), missing)
