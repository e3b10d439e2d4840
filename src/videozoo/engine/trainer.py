"""Training: one function, :func:`train`, from a :class:`~videozoo.engine.config.RunConfig` to a run folder.

The run folder (``cfg.out``) holds ``config.yaml`` (the full resolved
config), ``classes.txt``, ``metrics.csv``, TensorBoard events, ``curves.png``,
and ``last.safetensors`` / ``best.safetensors``: self-describing checkpoints
(architecture, weights, classes, input settings) that also carry the
optimizer, scheduler, epoch and RNG state, written atomically every epoch
and at the best validation score. ``train(cfg, resume=True)`` continues a
killed run from ``last.safetensors`` so that the rest of the run is what it
would have been.

Determinism: the sample order of an epoch comes from (seed, epoch), every
clip's random choices from (seed, epoch, video), and the torch RNG state is
saved with each checkpoint.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data.boxes import box_format_of
from ..data.datasets import VideoDataset, data_root_of, is_multilabel, load_items, read_classes, write_classes
from ..data.transforms import PER_CLIP
from ..models.registry import create_model, get_entry
from . import distributed as dist_utils
from .checkpoint import (
    checkpoint_classes,
    load_state_checked,
    model_state,
    read_checkpoint,
    read_training_checkpoint,
    remove_stale_temporaries,
    save_training_checkpoint,
)
from .config import BOX_FORMATS, ConfigError, RunConfig, check_config, config_from_yaml, config_to_yaml
from .core import TrainingCore
from .inputs import InputSettings, audio_from_metadata, check_model_accepts, resolve_inputs, settings_from_metadata
from .metrics import classification_loss, plot_curves

log = logging.getLogger("videozoo.train")

METRIC_FIELDS = ("epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "val_map",
                 "clips_per_s", "skipped", "seconds")


@dataclass
class RunResult:
    out: Path
    epochs_done: int
    best_epoch: int | None
    best_score: float | None
    metrics: list[dict] = field(default_factory=list)
    skipped: int = 0
    measure: str = "top-1"  # what best_score is: top-1, or validation mAP for multi-label data


def resume_config(out: str | os.PathLike, epochs: int | None = None) -> RunConfig:
    """The saved config of the run in ``out``; ``epochs``, when given, replaces its epoch count (a resumed run
    may train for longer)."""
    out = Path(out)
    path = out / "config.yaml"
    if not (out / "last.safetensors").is_file() or not path.is_file():
        raise ConfigError(f"nothing to resume in {out}: no last.safetensors and config.yaml")
    remove_stale_temporaries(out)  # a run killed mid-write left its half-written file
    saved = config_from_yaml(path.read_text())
    saved.out = str(out)
    if epochs is not None:
        saved.train.epochs = epochs
    return saved


def restore_training_state(out: str | os.PathLike, model: nn.Module, classes: list[str], data: str | None,
                           multimodal: bool = False) -> tuple[dict, dict]:
    """Load the model weights and the torch RNG of the run in ``out`` (its ``last.safetensors``, which must be
    for the same ``classes`` as the data list ``data``); return its other states (optimizer …) and its info."""
    path = Path(out) / "last.safetensors"
    states, info, metadata = read_training_checkpoint(path)
    if multimodal and "phase_index" not in info:
        raise ConfigError(f"{path} is not a multi-modal training checkpoint; resume it without blend.modalities")
    if checkpoint_classes(metadata) != classes:
        raise ConfigError(f"{path} was trained on other classes than {data} lists")
    tensors, _ = read_checkpoint(path)
    load_state_checked(model, model_state(tensors), source=str(path))
    torch.set_rng_state(states["rng"]["torch"])
    return states, info


def finetune_source(finetune: str, architectures: tuple[str, ...], described: str | None = None) -> dict:
    """The checkpoint that ``train.finetune`` names (a path or a weights tag), read once: its path,
    architecture, model state, the overrides its architecture was built with and the input settings it
    carries (None for a hand-saved one). One of an architecture not in ``architectures`` is refused here,
    before its overrides are used (``described``: how the message names them, if not one by one)."""
    from ..weights.hub import resolve_weights

    path = resolve_weights(finetune)
    tensors, metadata = read_checkpoint(path)
    arch = metadata["architecture"]
    if arch not in architectures:
        raise ConfigError(f"train.finetune: {path} is a {arch} checkpoint, the model is "
                          f"{described or ' or '.join(architectures)}")
    return {"path": str(path), "arch": arch, "state": model_state(tensors),
            "overrides": json.loads(metadata.get("overrides", "{}")), "settings": settings_from_metadata(metadata),
            "audio": audio_from_metadata(metadata) if "audio_settings" in metadata else None}


def load_backbone(model: nn.Module, start: dict, prefix: str = "") -> None:
    """The fine-tune checkpoint's weights, but for its classifier (the new classes keep a fresh one), into
    ``model`` (or its submodule at ``prefix``, e.g. ``backbones.rgb.``)."""
    target = model.get_submodule(prefix.rstrip(".")) if prefix else model
    state = {k: v for k, v in start["state"].items() if not k.startswith(("head.", "heads.", "fused_head."))}
    own_head = {k: v for k, v in target.state_dict().items() if k.startswith(("head.", "heads.", "fused_head."))}
    load_state_checked(target, {**state, **own_head}, source=start["path"], source_arch=start["arch"])


class Trainer:
    """A single-network run on :class:`~videozoo.engine.core.TrainingCore`; :func:`train` is the way to use it."""

    def __init__(self, cfg: RunConfig, resume: bool = False) -> None:
        self.out = Path(cfg.out)
        if resume:
            cfg = resume_config(cfg.out, cfg.train.epochs)
        check_config(cfg)
        self.cfg = cfg
        torch.manual_seed(cfg.train.seed)
        d = cfg.data
        self._load_lists()
        self.multilabel = is_multilabel(self.train_items)  # AudioSet-style: sigmoid per class, BCE and mAP
        start = finetune_source(cfg.train.finetune, (cfg.model.name,)) if cfg.train.finetune and not resume else None
        if start is not None and d.normalization is None and start["settings"] is not None:
            d.normalization = start["settings"].normalization  # the preprocessing the weights were trained with
        if start is None and d.normalization is None and d.modality == "rgb":
            d.normalization = PER_CLIP  # from scratch: each clip standardised on its own (see data.transforms)
        self.inputs: InputSettings = resolve_inputs(d, cfg.model.name, self.train_items)
        # config.yaml records what the run used, not what was left to defaults.
        d.crop, d.normalization = self.inputs.crop, self.inputs.normalization
        d.resize_hw = list(self.inputs.resize_hw) if self.inputs.resize_hw else None

        self.core = TrainingCore(cfg, self._build_model(start), self.out)
        self.model, self.device, self.precision = self.core.model, self.core.device, self.core.precision
        self.dist, self.skips = self.core.dist, self.core.skips

        self.train_set, self.val_set = self._datasets()
        self.loader = self.core.train_loader(self.train_set)
        self.steps_per_epoch = self.core.steps_per_epoch(self.loader)
        self.optimizer, self.scheduler = self.core.optimizer(self.steps_per_epoch)
        self.start_epoch = 0
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.metrics: list[dict] = []
        if resume:
            self._load_state()
        self.writer = None

    # -- set-up helpers ---------------------------------------------------------------------------
    def _load_lists(self) -> None:
        d = self.cfg.data
        classes = read_classes(d.classes) if d.classes else None
        self.train_items, self.classes = load_items(d.train, fmt=d.format, root=d.root, classes=classes,
                                                    splits_dir=d.splits_dir, split=d.split, subset="train")
        self.val_items = []
        if d.val:
            self.val_items, _ = load_items(d.val, fmt=d.format, root=d.root, classes=self.classes,
                                           splits_dir=d.splits_dir, split=d.split, subset="test")
        elif d.format in ("ucf101", "hmdb51"):
            self.val_items, _ = load_items(d.train, fmt=d.format, root=d.root, classes=self.classes,
                                           splits_dir=d.splits_dir, split=d.split, subset="test")

    def _build_model(self, start: dict | None) -> nn.Module:
        """The zoo model for the classes, checked against the clips, the fine-tune checkpoint's backbone in it."""
        model = create_model(self.cfg.model.name, len(self.classes), **self._overrides(start))
        model.multilabel = self.multilabel
        check_model_accepts(model, self.inputs)
        if start is not None:
            load_backbone(model, start)
        return model

    def _overrides(self, start: dict | None) -> dict:
        """create_model overrides: the fine-tune checkpoint's (it keeps the architecture its weights were
        trained with, e.g. VMZ's BatchNorm eps), the config's, flow's 2 channels, zero-init from scratch."""
        cfg = self.cfg
        overrides = {**(start["overrides"] if start else {}), **cfg.model.overrides}
        if cfg.data.modality == "flow":
            overrides.setdefault("in_channels", 2)  # optical flow: x and y
        if (cfg.train.zero_init_residual and not cfg.train.finetune and "zero_init_residual" not in overrides
                and "zero_init_residual" in get_entry(cfg.model.name).override_names()):
            overrides["zero_init_residual"] = True
        return overrides

    def _datasets(self) -> tuple[VideoDataset, VideoDataset | None]:
        cfg, d = self.cfg, self.cfg.data
        flow = {"modality": "flow", "flow_root": d.flow_root} if d.modality == "flow" else {}
        train_set = VideoDataset(self.train_items, self.classes, self.inputs.sampling, self.inputs.transform(),
                                 train=True, seed=cfg.train.seed, backend=d.backend, **flow,
                                 data_root=data_root_of(d.train, d.root) if flow else None,
                                 multilabel=self.multilabel)
        val_set = None
        if self.val_items:
            val_set = VideoDataset(self.val_items, self.classes, self.inputs.sampling, self.inputs.transform(1),
                                   train=False, num_clips=1, seed=cfg.train.seed, backend=d.backend, **flow,
                                   data_root=data_root_of(d.val or d.train, d.root) if flow else None,
                                   multilabel=self.multilabel)
        return train_set, val_set

    def _load_state(self) -> None:
        states, info = restore_training_state(self.out, self.model, self.classes, self.cfg.data.train)
        self.model.to(self.device)
        self.optimizer.load_state_dict(states["optimizer"])
        self.scheduler.load_state_dict(states["scheduler"])
        self.start_epoch = info["epoch"] + 1
        self.best_score, self.best_epoch = info.get("best_score"), info.get("best_epoch")
        self.metrics = [r for r in info.get("metrics", []) if r["epoch"] <= info["epoch"] + 1]  # rows count from 1
        if self.dist.is_main:
            log.info("resuming %s after epoch %d", self.out, info["epoch"] + 1)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> RunResult:
        cfg = self.cfg
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(config_to_yaml(cfg))
            write_classes(self.out / "classes.txt", self.classes)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"))
            log.info("training %s on %d videos (%d classes) for %d epochs, %s on %s; run folder %s",
                     cfg.model.name, len(self.train_items), len(self.classes), cfg.train.epochs, self.precision,
                     self.device, self.out)
        try:
            for epoch in range(self.start_epoch, cfg.train.epochs):
                row = self.train_epoch(epoch)
                row.update(self.validate())
                self.metrics.append(row)
                self.end_epoch(epoch, row)
        finally:
            if self.writer is not None:
                self.writer.close()
        if self.dist.is_main:
            plot_curves(self.out / "curves.png", self.metrics, title=f"{cfg.model.name} on {cfg.data.train}")
            log.info("done: best %s at epoch %s; %s", _fmt(self.best_score), self.best_epoch, self.skips.summary())
        measure = "mAP" if self.multilabel and self.val_set is not None else "top-1"
        return RunResult(self.out, len(self.metrics), self.best_epoch, self.best_score, self.metrics, len(self.skips),
                         measure)

    def step(self, net: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cross-entropy of the network's logits (binary cross-entropy for multi-label data):
        (loss, logits, labels)."""
        logits = net(batch["video"])
        y = batch["label"]
        return classification_loss(logits, y, label_smoothing=self.cfg.optim.label_smoothing), logits, y

    def train_epoch(self, epoch: int) -> dict:
        row = self.core.train_epoch(self.loader, epoch, self.step, self.optimizer, self.scheduler)
        return {"epoch": epoch + 1, **row}

    def validate(self) -> dict:
        """Clip accuracy of the centre clip of every validation video (the full protocol is ``videozoo eval``)."""
        if self.val_set is None:
            return {"val_loss": float("nan"), "val_top1": float("nan"), "val_top5": float("nan"),
                    "val_map": float("nan")}
        scores = self.core.evaluate(self.val_set, lambda model, b: {"": model(self.core.clip(b["video"][:, 0]))},
                                    heads=("",))[""]
        return {"val_loss": scores["loss"], "val_top1": scores["top1"], "val_top5": scores["top5"],
                "val_map": scores.get("map", float("nan"))}

    def end_epoch(self, epoch: int, row: dict) -> None:
        # the best checkpoint: by validation mAP for multi-label data, else top-1 (hit@1 for multi-label)
        score = next((row[k] for k in ("val_map", "val_top1") if not math.isnan(row.get(k, math.nan))),
                     row["train_top1"])
        improved = self.best_score is None or score > self.best_score
        if improved:
            self.best_score, self.best_epoch = score, epoch + 1
        if not self.dist.is_main:
            return
        self._write_metrics()
        for key, value in row.items():
            if key != "epoch" and value == value:
                self.writer.add_scalar(key, value, epoch + 1)
        self.writer.flush()
        states = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                  "rng": {"torch": torch.get_rng_state()}}
        info = {"epoch": epoch, "best_score": self.best_score, "best_epoch": self.best_epoch,
                "metrics": self.metrics}
        self._save("last.safetensors", states, info)
        if improved:
            self._save("best.safetensors", states, info)
        val = f"val top-1 {_fmt(row['val_top1'])}" + (f", val mAP {_fmt(row['val_map'])}" if self.multilabel else "")
        log.info("epoch %d/%d: loss %.4f, top-1 %.3f, %s, %.1f clips/s%s", epoch + 1, self.cfg.train.epochs,
                 row["train_loss"], row["train_top1"], val, row["clips_per_s"], " (best)" if improved else "")

    def _save(self, name: str, states: dict, info: dict) -> None:
        save_training_checkpoint(self.out / name, self.model, states=states, classes=self.classes, info=info,
                                 metadata={"data_settings": self.inputs.to_json()})

    def _write_metrics(self) -> None:
        path = self.out / "metrics.csv"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            writer.writeheader()
            for row in self.metrics:
                writer.writerow({k: row.get(k) for k in METRIC_FIELDS})


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def make_trainer(cfg: RunConfig, resume: bool = False) -> Trainer:
    """The trainer of a single-network run: an action detector's for box annotations (``data.format`` boxes or
    act, or ``auto`` on a CSV of boxes or an ACT pickle), else a classifier's."""
    if resume and (Path(cfg.out) / "config.yaml").is_file():
        fmt = config_from_yaml((Path(cfg.out) / "config.yaml").read_text()).data.format
    else:
        if cfg.data.format == "auto" and cfg.data.train:
            cfg.data.format = box_format_of(cfg.data.train) or "auto"  # config.yaml records what was read
        fmt = cfg.data.format
    if fmt in BOX_FORMATS:
        from .detection import DetectionTrainer

        return DetectionTrainer(cfg, resume=resume)
    return Trainer(cfg, resume=resume)


def train(cfg: RunConfig, resume: bool = False) -> RunResult | dict:
    """Train ``cfg.model`` on ``cfg.data``; write the run folder ``cfg.out``. ``resume`` continues it. With
    ``blend.modalities`` it is a joint (G-Blend) run: :func:`~videozoo.engine.multimodal.train_multimodal`,
    whose dict it returns. With box annotations it trains an action detector (:func:`make_trainer`)."""
    if cfg.blend.modalities:
        from .multimodal import train_multimodal

        return train_multimodal(cfg, resume=resume)
    trainer = make_trainer(cfg, resume)
    try:
        return trainer.run()
    finally:
        dist_utils.teardown()
