"""Transforms on video clips, with the papers' presets.

A transform takes a clip ``(T, C, H, W)`` (uint8 or float, torchvision's
video layout) and a ``numpy.random.Generator`` for its random choices, and
returns a clip; the same choice (crop box, flip) applies to every frame.
The image operations are ``torchvision.transforms.v2.functional``'s.

:func:`ToModelInput` ends every pipeline: float in [0, 1], normalised, and
``(C, T, H, W)`` as the models take it (or :class:`FramesToVmzFlow`, which
turns the frames into VMZ's optical flow). Multi-view test transforms
(:class:`ThreeCrop`, :class:`MultiCrop`) return ``(V, C, T, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as F

VMZ_FLOW = "vmz_flow"  # the preset that turns a clip's frames into VMZ's optical flow (one frame more than flows)
# The preset that standardises each clip on its own: every channel to mean 0 and standard deviation 1 over the clip's
# frames and pixels (each view of a multi-view input on its own). What a from-scratch run uses by default: real
# footage ranges from dark, flat scenes to bright, busy ones, and with fixed statistics the low-contrast clips'
# motion is a whisper next to the others' (measured on the photographs set: docs/training.md).
PER_CLIP = "clip"
CLIP_STD_FLOOR = 1e-3  # a blank clip is not blown up: its standard deviation counts as at least this

# Per family: (mean, std) on the [0, 1] scale.
NORMALIZATION = {
    # torchvision's and VMZ's Kinetics statistics (every video model of torchvision uses them).
    "kinetics": ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
    # C3D (Caffe): mean pixel subtraction on the 0-255 scale, no scaling (mmaction2's C3D setting).
    "c3d": ((104 / 255, 117 / 255, 128 / 255), (1 / 255, 1 / 255, 1 / 255)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    # pytorchvideo's hub models: one mean and std for every channel.
    "pytorchvideo": ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
    # ImageNet's statistics (mmaction2 gives them on the 0-255 scale: 123.675 … / 58.395 …; the P3D port's).
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # Inception (DeepMind's I3D, kylemin's S3D): pixels mapped to [-1, 1].
    "inception_tf": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    # Per-clip standardisation (PER_CLIP): the clip's own statistics; nothing further after them.
    PER_CLIP: ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    # Optical flow stored by videozoo.data.flow: 0…255 ↔ ±20 px, mapped to [-1, 1]; two channels (x, y).
    "flow": ((0.5, 0.5), (0.5, 0.5)),
    # Optical flow computed from the clip's frames as VMZ's Caffe2 input op does (FramesToVmzFlow): its
    # statistics in pixels, x then y (caffe2/video's InputDataMean / InputDataStd).
    VMZ_FLOW: ((0.0046635, 0.0046261), (0.972347, 0.755146)),
}
FAMILY_NORMALIZATION = {"residual": "kinetics", "inception": "kinetics", "c3d": "c3d"}


def _size(h: int, w: int, short: int) -> tuple[int, int]:
    """(h, w) scaled so the short side is ``short``."""
    if h <= w:
        return short, max(1, round(w * short / h))
    return max(1, round(h * short / w)), short


class ShortSideResize:
    """Scale so the shorter side is ``size`` (aspect kept)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        return F.resize(clip, list(_size(*clip.shape[-2:], self.size)), antialias=True)


class Resize:
    """Scale to exactly ``(height, width)``, e.g. C3D's 128×171."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = tuple(size)

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        return F.resize(clip, list(self.size), antialias=True)


class RandomShortSideScale:
    """Scale jitter: the shorter side drawn uniformly from ``[min_size, max_size]`` (VMZ: 128–160 for 112 crops)."""

    def __init__(self, min_size: int, max_size: int) -> None:
        if min_size > max_size:
            raise ValueError(f"min_size {min_size} > max_size {max_size}")
        self.min_size, self.max_size = min_size, max_size

    def __call__(self, clip: Tensor, rng: np.random.Generator) -> Tensor:
        short = int(rng.integers(self.min_size, self.max_size + 1))
        return F.resize(clip, list(_size(*clip.shape[-2:], short)), antialias=True)


def _pad_to(clip: Tensor, size: int) -> Tensor:
    """Pad (zeros, centred) a clip smaller than the crop; odd videos smaller than the crop still work."""
    h, w = clip.shape[-2:]
    if h >= size and w >= size:
        return clip
    ph, pw = max(size - h, 0), max(size - w, 0)
    return F.pad(clip, [pw // 2, ph // 2, pw - pw // 2, ph - ph // 2])


class RandomCrop:
    """A ``size``×``size`` crop at a random place."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: Tensor, rng: np.random.Generator) -> Tensor:
        clip = _pad_to(clip, self.size)
        h, w = clip.shape[-2:]
        top = int(rng.integers(0, h - self.size + 1))
        left = int(rng.integers(0, w - self.size + 1))
        return F.crop(clip, top, left, self.size, self.size)


class CenterCrop:
    """The central ``size``×``size`` crop."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        return F.center_crop(_pad_to(clip, self.size), [self.size, self.size])


class ThreeCrop:
    """Three ``size``×``size`` crops along the longer side (start, centre, end): the papers' test views.

    Returns ``(3, T, C, size, size)``.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        clip = _pad_to(clip, self.size)
        h, w = clip.shape[-2:]
        s = self.size
        if w >= h:
            boxes = [((h - s) // 2, x) for x in (0, (w - s) // 2, w - s)]
        else:
            boxes = [(y, (w - s) // 2) for y in (0, (h - s) // 2, h - s)]
        return torch.stack([F.crop(clip, top, left, s, s) for top, left in boxes])


class MultiCrop:
    """Five crops (four corners and centre), optionally with their mirror images: 5 or 10 views.

    Returns ``(V, T, C, size, size)``.
    """

    def __init__(self, size: int, flips: bool = False) -> None:
        self.size, self.flips = size, flips

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        views = list(F.five_crop(_pad_to(clip, self.size), [self.size, self.size]))
        if self.flips:
            views += [F.horizontal_flip(v) for v in views]
        return torch.stack(views)


class RandomHorizontalFlip:
    """Mirror the clip with probability ``p``; a two-channel (flow) clip also has its x component negated."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, clip: Tensor, rng: np.random.Generator) -> Tensor:
        if rng.random() >= self.p:
            return clip
        clip = F.horizontal_flip(clip)
        if clip.shape[-3] == 2:  # quantised flow: x ↦ -x is q ↦ 255 - q
            clip = clip.clone()
            clip[..., 0, :, :] = (255 - clip[..., 0, :, :]) if clip.dtype == torch.uint8 else -clip[..., 0, :, :]
        return clip


class ToModelInput:
    """uint8 ``(…, T, C, H, W)`` → normalised float ``(…, C, T, H, W)``."""

    def __init__(self, preset: str = "kinetics") -> None:
        if preset not in NORMALIZATION:
            raise ValueError(f"unknown normalization {preset!r}; expected one of {', '.join(NORMALIZATION)}")
        mean, std = NORMALIZATION[preset]
        self.preset = preset
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        if clip.shape[-3] != len(self.mean):
            raise ValueError(f"normalization {self.preset!r} is for {len(self.mean)} channels; the clip has "
                             f"{clip.shape[-3]} (optical flow takes normalization 'flow')")
        x = clip.float().div_(255) if clip.dtype == torch.uint8 else clip.float()
        if self.preset == PER_CLIP:  # (…, T, C, H, W): per channel over time and space
            dims = (-4, -2, -1)
            x = (x - x.mean(dims, keepdim=True)) / x.std(dims, keepdim=True).clamp_min(CLIP_STD_FLOOR)
        else:
            x = (x - self.mean) / self.std
        return x.transpose(-4, -3).contiguous()


class FramesToVmzFlow:
    """uint8 RGB ``(…, T + 1, 3, H, W)`` (resized, cropped and flipped) → VMZ's optical flow ``(…, 2, T, H, W)``.

    What caffe2/video's ClipTransformOpticalFlow feeds VMZ's flow networks (``flow_alg_type=0``,
    ``flow_data_type=0``, ``frame_gap_of=1``): OpenCV's Farneback flow between the grey images of consecutive
    frames of the crop, with Caffe2's parameters (pyramid scale 1/√2, 5 levels, window 10, 2 iterations, poly_n
    7, sigma 1.5, Gaussian window), in pixels, minus VMZ's mean and over its std.
    """

    def __init__(self) -> None:
        mean, std = NORMALIZATION[VMZ_FLOW]
        self.mean = np.array(mean, np.float32)
        self.inv_std = 1 / np.array(std, np.float32)

    def flow(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(T + 1, 3, H, W)`` → float32 ``(2, T, H, W)``."""
        from .flow import compute_flow

        out = (compute_flow(frames.transpose(0, 2, 3, 1), "farneback_vmz") - self.mean) * self.inv_std
        return out.transpose(3, 0, 1, 2)  # (T, H, W, 2) → (2, T, H, W)

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        if clip.dtype != torch.uint8 or clip.shape[-3] != 3 or clip.shape[-4] < 2:
            raise ValueError(f"normalization {VMZ_FLOW!r} computes flow from uint8 RGB frames (…, T + 1, 3, H, W); "
                             f"got {tuple(clip.shape)} {clip.dtype}")
        lead = clip.shape[:-4]
        frames = clip.reshape(-1, *clip.shape[-4:]).numpy()
        out = np.stack([self.flow(f) for f in frames])
        return torch.from_numpy(out).reshape(*lead, *out.shape[1:])


def model_input(preset: str):
    """The last step of a pipeline: normalise the frames (:class:`ToModelInput`), or compute VMZ's flow from them
    (:class:`FramesToVmzFlow`, preset ``vmz_flow``)."""
    return FramesToVmzFlow() if preset == VMZ_FLOW else ToModelInput(preset)


class SingleView:
    """``(C, T, H, W)`` → ``(1, C, T, H, W)``: one view, shaped like the multi-view transforms' output."""

    def __call__(self, clip: Tensor, rng: np.random.Generator | None = None) -> Tensor:
        return clip.unsqueeze(0)


class Compose:
    """Apply transforms in order, passing each the same generator."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: Tensor, rng: np.random.Generator) -> Tensor:
        for t in self.transforms:
            clip = t(clip, rng)
        return clip

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(type(t).__name__ for t in self.transforms) + ")"


def frames_to_clip(frames: Tensor) -> Tensor:
    """Decoded uint8 ``(T, H, W, 3)`` → torchvision's video layout ``(T, 3, H, W)``."""
    return frames.permute(0, 3, 1, 2)


@dataclass(frozen=True)
class TransformConfig:
    """The pipeline of a paper setting.

    ``resize``: short side before cropping (the papers: 128 for 112 crops, 256 for 224);
    ``resize_hw``: exact (height, width) instead (C3D: 128×171); ``scale_jitter``: the
    training short side drawn from this range instead of ``resize``; ``test_crops``: 1
    (centre), 3 (three-crop) or 5 / 10 (corners and centre, with flips).
    """

    crop: int = 112
    resize: int | None = None
    resize_hw: tuple[int, int] | None = None
    scale_jitter: tuple[int, int] | None = None
    flip: bool = True
    normalization: str = "kinetics"
    test_crops: int = 1

    def __post_init__(self) -> None:
        if self.test_crops not in (1, 3, 5, 10):
            raise ValueError(f"test_crops must be 1, 3, 5 or 10, got {self.test_crops}")
        if self.normalization not in NORMALIZATION:
            raise ValueError(f"unknown normalization {self.normalization!r}; "
                             f"expected one of {', '.join(NORMALIZATION)}")

    def _resize(self):
        if self.resize_hw is not None:
            return Resize(self.resize_hw)
        return ShortSideResize(self.resize or round(self.crop * 8 / 7))

    def train(self) -> Compose:
        """Resize (or scale jitter), random crop, random flip, normalise."""
        first = RandomShortSideScale(*self.scale_jitter) if self.scale_jitter else self._resize()
        steps = [first, RandomCrop(self.crop)]
        if self.flip:
            steps.append(RandomHorizontalFlip())
        return Compose([*steps, model_input(self.normalization)])

    def eval(self) -> Compose:
        """Resize, then the centre crop or ``test_crops`` views, normalise. Returns (V, C, T, H, W)."""
        views = {1: CenterCrop(self.crop), 3: ThreeCrop(self.crop), 5: MultiCrop(self.crop),
                 10: MultiCrop(self.crop, flips=True)}[self.test_crops]
        steps = [self._resize(), views, model_input(self.normalization)]
        if self.test_crops == 1:
            steps.append(SingleView())
        return Compose(steps)


def transform_config_for(family: str, crop: int, **overrides) -> TransformConfig:
    """The papers' pipeline for a model family at a crop size (C3D: 128×171 then 112)."""
    if family == "c3d":
        base = {"resize_hw": (128, 171), "normalization": FAMILY_NORMALIZATION["c3d"]}
    else:
        base = {"normalization": FAMILY_NORMALIZATION.get(family, "kinetics")}
    return TransformConfig(crop=crop, **{**base, **overrides})
