"""Spatio-temporal action detection: training on box annotations, detecting in videos, linking tubes.

::

    train: annotated videos ──► clip around a key frame + its boxes (data.box_clips) ──► ActionDetector
           ──► cross-entropy per box (actions + background)  — on the one training core, as every run
    detect: each frame with person boxes (a detector's, or the annotated ones) ──► the clip centred on it
           ──► per box, a probability per action ──► per class, boxes linked frame to frame into tubes
    evaluate: frame-mAP and video-mAP (engine.box_metrics)

A detection run is a classification run with another data format (``data.format: boxes`` or ``act``): the
trainer below changes what the data, the model and a step are, and nothing else (checkpoints, resuming,
precision, DDP and the metrics file are :class:`~videozoo.engine.trainer.Trainer`'s). Linking is the greedy
online linking of Singh et al. (ICCV 2017) without its temporal trimming: per class, each tube, best first,
extends to the highest-scored unclaimed box of the next frame that overlaps its last box (IoU ≥
``link_iou``); a tube unextended for ``max_gap`` frames ends; unclaimed boxes start tubes. A tube's score is
its boxes' mean.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.box_clips import BoxClipDataset, collate_boxes, key_frame_indices, prepare_clip
from ..data.boxes import BoxedVideo, load_box_annotations, read_proposals
from ..data.datasets import DataError, open_reader
from ..data.segments import BACKGROUND
from ..models.detection import ActionDetector
from ..models.registry import create_model, get_entry
from .box_metrics import FrameDetections, PredictedTube, box_ious
from .checkpoint import DETECTION, save_training_checkpoint
from .config import ConfigError
from .inputs import InputSettings, check_model_accepts, first_short_side
from .predictor import Predictor
from .trainer import Trainer, load_backbone

log = logging.getLogger("videozoo.train")


class DetectionTrainer(Trainer):
    """A :class:`~videozoo.engine.trainer.Trainer` whose data are box annotations and whose model is an
    :class:`~videozoo.models.detection.ActionDetector`; its classes are the actions and ``background``."""

    def _load_lists(self) -> None:
        d = self.cfg.data
        if d.modality != "rgb" or d.fps is not None:
            raise ConfigError("config key 'data.format': detection reads RGB frames by frame stride (data.modality "
                              "rgb, no data.fps)")
        actions = None
        if d.classes:
            from ..data.datasets import read_classes

            actions = [c for c in read_classes(d.classes) if c != BACKGROUND]
        self.train_items, self.actions = load_box_annotations(d.train, fmt=d.format, root=d.root, classes=actions,
                                                              split=d.split, subset="train")
        if BACKGROUND in self.actions:
            raise DataError(f"{d.train}: {BACKGROUND!r} is the detector's own class for boxes with no action; "
                            "rename that class")
        self.val_items = []
        if d.val:
            self.val_items, _ = load_box_annotations(d.val, fmt=d.format, root=d.root, classes=self.actions,
                                                     split=d.split, subset="test")
        elif d.format == "act":
            self.val_items, _ = load_box_annotations(d.train, fmt="act", root=d.root, split=d.split, subset="test")
        self.classes = [*self.actions, BACKGROUND]
        if d.crop is None:  # the short side clips are resized to: the model's crop, or the videos' own if smaller
            short = first_short_side(self.train_items)
            d.crop = min(get_entry(self.cfg.model.name).default_clip[1], short or 10**9)

    def _build_model(self, start: dict | None) -> nn.Module:
        backbone = create_model(self.cfg.model.name, 0, **self._overrides(start))
        check_model_accepts(backbone, self.inputs)
        det = self.cfg.detect
        model = ActionDetector(backbone, len(self.classes), roi_size=det.roi_size, dropout=det.dropout)
        if start is not None:  # a classifier's or a detector's backbone
            state = {k.removeprefix("backbone."): v for k, v in start["state"].items()}
            load_backbone(model.backbone, {**start, "state": state})
        return model

    def _datasets(self) -> tuple[BoxClipDataset, BoxClipDataset | None]:
        cfg, s = self.cfg, self.inputs
        proposals = read_proposals(cfg.detect.proposals) if cfg.detect.proposals else None
        common = {"num_frames": s.num_frames, "stride": s.stride, "size": s.crop, "normalization": s.normalization,
                  "seed": cfg.train.seed, "keys_per_video": cfg.detect.keys_per_video}
        train_set = BoxClipDataset(self.train_items, self.actions, train=True, flip=s.flip, proposals=proposals,
                                   positive_iou=cfg.detect.positive_iou, **common)
        val_set = BoxClipDataset(self.val_items, self.actions, train=False, **common) if self.val_items else None
        return train_set, val_set

    def step(self, net: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cross-entropy over the batch's boxes: (loss, logits (K, classes), labels (K,))."""
        logits = net(batch["video"], batch["boxes"])
        y = batch["label"]
        return nn.functional.cross_entropy(logits.float(), y, label_smoothing=self.cfg.optim.label_smoothing), \
            logits, y

    def validate(self) -> dict:
        """Box accuracy on ``detect.keys_per_video`` evenly spaced annotated frames of every validation video, at
        the annotated boxes (the full protocol is ``videozoo detect`` then ``videozoo eval-detection``)."""
        if self.val_set is None:
            return {"val_loss": float("nan"), "val_top1": float("nan"), "val_top5": float("nan")}
        scores = self.core.evaluate(self.val_set, lambda model, b: {"": model(self.core.clip(b["video"]), b["boxes"])},
                                    heads=("",))[""]
        return {"val_loss": scores["loss"], "val_top1": scores["top1"], "val_top5": scores["top5"]}

    def _save(self, name: str, states: dict, info: dict) -> None:
        save_training_checkpoint(self.out / name, self.model, states=states, classes=self.classes, info=info,
                                 metadata={"data_settings": self.inputs.to_json(), "task": DETECTION,
                                           "detection_head": json.dumps(self.model.settings)})


# -- detecting ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectOptions:
    """``every``: detect on every n-th frame that has boxes; ``link_iou``, ``max_gap`` (detected frames a tube
    may miss): tube linking; ``min_score``: boxes scoring less for a class do not enter its tubes;
    ``batch_size``: clips per forward pass."""

    every: int = 1
    link_iou: float = 0.3
    max_gap: int = 3
    min_score: float = 0.01
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.every < 1 or self.max_gap < 1 or self.batch_size < 1:
            raise ValueError("every, max_gap and batch_size must be at least 1")
        if not 0 < self.link_iou <= 1:
            raise ValueError(f"link_iou must be in (0, 1], got {self.link_iou}")


def detect_video(predictor: Predictor, path: str | os.PathLike, boxes: Mapping[int, np.ndarray],
                 settings: InputSettings, config: DetectOptions = DetectOptions()) -> list[FrameDetections]:
    """Action probabilities ``(k, actions)`` of the boxes ``(k, 4)`` given per frame (video pixels) of the video
    at ``path``: each frame's clip centred on it, read in batches of ``config.batch_size`` frames."""
    frames = sorted(f for f, b in boxes.items() if len(b))[:: config.every]
    found: list[FrameDetections] = []
    with open_reader(path) as video:
        total = video.num_frames
        for start in range(0, len(frames), config.batch_size):
            keys = [f for f in frames[start:start + config.batch_size] if f < total]
            if not keys:
                continue
            wanted = [key_frame_indices(k, settings.num_frames, settings.stride, total) for k in keys]
            needed = sorted({i for clip in wanted for i in clip})
            decoded = video.get_frames(needed)
            row = {f: n for n, f in enumerate(needed)}
            items = []
            for key, clip in zip(keys, wanted, strict=True):
                x, b = prepare_clip(decoded[[row[i] for i in clip]], boxes[key], settings.crop, settings.normalization)
                items.append({"video": x, "boxes": b, "label": torch.zeros(len(b), dtype=torch.long), "index": key})
            batch = collate_boxes(items)
            rois = batch["boxes"].to(predictor.device)
            logits = predictor.run(lambda x, rois=rois: predictor.model(x, rois), batch["video"])
            probs = logits.softmax(1)[:, :-1].cpu().numpy()  # the last class is background
            offset = 0
            for key in keys:
                k = len(boxes[key])
                found.append(FrameDetections(key, np.asarray(boxes[key], np.float32).reshape(-1, 4),
                                             probs[offset:offset + k]))
                offset += k
    return found


def link_tubes(detections: Sequence[FrameDetections], label: int, config: DetectOptions = DetectOptions()
               ) -> list[PredictedTube]:
    """Class ``label``'s tubes through a video's frame detections (see the module docstring)."""
    done: list[dict] = []
    active: list[dict] = []
    for det in sorted(detections, key=lambda d: d.frame):
        scores = det.scores[:, label]
        free = np.flatnonzero(scores >= config.min_score)
        # a gap counts detected frames: with every n-th frame detected, n frames apart is no gap
        for tube in [t for t in active if det.frame - t["frames"][-1] > config.max_gap * config.every]:
            active.remove(tube)
            done.append(tube)
        active.sort(key=lambda t: -np.mean(t["scores"]))
        for tube in active:
            if len(free) == 0:
                break
            overlaps = box_ious(tube["boxes"][-1], det.boxes[free])[0]
            ok = overlaps >= config.link_iou
            if not ok.any():
                continue
            pick = free[ok][int(np.argmax(scores[free[ok]]))]
            tube["frames"].append(det.frame)
            tube["boxes"].append(det.boxes[pick])
            tube["scores"].append(float(scores[pick]))
            free = free[free != pick]
        for k in free:
            active.append({"frames": [det.frame], "boxes": [det.boxes[k]], "scores": [float(scores[k])]})
    return [PredictedTube(label, float(np.mean(t["scores"])), np.array(t["frames"]), np.stack(t["boxes"]))
            for t in done + active]


def write_detections(path: str | os.PathLike, classes: Sequence[str],
                     detections: Mapping[str, Sequence[FrameDetections]],
                     tubes: Mapping[str, Sequence[PredictedTube]]) -> Path:
    """The JSON ``videozoo eval-detection`` reads: per video, every frame's boxes and their per-action
    probabilities, and the tubes (label, score, frames, boxes)."""
    videos = {}
    for video, frames in detections.items():
        videos[video] = {
            "frames": [{"frame": d.frame, "boxes": np.round(d.boxes, 2).tolist(),
                        "scores": np.round(d.scores, 5).tolist()} for d in frames],
            "tubes": [{"label": classes[t.label], "score": round(t.score, 5), "frames": t.frames.tolist(),
                       "boxes": np.round(t.boxes, 2).tolist()} for t in tubes.get(video, [])]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"classes": list(classes), "videos": videos}))
    return path


def read_detections(path: str | os.PathLike) -> tuple[list[str], dict[str, list[FrameDetections]],
                                                      dict[str, list[PredictedTube]]]:
    """What :func:`write_detections` wrote: classes, frame detections and tubes per video."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"detections not found: {path}")
    try:
        data = json.loads(path.read_text())
        classes = list(data["classes"])
        index = {c: k for k, c in enumerate(classes)}
        detections, tubes = {}, {}
        for video, entry in data["videos"].items():
            detections[video] = [FrameDetections(int(f["frame"]), np.asarray(f["boxes"], np.float32).reshape(-1, 4),
                                                 np.asarray(f["scores"], np.float32).reshape(-1, len(classes)))
                                 for f in entry["frames"]]
            tubes[video] = [PredictedTube(index[t["label"]], float(t["score"]), np.asarray(t["frames"], np.int64),
                                          np.asarray(t["boxes"], np.float32).reshape(-1, 4)) for t in entry["tubes"]]
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path} is not a detections file of `videozoo detect` ({type(e).__name__}: {e})") from None
    return classes, detections, tubes


def detect_actions(predictor: Predictor, videos: Mapping[str, str], boxes: Mapping[str, Mapping[int, np.ndarray]],
                   classes: Sequence[str], settings: InputSettings, config: DetectOptions = DetectOptions(),
                   on_error=None) -> tuple[dict[str, list[FrameDetections]], dict[str, list[PredictedTube]]]:
    """Frame detections and tubes of every video (id → path) at its boxes (id → frame → boxes). A video
    that cannot be read is passed to ``on_error(video, error)`` and left out (raised without one)."""
    from ..data.decode import VideoError

    detections, tubes = {}, {}
    for video, path in videos.items():
        try:
            found = detect_video(predictor, path, boxes.get(video, {}), settings, config)
        except VideoError as e:
            if on_error is None:
                raise
            on_error(video, e)
            continue
        detections[video] = found
        tubes[video] = [t for label in range(len(classes)) for t in link_tubes(found, label, config)]
    return detections, tubes


def annotated_boxes(items: Sequence[BoxedVideo]) -> dict[str, dict[int, np.ndarray]]:
    """The annotated boxes of each video by frame: detection at the true actors (the oracle-box protocol of
    JHMDB results), when no person detector's boxes are given."""
    return {item.video: {f: item.boxes_at(f)[0] for f in item.frames} for item in items}


def proposal_boxes(path: str | os.PathLike) -> dict[str, dict[int, np.ndarray]]:
    return {video: {f: b for f, (b, _) in frames.items()} for video, frames in read_proposals(path).items()}
