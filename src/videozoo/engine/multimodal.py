"""Multi-modal training with late fusion and Gradient-Blending.

``train_multimodal(cfg)`` trains a :class:`~videozoo.models.multimodal.MultiModalNet`
over ``cfg.blend.modalities`` (rgb, audio, flow) with the loss
L = Σ_i w_i L_i over each modality's head and the fused head, the weights
set by ``cfg.blend.weighting`` (see :mod:`videozoo.engine.gblend`):

- the training videos are split into the training set and a held-out split V
  (``blend.holdout``, stratified by class); a training subset T′ of the same
  size is drawn to measure overfitting;
- after every epoch each head's loss and accuracy on T′ and V are measured,
  with the OGR of the epoch and the weights in use, into ``metrics.csv``,
  TensorBoard and ``modality_losses.png`` (training and held-out loss per head:
  which modality overfits is plain to see);
- ``fused_top1`` etc. on ``data.val`` when given (for multi-label data, mini-AudioSet as in the G-Blend
  paper: binary cross-entropy per head, and mAP in place of top-1 everywhere, ``fused_val_map`` …);
- the head predictions come from (``predict_head``, saved with the checkpoint): the one with the lowest
  held-out loss (highest accuracy with ``blend.metric=accuracy``) after the last epoch, the fused head on a
  tie. G-Blend can weight the fused head near zero, which then stops learning while a modality's head goes
  on (measured on real scenes with real sound: docs/multimodal.md); V is what chooses between them.

The run folder is laid out as a single-modality run's (``config.yaml``,
``classes.txt``, checkpoints with the weights in their metadata).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.audio import has_audio
from ..data.datasets import (
    AudioConfig,
    DataError,
    VideoDataset,
    data_root_of,
    is_multilabel,
    load_items,
    write_classes,
)
from ..data.transforms import PER_CLIP
from ..models.multimodal import FUSED
from ..models.registry import create_model, get_entry, zoo_order
from . import distributed as dist_utils
from .checkpoint import save_training_checkpoint
from .config import ConfigError, RunConfig, check_config, config_to_yaml
from .core import TrainingCore
from .gblend import BlendSchedule, HeadStats, blend_weights, deltas, normalised, ogr
from .inputs import check_model_accepts, modality_keys, multimodal_dataset, resolve_inputs, visual_modality
from .metrics import classification_loss, pyplot
from .trainer import finetune_source, load_backbone, restore_training_state, resume_config

log = logging.getLogger("videozoo.train")


def split_holdout(labels: list[int], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (training, held-out): ``share`` of each class held out (at least one where a class has two)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == c]
        rng.shuffle(idx)
        k = min(max(1, round(share * len(idx))), len(idx) - 1) if len(idx) > 1 else 0
        held += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(held)


class MultiModalTrainer:
    """A late-fusion run on :class:`~videozoo.engine.core.TrainingCore`: the model and the loss
    Σ_h w_h L_h are its own, the step, loops, precision, DDP and schedule the core's."""

    def __init__(self, cfg: RunConfig, resume: bool = False) -> None:
        if resume:
            cfg = resume_config(cfg.out, cfg.train.epochs)
        self.resume = resume
        check_config(cfg)
        self.cfg, b, d = cfg, cfg.blend, cfg.data
        self.out = Path(cfg.out)
        self.schedule = BlendSchedule(b.weighting, b.warmup_epochs, b.super_epoch)
        if b.weighting == "online" and b.warmup_epochs >= cfg.train.epochs:
            log.warning("online G-Blend estimates after blend.warmup_epochs (%d), but the run has %d epochs: the "
                        "weights stay uniform throughout; lower blend.warmup_epochs or train for longer",
                        b.warmup_epochs, cfg.train.epochs)
        torch.manual_seed(cfg.train.seed)
        items, self.classes = load_items(d.train, fmt=d.format, root=d.root, splits_dir=d.splits_dir, split=d.split)
        train_idx, held_idx = split_holdout([i.label for i in items], b.holdout, cfg.train.seed)
        self.train_items = [items[i] for i in train_idx]
        self.held_items = [items[i] for i in held_idx]
        rng = np.random.default_rng(cfg.train.seed + 1)
        subset = rng.choice(len(self.train_items), size=min(len(self.held_items), len(self.train_items)),
                            replace=False)
        self.subset_items = [self.train_items[i] for i in sorted(subset)]
        self.val_items = load_items(d.val, fmt=d.format, root=d.root, classes=self.classes)[0] if d.val else []

        self.modalities = dict(b.modalities)
        start = self._finetune_source() if cfg.train.finetune and not resume else None
        if start is None and not resume and d.normalization is None and "rgb" in self.modalities:
            # From scratch, as a single network's run: each clip standardised on its own. Measured on real
            # scenes with real sound (docs/multimodal.md): the family's constants left the RGB backbone behind.
            d.normalization = PER_CLIP
        visual = visual_modality(self.modalities)
        # Clip settings (saved in the checkpoints for eval) also for audio alone: the dataset samples clips.
        self.inputs = resolve_inputs(d, self.modalities[visual] if visual else "r2plus1d_18", self.train_items)
        d.normalization = self.inputs.normalization  # config.yaml records what the run used (a resume reads it)
        if b.fusion_hidden is None:  # resolved into the config, so that config.yaml (and a resume) rebuild this net
            b.fusion_hidden = start["spec"].fusion_hidden if start is not None and start["modality"] is None else 512
        model = create_model("multimodal", len(self.classes), backbones=self.modalities,
                             backbone_overrides=self._overrides(start), fusion_hidden=b.fusion_hidden)
        model.multilabel = is_multilabel(self.train_items)  # mini-AudioSet: BCE per head, mAP
        self.score = "map" if model.multilabel else "top1"  # each head's accuracy measure
        check_model_accepts(model, self.inputs)
        if start is not None:
            load_backbone(model, start, start["prefix"])
        self.heads = list(model.head_names)
        # A step may train a subset of the heads (a G-Blend estimate trains each alone): DDP must allow it.
        self.core = TrainingCore(cfg, model, self.out, find_unused_parameters=True)
        self.model, self.device, self.dist, self.skips = self.core.model, self.core.device, self.core.dist, \
            self.core.skips
        if b.audio_style is None:  # likewise: a resumed run feeds the same spectrograms
            b.audio_style = start["audio"].style if start is not None and start["audio"] else "htk"
        self.audio = AudioConfig(b.audio_seconds, n_mels=b.n_mels, style=b.audio_style) \
            if "audio" in self.modalities else None
        self.audio_tracks = self._probe_audio() if self.audio else None
        self.train_set = self._dataset(self.train_items, train=True)
        self.loader = self.core.train_loader(self.train_set)
        self.steps_per_epoch = self.core.steps_per_epoch(self.loader)
        self.keys = modality_keys(self.modalities, self.train_set)  # modality -> its tensor in a batch
        self.measure_sets = {"train_subset": self._dataset(self.subset_items, train=False),
                             "holdout": self._dataset(self.held_items, train=False)}
        if self.val_items:
            self.measure_sets["val"] = self._dataset(self.val_items, train=False)
        self.metrics: list[dict] = []
        self.weights = self._initial_weights()
        self.predict_head = FUSED

    def _finetune_source(self) -> dict:
        """``train.finetune``: a multi-modal run's checkpoint (every backbone) or one network's checkpoint or
        weights tag of a modality's backbone architecture (that backbone; RGB first where several fit)."""
        fused = zoo_order("multimodal", unlisted=True)  # the generic late-fusion net and its named rows (VMZ's AV)
        start = finetune_source(self.cfg.train.finetune, (*fused, *self.modalities.values()),
                                " or ".join(("multimodal", *self.modalities.values())))
        if start["arch"] in fused:
            start["spec"] = get_entry(start["arch"]).spec.with_overrides(**start["overrides"])
            if start["spec"].backbones != self.modalities:
                raise ConfigError(f"train.finetune: {start['path']} has the backbones "
                                  f"{start['spec'].backbones}, blend.modalities are {self.modalities}")
            start["prefix"], start["modality"] = "", None
        else:
            modality = next(m for m in sorted(self.modalities, key=lambda m: m != "rgb")
                            if self.modalities[m] == start["arch"])
            start["prefix"], start["modality"] = f"backbones.{modality}.", modality
        d = self.cfg.data
        if d.normalization is None and start["settings"] is not None and start["modality"] in (None, "rgb"):
            d.normalization = start["settings"].normalization  # the preprocessing the weights were trained with
        return start

    def _overrides(self, start: dict | None) -> dict[str, dict]:
        """Per modality: create_model overrides (a fine-tune checkpoint's first, then blend.backbone_overrides)."""
        cfg = self.cfg
        overrides = {m: dict(cfg.blend.backbone_overrides.get(m, {})) for m in self.modalities}
        if start is not None and start["modality"] is not None:
            overrides[start["modality"]] = {**start["overrides"], **overrides[start["modality"]]}
        elif start is not None:
            for m, o in start["spec"].backbone_overrides.items():
                overrides[m] = {**o, **overrides[m]}
        if "flow" in overrides:
            overrides["flow"].setdefault("in_channels", 2)
        for m, name in self.modalities.items():
            if ("zero_init_residual" in get_entry(name).override_names() and cfg.train.zero_init_residual
                    and start is None):
                overrides[m].setdefault("zero_init_residual", True)
        return overrides

    # -- set-up ------------------------------------------------------------------------------------
    def _dataset(self, items, train: bool) -> VideoDataset:
        cfg = self.cfg
        return multimodal_dataset(items, self.classes, self.inputs, self.modalities, train=train, seed=cfg.train.seed,
                                  audio=self.audio, backend=cfg.data.backend, flow_root=cfg.blend.flow_root,
                                  data_root=data_root_of(cfg.data.train, cfg.data.root))

    def _probe_audio(self, limit: int = 512) -> dict:
        """Which training videos have an audio track (all of them, or a sample of ``limit``): silent ones train on
        zero spectrograms, flagged; a data set with no sound at all is an error, not a silently useless head."""
        items = self.train_items
        if len(items) > limit:
            rng = np.random.default_rng(self.cfg.train.seed)
            items = [items[i] for i in sorted(rng.choice(len(items), size=limit, replace=False))]
        silent = [item.path for item in items if not has_audio(item.path)]
        what = f"{len(items)} training videos" + (" sampled" if len(items) < len(self.train_items) else "")
        if len(silent) == len(items):
            raise DataError(f"blend.modalities has audio, but none of {what} has an audio track (e.g. {silent[0]}); "
                            "drop audio from blend.modalities or train on videos with sound")
        if silent:
            log.warning("%d of %s have no audio track: their audio is a zero spectrogram (e.g. %s)", len(silent),
                        what, silent[0])
        return {"probed": len(items), "without_audio": len(silent), "examples": silent[:10]}

    def _initial_weights(self) -> dict[str, float]:
        b = self.cfg.blend
        if b.weighting == "naive":
            return normalised({FUSED: 1.0}, self.heads)
        if b.weighting == "fixed":
            return normalised(b.fixed_weights, self.heads)
        return {h: 1.0 / len(self.heads) for h in self.heads}  # warm-up: uniform

    def _inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        return {m: batch[key] for m, key in self.keys.items()}

    def _optim(self, epochs: int):
        """The run's optimizer and a schedule over ``epochs`` (a warm-up is the first epochs of the run it
        measures: the same schedule)."""
        return self.core.optimizer(self.steps_per_epoch, epochs)

    # -- measuring ---------------------------------------------------------------------------------
    def measure(self, name: str, heads: tuple[str, ...] | None = None) -> dict[str, tuple[float, float]]:
        """Per head (all, or ``heads``): (mean loss, top-1 or, for multi-label data, mAP) on one of the
        measurement sets."""
        heads = tuple(self.heads) if heads is None else heads

        def forward(model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
            # Eval datasets give one clip, one view: (B, 1, ...) → (B, ...).
            return model({m: self.core.clip(x[:, 0]) for m, x in self._inputs(batch).items()}, heads=heads)

        scores = self.core.evaluate(self.measure_sets[name], forward, heads)
        return {h: (scores[h]["loss"], scores[h][self.score]) for h in heads}

    def stats(self, measured: dict) -> dict[str, HeadStats]:
        k = 0 if self.cfg.blend.metric == "loss" else 1
        return {h: HeadStats(measured["train_subset"][h][k], measured["holdout"][h][k]) for h in self.heads}

    # -- training ----------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, optimizer, scheduler, weights: dict[str, float] | None = None,
                    epochs: int | None = None) -> dict:
        """One epoch of L = Σ_h w_h L_h (``weights``, default the run's); heads weighted 0 are not computed."""
        weights = self.weights if weights is None else weights
        heads = tuple(h for h in self.heads if weights.get(h, 0.0) > 0)
        smoothing = self.cfg.optim.label_smoothing

        def step(net: nn.Module, batch: dict):
            out = net(self._inputs(batch), heads=heads)
            y = batch["label"]
            loss = sum(weights[h] * classification_loss(out[h], y, label_smoothing=smoothing) for h in heads)
            return loss, out[FUSED] if FUSED in heads else out[heads[0]], y

        row = self.core.train_epoch(self.loader, epoch, step, optimizer, scheduler, epochs=epochs)
        return {"train_loss": row["train_loss"], "lr": row["lr"], "clips_per_s": row["clips_per_s"]}

    def choose_predict_head(self, measured: dict) -> str:
        """The head with the best held-out metric in ``measured`` (lowest loss, or highest accuracy), the fused
        head on a tie: what the run predicts with."""
        k, sign = (0, 1.0) if self.cfg.blend.metric == "loss" else (1, -1.0)
        best = min(self.heads, key=lambda h: (sign * measured["holdout"][h][k], h != FUSED))
        self.predict_head = self.model.predict_head = best
        return best

    def _record(self, epoch: int, phase: str, row: dict, measured: dict, previous: dict | None) -> dict:
        row = {"epoch": epoch, "phase": phase, "predict_head": self.choose_predict_head(measured), **row}
        for h in self.heads:
            row[f"{h}_weight"] = self.weights[h]
            for name, key in (("train", "train_subset"), ("holdout", "holdout"), ("val", "val")):
                if key in measured:
                    row[f"{h}_{name}_loss"], row[f"{h}_{name}_{self.score}"] = measured[key][h]
        if previous is not None:
            gain, over = deltas(self.stats(previous), self.stats(measured), self.cfg.blend.metric)
            for h in self.heads:
                row[f"{h}_ogr"] = ogr(over[h], gain[h])
        self.metrics.append(row)
        return row

    def estimate_separately(self, epoch: int, epochs: int, optimizer, scheduler, before: dict
                            ) -> tuple[dict, dict, dict]:
        """Algorithm 1's measurement: from the current state, train each head alone (a modality's backbone and
        head on its loss; the fused head, all backbones, on its loss) for ``epochs`` epochs (numbered from
        ``epoch``, the data order the run would see next), measure it on T′ and V, and put everything back.
        Returns (ΔG, ΔO, the measurements after) per head, against ``before`` (the measurements now)."""
        model_state = copy.deepcopy(self.model.state_dict())
        optim_state = copy.deepcopy(optimizer.state_dict())
        sched_state = copy.deepcopy(scheduler.state_dict())
        rng = torch.get_rng_state()
        after: dict[str, dict] = {"train_subset": {}, "holdout": {}}
        try:
            for h in self.heads:
                log.info("G-Blend estimate: training the %s head alone for %d epochs", h, epochs)
                self.model.load_state_dict(model_state)  # each training starts from the checkpoint, RNG too
                torch.set_rng_state(rng)
                # load_state_dict keeps same-device tensors as they are: give it a copy, or the trial's
                # momentum updates would change the saved state.
                optimizer.load_state_dict(copy.deepcopy(optim_state))
                scheduler.load_state_dict(copy.deepcopy(sched_state))
                for j in range(epochs):
                    self.train_epoch(epoch + j, optimizer, scheduler, weights={h: 1.0})
                for name in after:
                    after[name][h] = self.measure(name, heads=(h,))[h]
        finally:
            self.model.load_state_dict(model_state)
            optimizer.load_state_dict(optim_state)
            scheduler.load_state_dict(sched_state)
            torch.set_rng_state(rng)
        gain, over = deltas(self.stats(before), self.stats(after), self.cfg.blend.metric)
        return gain, over, after

    def _estimate(self, epoch_no: int, gain: dict, over: dict, estimates: list, **extra) -> None:
        """New weights from (ΔG, ΔO), appended to ``estimates``."""
        # A stretch in which no head generalised (training has converged) says nothing about the heads: keep
        # the weights rather than fall back to uniform.
        learned = any(g > self.cfg.blend.min_gain for g in gain.values())
        if learned or not estimates:
            self.weights = blend_weights(gain, over, min_gain=self.cfg.blend.min_gain)
        estimates.append({"after_epoch": epoch_no, "weights": dict(self.weights), "gain": gain,
                          "overfitting": over, "kept": not learned and bool(estimates),
                          "estimate": self.cfg.blend.estimate, **extra})
        log.info("G-Blend weights after epoch %d: %s", epoch_no,
                 ", ".join(f"{h} {w:.3f}" for h, w in self.weights.items()))

    def _phases(self) -> list[tuple[str, int]]:
        """(phase, epochs): offline G-Blend estimated in the run's first epochs trains them first ("warmup");
        estimated from separate trainings, it needs no warm-up phase of its own."""
        b = self.cfg.blend
        if b.weighting == "offline" and b.estimate == "joint":
            return [("warmup", self.schedule.warmup), ("main", self.cfg.train.epochs)]
        return [("main", self.cfg.train.epochs)]

    def _save(self, optimizer, scheduler, info: dict) -> None:
        if not self.dist.is_main:
            return
        save_training_checkpoint(
            self.out / "last.safetensors", self.model, classes=self.classes,
            states={"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": {"torch": torch.get_rng_state()}},
            info={**info, "weights": self.weights, "metrics": self.metrics},
            metadata={"blend_weights": json.dumps(self.weights), "predict_head": self.predict_head,
                      "data_settings": self.inputs.to_json(),
                      **({"audio_settings": json.dumps(dataclasses.asdict(self.audio))} if self.audio else {})})

    def run(self) -> dict:
        cfg, b = self.cfg, self.cfg.blend
        main = self.dist.is_main
        writer = None
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(config_to_yaml(cfg))
            write_classes(self.out / "classes.txt", self.classes)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out / "tensorboard"))
        log.info("multi-modal training (%s) of %s on %d videos (%d held out), %s weighting",
                 ", ".join(f"{m}: {n}" for m, n in self.modalities.items()), len(self.classes),
                 len(self.train_items), len(self.held_items), b.weighting)
        initial = copy.deepcopy(self.model.state_dict())  # the seed's weights: offline G-Blend restarts from them
        estimates = []
        epoch_no = 0
        saved = self._load_state() if self.resume else None
        if saved is not None:
            states, info = saved
            epoch_no, estimates = info["epoch"], info["estimates"]
        try:
            for index, (phase, epochs) in enumerate(self._phases()):
                if saved is not None and index < info["phase_index"]:
                    continue
                # The warm-up is the first epochs of the run it measures: the same learning-rate schedule.
                optimizer, scheduler = self._optim(max(cfg.train.epochs, epochs))
                if saved is not None and index == info["phase_index"]:
                    start = info["phase_epoch"] + 1
                    history = {int(k): v for k, v in info["history"].items()}
                    optimizer.load_state_dict(states["optimizer"])
                    scheduler.load_state_dict(states["scheduler"])
                    saved = None
                else:
                    start = 0
                    if phase == "main" and b.weighting == "offline":
                        self.model.load_state_dict(initial)  # train from scratch with the estimated weights
                    history = {0: self._measure_all()}
                    if phase == "main" and b.weighting == "offline" and b.estimate == "separate":
                        # The paper's offline G-Blend: each head trained alone from the start for the warm-up,
                        # under the schedule a joint warm-up would have (it may be longer than the run).
                        gain, over, after = self.estimate_separately(
                            0, self.schedule.warmup, *self._optim(max(cfg.train.epochs, self.schedule.warmup)),
                            history[0])
                        self._estimate(0, gain, over, estimates, trained_epochs=self.schedule.warmup,
                                       measured_after=after)
                        self._save(optimizer, scheduler, {"epoch": epoch_no, "phase": phase, "phase_index": index,
                                                          "phase_epoch": -1, "estimates": estimates,
                                                          "history": history})
                for e in range(start, epochs):
                    row = self.train_epoch(e, optimizer, scheduler)
                    history[e + 1] = self._measure_all()
                    row = self._record(epoch_no + 1, phase, row, history[e + 1], history[e])
                    epoch_no += 1
                    if self._estimates_now(phase, e, epochs):
                        self._estimate_after(e, epochs, epoch_no, optimizer, scheduler, history, estimates)
                    self._log_epoch(writer, row, epoch_no, phase)
                    self._save(optimizer, scheduler, {"epoch": epoch_no, "phase": phase, "phase_index": index,
                                                      "phase_epoch": e, "estimates": estimates, "history": history})
        finally:
            if writer is not None:
                writer.close()
        if main:
            (self.out / "blend.json").write_text(json.dumps({"weighting": b.weighting, "estimate": b.estimate,
                                                             "final": self.weights, "estimates": estimates,
                                                             "predict_head": self.predict_head,
                                                             "audio_tracks": self.audio_tracks,
                                                             "skipped": dict(self.skips.errors)}, indent=2))
            self.plot()
            log.info("%s", self.skips.summary())
        return {"out": self.out, "weights": self.weights, "estimates": estimates, "metrics": self.metrics,
                "predict_head": self.predict_head}

    def _estimate_after(self, e: int, epochs: int, epoch_no: int, optimizer, scheduler, history: dict,
                        estimates: list) -> None:
        """New weights after epoch ``e`` of a phase: from separate trainings over the stretch the new weights
        will train, or from the joint run's measurements over the stretch just trained."""
        b = self.cfg.blend
        if b.estimate == "separate":
            n = min(self.schedule.super_epoch, epochs - e - 1)
            gain, over, after = self.estimate_separately(e + 1, n, optimizer, scheduler, history[e + 1])
            extra = {"trained_epochs": n, "measured_after": after}
        else:
            gain, over = deltas(self.stats(history[self.schedule.window_start(e)]), self.stats(history[e + 1]),
                                b.metric)
            extra = {}
        self._estimate(epoch_no, gain, over, estimates, **extra)

    def _log_epoch(self, writer, row: dict, epoch_no: int, phase: str) -> None:
        for key, value in row.items():
            if writer is not None and isinstance(value, float) and math.isfinite(value):
                writer.add_scalar(key, value, epoch_no)
        self._write_metrics()
        head, score = row["predict_head"], self.score
        name = "mAP" if score == "map" else "top-1"
        log.info("epoch %d (%s): loss %.4f; fused held-out %s %.3f%s; predicting with the %s head%s", epoch_no,
                 phase, row["train_loss"], name, row[f"{FUSED}_holdout_{score}"],
                 f", val {name} {row[f'{FUSED}_val_{score}']:.3f}" if f"{FUSED}_val_{score}" in row else "", head,
                 f" (val {name} {row[f'{head}_val_{score}']:.3f})" if head != FUSED and f"{head}_val_{score}" in row
                 else "")

    def _estimates_now(self, phase: str, epoch: int, epochs: int) -> bool:
        """Estimate after ``epoch`` (0-based) of a phase of ``epochs``? Joint: on the schedule (offline at the end
        of its warm-up, online at the end of the warm-up and each super-epoch). Separate: online on the same
        schedule, but not after the last epoch (its k + 1 trainings would set weights nothing uses)."""
        b = self.cfg.blend
        if b.estimate == "separate":
            return b.weighting == "online" and epoch + 1 < epochs and self.schedule.estimate_after(epoch)
        return (phase == "warmup" or b.weighting == "online") and self.schedule.estimate_after(epoch)

    def _load_state(self) -> tuple[dict, dict]:
        """Model, weights, metrics and RNG of ``last.safetensors``; the optimizer and scheduler states and
        the info (phase, epoch, measurements) for :meth:`run` to continue from."""
        states, info = restore_training_state(self.out, self.model, self.classes, self.cfg.data.train,
                                              multimodal=True)
        self.weights, self.metrics = dict(info["weights"]), list(info["metrics"])
        if self.metrics and "predict_head" in self.metrics[-1]:
            self.predict_head = self.model.predict_head = self.metrics[-1]["predict_head"]
        log.info("resuming %s after epoch %d (%s)", self.out, info["epoch"], info["phase"])
        return states, info

    def _measure_all(self) -> dict:
        return {name: self.measure(name) for name in self.measure_sets}

    def _write_metrics(self) -> None:
        if not self.dist.is_main:
            return
        fields = list(dict.fromkeys(k for row in self.metrics for k in row))
        with (self.out / "metrics.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.metrics)

    def plot(self) -> Path:
        """Training-subset and held-out loss per head, per epoch."""
        plt = pyplot()
        fig, axes = plt.subplots(1, len(self.heads), figsize=(4 * len(self.heads), 3.5), sharey=True)
        epochs = [r["epoch"] for r in self.metrics]
        for ax, h in zip(np.atleast_1d(axes), self.heads, strict=True):
            ax.plot(epochs, [r[f"{h}_train_loss"] for r in self.metrics], marker="o", label="train subset T′")
            ax.plot(epochs, [r[f"{h}_holdout_loss"] for r in self.metrics], marker="o", label="held-out V")
            ax.set(title=h, xlabel="epoch")
            ax.grid(alpha=0.3)
        np.atleast_1d(axes)[0].set_ylabel("loss")
        np.atleast_1d(axes)[0].legend()
        fig.tight_layout()
        path = self.out / "modality_losses.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def train_multimodal(cfg: RunConfig, resume: bool = False) -> dict:
    """Train ``cfg.blend.modalities`` jointly; ``resume`` continues the run in ``cfg.out`` from its last epoch."""
    try:
        return MultiModalTrainer(cfg, resume=resume).run()
    finally:
        dist_utils.teardown()
