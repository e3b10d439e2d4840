"""Temporal localisation metrics: temporal IoU and mean average precision at tIoU thresholds.

The protocol of ActivityNet's and THUMOS'14's detection task (as ActivityNet's evaluation code computes it):

- per class, the predictions of every video are sorted by score, highest first; each is matched to the
  ground-truth segment of its video and class with the highest tIoU that no higher-scored prediction has
  taken; it is a true positive when that tIoU reaches the threshold, else a false positive (a second
  detection of one instance is a false positive);
- AP is the area under the precision-recall curve with precision made monotone (the all-points
  interpolation of PASCAL VOC 2010+), over the class's ground-truth instances;
- mAP at a threshold is the mean over the classes that have ground truth; the summary number is the mean
  over thresholds (THUMOS'14: 0.3 … 0.7; ActivityNet: 0.5 … 0.95 in steps of 0.05).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.segments import Segment, Segments

THUMOS_TIOUS = (0.3, 0.4, 0.5, 0.6, 0.7)
ACTIVITYNET_TIOUS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def tiou(segment: tuple[float, float], others: np.ndarray) -> np.ndarray:
    """Temporal IoU of ``(start, end)`` with each row of ``others`` ``(N, 2)``."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 2)
    inter = np.clip(np.minimum(segment[1], others[:, 1]) - np.maximum(segment[0], others[:, 0]), 0, None)
    union = (segment[1] - segment[0]) + (others[:, 1] - others[:, 0]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve, precision made non-increasing from the right."""
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def class_ap(predictions: list[tuple[str, Segment]], truth: dict[str, np.ndarray], thresholds: tuple[float, ...]
             ) -> np.ndarray:
    """AP of one class at each threshold: ``predictions`` (video, segment) and ``truth`` video → ``(N, 2)``."""
    positives = sum(len(t) for t in truth.values())
    if positives == 0:
        return np.full(len(thresholds), np.nan)
    order = sorted(range(len(predictions)), key=lambda i: -predictions[i][1].score)  # stable: ties keep order
    hits = np.zeros((len(thresholds), len(order)))
    taken = {video: np.zeros((len(thresholds), len(t)), bool) for video, t in truth.items()}
    for rank, i in enumerate(order):
        video, seg = predictions[i]
        if video not in truth or len(truth[video]) == 0:
            continue
        overlaps = tiou((seg.start, seg.end), truth[video])
        by_overlap = np.argsort(-overlaps, kind="stable")
        for k, threshold in enumerate(thresholds):
            for j in by_overlap:
                if overlaps[j] < threshold:
                    break
                if not taken[video][k, j]:
                    taken[video][k, j] = True
                    hits[k, rank] = 1
                    break
    tp = np.cumsum(hits, axis=1)
    fp = np.cumsum(1 - hits, axis=1)
    aps = []
    for k in range(len(thresholds)):
        recall = tp[k] / positives
        precision = tp[k] / np.maximum(tp[k] + fp[k], 1e-12)
        aps.append(interpolated_ap(precision, recall))
    return np.asarray(aps)


@dataclass
class LocalizationResult:
    thresholds: tuple[float, ...]
    mAP: np.ndarray  # (thresholds,)
    per_class: dict[str, np.ndarray]  # class → AP at each threshold
    num_videos: int
    num_instances: int
    num_predictions: int
    unmatched_videos: list[str] = field(default_factory=list)  # predicted for, not in the ground truth

    @property
    def average_mAP(self) -> float:
        return float(np.mean(self.mAP))

    def as_dict(self) -> dict:
        return {"mAP": {f"{t:g}": float(m) for t, m in zip(self.thresholds, self.mAP, strict=True)},
                "average_mAP": self.average_mAP,
                "per_class_AP": {c: {f"{t:g}": float(a) for t, a in zip(self.thresholds, ap, strict=True)}
                                 for c, ap in self.per_class.items()},
                "num_videos": self.num_videos, "num_instances": self.num_instances,
                "num_predictions": self.num_predictions, "unmatched_videos": self.unmatched_videos}


def _match_ids(predictions: Segments, truth: Segments) -> tuple[Segments, list[str]]:
    """Predictions keyed as the ground truth is: ActivityNet's files are ``v_ID.mp4`` for the database's ``ID``."""
    out, unmatched = {}, []
    for video, segments in predictions.items():
        key = video if video in truth else video[2:] if video.startswith("v_") and video[2:] in truth else None
        if key is None:
            unmatched.append(video)
        else:
            out[key] = segments
    return out, unmatched


def localization_map(predictions: Segments, truth: Segments, thresholds: tuple[float, ...] = THUMOS_TIOUS
                     ) -> LocalizationResult:
    """mAP at each tIoU threshold of ``predictions`` against ``truth`` (both video → segments), over the
    ground truth's videos and classes; predictions for other videos are listed in ``unmatched_videos``."""
    if not thresholds or any(not 0 < t <= 1 for t in thresholds):
        raise ValueError(f"tIoU thresholds must be in (0, 1], got {thresholds}")
    predictions, unmatched = _match_ids(predictions, truth)
    classes = sorted({s.label for segs in truth.values() for s in segs})
    per_class = {}
    for c in classes:
        gt = {v: np.array([(s.start, s.end) for s in segs if s.label == c]).reshape(-1, 2)
              for v, segs in truth.items()}
        preds = [(v, s) for v, segs in predictions.items() for s in segs if s.label == c]
        per_class[c] = class_ap(preds, gt, tuple(thresholds))
    mAP = np.mean(np.stack(list(per_class.values())), axis=0) if per_class else np.zeros(len(thresholds))
    return LocalizationResult(tuple(thresholds), mAP, per_class, num_videos=len(truth),
                              num_instances=sum(len(s) for s in truth.values()),
                              num_predictions=sum(len(s) for s in predictions.values()),
                              unmatched_videos=sorted(unmatched))
