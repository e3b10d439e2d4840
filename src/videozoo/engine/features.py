"""Features of any named layer, per clip, and linear classifiers on them: the C3D protocol for every model.

``extract_features(model, dataset, layer)`` runs an eval-mode dataset
(``num_clips`` clips per video, each the mean over its crops) through the
model and returns a :class:`Features` table: one row per clip (or per video
with ``average=True``), with the video's dataset index, clip number, label
and path beside every row, so rows stay aligned with videos when some are
skipped. Layers: ``"pooled"`` (``forward_features``), C3D's ``"fc6"``,
``"fc7"``, ``"pool5"``, or the name of any module (``"layer3"``,
``"features.Mixed_4f"``), globally average-pooled.

A multi-modal (late-fusion) model gives, by ``modality``, the fused
features (``"fused"``: every backbone's pooled feature, concatenated: what
its fused head sees) or one backbone's (``"rgb"``, ``"audio"``, ``"flow"``;
any layer of that backbone), from each clip's frames and its own sound.

Features save to one ``.npz`` (plus an index CSV beside it); extraction
writes parts as it goes, so a killed run continues where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from ..data.datasets import SkipLog, VideoDataset, collate_videos
from ..models.base import VideoNet
from ..models.multimodal import FUSED
from .checkpoint import atomic_write
from .inputs import modality_keys, paired_views
from .predictor import Predictor


def layer_output(model: VideoNet, x: Tensor, layer: str) -> Tensor:
    """``(B, C, T, H, W)`` clips → ``(B, D)`` features of ``layer`` (a 5-D map is averaged over T, H, W)."""
    if layer == "pooled":
        return model.forward_features(x)
    if layer in model.feature_layers:  # C3D's fc6 / fc7 / pool5
        return model.forward_features(x, layer=layer)
    modules = dict(model.named_modules())
    if layer not in modules:
        named = [n for n, m in model.named_children()]
        raise ValueError(f"{getattr(model, 'arch', type(model).__name__)} has no layer {layer!r}; use 'pooled'"
                         f"{''.join(', ' + name for name in model.feature_layers)}"
                         f" or a module name such as {', '.join(named[:6])}")
    fused_away = (f"layer {layer!r} does not run on its own on this Predictor's fused path: ask for its block, "
                  "or build the Predictor with fuse_convs=False")
    if getattr(modules[layer], "joins_residual", False):  # its output is its block's (engine/onednn.py)
        raise ValueError(fused_away)
    captured: list[Tensor] = []
    handle = modules[layer].register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        model(x)
    finally:
        handle.remove()
    if not captured:  # a Sequential inside a fused block's branch: its units run one by one
        raise ValueError(fused_away)
    out = captured[0]
    return out.mean(dim=tuple(range(2, out.ndim))) if out.ndim > 2 else out


@dataclass
class Features:
    """Rows of features with their provenance; ``clip == -1`` marks a video-level (averaged) row."""

    features: np.ndarray  # (rows, D) float32
    video: np.ndarray  # dataset index of the row's video
    clip: np.ndarray
    label: np.ndarray
    path: np.ndarray  # (rows,) str
    classes: list[str]
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.features)

    def save(self, path: str | os.PathLike) -> Path:
        """``path`` (.npz) and ``path`` with ``.csv``: the index (row, video, clip, label, path)."""
        path = Path(path)
        atomic_write(path, lambda tmp: _savez(tmp, self))
        index = path.with_suffix(".csv")

        def write_index(tmp: Path) -> None:
            with tmp.open("w") as f:
                f.write("row,video,clip,label,path\n")
                for i, (v, c, y, p) in enumerate(zip(self.video, self.clip, self.label, self.path, strict=True)):
                    f.write(f"{i},{v},{c},{self.classes[y]},{p}\n")

        atomic_write(index, write_index)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Features:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"feature file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["features"], z["video"], z["clip"], z["label"], z["path"], list(z["classes"]),
                           json.loads(str(z["info"])))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path} is not a videozoo feature file: {' '.join(str(e).split())}") from None

    @classmethod
    def concat(cls, parts: list[Features]) -> Features:
        first = parts[0]
        parts = [p for p in parts if len(p)] or [first]
        return cls(np.concatenate([p.features for p in parts]), np.concatenate([p.video for p in parts]),
                   np.concatenate([p.clip for p in parts]), np.concatenate([p.label for p in parts]),
                   np.concatenate([p.path for p in parts]), first.classes, first.info)


def _savez(path: Path, f: Features) -> None:
    with path.open("wb") as handle:
        np.savez(handle, features=f.features, video=f.video, clip=f.clip, label=f.label,
                 path=np.asarray(f.path, dtype=str), classes=np.asarray(f.classes, dtype=str),
                 info=np.asarray(json.dumps(f.info)))


def _rows(feats: Tensor, indices: Tensor, labels: Tensor, paths: list[str], clips: int, average: bool,
          l2: bool) -> tuple:
    """(B·clips, D) → rows, averaged per video when asked, L2-normalised when asked. Multi-hot labels (multi-label
    data) are stored as the video's lowest-numbered class: a feature row has one label (linear evaluation is
    single-label)."""
    b = len(indices)
    if labels.dim() == 2:
        labels = labels.argmax(1)
    feats = feats.view(b, clips, -1)
    if average:
        feats, clip_ids = feats.mean(1, keepdim=True), torch.full((b, 1), -1)
    else:
        clip_ids = torch.arange(clips).expand(b, clips)
    if l2:
        feats = torch.nn.functional.normalize(feats, dim=-1)
    n = feats.shape[1]
    return (feats.reshape(b * n, -1).numpy().astype(np.float32), indices.repeat_interleave(n).numpy(),
            clip_ids.reshape(-1).numpy(), labels.repeat_interleave(n).numpy(),
            np.asarray([p for p in paths for _ in range(n)], dtype=str))


def _multimodal_layer(model: nn.Module, dataset: VideoDataset, layer: str, modality: str
                      ) -> tuple[dict[str, str], Callable[[dict[str, Tensor]], Tensor]]:
    """What a multi-modal model's ``modality`` features read (modality → the dataset's key) and how to get them."""
    if modality == FUSED:
        if layer != "pooled":
            raise ValueError(f"the fused features are the backbones' pooled features, concatenated: layer 'pooled', "
                             f"not {layer!r} (for a backbone's layers give a modality: "
                             f"{', '.join(model.modalities)})")
        return modality_keys(model.modalities, dataset), model.forward_features
    if modality not in model.modalities:
        raise ValueError(f"the model's modalities are {', '.join(model.modalities)} and {FUSED}, not {modality!r}")
    backbone = model.backbones[modality]
    _check_layer(backbone, layer)
    return modality_keys([modality], dataset), lambda x: layer_output(backbone, x[modality], layer)


def _predictor_for(model: nn.Module | Predictor, layer: str, precision: str, backend: str) -> Predictor:
    if isinstance(model, Predictor):
        return model
    if backend == "openvino":
        if layer != "pooled" or getattr(model, "modalities", ()):
            raise ValueError("the OpenVINO backend extracts the pooled features of a single-input model; "
                             f"layer {layer!r} of {getattr(model, 'arch', type(model).__name__)}: use the "
                             "PyTorch backend")
        return Predictor(model, precision, backend="openvino")
    if precision == "fp32":
        return Predictor(model, "fp32", fold_bn=False, channels_last=False)
    # A layer inside a block may be fused away (engine/onednn.py); the pooled features and whole blocks are not.
    return Predictor(model, precision, fuse_convs=layer == "pooled" or layer in getattr(model, "feature_layers", ()))


def _forward_for(predictor: Predictor, dataset: VideoDataset, layer: str, modality: str | None):
    """(a multi-modal model's input keys or None, views → ``layer``'s output ``(N, D)`` on the predictor's path)."""
    keys, fn = _feature_fn(predictor.model, dataset, layer, modality)
    if predictor.backend == "openvino" and layer == "pooled" and keys is None:
        return keys, predictor.features
    return keys, lambda x: predictor.run(fn, x)


def extract_features(model: nn.Module | Predictor, dataset: VideoDataset, layer: str = "pooled", *,
                     modality: str | None = None, average: bool = False, l2: bool = False, batch_size: int = 4,
                     num_workers: int = 2, precision: str = "auto", parts: str | os.PathLike | None = None,
                     part_size: int = 64, progress: bool = False, skip_log: SkipLog | None = None,
                     backend: str = "pytorch") -> Features:
    """Features of ``layer`` for every clip of an eval-mode ``dataset`` (see the module docstring).

    ``modality`` (a multi-modal model only; default ``"fused"``): whose features. ``precision="fp32"`` runs the
    model unchanged (no BN folding, contiguous layout): features then equal a plain forward pass exactly.
    ``parts``: a folder for partial results, making extraction resumable. ``backend="openvino"`` (CPU, the
    pooled features of a single-input model): the model's ``forward_features`` exported to ONNX and run by
    OpenVINO.
    """
    if dataset.train:
        raise ValueError("extract_features needs an eval-mode dataset (VideoDataset(..., train=False))")
    predictor = _predictor_for(model, layer, precision, backend)
    if predictor.model.modalities:
        modality = modality or FUSED
    keys, forward = _forward_for(predictor, dataset, layer, modality)
    skips = skip_log or SkipLog()
    part_dir = Path(parts) if parts is not None else None
    done, todo = _resume_parts(part_dir, len(dataset))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset), initial=len(dataset) - len(todo), desc=f"extracting {layer}", unit="video")
    for start in range(0, len(todo), part_size):
        chunk = todo[start:start + part_size]
        loader = DataLoader(Subset(dataset, chunk), batch_size=batch_size, num_workers=num_workers,
                            collate_fn=collate_videos)
        pieces = []
        for batch in loader:
            skips.record(batch["skipped"])
            if "label" in batch:
                pieces.append(_batch_rows(forward, keys, batch, dataset, average, l2))
            if bar is not None:
                bar.update(len(batch["skipped"]) + (len(batch["label"]) if "label" in batch else 0))
        part = _from_pieces(pieces, dataset.classes, {"videos": chunk})
        if part_dir is not None:
            part.save(part_dir / f"part_{len(done):05d}.npz")
        done.append(part)
    if bar is not None:
        bar.close()
    result = Features.concat(done) if done else _from_pieces([], dataset.classes, {})
    order = np.lexsort((result.clip, result.video))
    result = Features(result.features[order], result.video[order], result.clip[order], result.label[order],
                      result.path[order], list(dataset.classes))
    result.info = {"layer": layer, "modality": modality, "clips": dataset.num_clips, "average": average, "l2": l2,
                   "precision": predictor.precision, "backend": predictor.backend,
                   "model": getattr(predictor.model, "arch", None),
                   "skipped": dict(skips.errors), "num_videos": int(len(np.unique(result.video)))}
    return result


def _feature_fn(net: nn.Module, dataset: VideoDataset, layer: str, modality: str | None):
    """(a multi-modal model's input keys or None, the function from the model's input to ``layer``'s output)."""
    if net.modalities:
        return _multimodal_layer(net, dataset, layer, modality)
    if modality is not None:
        raise ValueError(f"modality is for a multi-modal model; {getattr(net, 'arch', type(net).__name__)} "
                         "takes one input")
    _check_layer(net, layer)

    def fn(x: Tensor) -> Tensor:
        return layer_output(net, x, layer)

    return None, fn


def _resume_parts(part_dir: Path | None, count: int) -> tuple[list[Features], list[int]]:
    """The parts already extracted into ``part_dir`` and the video indices still to do."""
    todo = list(range(count))
    if part_dir is None:
        return [], todo
    part_dir.mkdir(parents=True, exist_ok=True)
    done = [Features.load(p) for p in sorted(part_dir.glob("part_*.npz"))]
    finished = {int(i) for f in done for i in f.info.get("videos", [])}
    return done, [i for i in todo if i not in finished]


def _batch_rows(forward, keys: dict | None, batch: dict, dataset: VideoDataset, average: bool, l2: bool) -> tuple:
    """One batch's feature rows: every view through ``forward`` (views → ``(N, D)``), a clip's crops averaged."""
    if keys is not None:
        x, v = paired_views(batch, keys)
    else:
        x, v = batch["video"].flatten(0, 1), batch["video"].shape[1]
    b, crops = len(batch["label"]), v // dataset.num_clips
    views = forward(x).cpu()  # (b·clips·crops, D)
    per_clip = views.view(b * dataset.num_clips, crops, -1).mean(1)
    paths = [dataset.items[i].path for i in batch["index"].tolist()]
    return _rows(per_clip, batch["index"], batch["label"], paths, dataset.num_clips, average, l2)


def _from_pieces(pieces: list[tuple], classes: list[str], info: dict) -> Features:
    if not pieces:
        return Features(np.zeros((0, 0), np.float32), np.zeros(0, int), np.zeros(0, int), np.zeros(0, int),
                        np.zeros(0, dtype=str), list(classes), info)
    cols = list(zip(*pieces, strict=True))
    return Features(*(np.concatenate(c) for c in cols), list(classes), info)


def _check_layer(model: VideoNet, layer: str) -> None:
    if layer == "pooled" or layer in model.feature_layers:
        return
    if layer not in dict(model.named_modules()):
        layer_output(model, torch.empty(0), layer)  # raises the ValueError that lists the choices


def finish_parts(parts: str | os.PathLike) -> None:
    shutil.rmtree(parts, ignore_errors=True)
