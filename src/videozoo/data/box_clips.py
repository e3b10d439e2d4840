"""Clips around a key frame with the actors' boxes on it: the input of spatio-temporal action detection.

::

    video ──► T frames every ``stride``, centred on the key frame (edge frames repeated past either end)
          ──► short side resized to ``size`` (no crop: an actor may stand anywhere), boxes scaled alike
          ──► [training: mirrored at random, boxes too] ──► normalised ``(C, T, H, W)``

An item is ``{"video": (C, T, H, W), "boxes": (k, 4), "label": (k,), "index"}``: the key frame's boxes in
pixels of the resized clip and one label per box. Each video gives ``keys_per_video`` items: in training
key frames drawn per (seed, epoch, item) among the annotated frames, with the detector proposals on the key
frame joining the annotated boxes (one that overlaps an actor, IoU ≥ ``positive_iou``, takes the actor's
action, one that overlaps none the ``background`` class, the last); in evaluation key frames evenly spaced
over the annotated ones, at the annotated boxes. :func:`collate_boxes` pads a batch's clips to one size and
numbers each box by its clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.ops import box_iou
from torchvision.transforms.v2 import functional as F

from .boxes import BoxedVideo
from .datasets import load_or_skip, open_reader
from .reader import VideoError
from .sampling import sample_rng
from .transforms import ToModelInput, _size, frames_to_clip


def key_frame_indices(key: int, num_frames: int, stride: int, total: int) -> list[int]:
    """``num_frames`` frame indices every ``stride`` centred on ``key`` (the key frame is index
    ``num_frames // 2``), clamped to the video's ``total`` frames."""
    first = key - (num_frames // 2) * stride
    return [min(max(first + k * stride, 0), total - 1) for k in range(num_frames)]


def prepare_clip(frames: Tensor, boxes: np.ndarray, size: int, normalization: str, flip: bool = False
                 ) -> tuple[Tensor, Tensor]:
    """uint8 frames ``(T, H, W, 3)`` and boxes ``(k, 4)`` in their pixels → the model's clip ``(C, T, h, w)``
    (short side ``size``) and the boxes in its pixels, mirrored with it when ``flip``."""
    clip = frames_to_clip(frames)
    height, width = clip.shape[-2:]
    boxes_t = tv_tensors.BoundingBoxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                       format="XYXY", canvas_size=(height, width))
    out_hw = list(_size(height, width, size))
    clip = F.resize(clip, out_hw, antialias=True)
    boxes_t = F.resize(boxes_t, out_hw)
    if flip:
        clip, boxes_t = F.horizontal_flip(clip), F.horizontal_flip(boxes_t)
    return ToModelInput(normalization)(clip), boxes_t.as_subclass(Tensor).clone()


def label_proposals(proposals: np.ndarray, boxes: np.ndarray, labels: np.ndarray, background: int,
                    positive_iou: float = 0.5) -> np.ndarray:
    """Each proposal's label: that of the annotated box it overlaps most if the IoU reaches ``positive_iou``,
    else ``background``."""
    if len(proposals) == 0:
        return np.zeros(0, np.int64)
    if len(boxes) == 0:
        return np.full(len(proposals), background, np.int64)
    iou = box_iou(torch.as_tensor(proposals), torch.as_tensor(boxes)).numpy()
    best = iou.argmax(1)
    return np.where(iou.max(1) >= positive_iou, labels[best], background).astype(np.int64)


class BoxClipDataset(Dataset):
    """One item per annotated video (see the module docstring).

    Args:
        items: the videos and their tubes (:func:`~videozoo.data.boxes.load_box_annotations`).
        classes: the action classes; the labels of the boxes index them, and index ``len(classes)`` is
            background.
        num_frames, stride: the clip around the key frame.
        size: the short side clips are resized to.
        normalization: a preset of :data:`~videozoo.data.transforms.NORMALIZATION`.
        train: a random key frame and mirroring (``flip``) and the proposals; else the middle annotated frame.
        proposals: video id → frame → (boxes, scores) of a person detector (:func:`read_proposals`).
        keys_per_video: items (key frames) per video and epoch.
    """

    def __init__(self, items: Sequence[BoxedVideo], classes: Sequence[str], *, num_frames: int = 8,
                 stride: int = 1, size: int = 112, normalization: str = "clip", train: bool = True,
                 flip: bool = False, seed: int = 0, proposals: dict | None = None, positive_iou: float = 0.5,
                 keys_per_video: int = 1, frames_fps: float = 30.0) -> None:
        if keys_per_video < 1:
            raise ValueError(f"keys_per_video must be at least 1, got {keys_per_video}")
        self.items = [item for item in items if item.frames]
        self.classes = list(classes)
        self.num_frames, self.stride, self.size = num_frames, stride, size
        self.normalization = normalization
        self.train, self.flip, self.seed = train, flip, seed
        self.proposals = proposals or {}
        self.positive_iou = positive_iou
        self.keys_per_video = keys_per_video
        self.frames_fps = frames_fps
        self.epoch = 0
        ToModelInput(normalization)  # an unknown preset fails here, not in a worker

    @staticmethod
    def collate(batch: list[dict]) -> dict:
        return collate_boxes(batch)

    @property
    def background(self) -> int:
        return len(self.classes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items) * self.keys_per_video

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        item = self.items[index // self.keys_per_video]
        return load_or_skip(lambda: self._load(index, item, epoch), index, item.path)

    def _load(self, index: int, item: BoxedVideo, epoch: int) -> dict:
        rng = sample_rng(self.seed, epoch, index)
        frames = item.frames
        if self.train:
            key = frames[int(rng.integers(len(frames)))]
        else:  # the k-th of keys_per_video evenly spaced: the middle one for one
            k = index % self.keys_per_video
            key = frames[int((2 * k + 1) * len(frames) // (2 * self.keys_per_video))]
        boxes, labels = item.boxes_at(key)
        if self.train and item.video in self.proposals and key in self.proposals[item.video]:
            extra = self.proposals[item.video][key][0]
            boxes = np.concatenate([boxes, extra])
            labels = np.concatenate([labels, label_proposals(extra, boxes[: len(labels)], labels, self.background,
                                                             self.positive_iou)])
        with open_reader(item.path, frames_fps=self.frames_fps) as video:
            if key >= video.num_frames:
                raise VideoError(f"{item.path}: frame {key} is annotated but the video has {video.num_frames}")
            clip = video.get_frames(key_frame_indices(key, self.num_frames, self.stride, video.num_frames))
        flip = self.train and self.flip and bool(rng.random() < 0.5)
        clip, boxes_t = prepare_clip(clip, boxes, self.size, self.normalization, flip)
        return {"video": clip, "boxes": boxes_t, "label": torch.as_tensor(labels, dtype=torch.long),
                "index": index}


def collate_boxes(batch: list[dict]) -> dict:
    """Clips padded (right and bottom, zeros) to the batch's largest ``(B, C, T, H, W)``; boxes ``(K, 5)`` as
    ``(clip index, x1, y1, x2, y2)``; labels ``(K,)``; unreadable items under ``"skipped"`` as
    :func:`~videozoo.data.datasets.collate_videos` lists them."""
    good = [b for b in batch if not b.get("skipped")]
    out: dict = {"skipped": [(b["index"], b["path"], b["error"]) for b in batch if b.get("skipped")]}
    if not good:
        return out
    height = max(b["video"].shape[-2] for b in good)
    width = max(b["video"].shape[-1] for b in good)
    clips = torch.zeros(len(good), *good[0]["video"].shape[:2], height, width)
    for i, b in enumerate(good):
        clips[i, ..., : b["video"].shape[-2], : b["video"].shape[-1]] = b["video"]
    out["video"] = clips
    out["boxes"] = torch.cat([torch.cat([torch.full((len(b["boxes"]), 1), float(i)), b["boxes"]], 1)
                              for i, b in enumerate(good)])
    out["label"] = torch.cat([b["label"] for b in good])
    out["index"] = torch.tensor([b["index"] for b in good])
    return out
