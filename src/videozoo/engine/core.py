"""The training core: the one step, epoch loop and evaluation loop every training run uses.

::

    Trainer (one network, one loss)  ─┐
                                      ├─► TrainingCore: device, precision, bf16 guard, DDP, frozen backbone,
    MultiModalTrainer (heads, G-Blend)┘   channels-last, loader, optimizer + schedule, step (autocast, scaler,
                                          accumulation, clipping), epoch loop, evaluation

A run hands the core its model and a *step function*: ``step(net, batch)``
returns ``(loss, logits, labels)`` for a batch already on the device (logits
may be None). Everything else (precision, accumulation, DDP, the schedule's
step count, the progress bar, divergence) is the core's, the same for every
kind of run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data.datasets import EpochSampler, SkipLog, collate_videos, worker_context
from . import distributed as dist_utils
from .bf16_guard import Bf16Guard
from .config import DataConfig, RunConfig
from .metrics import class_scores, classification_loss, is_multihot, mean_average_precision, topk_correct
from .predictor import autocast_dtype, resolve_precision

log = logging.getLogger("videozoo.train")

StepFn = Callable[[nn.Module, dict], tuple[Tensor, Tensor | None, Tensor]]
ForwardFn = Callable[[nn.Module, dict], Mapping[str, Tensor]]


class TrainingDiverged(RuntimeError):
    """The loss stopped being a number."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def loader_start(data: DataConfig) -> dict:
    """DataLoader keyword for how its workers start (``data.worker_start``); none without workers."""
    return {"multiprocessing_context": worker_context(data.worker_start)} if data.num_workers else {}


def head_parameters(model: nn.Module) -> set[int]:
    return {id(p) for p in model.head.parameters()}


def build_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    """SGD with momentum (or AdamW); no weight decay on BatchNorm and biases; the backbone's lr scaled for
    fine-tuning. Multi-tensor (``foreach``) updates: one call per parameter group, not one per tensor."""
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
        return torch.optim.AdamW(param_groups, lr=o.lr, foreach=True)
    return torch.optim.SGD(param_groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov, foreach=True)


def lr_factor(step: int, steps_per_epoch: int, cfg: RunConfig, epochs: int | None = None) -> float:
    """Linear warm-up, then cosine to zero over ``epochs`` (default ``train.epochs``), step decay at
    milestones, or constant. ``steps_per_epoch`` counts optimizer steps."""
    o = cfg.optim
    total = max((cfg.train.epochs if epochs is None else epochs) * steps_per_epoch, 1)
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


def to_memory_format(model: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    """``model`` with its 5-D parameters (3D convolutions) in ``memory_format``; 2D ones (an audio backbone)
    keep theirs (``Module.to`` would refuse a 4-D tensor in channels_last_3d)."""
    for p in model.parameters():
        if p.dim() == 5:
            p.data = p.data.contiguous(memory_format=memory_format)
    return model


def collate_of(dataset: Dataset) -> Callable[[list[dict]], dict]:
    """How a batch of ``dataset``'s items is stacked: its own ``collate`` (boxes of varying count) or
    :func:`~videozoo.data.datasets.collate_videos`."""
    return getattr(dataset, "collate", collate_videos)


def _set_epoch(loader, epoch: int) -> None:
    """The epoch for the loader's sampler (its order) and dataset (its clips), where they take one."""
    for part in (getattr(loader, "sampler", None), getattr(loader, "dataset", None)):
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


class TrainingCore:
    """Device, precision and the loops of a training run (see the module docstring).

    ``model`` is placed on the device, its backbone frozen (``optim.freeze_backbone``), its BatchNorm
    synchronised across processes (``train.sync_bn``), laid out channels-last (``train.channels_last``) and
    wrapped in DDP when the run has several processes (``find_unused_parameters`` for models that run a
    subset of their heads per step). ``core.model`` is the module; ``core.net`` what the step calls.
    """

    def __init__(self, cfg: RunConfig, model: nn.Module, out: Path, *, find_unused_parameters: bool = False,
                 dist: dist_utils.DistInfo | None = None) -> None:
        self.cfg, self.out = cfg, out
        self.device = resolve_device(cfg.train.device)
        self.dist = dist if dist is not None else dist_utils.setup(self.device.type)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.precision = resolve_precision(cfg.train.precision, self.device)
        self.dtype = autocast_dtype(self.precision)
        self.skips = SkipLog()
        if cfg.optim.freeze_backbone:
            head = head_parameters(model)
            for p in model.parameters():
                p.requires_grad_(id(p) in head)
        if cfg.train.sync_bn and self.dist.enabled:
            model = dist_utils.convert_sync_batchnorm(model, self.device.type)
        self.memory_format = torch.channels_last_3d if cfg.train.channels_last else torch.contiguous_format
        self.model = to_memory_format(model.to(self.device), self.memory_format)
        # oneDNN's bf16 conv weight gradients are wrong on some shapes: probed and fixed before the first step
        self.guard = Bf16Guard(self.model) if self.device.type == "cpu" and self.precision == "bf16" else None
        self.net: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids,
                                               find_unused_parameters=find_unused_parameters)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self._eval_loaders: dict[int, DataLoader] = {}

    # -- parts ------------------------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None)

    def to_device(self, batch: dict) -> dict:
        """The batch's tensors on the device; clips ``(B, C, T, H, W)`` in the run's memory format."""
        moved = {}
        for key, value in batch.items():
            if isinstance(value, Tensor):
                value = value.to(self.device, non_blocking=True)
                if value.dim() == 5 and value.is_floating_point():
                    value = value.contiguous(memory_format=self.memory_format)
            moved[key] = value
        return moved

    def clip(self, x: Tensor) -> Tensor:
        """A clip tensor ``(B, C, T, H, W)`` in the run's memory format."""
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 5 else x

    def train_loader(self, dataset: Dataset) -> DataLoader:
        """Shuffled by (seed, epoch) (``loader.sampler.set_epoch``), sharded across processes; the last partial
        batch dropped once there are two global batches. Its workers live for the run (an epoch's indices carry
        the epoch): forking a big training process every epoch costs seconds of copy-on-write faults in its
        next step."""
        cfg, d = self.cfg, self.cfg.data
        drop_last = len(dataset) >= 2 * cfg.train.batch_size * self.dist.world_size
        sampler = DistributedSampler(dataset, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=True,
                                     seed=cfg.train.seed, drop_last=drop_last)
        return DataLoader(dataset, batch_size=cfg.train.batch_size, sampler=EpochSampler(sampler),
                          num_workers=d.num_workers, collate_fn=collate_of(dataset), drop_last=drop_last,
                          pin_memory=self.device.type == "cuda", persistent_workers=d.num_workers > 0,
                          **loader_start(d))

    def steps_per_epoch(self, loader: Sequence) -> int:
        """Optimizer steps an epoch of ``loader`` takes: one per ``train.accumulate`` batches (and the rest)."""
        return max(math.ceil(len(loader) / self.cfg.train.accumulate), 1)

    def optimizer(self, steps_per_epoch: int, epochs: int | None = None
                  ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        """The run's optimizer and its schedule over ``epochs`` (default ``train.epochs``) of ``steps_per_epoch``
        optimizer steps."""
        optimizer = build_optimizer(self.model, self.cfg)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, steps_per_epoch, self.cfg, epochs))
        return optimizer, scheduler

    def _frozen_bn_eval(self) -> None:
        if self.cfg.optim.freeze_backbone:  # a frozen backbone keeps its BN statistics too
            head = {id(m) for m in self.model.head.modules()}
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in head:
                    m.eval()

    def _guard_first(self, step: StepFn, batch: dict) -> None:
        if self.guard is None or not self.guard.pending:
            return
        with self.autocast():
            self.guard.prepare(lambda: step(self.model, batch))
        if self.dist.is_main and self.out.is_dir():
            (self.out / "bf16_guard.json").write_text(json.dumps(self.guard.summary(), indent=2))

    def _optimizer_step(self, optimizer: torch.optim.Optimizer, scheduler) -> None:
        """Clip (``optim.clip_grad_norm``, on unscaled gradients), step, update the scaler and the schedule."""
        if self.cfg.optim.clip_grad_norm:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.clip_grad_norm)
        self.scaler.step(optimizer)
        self.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()

    # -- loops ------------------------------------------------------------------------------------
    def train_epoch(self, loader: Sequence[dict], epoch: int, step: StepFn, optimizer: torch.optim.Optimizer,
                    scheduler, *, epochs: int | None = None,
                    after_step: Callable[[float], bool] | None = None) -> dict:
        """One epoch: per batch, ``step`` under autocast, the scaled loss / ``train.accumulate`` backward (DDP
        syncs on the last micro-batch of a step), then clipping, the optimizer and the schedule. Returns the
        epoch's mean loss, top-1 (where ``step`` gives logits), clips/s and seconds, summed over processes.
        ``after_step(loss)``, when given, is called after each optimizer step with that step's mean loss; it
        returns True to end the epoch there (the learning-rate range test)."""
        cfg = self.cfg
        self.net.train()
        self._frozen_bn_eval()
        _set_epoch(loader, epoch)
        accumulate, batches = cfg.train.accumulate, len(loader)
        loss_sum = correct = seen = scored = 0.0
        bar = None
        if self.dist.is_main and cfg.train.progress:
            from tqdm import tqdm

            bar = tqdm(total=batches, desc=f"epoch {epoch + 1}/{epochs or cfg.train.epochs}", unit="batch",
                       leave=False)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        step_loss = step_batches = 0.0
        for i, batch in enumerate(loader):
            self.skips.record(batch["skipped"])
            if "label" not in batch:
                continue
            batch = self.to_device(batch)
            self._guard_first(step, batch)
            last_of_step = (i + 1) % accumulate == 0 or i + 1 == batches
            with self.net.no_sync() if self.dist.enabled and not last_of_step else nullcontext():
                with self.autocast():
                    loss, logits, y = step(self.net, batch)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss.item()} at epoch {epoch + 1}, batch {i + 1}; training stopped and "
                        f"{self.out / 'last.safetensors'} keeps the last good epoch ({epoch}). Lower optim.lr "
                        f"(now {cfg.optim.lr}) or set optim.clip_grad_norm")
                self.scaler.scale(loss / accumulate).backward()
            n, value = len(y), loss.item()
            step_loss, step_batches = step_loss + value, step_batches + 1
            stop = False
            if last_of_step:
                self._optimizer_step(optimizer, scheduler)
                stop = after_step is not None and after_step(step_loss / step_batches)
                step_loss = step_batches = 0.0
            loss_sum += value * n
            if logits is not None:
                correct += topk_correct(logits.detach().float(), y, 1).sum().item()
                scored += n
            seen += n
            if bar is not None:
                bar.update(1)
                if (i + 1) % cfg.train.log_every == 0 or i + 1 == batches:
                    rate = seen * self.dist.world_size / (time.perf_counter() - start)
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", clips_s=f"{rate:.1f}", skipped=len(self.skips))
            if stop:
                break
        if bar is not None:
            bar.close()
        loss_sum, correct, seen, scored = dist_utils.all_reduce_sum([loss_sum, correct, seen, scored], self.dist)
        seconds = time.perf_counter() - start
        return {"lr": optimizer.param_groups[-1]["lr"], "train_loss": loss_sum / max(seen, 1),
                "train_top1": correct / scored if scored else float("nan"), "clips_per_s": seen / seconds,
                "skipped": len(self.skips), "seconds": seconds}

    @torch.no_grad()
    def evaluate(self, dataset: Dataset, forward: ForwardFn, heads: Sequence[str]) -> dict[str, dict[str, float]]:
        """Per head: mean loss, top-1 and top-5 of ``forward(model, batch)`` (head → logits) over ``dataset``,
        sharded across processes and summed; with multi-hot labels also the mAP of the sigmoid scores (over
        every process's videos). The model in eval mode."""
        self.model.eval()
        loader = self._eval_loaders.get(id(dataset))
        if loader is None:  # kept for the run, workers too: a fork per evaluation costs what it does in training
            indices = list(range(self.dist.rank, len(dataset), self.dist.world_size))
            d = self.cfg.data
            loader = DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=self.cfg.train.batch_size,
                                num_workers=d.num_workers, collate_fn=collate_of(dataset),
                                persistent_workers=d.num_workers > 0, **loader_start(d))
            self._eval_loaders[id(dataset)] = loader
        sums = {h: [0.0, 0.0, 0.0] for h in heads}
        scores: dict[str, list[Tensor]] = {h: [] for h in heads}
        targets: list[Tensor] = []
        seen = 0.0
        for batch in loader:
            self.skips.record(batch["skipped"])
            if "label" not in batch:
                continue
            batch = self.to_device(batch)
            y = batch["label"]
            with self.autocast():
                out = forward(self.model, batch)
            for h in heads:
                logits = out[h].float()
                sums[h][0] += classification_loss(logits, y, reduction="sum").item()
                sums[h][1] += topk_correct(logits, y, 1).sum().item()
                sums[h][2] += topk_correct(logits, y, 5).sum().item()
                if is_multihot(y):
                    scores[h].append(class_scores(logits, multilabel=True).cpu())
            if is_multihot(y):
                targets.append(y.cpu())
            seen += len(y)
        flat = dist_utils.all_reduce_sum([v for h in heads for v in sums[h]] + [seen], self.dist)
        seen = max(flat[-1], 1)
        result = {h: {"loss": flat[3 * j] / seen, "top1": flat[3 * j + 1] / seen, "top5": flat[3 * j + 2] / seen}
                  for j, h in enumerate(heads)}
        if targets or getattr(dataset, "multilabel", False):
            k = len(dataset.classes)
            y_all = dist_utils.gather_rows(torch.cat(targets) if targets else torch.zeros(0, k), self.dist)
            for h in heads:
                s_all = dist_utils.gather_rows(torch.cat(scores[h]) if scores[h] else torch.zeros(0, k), self.dist)
                result[h]["map"] = mean_average_precision(s_all.numpy(), y_all.numpy())
        return result
