"""How a model sees its data: clip length, crop and normalisation, from a config or a checkpoint.

The settings travel inside every checkpoint (``data_settings`` metadata),
so ``videozoo eval`` and ``videozoo predict`` feed a trained model exactly
what it was trained on without being told.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import torch

from ..data.datasets import AudioConfig, VideoDataset, VideoItem, open_reader
from ..data.decode import VideoError
from ..data.sampling import ClipSampling
from ..data.transforms import VMZ_FLOW, TransformConfig, transform_config_for
from ..models.base import VideoNet
from ..models.registry import get_entry
from .config import ConfigError, DataConfig


@dataclass(frozen=True)
class InputSettings:
    family: str
    num_frames: int
    stride: int
    fps: float | None
    crop: int
    resize: int | None
    resize_hw: tuple[int, int] | None
    scale_jitter: tuple[int, int] | None
    flip: bool
    normalization: str
    modality: str = "rgb"  # rgb or flow (two channels from `videozoo flow` files)

    @property
    def flow_from_frames(self) -> bool:
        """The clip's optical flow is computed from its frames (VMZ's flow), not read from `videozoo flow` files."""
        return self.normalization == VMZ_FLOW

    @property
    def channels(self) -> int:
        """What the model gets: 2 for optical flow, 3 for RGB."""
        return 2 if self.modality == "flow" or self.flow_from_frames else 3

    @property
    def sampling(self) -> ClipSampling:
        # VMZ's flow: T flows from T + 1 consecutive frames.
        return ClipSampling(self.num_frames + self.flow_from_frames, self.stride, self.fps)

    def transform(self, test_crops: int = 1) -> TransformConfig:
        return transform_config_for(self.family, self.crop, resize=self.resize, resize_hw=self.resize_hw,
                                    scale_jitter=self.scale_jitter, flip=self.flip,
                                    normalization=self.normalization, test_crops=test_crops)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> InputSettings:
        d = json.loads(text)
        for key in ("resize_hw", "scale_jitter"):
            d[key] = tuple(d[key]) if d.get(key) else None
        return cls(**d)


def first_short_side(items: Sequence[VideoItem]) -> int | None:
    """The shorter side of the first readable video among the first few."""
    for item in items[:8]:
        try:
            with open_reader(item.path) as video:
                return min(video.width, video.height)
        except VideoError:
            continue
    return None


def resolve_inputs(data: DataConfig, model_name: str, items: Sequence[VideoItem]) -> InputSettings:
    """Fill the unset parts of ``data`` from the model (its default crop, its family's normalisation).

    With no crop given, a model takes its default crop, or less for videos smaller than that (the crop then
    fits inside the video: a newcomer's small clips are not blown up 4×). C3D's fully connected layers fix
    its input at 112×112.
    """
    entry = get_entry(model_name)
    crop = data.crop
    if crop is None:
        crop = entry.default_clip[1]
        short = first_short_side(items)
        if entry.family != "c3d" and short is not None and short * 7 // 8 < crop:
            crop = max(16, (short * 7 // 8) // 8 * 8)
    family_default = transform_config_for(entry.family, crop)
    normalization = data.normalization or ("flow" if data.modality == "flow" else family_default.normalization)
    return InputSettings(
        family=entry.family, num_frames=data.num_frames, stride=data.stride, fps=data.fps, crop=crop,
        resize=data.resize, resize_hw=tuple(data.resize_hw) if data.resize_hw else family_default.resize_hw,
        scale_jitter=tuple(data.scale_jitter) if data.scale_jitter else None, flip=data.flip,
        normalization=normalization, modality=data.modality,
    )


def check_model_accepts(model: VideoNet, settings: InputSettings) -> None:
    """Fail before training when the clip does not fit the network (too short, too small, fixed size); a
    late-fusion net's visual streams each."""
    if model.modalities:
        for m in ("rgb", "flow"):
            if m in model.modalities:
                check_model_accepts(model.backbones[m], settings if m == "rgb" else replace(settings, modality=m))
        return
    if model.in_channels != settings.channels:
        what = "VMZ's optical flow (normalization vmz_flow)" if settings.flow_from_frames else "RGB frames"
        raise ConfigError(f"the clips are {what}, {settings.channels} channels; {model.name} takes "
                          f"{model.in_channels} (model.overrides.in_channels)")
    x = torch.empty(1, model.in_channels, settings.num_frames, settings.crop, settings.crop,
                    device="meta")
    try:
        model.check_input(x)
    except ValueError as e:
        hint = ""
        if "T ≥" in str(e):
            hint = " (raise data.num_frames)"
        elif "H ≥" in str(e):
            hint = " (raise data.crop)"
        raise ConfigError(f"the clips do not fit the model: {e}{hint}") from None


def settings_from_metadata(metadata: Mapping[str, str]) -> InputSettings | None:
    text = metadata.get("data_settings")
    return InputSettings.from_json(text) if text else None


def audio_from_metadata(metadata: Mapping[str, str]) -> AudioConfig:
    """The spectrogram settings a multi-modal checkpoint was trained with (``audio_settings``; else the default)."""
    text = metadata.get("audio_settings")
    return AudioConfig(**json.loads(text)) if text else AudioConfig()


def visual_modality(modalities: Iterable[str]) -> str | None:
    """The modality a late-fusion model's clips are sampled for: RGB, else flow, else none (audio alone)."""
    modalities = list(modalities)
    return "rgb" if "rgb" in modalities else "flow" if "flow" in modalities else None


def modality_keys(modalities: Iterable[str], dataset: VideoDataset) -> dict[str, str]:
    """Where each modality is in the items of a :func:`multimodal_dataset`: the visual one (the dataset's
    ``modality``) under ``"video"``, flow beside RGB under ``"flow"``, audio under ``"audio"``."""
    keys = {}
    for m in modalities:
        keys[m] = "audio" if m == "audio" else "video" if m == dataset.modality else "flow"
        if m == "audio" and dataset.audio is None:
            raise ValueError("the model takes audio: give the dataset an AudioConfig")
        if keys[m] == "flow" and dataset.flow_transform is None:
            raise ValueError("the model takes optical flow: give the dataset a flow_transform and flow_root")
    return keys


def paired_views(batch: dict, keys: dict[str, str]) -> tuple[dict[str, torch.Tensor], int]:
    """A batch of eval items per modality, flattened to ``(B·views, ...)`` with the views paired, and the number
    of views per video. The visual views are ``clips × crops`` (clip-major); the audio is one spectrogram per
    clip, repeated for each crop of its clip."""
    views = {m: batch[key] for m, key in keys.items()}
    v = max(x.shape[1] for x in views.values())
    if "audio" in views:
        views["audio"] = views["audio"].repeat_interleave(v // views["audio"].shape[1], dim=1)
    return {m: x.flatten(0, 1) for m, x in views.items()}, v


def multimodal_dataset(items: Sequence[VideoItem], classes: Sequence[str], settings: InputSettings,
                       modalities: Iterable[str], *, train: bool, num_clips: int = 1, crops: int = 1, seed: int = 0,
                       audio: AudioConfig | None = None, backend: str = "pyav",
                       flow_root: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None
                       ) -> VideoDataset:
    """What a late-fusion model over ``modalities`` reads: the visual modality (RGB, else flow) as ``"video"``,
    flow beside RGB as ``"flow"`` (same frames, same crop, flow normalisation) and, with ``audio``, each clip's
    spectrogram. Training and evaluation build it alike."""
    modalities = list(modalities)
    visual = visual_modality(modalities) or "rgb"  # audio alone: the dataset still samples (RGB) clips
    transform = settings.transform(crops)
    flow_transform = replace(transform, normalization="flow") if "flow" in modalities and visual == "rgb" else None
    if visual == "flow":
        transform = replace(transform, normalization="flow")
    return VideoDataset(items, classes, settings.sampling, transform, train=train, num_clips=num_clips, seed=seed,
                        audio=audio if "audio" in modalities else None, backend=backend, modality=visual,
                        flow_transform=flow_transform, flow_root=flow_root, data_root=data_root)
