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
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ..data.datasets import (
    SkipLog,
    VideoDataset,
    collate_videos,
    data_root_of,
    load_items,
    read_classes,
    worker_context,
    write_classes,
)
from ..engine.predictor import autocast_dtype, resolve_precision
from ..models.registry import create_model, get_entry
from . import distributed as dist_utils
from .bf16_guard import bf16_weight_grads_ok, fp32_weight_grads
from .checkpoint import (
    checkpoint_classes,
    load_state_checked,
    model_state,
    read_checkpoint,
    read_training_checkpoint,
    save_training_checkpoint,
)
from .config import ConfigError, DataConfig, RunConfig, check_config, config_from_yaml, config_to_yaml
from .inputs import InputSettings, check_model_accepts, resolve_inputs, settings_from_metadata
from .metrics import plot_curves, topk_correct

log = logging.getLogger("videozoo.train")

METRIC_FIELDS = ("epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "clips_per_s",
                 "skipped", "seconds")


class TrainingDiverged(RuntimeError):
    """The loss stopped being a number."""


@dataclass
class RunResult:
    out: Path
    epochs_done: int
    best_epoch: int | None
    best_score: float | None
    metrics: list[dict] = field(default_factory=list)
    skipped: int = 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def head_parameters(model: nn.Module) -> set[int]:
    return {id(p) for p in model.head.parameters()}


def build_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    """SGD with momentum (or AdamW); no weight decay on BatchNorm and biases; the backbone's lr scaled for
    fine-tuning."""
    o = cfg.optim
    head = head_parameters(model)
    groups: dict[tuple[bool, bool], list] = {}
    for p in model.parameters():
        if not p.requires_grad:
            continue
        groups.setdefault((id(p) in head, p.ndim <= 1), []).append(p)
    param_groups = []
    for (is_head, no_decay), params in sorted(groups.items()):
        scale = 1.0 if is_head else o.backbone_lr_scale
        param_groups.append({"params": params, "lr": o.lr * scale, "initial_lr": o.lr * scale,
                             "weight_decay": 0.0 if no_decay else o.weight_decay})
    if o.name == "adamw":
        return torch.optim.AdamW(param_groups, lr=o.lr)
    return torch.optim.SGD(param_groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov)


def lr_factor(step: int, steps_per_epoch: int, cfg: RunConfig) -> float:
    """Linear warm-up, then cosine to zero, step decay at milestones, or constant."""
    o = cfg.optim
    total = max(cfg.train.epochs * steps_per_epoch, 1)
    warmup = min(int(o.warmup_epochs * steps_per_epoch), total - 1)
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if o.schedule == "cosine":
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if o.schedule == "step":
        epoch = step // steps_per_epoch
        return o.gamma ** sum(epoch >= m for m in o.milestones)
    return 1.0


def loader_start(data: DataConfig) -> dict:
    """DataLoader keyword for how its workers start (``data.worker_start``); none without workers."""
    return {"multiprocessing_context": worker_context(data.worker_start)} if data.num_workers else {}


def resume_config(out: str | os.PathLike, epochs: int | None = None) -> RunConfig:
    """The saved config of the run in ``out``; ``epochs``, when given, replaces its epoch count (a resumed run
    may train for longer)."""
    out = Path(out)
    path = out / "config.yaml"
    if not (out / "last.safetensors").is_file() or not path.is_file():
        raise ConfigError(f"nothing to resume in {out}: no last.safetensors and config.yaml")
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


class Trainer:
    """Holds a run's parts; :func:`train` is the way to use it."""

    def __init__(self, cfg: RunConfig, resume: bool = False) -> None:
        self.out = Path(cfg.out)
        if resume:
            cfg = resume_config(cfg.out, cfg.train.epochs)
        check_config(cfg)
        self.cfg = cfg
        self.device = resolve_device(cfg.train.device)
        self.dist = dist_utils.setup(self.device.type)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.precision = resolve_precision(cfg.train.precision, self.device)
        self.skips = SkipLog()
        torch.manual_seed(cfg.train.seed)

        d = cfg.data
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
        start = self._finetune_source() if cfg.train.finetune and not resume else None
        if start is not None and d.normalization is None and start["settings"] is not None:
            d.normalization = start["settings"].normalization  # the preprocessing the weights were trained with
        self.inputs: InputSettings = resolve_inputs(d, cfg.model.name, self.train_items)
        # config.yaml records what the run used, not what was left to defaults.
        d.crop, d.normalization = self.inputs.crop, self.inputs.normalization
        d.resize_hw = list(self.inputs.resize_hw) if self.inputs.resize_hw else None

        # Fine-tuning keeps the architecture the weights were trained with (e.g. VMZ's BatchNorm eps).
        overrides = {**(start["overrides"] if start else {}), **cfg.model.overrides}
        if d.modality == "flow":
            overrides.setdefault("in_channels", 2)  # optical flow: x and y
        if (cfg.train.zero_init_residual and not cfg.train.finetune and "zero_init_residual" not in overrides
                and "zero_init_residual" in get_entry(cfg.model.name).override_names()):
            overrides["zero_init_residual"] = True
        self.model = create_model(cfg.model.name, len(self.classes), **overrides)
        check_model_accepts(self.model, self.inputs)
        if start is not None:
            self._load_backbone(start)
        if cfg.optim.freeze_backbone:
            head = head_parameters(self.model)
            for p in self.model.parameters():
                p.requires_grad_(id(p) in head)
        if cfg.train.sync_bn and self.dist.enabled:
            self.model = dist_utils.convert_sync_batchnorm(self.model, self.device.type)
        self.fp32_weight_grads = (self.device.type == "cpu" and self.precision == "bf16"
                                  and not bf16_weight_grads_ok())
        if self.fp32_weight_grads:  # oneDNN's bf16 weight gradients are wrong on this CPU (see bf16_guard)
            fp32_weight_grads(self.model)
        memory_format = torch.channels_last_3d if cfg.train.channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.model.to(self.device, memory_format=memory_format)
        self.net = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)

        flow = {}
        if d.modality == "flow":
            flow = {"modality": "flow", "flow_root": d.flow_root}
        self.train_set = VideoDataset(self.train_items, self.classes, self.inputs.sampling, self.inputs.transform(),
                                      train=True, seed=cfg.train.seed, backend=d.backend, **flow,
                                      data_root=data_root_of(d.train, d.root) if flow else None)
        self.val_set = VideoDataset(self.val_items, self.classes, self.inputs.sampling, self.inputs.transform(1),
                                    train=False, num_clips=1, seed=cfg.train.seed, backend=d.backend, **flow,
                                    data_root=data_root_of(d.val or d.train, d.root) if flow else None) \
            if self.val_items else None
        global_batch = cfg.train.batch_size * self.dist.world_size
        self.sampler = DistributedSampler(self.train_set, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                          shuffle=True, seed=cfg.train.seed,
                                          drop_last=len(self.train_set) >= 2 * global_batch)
        self.loader = DataLoader(self.train_set, batch_size=cfg.train.batch_size, sampler=self.sampler,
                                 num_workers=d.num_workers, collate_fn=collate_videos,
                                 drop_last=len(self.train_set) >= 2 * global_batch,
                                 pin_memory=self.device.type == "cuda", **loader_start(d))
        self.steps_per_epoch = max(math.ceil(len(self.loader) / cfg.train.accumulate), 1)
        self.optimizer = build_optimizer(self.model, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, self.steps_per_epoch, cfg))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.start_epoch = 0
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.metrics: list[dict] = []
        if resume:
            self._load_state()
        self.writer = None

    # -- set-up helpers ---------------------------------------------------------------------------
    def _finetune_source(self) -> dict:
        """The checkpoint that ``train.finetune`` names (a path or a weights tag), read once: its path, model
        state, the overrides its architecture was built with and the input settings it carries (None for a
        hand-saved one). One of another architecture is refused here, before its overrides are used."""
        from ..weights.hub import resolve_weights

        path = resolve_weights(self.cfg.train.finetune)
        tensors, metadata = read_checkpoint(path)
        arch = metadata["architecture"]
        if arch != self.cfg.model.name:
            raise ConfigError(f"train.finetune: {path} is a {arch} checkpoint, the model is {self.cfg.model.name}")
        return {"path": str(path), "arch": arch, "state": model_state(tensors),
                "overrides": json.loads(metadata.get("overrides", "{}")), "settings": settings_from_metadata(metadata)}

    def _load_backbone(self, start: dict) -> None:
        """The fine-tune checkpoint's weights, but for the head (the new classes keep a fresh one)."""
        state = {k: v for k, v in start["state"].items() if not k.startswith("head.")}
        own_head = {k: v for k, v in self.model.state_dict().items() if k.startswith("head.")}
        load_state_checked(self.model, {**state, **own_head}, source=start["path"], source_arch=start["arch"])

    def _load_state(self) -> None:
        states, info = restore_training_state(self.out, self.model, self.classes, self.cfg.data.train)
        self.model.to(self.device, memory_format=self.memory_format)
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
            if self.fp32_weight_grads:
                log.info("this CPU's bf16 convolution weight gradients are wrong (a oneDNN bug); "
                         "computing them in fp32")
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
        return RunResult(self.out, len(self.metrics), self.best_epoch, self.best_score, self.metrics, len(self.skips))

    def _backbone_bn_eval(self) -> None:
        if self.cfg.optim.freeze_backbone:  # a frozen backbone keeps its BN statistics too
            for name, m in self.model.named_modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith("head"):
                    m.eval()

    def train_epoch(self, epoch: int) -> dict:
        cfg = self.cfg
        self.net.train()
        self._backbone_bn_eval()
        self.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)
        dtype = autocast_dtype(self.precision)
        loss_sum = correct = seen = 0.0
        start = time.perf_counter()
        accumulate = cfg.train.accumulate
        batches = len(self.loader)
        bar = None
        if self.dist.is_main and cfg.train.progress:
            from tqdm import tqdm

            bar = tqdm(total=batches, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", unit="batch", leave=False)
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.loader):
            self.skips.record(batch["skipped"])
            if "video" not in batch:
                continue
            x = batch["video"].to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
            y = batch["label"].to(self.device, non_blocking=True)
            last_of_step = (i + 1) % accumulate == 0 or i + 1 == batches
            sync = self.net.no_sync() if self.dist.enabled and not last_of_step else nullcontext()
            with sync:
                with torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                    logits = self.net(x)
                    loss = nn.functional.cross_entropy(logits.float(), y, label_smoothing=cfg.optim.label_smoothing)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss.item()} at epoch {epoch + 1}, batch {i + 1}; training stopped and "
                        f"{self.out / 'last.safetensors'} keeps the last good epoch ({epoch}). Lower optim.lr "
                        f"(now {cfg.optim.lr}) or set optim.clip_grad_norm")
                self.scaler.scale(loss / accumulate).backward()
            if last_of_step:
                if cfg.optim.clip_grad_norm:
                    self.scaler.unscale_(self.optimizer)
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.clip_grad_norm)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                self.scheduler.step()
            n = len(y)
            loss_sum += loss.item() * n
            correct += topk_correct(logits.detach().float(), y, 1).sum().item()
            seen += n
            if bar is not None:
                bar.update(1)
                if (i + 1) % cfg.train.log_every == 0 or i + 1 == batches:
                    rate = seen * self.dist.world_size / (time.perf_counter() - start)
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", top1=f"{correct / seen:.3f}",
                                    clips_s=f"{rate:.1f}", skipped=len(self.skips))
        if bar is not None:
            bar.close()
        loss_sum, correct, seen = dist_utils.all_reduce_sum([loss_sum, correct, seen], self.dist)
        seconds = time.perf_counter() - start
        return {"epoch": epoch + 1, "lr": self.optimizer.param_groups[-1]["lr"],
                "train_loss": loss_sum / max(seen, 1), "train_top1": correct / max(seen, 1),
                "clips_per_s": seen / seconds, "skipped": len(self.skips), "seconds": seconds}

    @torch.no_grad()
    def validate(self) -> dict:
        """Clip accuracy of the centre clip of every validation video (the full protocol is ``videozoo eval``)."""
        if self.val_set is None:
            return {"val_loss": float("nan"), "val_top1": float("nan"), "val_top5": float("nan")}
        self.model.eval()
        indices = list(range(self.dist.rank, len(self.val_set), self.dist.world_size))
        subset = torch.utils.data.Subset(self.val_set, indices)
        loader = DataLoader(subset, batch_size=self.cfg.train.batch_size, num_workers=self.cfg.data.num_workers,
                            collate_fn=collate_videos, **loader_start(self.cfg.data))
        dtype = autocast_dtype(self.precision)
        loss_sum = top1 = top5 = seen = 0.0
        for batch in loader:
            self.skips.record(batch["skipped"])
            if "video" not in batch:
                continue
            x = batch["video"][:, 0].to(self.device).contiguous(memory_format=self.memory_format)
            y = batch["label"].to(self.device)
            with torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                logits = self.model(x).float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            top1 += topk_correct(logits, y, 1).sum().item()
            top5 += topk_correct(logits, y, 5).sum().item()
            seen += len(y)
        loss_sum, top1, top5, seen = dist_utils.all_reduce_sum([loss_sum, top1, top5, seen], self.dist)
        seen = max(seen, 1)
        return {"val_loss": loss_sum / seen, "val_top1": top1 / seen, "val_top5": top5 / seen}

    def end_epoch(self, epoch: int, row: dict) -> None:
        score = row["val_top1"] if not math.isnan(row["val_top1"]) else row["train_top1"]
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
        log.info("epoch %d/%d: loss %.4f, top-1 %.3f, val top-1 %s, %.1f clips/s%s", epoch + 1,
                 self.cfg.train.epochs, row["train_loss"], row["train_top1"], _fmt(row["val_top1"]),
                 row["clips_per_s"], " (best)" if improved else "")

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


def train(cfg: RunConfig, resume: bool = False) -> RunResult:
    """Train ``cfg.model`` on ``cfg.data``; write the run folder ``cfg.out``. ``resume`` continues it."""
    trainer = Trainer(cfg, resume=resume)
    try:
        return trainer.run()
    finally:
        dist_utils.teardown()
