"""Evaluation with the papers' protocol, and prediction.

Every video is seen as ``clips × crops`` views (the papers: 10 uniformly
spaced clips × 3 crops). *Clip accuracy* scores every view on its own;
*video accuracy* scores the mean of the softmax over all views of a video.
All views go through :class:`~videozoo.engine.predictor.Predictor`, the
fast inference path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data.datasets import SkipLog, VideoDataset, VideoItem, collate_videos
from ..data.decode import VideoError
from ..models.registry import get_entry
from .checkpoint import CheckpointError, load_model, read_checkpoint
from .inputs import InputSettings, settings_from_metadata
from .metrics import confusion_matrix, per_class_accuracy, plot_confusion, topk_correct, write_confusion_csv
from .predictor import Predictor


@dataclass
class EvalResult:
    clip_top1: float
    clip_top5: float
    video_top1: float
    video_top5: float
    num_videos: int
    num_clips: int
    num_skipped: int
    classes: list[str]
    confusion: np.ndarray
    video_probs: np.ndarray  # (num_videos, num_classes): mean softmax over views
    video_labels: np.ndarray
    video_indices: np.ndarray  # dataset indices of the evaluated videos
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def per_class(self) -> dict[str, float]:
        acc = per_class_accuracy(self.confusion)
        return {c: (None if np.isnan(a) else float(a)) for c, a in zip(self.classes, acc, strict=True)}

    def as_dict(self) -> dict:
        return {"clip_top1": self.clip_top1, "clip_top5": self.clip_top5, "video_top1": self.video_top1,
                "video_top5": self.video_top5, "num_videos": self.num_videos, "num_clips": self.num_clips,
                "num_skipped": self.num_skipped, "per_class_top1": self.per_class,
                "skipped": self.skipped}

    def write(self, out: str | os.PathLike) -> Path:
        """metrics.json, per_class.csv, confusion.csv and confusion.png in ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(self.as_dict(), indent=2))
        with (out / "per_class.csv").open("w") as f:
            f.write("class,top1,videos\n")
            for name, acc, n in zip(self.classes, per_class_accuracy(self.confusion), self.confusion.sum(1),
                                    strict=True):
                f.write(f"{name},{'' if np.isnan(acc) else f'{acc:.6f}'},{n}\n")
        write_confusion_csv(out / "confusion.csv", self.confusion, self.classes)
        plot_confusion(out / "confusion.png", self.confusion, self.classes)
        return out


def scores_of_views(predictor: Predictor, views: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """Softmax of every view: ``(N, C, T, H, W)`` → ``(N, num_classes)`` on the CPU, ``chunk`` views per forward
    pass (on the predictor's device)."""
    return torch.cat([predictor(views[i:i + chunk]).softmax(1).cpu() for i in range(0, len(views), chunk)])


def evaluate(model: nn.Module | Predictor, dataset: VideoDataset, *, batch_size: int = 4, num_workers: int = 2,
             progress: bool = False, chunk: int = 16, input_key: str = "video") -> EvalResult:
    """Clip and video accuracy of ``model`` on an eval-mode dataset (``train=False``).

    ``input_key="audio"`` scores an audio model on the dataset's spectrograms (one view per video).
    """
    if dataset.train:
        raise ValueError("evaluate needs an eval-mode dataset (VideoDataset(..., train=False))")
    predictor = model if isinstance(model, Predictor) else Predictor(model)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_videos)
    skips = SkipLog()
    probs, labels, indices = [], [], []
    clip_top1 = clip_top5 = clips = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset), desc="evaluating", unit="video", leave=False)
    for batch in loader:
        skips.record(batch["skipped"])
        if "video" in batch:
            views = batch[input_key] if input_key == "video" else batch[input_key].unsqueeze(1)
            b, v = views.shape[:2]
            scores = scores_of_views(predictor, views.flatten(0, 1), chunk).view(b, v, -1)
            y = batch["label"]
            flat = scores.flatten(0, 1)
            y_views = y.repeat_interleave(v)
            clip_top1 += topk_correct(flat, y_views, 1).sum().item()
            clip_top5 += topk_correct(flat, y_views, 5).sum().item()
            clips += b * v
            probs.append(scores.mean(1))
            labels.append(y)
            indices.append(batch["index"])
        if bar is not None:
            bar.update(len(batch["skipped"]) + (len(batch["label"]) if "label" in batch else 0))
    if bar is not None:
        bar.close()
    k = len(dataset.classes)
    video_probs = torch.cat(probs) if probs else torch.zeros(0, k)
    video_labels = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    n = len(video_labels)
    matrix = confusion_matrix(video_labels.tolist(), video_probs.argmax(1).tolist(), k)
    return EvalResult(
        clip_top1=clip_top1 / max(clips, 1), clip_top5=clip_top5 / max(clips, 1),
        video_top1=topk_correct(video_probs, video_labels, 1).float().mean().item() if n else 0.0,
        video_top5=topk_correct(video_probs, video_labels, 5).float().mean().item() if n else 0.0,
        num_videos=n, num_clips=clips, num_skipped=len(skips), classes=list(dataset.classes), confusion=matrix,
        video_probs=video_probs.numpy(), video_labels=video_labels.numpy(),
        video_indices=torch.cat(indices).numpy() if indices else np.zeros(0, int), skipped=dict(skips.errors),
    )


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder's best (else last) checkpoint."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path} holds no best.safetensors or last.safetensors")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def load_for_inference(path: str | os.PathLike) -> tuple[nn.Module, list[str], InputSettings]:
    """Model, class names and input settings of a checkpoint or run folder."""
    ckpt = resolve_checkpoint(path)
    model = load_model(ckpt)
    _, metadata = read_checkpoint(ckpt)
    settings = settings_from_metadata(metadata)
    if settings is None:  # a converted or hand-saved checkpoint: the model's default clip
        entry = get_entry(model.arch)
        t, h, _ = entry.default_clip
        from .config import DataConfig
        from .inputs import resolve_inputs

        settings = resolve_inputs(DataConfig(num_frames=t, crop=h), model.arch, [])
    classes = model.classes or [str(i) for i in range(model.num_classes)]
    return model, classes, settings


def predict_video(predictor: Predictor, video: str | os.PathLike, classes: list[str], settings: InputSettings,
                  clips: int = 3, top: int = 5) -> list[tuple[str, float]]:
    """Top-``top`` classes of one video with their probabilities (mean softmax over ``clips`` centre crops)."""
    dataset = VideoDataset([VideoItem(str(video), 0)], classes, settings.sampling, settings.transform(1),
                           train=False, num_clips=clips)
    item = dataset[0]
    if item.get("skipped"):
        raise VideoError(item["error"])
    probs = scores_of_views(predictor, item["video"]).mean(0)
    best = probs.topk(min(top, len(classes)))
    return [(classes[i], float(p)) for p, i in zip(best.values, best.indices, strict=True)]


def fuse_streams(results: dict[str, EvalResult], weights: dict[str, float] | None = None) -> dict:
    """Score fusion of separately trained streams (RGB + flow, + audio): the weighted mean of their video-level
    softmax over the videos every stream could read. Returns per-stream and fused video accuracy."""
    names = list(results)
    common = set.intersection(*(set(r.video_indices.tolist()) for r in results.values()))
    order = sorted(common)
    weights = weights or {n: 1.0 for n in names}
    fused = None
    labels = None
    per_stream = {}
    for name in names:
        r = results[name]
        row = {int(v): i for i, v in enumerate(r.video_indices)}
        probs = torch.from_numpy(r.video_probs[[row[v] for v in order]])
        labels = torch.from_numpy(r.video_labels[[row[v] for v in order]])
        per_stream[name] = {"video_top1": topk_correct(probs, labels, 1).float().mean().item(),
                            "video_top5": topk_correct(probs, labels, 5).float().mean().item(),
                            "clip_top1": r.clip_top1, "weight": weights[name]}
        fused = probs * weights[name] if fused is None else fused + probs * weights[name]
    return {"streams": per_stream, "num_videos": len(order),
            "fused": {"video_top1": topk_correct(fused, labels, 1).float().mean().item() if order else 0.0,
                      "video_top5": topk_correct(fused, labels, 5).float().mean().item() if order else 0.0}}
