"""Evaluation with the papers' protocol, and prediction.

Every video is seen as ``clips × crops`` views (the papers: 10 uniformly
spaced clips × 3 crops). *Clip accuracy* scores every view on its own;
*video accuracy* scores the mean of the softmax over all views of a video.
A multi-label model (trained on AudioSet-style lists) is scored by sigmoid
instead, and multi-label data by the mean average precision of the
video-level scores (mAP, the AudioSet and G-Blend papers' measure) beside
hit@1 / hit@5 (a top class among the video's). All views go through
:class:`~videozoo.engine.predictor.Predictor`, the fast inference path.
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

from ..data.datasets import AudioConfig, SkipLog, VideoDataset, VideoItem, collate_videos
from ..data.decode import VideoError
from ..models.detection import ActionDetector
from ..models.registry import get_entry
from .checkpoint import CheckpointError, load_model, read_checkpoint
from .inputs import (
    InputSettings,
    audio_from_metadata,
    modality_keys,
    multimodal_dataset,
    paired_views,
    settings_from_metadata,
)
from .metrics import (
    average_precisions,
    class_scores,
    confusion_matrix,
    is_multihot,
    is_multilabel_model,
    mean_average_precision,
    mean_of_aps,
    per_class_accuracy,
    plot_confusion,
    topk_correct,
    write_confusion_csv,
)
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
    confusion: np.ndarray  # (classes, classes); empty for multi-label data
    video_probs: np.ndarray  # (num_videos, num_classes): mean softmax (sigmoid: multi-label) over views
    video_labels: np.ndarray  # (num_videos,) class indices, or (num_videos, num_classes) multi-hot
    video_indices: np.ndarray  # dataset indices of the evaluated videos
    skipped: dict[str, str] = field(default_factory=dict)
    class_ap: np.ndarray | None = None  # multi-label data: each class's video-level AP (NaN: no positive)

    @property
    def multilabel(self) -> bool:
        return self.class_ap is not None

    @property
    def video_map(self) -> float:
        """Mean average precision over the classes with a positive video (multi-label data; else NaN)."""
        return float("nan") if self.class_ap is None else mean_of_aps(self.class_ap)

    @property
    def per_class(self) -> dict[str, float]:
        """Per class: top-1 accuracy, or for multi-label data average precision (None: no video of it)."""
        values = self.class_ap if self.multilabel else per_class_accuracy(self.confusion)
        return {c: (None if np.isnan(a) else float(a)) for c, a in zip(self.classes, values, strict=True)}

    def as_dict(self) -> dict:
        out = {"clip_top1": self.clip_top1, "clip_top5": self.clip_top5, "video_top1": self.video_top1,
               "video_top5": self.video_top5, "num_videos": self.num_videos, "num_clips": self.num_clips,
               "num_skipped": self.num_skipped}
        if self.multilabel:  # top-k are hits: a top class among the video's
            out.update(video_map=self.video_map, per_class_ap=self.per_class)
        else:
            out["per_class_top1"] = self.per_class
        return {**out, "skipped": self.skipped}

    def write(self, out: str | os.PathLike) -> Path:
        """metrics.json, per_class.csv, confusion.csv and confusion.png in ``out`` (multi-label: per-class AP and
        positives, no confusion matrix)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(self.as_dict(), indent=2))
        if self.multilabel:
            with (out / "per_class.csv").open("w") as f:
                f.write("class,ap,videos\n")
                for name, ap, n in zip(self.classes, self.class_ap, self.video_labels.sum(0), strict=True):
                    f.write(f"{name},{'' if np.isnan(ap) else f'{ap:.6f}'},{int(n)}\n")
            return out
        with (out / "per_class.csv").open("w") as f:
            f.write("class,top1,videos\n")
            for name, acc, n in zip(self.classes, per_class_accuracy(self.confusion), self.confusion.sum(1),
                                    strict=True):
                f.write(f"{name},{'' if np.isnan(acc) else f'{acc:.6f}'},{n}\n")
        write_confusion_csv(out / "confusion.csv", self.confusion, self.classes)
        plot_confusion(out / "confusion.png", self.confusion, self.classes)
        return out


def scores_of_views(predictor: Predictor, views: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """Probabilities of every view: ``(N, C, T, H, W)`` → ``(N, num_classes)`` on the CPU (softmax, or sigmoid for a
    multi-label model), ``chunk`` views per forward pass (on the predictor's device)."""
    multilabel = is_multilabel_model(predictor.model)
    return torch.cat([class_scores(predictor(views[i:i + chunk]), multilabel).cpu()
                      for i in range(0, len(views), chunk)])


def video_hits(probs: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Top-1 and top-5 of video-level probabilities ``(N, classes)`` (hits for multi-hot labels); 0 for no video."""
    if not len(labels):
        return 0.0, 0.0
    return tuple(topk_correct(probs, labels, k).float().mean().item() for k in (1, 5))


class _Tally:
    """One head's view scores, accumulated batch by batch."""

    def __init__(self) -> None:
        self.probs: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        self.indices: list[torch.Tensor] = []
        self.top1 = self.top5 = self.clips = 0

    def add(self, scores: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> None:
        """``scores``: probabilities ``(B, views, classes)``; ``labels``: ``(B,)`` or multi-hot ``(B, classes)``;
        ``indices``: ``(B,)``."""
        b, v = scores.shape[:2]
        flat, y_views = scores.flatten(0, 1), labels.repeat_interleave(v, dim=0)
        self.top1 += topk_correct(flat, y_views, 1).sum().item()
        self.top5 += topk_correct(flat, y_views, 5).sum().item()
        self.clips += b * v
        self.probs.append(scores.mean(1))
        self.labels.append(labels)
        self.indices.append(indices)

    def result(self, classes: list[str], skips: SkipLog) -> EvalResult:
        k = len(classes)
        video_probs = torch.cat(self.probs) if self.probs else torch.zeros(0, k)
        video_labels = torch.cat(self.labels) if self.labels else torch.zeros(0, dtype=torch.long)
        n = len(video_labels)
        video_top1, video_top5 = video_hits(video_probs, video_labels)
        class_ap = None
        if is_multihot(video_labels):
            matrix = np.zeros((0, 0), np.int64)
            class_ap = average_precisions(video_probs.numpy(), video_labels.numpy())
        else:
            matrix = confusion_matrix(video_labels.tolist(), video_probs.argmax(1).tolist(), k)
        return EvalResult(
            clip_top1=self.top1 / max(self.clips, 1), clip_top5=self.top5 / max(self.clips, 1),
            video_top1=video_top1, video_top5=video_top5,
            num_videos=n, num_clips=self.clips, num_skipped=len(skips), classes=list(classes), confusion=matrix,
            video_probs=video_probs.numpy(), video_labels=video_labels.numpy(),
            video_indices=torch.cat(self.indices).numpy() if self.indices else np.zeros(0, int),
            skipped=dict(skips.errors), class_ap=class_ap,
        )


def _evaluate_heads(dataset: VideoDataset, heads: list[str], score, *, batch_size: int, num_workers: int,
                    progress: bool) -> dict[str, EvalResult]:
    """Run ``score(batch) → {head: probabilities (B, views, classes)}`` over an eval-mode dataset; a result per
    head."""
    if dataset.train:
        raise ValueError("evaluate needs an eval-mode dataset (VideoDataset(..., train=False))")
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_videos)
    skips = SkipLog()
    tallies = {h: _Tally() for h in heads}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset), desc="evaluating", unit="video", leave=False)
    for batch in loader:
        skips.record(batch["skipped"])
        if "label" in batch:
            for h, scores in score(batch).items():
                tallies[h].add(scores, batch["label"], batch["index"])
        if bar is not None:
            bar.update(len(batch["skipped"]) + (len(batch["label"]) if "label" in batch else 0))
    if bar is not None:
        bar.close()
    return {h: t.result(dataset.classes, skips) for h, t in tallies.items()}


def evaluate(model: nn.Module | Predictor, dataset: VideoDataset, *, batch_size: int = 4, num_workers: int = 2,
             progress: bool = False, chunk: int = 16, input_key: str = "video") -> EvalResult:
    """Clip and video accuracy of ``model`` on an eval-mode dataset (``train=False``).

    ``input_key="audio"`` scores an audio model on the dataset's spectrograms (one view per clip).
    """
    predictor = model if isinstance(model, Predictor) else Predictor(model)

    def score(batch: dict) -> dict[str, torch.Tensor]:
        views = batch[input_key]
        b, v = views.shape[:2]
        return {"": scores_of_views(predictor, views.flatten(0, 1), chunk).view(b, v, -1)}

    return _evaluate_heads(dataset, [""], score, batch_size=batch_size, num_workers=num_workers,
                           progress=progress)[""]


def _modality_keys(net: nn.Module, dataset: VideoDataset) -> dict[str, str]:
    if not net.modalities:
        raise ValueError(f"{getattr(net, 'arch', type(net).__name__)} is not a multi-modal model; use evaluate")
    return modality_keys(net.modalities, dataset)


def multimodal_scores(predictor: Predictor, batch: dict, keys: dict[str, str], chunk: int = 16
                      ) -> dict[str, torch.Tensor]:
    """Probabilities ``(B, views, classes)`` (softmax; sigmoid for a multi-label model) of every head of a
    multi-modal predictor on a batch of eval items (views paired as :func:`~videozoo.engine.inputs.paired_views`
    says: a clip's sound goes with every crop of it)."""
    flat, v = paired_views(batch, keys)
    b = len(batch["label"])
    multilabel = is_multilabel_model(predictor.model)
    outs = [predictor({m: x[i:i + chunk] for m, x in flat.items()}) for i in range(0, b * v, chunk)]
    return {h: torch.cat([class_scores(o[h], multilabel).cpu() for o in outs]).view(b, v, -1) for h in outs[0]}


def evaluate_multimodal(model: nn.Module | Predictor, dataset: VideoDataset, *, batch_size: int = 4,
                        num_workers: int = 2, progress: bool = False, chunk: int = 16) -> dict[str, EvalResult]:
    """Clip and video accuracy of every head of a multi-modal (late-fusion) model: each modality's and
    ``"fused"``, on an eval-mode dataset from :func:`~videozoo.engine.inputs.multimodal_dataset` (see
    :func:`multimodal_scores` for how the views pair up)."""
    predictor = model if isinstance(model, Predictor) else Predictor(model)
    keys = _modality_keys(predictor.model, dataset)
    return _evaluate_heads(dataset, list(predictor.model.head_names),
                           lambda batch: multimodal_scores(predictor, batch, keys, chunk), batch_size=batch_size,
                           num_workers=num_workers, progress=progress)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, a run folder's best (else last) checkpoint, or published weights by tag
    (``MODEL.PRETRAINING``: downloaded and converted the first time)."""
    path = Path(path)
    if not path.exists():
        from ..weights.hub import resolve_weights

        path = resolve_weights(path)
    if path.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path} holds no best.safetensors or last.safetensors")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def load_for_inference(path: str | os.PathLike, *, classify: bool = True, detector: bool = False
                       ) -> tuple[nn.Module, list[str], InputSettings]:
    """Model, class names and input settings of a checkpoint or run folder. ``classify``: refuse a backbone
    without a classifier (eval and predict need one; feature extraction does not). ``detector``: an action
    detector is wanted (``videozoo detect``), and only then accepted."""
    ckpt = resolve_checkpoint(path)
    model = load_model(ckpt)
    is_detector = isinstance(model, ActionDetector)
    if is_detector != detector:
        raise CheckpointError(f"{ckpt} is an action detector: use it with `videozoo detect`" if is_detector else
                              f"{ckpt} is a video classifier, not an action detector (train one on actor boxes: "
                              "`videozoo train --data BOXES.csv`)")
    if classify and model.num_classes == 0:
        raise CheckpointError(f"{ckpt} is a backbone without a classifier: fine-tune it first "
                              "(videozoo train --finetune), or extract features with it")
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


def audio_settings_of(path: str | os.PathLike) -> AudioConfig:
    """The spectrogram settings of a checkpoint or run folder (a multi-modal run's; else the defaults)."""
    return audio_from_metadata(read_checkpoint(resolve_checkpoint(path))[1])


def predict_video(predictor: Predictor, video: str | os.PathLike, classes: list[str], settings: InputSettings,
                  clips: int = 3, top: int = 5, audio: AudioConfig | None = None) -> list[tuple[str, float]]:
    """Top-``top`` classes of one video with their probabilities (mean softmax over ``clips`` centre crops; for
    a multi-modal model its prediction head's, with ``audio`` its spectrogram settings)."""
    items = [VideoItem(str(video), 0)]
    net = predictor.model
    if net.modalities:
        dataset = multimodal_dataset(items, classes, settings, net.modalities, train=False, num_clips=clips,
                                     audio=audio or AudioConfig())
    else:
        dataset = VideoDataset(items, classes, settings.sampling, settings.transform(1), train=False,
                               num_clips=clips)
    item = dataset[0]
    if item.get("skipped"):
        raise VideoError(item["error"])
    if net.modalities:
        scores = multimodal_scores(predictor, collate_videos([item]), _modality_keys(net, dataset))
        probs = scores[net.predict_head][0].mean(0)
    else:
        probs = scores_of_views(predictor, item["video"]).mean(0)
    best = probs.topk(min(top, len(classes)))
    return [(classes[i], float(p)) for p, i in zip(best.values, best.indices, strict=True)]


def _video_scores(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Video top-1 / top-5 (hits for multi-label data, with the mAP) of video-level probabilities."""
    top1, top5 = video_hits(probs, labels)
    out = {"video_top1": top1, "video_top5": top5}
    if len(labels) and is_multihot(labels):
        out["video_map"] = mean_average_precision(probs.numpy(), labels.numpy())
    return out


def fuse_streams(results: dict[str, EvalResult], weights: dict[str, float] | None = None) -> dict:
    """Score fusion of separately trained streams (RGB + flow, + audio): the weighted mean of their video-level
    probabilities over the videos every stream could read. Returns per-stream and fused video accuracy (and mAP
    for multi-label data)."""
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
        per_stream[name] = {**_video_scores(probs, labels), "clip_top1": r.clip_top1, "weight": weights[name]}
        fused = probs * weights[name] if fused is None else fused + probs * weights[name]
    return {"streams": per_stream, "num_videos": len(order), "fused": _video_scores(fused, labels)}
