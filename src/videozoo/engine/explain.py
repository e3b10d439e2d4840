"""Temporal Grad-CAM: where in space and time a network looked for a class.

Captum's :class:`~captum.attr.LayerGradCam` weighs each channel of a layer's 5-D map ``(B, C, T', H', W')`` by
its gradient averaged over time and space, sums the channels and keeps the positive part; the map is upsampled
(trilinear) to the clip, ``(T, H, W)``, and scaled to [0, 1]. Guided Grad-CAM (the Grad-CAM paper's pixel-fine
variant, Captum's :class:`~captum.attr.GuidedGradCam`) multiplies that map by guided backpropagation's gradient
of the class with respect to the clip's pixels: ``method="guided"``. :func:`explain_video` renders either as a
heat-map over the clip's frames (MP4 or GIF).

::

    clip (1, 3, T, H, W) ─► model ─► logit of the class ─► ∂/∂ layer map (1, C, T', H', W')
                                     weights = mean over T', H', W' ─► ReLU(Σ_c w_c · map_c) ─► (T, H, W)
    guided: upsampled map × guided backprop ∂ logit / ∂ clip (1, 3, T, H, W) ─► Σ over colour of |·| ─► (T, H, W)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..data.datasets import VideoDataset, VideoItem
from ..data.decode import VideoError
from .config import ConfigError
from .metrics import class_scores, is_multilabel_model


@dataclass
class CamResult:
    heatmap: Tensor  # (T, H, W), in [0, 1]
    target: int  # the class explained
    probability: float  # the model's softmax (sigmoid: multi-label) for it on this clip
    layer: str
    name: str = ""  # the class's name, where the checkpoint has them
    method: str = "gradcam"


# Grad-CAM's map (coarse: a cell of the layer's grid per 16 or 32 pixels) or Guided Grad-CAM's (pixel-fine)
CAM_METHODS = ("gradcam", "guided")


def default_cam_layer(model: nn.Module) -> str:
    """The last spatiotemporal map before the head: a residual net's last stage, else the last block of
    ``features`` that holds a convolution (Inception's Mixed_5c, C3D's conv5b)."""
    if hasattr(model, "stages"):
        return f"layer{len(model.stages)}"
    for name, module in reversed(list(model.features.named_children())):
        if any(isinstance(m, nn.Conv3d) for m in module.modules()):
            return f"features.{name}"
    raise ValueError(f"{type(model).__name__} has no convolution map to explain")


def grad_cam(model: nn.Module, clip: Tensor, target: int | None = None, layer: str | None = None,
             method: str = "gradcam") -> CamResult:
    """Grad-CAM of ``clip`` ``(1, C, T, H, W)`` for class ``target`` (default: the top class) at ``layer`` (a module
    name, default :func:`default_cam_layer`): a :class:`CamResult` with the ``(T, H, W)`` heat-map in [0, 1].

    ``method="guided"``: Guided Grad-CAM, the map times guided backpropagation's pixel gradients (their magnitude
    summed over colour), scaled by its 99th percentile (a few extreme pixels would dim the rest) and clipped at 1.
    """
    from captum.attr import GuidedGradCam, LayerGradCam

    if method not in CAM_METHODS:
        raise ValueError(f"Grad-CAM method {method!r} is not one of {', '.join(CAM_METHODS)}")
    if clip.ndim != 5 or clip.shape[0] != 1:
        raise ValueError(f"grad_cam takes one clip (1, C, T, H, W); got shape {tuple(clip.shape)}")
    if getattr(model, "modalities", ()) or not (hasattr(model, "features") or hasattr(model, "stages")):
        raise ValueError(f"Grad-CAM explains single-clip video networks; {getattr(model, 'name', model)} is not one")
    layer = layer or default_cam_layer(model)
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise ValueError(f"{model.name} has no layer {layer!r}") from None
    model.eval()
    with torch.no_grad():
        probs = class_scores(model(clip), is_multilabel_model(model))[0]
    target = int(probs.argmax()) if target is None else target
    if not 0 <= target < probs.numel():
        raise ValueError(f"class {target} is out of range for {probs.numel()} classes")
    with torch.enable_grad():
        if method == "guided":
            with warnings.catch_warnings():  # Captum announces its (temporary) ReLU hooks on every call
                warnings.filterwarnings("ignore", "Setting backward hooks on ReLU", UserWarning)
                cam = GuidedGradCam(model, module).attribute(clip.clone().requires_grad_(), target=target,
                                                         interpolate_mode="trilinear")
            cam = cam.detach().float()[0].abs().sum(0)
            peak = torch.quantile(cam.flatten(), 0.99) if cam.numel() <= 2**24 else cam.max()
            peak = peak if peak > 0 else cam.max()
        else:
            cam = LayerGradCam(model, module).attribute(clip, target=target, relu_attributions=True)
            cam = torch.nn.functional.interpolate(cam.detach().float(), size=clip.shape[2:], mode="trilinear",
                                                  align_corners=False)[0, 0]
            peak = cam.max()
    heat = (cam / peak).clamp(max=1) if peak > 0 else cam
    return CamResult(heat, target, float(probs[target]), layer, method=method)


def overlay(frames: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` frames with the ``(T, H, W)`` map in [0, 1] blended over them (matplotlib's jet)."""
    from matplotlib import colormaps

    colours = colormaps["jet"](heatmap)[..., :3] * 255
    return np.clip((1 - alpha) * frames + alpha * colours, 0, 255).astype(np.uint8)


def _clip_and_frames(video: str | os.PathLike, settings) -> tuple[Tensor, np.ndarray]:
    """The centre clip of ``video`` as the model takes it ``(1, C, T, H, W)``, and the same frames for the eye
    (resized and cropped, not normalised): uint8 ``(T, H, W, 3)``. The clip is decoded once."""
    from ..data.transforms import ToModelInput

    plain = replace(settings, normalization="none")  # [0, 1]: what the eye sees, normalised below for the model
    item = VideoDataset([VideoItem(str(video), 0)], ["?"], plain.sampling, plain.transform(1), train=False,
                        num_clips=1)[0]
    if item.get("skipped"):
        raise VideoError(item["error"])
    view = item["video"]  # (1, C, T, H, W)
    frames = (view[0].permute(1, 2, 3, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    # the checkpoint's normalisation as training applied it (per-clip standardisation included)
    return ToModelInput(settings.normalization)(view.transpose(1, 2)), frames


def gif_bytes(frames: np.ndarray, fps: float = 8.0) -> bytes:
    """Frames ``(T, H, W, 3)`` uint8 as an animated GIF that loops."""
    import io

    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                   loop=0)
    return buffer.getvalue()


def write_overlay(path: str | os.PathLike, frames: np.ndarray, fps: float = 8.0) -> Path:
    """Frames ``(T, H, W, 3)`` as an animated GIF (``.gif``) or a video (any other suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        path.write_bytes(gif_bytes(frames, fps))
        return path
    from ..data.encode import write_video

    return write_video(path, frames, fps, pix_fmt="yuv444p")


def class_index(target: str | int | None, classes: list[str]) -> int | None:
    """A class given by name or index (a string of digits is an index) as its index; None stays None."""
    if isinstance(target, str) and not target.isdigit():
        if target not in classes:
            raise ConfigError(f"class {target!r} is not one of the model's ({len(classes)} classes)")
        return classes.index(target)
    return None if target is None else int(target)


def explain_clip(model: nn.Module, classes: list[str], settings, video: str | os.PathLike,
                 target: str | int | None = None, layer: str | None = None,
                 method: str = "gradcam") -> tuple[CamResult, np.ndarray]:
    """Grad-CAM (``method``: :data:`CAM_METHODS`) of ``video``'s centre clip under ``model`` (RGB, its input
    ``settings``): the result, named, and the map drawn over the clip's frames, uint8 ``(T, H, W, 3)``."""
    if getattr(model, "modalities", ()) or settings.channels != 3:
        raise ConfigError(f"explain takes an RGB model (this one takes "
                          f"{', '.join(model.modalities) if getattr(model, 'modalities', ()) else 'optical flow'})")
    target = class_index(target, classes)
    clip, frames = _clip_and_frames(video, settings)
    result = grad_cam(model, clip, target, layer, method)
    result.name = classes[result.target]
    return result, overlay(frames, result.heatmap.numpy())


def explain_video(checkpoint: str | os.PathLike, video: str | os.PathLike, out: str | os.PathLike,
                  target: str | int | None = None, layer: str | None = None, method: str = "gradcam") -> CamResult:
    """Grad-CAM (``method``: :data:`CAM_METHODS`) of ``video``'s centre clip under the model of ``checkpoint`` (a
    file, run folder or weights tag), written over the frames to ``out`` (.mp4 / .gif). ``target``: a class name
    or index (default: the top one)."""
    from .evaluate import load_for_inference

    model, classes, settings = load_for_inference(checkpoint)
    try:
        result, frames = explain_clip(model, classes or [str(i) for i in range(model.num_classes)], settings, video,
                                      target, layer, method)
    except ConfigError as e:
        raise ConfigError(f"{checkpoint}: {e}") from None
    write_overlay(out, frames)
    return result
