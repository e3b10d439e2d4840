"""Run configuration: typed sections, YAML files, dotted command-line overrides.

``load_config("configs/r2plus1d_18_kinetics_8f.yaml", ["optim.lr=0.05"])``, or by the recipe's name:
``load_config("r2plus1d_18_kinetics_8f", …)`` (the recipes ship in the package; ``videozoo configs`` lists them)
merges the file and the overrides onto the defaults below (OmegaConf
structured configs), so an unknown key, a value of the wrong type or a
malformed override fails at once with one line naming the key; then
:func:`check_config` checks what types cannot (files exist, values in range)
before any training starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A configuration that cannot run, in one line naming the key or file."""


# The allowed values of every config key with a fixed set of them, declared once: the config check and the
# command line's flags read them from here (data.normalization's are the presets of data.transforms).
# labelled videos (data.datasets)
FORMATS = ("auto", "csv", "folder", "kinetics", "ssv2", "audioset", "sports1m", "shards", "ucf101", "hmdb51")
BOX_FORMATS = ("boxes", "act")  # actor boxes (data.boxes): a run of one of these trains an action detector
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CROPS = (1, 3, 5, 10)
MODALITIES = ("rgb", "flow", "audio")  # blend.modalities' keys
CHOICES: dict[str, tuple] = {
    "data.format": FORMATS + BOX_FORMATS,
    "data.backend": ("pyav", "torchcodec"),
    "data.modality": ("rgb", "flow"),
    "data.worker_start": ("fork", "forkserver", "spawn"),
    "optim.name": ("adamw", "sgd"),
    "optim.schedule": ("cosine", "step", "constant"),
    "train.precision": PRECISIONS,
    "train.device": ("auto", "cpu", "cuda"),
    "eval.crops": CROPS,
    "blend.weighting": ("naive", "fixed", "offline", "online"),
    "blend.metric": ("loss", "accuracy"),
    "blend.estimate": ("joint", "separate"),
    "blend.audio_style": (None, "htk", "vmz"),
}


@dataclass
class ModelConfig:
    name: str = "r2plus1d_18"
    overrides: dict[str, Any] = field(default_factory=dict)  # create_model overrides, e.g. {dropout: 0.5}


@dataclass
class DataConfig:
    train: str | None = None  # CSV, Kinetics CSV or folder per class
    val: str | None = None
    format: str = "auto"  # CHOICES["data.format"]
    root: str | None = None  # where relative paths start (default: the list's folder)
    splits_dir: str | None = None  # UCF101 / HMDB51 split files
    split: int = 1
    classes: str | None = None  # a classes.txt fixing the class order
    num_frames: int = 8
    stride: int = 1
    fps: float | None = None
    crop: int | None = None  # None: the model's default crop, or less for videos smaller than it
    resize: int | None = None  # short side before cropping; None: crop × 8/7
    resize_hw: list[int] | None = None  # exact (height, width) instead, e.g. [128, 171] for C3D
    scale_jitter: list[int] | None = None  # training short side drawn from [min, max]
    flip: bool = False  # mirroring swaps left/right motion classes; the papers' Kinetics recipes turn it on
    # a preset of data.transforms.NORMALIZATION; None: from scratch "clip" (each clip standardised on its own),
    # fine-tuning the weights' own, else the model family's
    normalization: str | None = None
    num_workers: int = 2
    worker_start: str = "fork"  # how loader workers start: fork, or forkserver / spawn (clean processes)
    backend: str = "pyav"
    modality: str = "rgb"  # rgb, or flow: train on optical flow (2 channels) that `videozoo flow` wrote
    flow_root: str | None = None  # with modality flow: the folder `videozoo flow` wrote


@dataclass
class OptimConfig:
    # The defaults learn a small data set from scratch in a few minutes (measured on the synthetic motion data);
    # the papers' recipes in configs/ set SGD and their own schedules.
    name: str = "adamw"  # CHOICES["optim.name"]
    lr: float = 0.001  # for batch_size 8; scale it with the batch
    momentum: float = 0.9  # sgd
    nesterov: bool = False  # sgd
    weight_decay: float = 0.05
    schedule: str = "cosine"  # CHOICES["optim.schedule"]
    warmup_epochs: float = 1.0
    milestones: list[int] = field(default_factory=list)  # step schedule: epochs where lr *= gamma
    gamma: float = 0.1
    label_smoothing: float = 0.0
    clip_grad_norm: float | None = None
    backbone_lr_scale: float = 1.0  # fine-tuning: the backbone's lr relative to the head's
    freeze_backbone: bool = False


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 8  # per process
    accumulate: int = 1  # gradient accumulation steps
    precision: str = "auto"  # CHOICES["train.precision"]; auto: bf16 where native, fp16 on older CUDA
    channels_last: bool = True
    device: str = "auto"  # CHOICES["train.device"]
    seed: int = 0
    sync_bn: bool = False  # with several processes: BN statistics over the global batch
    zero_init_residual: bool = True  # from scratch: each residual block starts as the identity (learns faster)
    finetune: str | None = None  # a checkpoint (or weights tag MODEL.PRETRAINING) whose backbone starts the run
    log_every: int = 10  # steps between progress updates in the log
    progress: bool = True


@dataclass
class EvalConfig:
    clips: int = 10
    crops: int = 3
    batch_size: int = 4  # videos per forward pass (each holds clips × crops views)


@dataclass
class BlendConfig:
    """Multi-modal training (videozoo.engine.multimodal); active when ``modalities`` is not empty."""

    modalities: dict[str, str] = field(default_factory=dict)  # e.g. {rgb: r2plus1d_18, audio: audio_resnet_18}
    backbone_overrides: dict[str, Any] = field(default_factory=dict)  # modality → create_model overrides
    fusion_hidden: int | None = None  # None: a multi-modal fine-tune checkpoint's, else 512
    weighting: str = "online"  # CHOICES["blend.weighting"]
    fixed_weights: dict[str, float] = field(default_factory=dict)  # head (modality or "fused") → weight
    holdout: float = 0.08  # share of the training videos held out as V (the paper: 8%, 13% for mini-AudioSet)
    warmup_epochs: int = 10
    super_epoch: int = 5
    metric: str = "loss"  # CHOICES["blend.metric"]: what drives the estimate
    # joint: measure every head inside the joint run (free); separate: Algorithm 1, each head trained alone
    # from the checkpoint for the stretch it estimates over (k + 1 extra trainings per estimate)
    estimate: str = "joint"
    min_gain: float = 0.01  # a held-out gain below this (nats, or accuracy) is noise: the head gets weight 0
    audio_seconds: float = 1.0
    n_mels: int = 40
    # CHOICES["blend.audio_style"]: htk (ours), vmz (VMZ's op and alignment, what its AV weights take);
    # None: a multi-modal fine-tune checkpoint's, else htk
    audio_style: str | None = None
    flow_root: str | None = None  # where `videozoo flow` wrote the flow of the videos


@dataclass
class DetectionConfig:
    """Spatio-temporal action detection (videozoo.engine.detection): a run whose data.format is boxes or act."""

    proposals: str | None = None  # a person detector's boxes on the training videos (CSV); unmatched: background
    positive_iou: float = 0.5  # a proposal overlapping an actor this much takes the actor's action
    keys_per_video: int = 2  # key frames (clips) drawn from each video per epoch; validation: evenly spaced
    roi_size: int = 7  # RoIAlign's output, r × r
    dropout: float = 0.5  # before the box classifier (SlowFast's AVA head)


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    detect: DetectionConfig = field(default_factory=DetectionConfig)
    out: str = "runs/run"


def _one_line(error: OmegaConfBaseException) -> str:
    key = getattr(error, "full_key", None)
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"config key {key!r}: {text}" if key else text


RECIPES = Path(__file__).resolve().parents[1] / "configs"  # the papers' recipes, shipped in the package


def list_recipes() -> dict[str, str]:
    """Name → first line of its description, for every recipe shipped in the package."""
    recipes = {}
    for path in sorted(RECIPES.glob("*.yaml")):
        first = next((line for line in path.read_text().splitlines() if line.strip()), "")
        recipes[path.stem] = first.lstrip("# ").strip()
    return recipes


def is_recipe(name: str) -> bool:
    """Does ``name`` (with or without ``.yaml``) name a recipe shipped in the package?"""
    return "/" not in name and (RECIPES / f"{name.removesuffix('.yaml')}.yaml").is_file()


def config_path(path: str | os.PathLike) -> Path:
    """A config file: an existing path, or the name of a shipped recipe (``r2plus1d_34_kinetics_32f``)."""
    if Path(path).is_file():
        return Path(path)
    if is_recipe(str(path)):
        return RECIPES / f"{str(path).removesuffix('.yaml')}.yaml"
    raise ConfigError(f"config file not found: {path} (nor a shipped recipe: `videozoo configs` lists them)")


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None,
                base: dict | None = None) -> RunConfig:
    """Defaults ← ``base`` (a dict) ← the YAML file (a path, or a shipped recipe's name) ← dotted
    ``overrides`` (``optim.lr=0.05``)."""
    try:
        cfg = OmegaConf.structured(RunConfig)
        if base:
            cfg = OmegaConf.merge(cfg, OmegaConf.create(base))
        if path is not None:
            path = config_path(path)
            loaded = OmegaConf.load(path)
            if not isinstance(loaded, DictConfig):
                raise ConfigError(f"{path} must hold a mapping of sections (model, data, optim, train, eval)")
            cfg = OmegaConf.merge(cfg, loaded)
        for item in overrides or []:
            if "=" not in item:
                raise ConfigError(f"override {item!r} must be KEY=VALUE, e.g. optim.lr=0.05")
        if overrides:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(_one_line(e)) from None
    except Exception as e:  # YAML syntax errors and the like
        if isinstance(e, ConfigError):
            raise
        first = " ".join(str(e).split())[:300]
        raise ConfigError(f"cannot read config {path}: {first}") from None


def config_to_yaml(cfg: RunConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def config_from_yaml(text: str) -> RunConfig:
    return load_config(base=OmegaConf.to_container(OmegaConf.create(text)))


def _choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"config key {key!r}: {value!r} is not one of {', '.join(map(str, choices))}")


def _positive(key: str, value, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise ConfigError(f"config key {key!r}: must be {'≥ 0' if allow_zero else '> 0'}, got {value}")


def _value(cfg: RunConfig, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def check_config(cfg: RunConfig, need_train: bool = True) -> None:
    """Everything a run needs that types cannot say, checked before it starts: the choices first (a recipe
    with a bad choice fails wherever its data are), then values, then files."""
    _check_choices(cfg)
    _check_values(cfg)
    _check_blend(cfg)
    _check_detection(cfg)
    _check_files(cfg, need_train)


def _check_choices(cfg: RunConfig) -> None:
    from ..data.transforms import NORMALIZATION
    from ..models.registry import get_entry

    get_entry(cfg.model.name)  # an unknown model lists close matches
    for key, allowed in CHOICES.items():
        if not key.startswith("blend.") or cfg.blend.modalities:
            _choice(key, _value(cfg, key), allowed)
    if cfg.data.normalization is not None:
        _choice("data.normalization", cfg.data.normalization, tuple(NORMALIZATION))
    for modality, name in cfg.blend.modalities.items():
        _choice("blend.modalities", modality, MODALITIES)
        get_entry(name)


def _check_values(cfg: RunConfig) -> None:
    d, o, t = cfg.data, cfg.optim, cfg.train
    for key, value in (("data.num_frames", d.num_frames), ("data.stride", d.stride), ("train.epochs", t.epochs),
                       ("train.batch_size", t.batch_size), ("train.accumulate", t.accumulate),
                       ("optim.lr", o.lr), ("data.crop", d.crop), ("data.fps", d.fps),
                       ("eval.clips", cfg.eval.clips), ("eval.batch_size", cfg.eval.batch_size)):
        _positive(key, value)
    for key, value in (("data.num_workers", d.num_workers), ("optim.weight_decay", o.weight_decay),
                       ("optim.warmup_epochs", o.warmup_epochs), ("optim.label_smoothing", o.label_smoothing),
                       ("optim.backbone_lr_scale", o.backbone_lr_scale)):
        _positive(key, value, allow_zero=True)
    if o.label_smoothing >= 1:
        raise ConfigError(f"config key 'optim.label_smoothing': must be below 1, got {o.label_smoothing}")
    if d.resize_hw is not None and len(d.resize_hw) != 2:
        raise ConfigError(f"config key 'data.resize_hw': expected [height, width], got {d.resize_hw}")
    if d.scale_jitter is not None and (len(d.scale_jitter) != 2 or d.scale_jitter[0] > d.scale_jitter[1]):
        raise ConfigError(f"config key 'data.scale_jitter': expected [min, max], got {d.scale_jitter}")
    if d.modality == "flow" and not d.flow_root:
        raise ConfigError("config key 'data.flow_root': training on flow needs the folder `videozoo flow` wrote")
    if d.normalization == "vmz_flow" and (d.stride != 1 or d.fps is not None or d.modality != "rgb"):
        raise ConfigError("config key 'data.normalization': vmz_flow computes the flow between consecutive frames "
                          "of the video, so it takes data.stride 1, no data.fps and data.modality rgb")
    if t.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("config key 'train.device': cuda asked for, but no CUDA device is available")


def _check_blend(cfg: RunConfig) -> None:
    b = cfg.blend
    if not b.modalities:
        return
    if cfg.data.modality != "rgb":
        raise ConfigError("config key 'data.modality': a joint run takes its streams from blend.modalities "
                          "(and flow from blend.flow_root); leave data.modality at rgb")
    if not 0 < b.holdout < 0.5:
        raise ConfigError(f"config key 'blend.holdout': must be in (0, 0.5), got {b.holdout}")
    if "flow" in b.modalities and not b.flow_root:
        raise ConfigError("config key 'blend.flow_root': the flow modality needs the folder `videozoo flow` wrote")
    if b.weighting == "fixed":
        heads = [*b.modalities, "fused"]
        unknown = [h for h in b.fixed_weights if h not in heads]
        if unknown or not b.fixed_weights:
            raise ConfigError(f"config key 'blend.fixed_weights': give weights for the heads {heads}")
    _positive("blend.warmup_epochs", b.warmup_epochs)
    _positive("blend.super_epoch", b.super_epoch)
    if b.min_gain < 0:
        raise ConfigError(f"config key 'blend.min_gain': must be ≥ 0, got {b.min_gain}")


def _check_detection(cfg: RunConfig) -> None:
    det = cfg.detect
    if cfg.data.format not in BOX_FORMATS:
        if det.proposals:
            raise ConfigError("config key 'detect.proposals': proposals are for detection runs (data.format boxes "
                              "or act)")
        return
    if cfg.blend.modalities:
        raise ConfigError("config key 'blend.modalities': a detection run (data.format boxes / act) trains one "
                          "RGB backbone")
    if not 0 < det.positive_iou <= 1:
        raise ConfigError(f"config key 'detect.positive_iou': must be in (0, 1], got {det.positive_iou}")
    _positive("detect.roi_size", det.roi_size)
    _positive("detect.keys_per_video", det.keys_per_video)
    if not 0 <= det.dropout < 1:
        raise ConfigError(f"config key 'detect.dropout': must be in [0, 1), got {det.dropout}")
    if det.proposals and not Path(det.proposals).is_file():
        raise ConfigError(f"config key 'detect.proposals': file not found: {det.proposals}")


def _check_files(cfg: RunConfig, need_train: bool) -> None:
    from ..weights.catalogue import is_tag

    d, t = cfg.data, cfg.train
    if need_train and not d.train:
        raise ConfigError("config key 'data.train': no training data given (a CSV or a folder per class)")
    for key, value in (("data.train", d.train), ("data.val", d.val), ("data.classes", d.classes),
                       ("data.splits_dir", d.splits_dir), ("train.finetune", t.finetune)):
        if value and not Path(value).exists() and not (key == "train.finetune" and is_tag(value)):
            raise ConfigError(f"config key {key!r}: file not found: {value}")
    for key, value in (("data.flow_root", d.flow_root), ("blend.flow_root", cfg.blend.flow_root)):
        if value and not Path(value).is_dir():
            raise ConfigError(f"config key {key!r}: folder not found: {value}")
