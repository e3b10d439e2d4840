"""Import other libraries' weights into zoo models.

A converter renames a foreign state dict's keys into ours and says which
architecture (and overrides) reproduce the foreign network. The tests prove
each one by comparing outputs with the source implementation, not by
matching key names alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .engine.checkpoint import CheckpointError, load_state_checked, save_model
from .models.inception import ENDPOINTS
from .models.registry import create_model

# (regex on the source key, replacement): within one list the first matching rule renames a key.
Rules = list[tuple[str, str | Callable[[re.Match], str]]]

_TV_RESNET_BLOCKS: Rules = [
    (r"^layer(\d)\.(\d+)\.downsample\.0\.", r"layer\1.\2.shortcut.conv."),
    (r"^layer(\d)\.(\d+)\.downsample\.1\.", r"layer\1.\2.shortcut.bn."),
    (r"^fc\.", "head.fc."),
]
_TV_SIMPLE_CONVS: Rules = [
    (r"^stem\.0\.", "stem.conv.conv."),
    (r"^stem\.1\.", "stem.conv.bn."),
    (r"^(layer\d\.\d+\.conv\d)\.0\.", r"\1.conv."),
    (r"^(layer\d\.\d+\.conv\d)\.1\.", r"\1.bn."),
]
_TV_R2PLUS1D_CONVS: Rules = [
    (r"^stem\.0\.", "stem.conv.spatial.conv."),
    (r"^stem\.1\.", "stem.conv.spatial.bn."),
    (r"^stem\.3\.", "stem.conv.temporal.conv."),
    (r"^stem\.4\.", "stem.conv.temporal.bn."),
    (r"^(layer\d\.\d+\.conv\d)\.0\.0\.", r"\1.spatial.conv."),
    (r"^(layer\d\.\d+\.conv\d)\.0\.1\.", r"\1.spatial.bn."),
    (r"^(layer\d\.\d+\.conv\d)\.0\.3\.", r"\1.temporal.conv."),
    (r"^(layer\d\.\d+\.conv\d)\.1\.", r"\1.temporal.bn."),
]


_TV_S3D: list[Rules] = [
    # torchvision numbers the trunk; ours names its endpoints as TF's s3dg.py does.
    [(r"^features\.(\d+)\.", lambda m: f"features.{ENDPOINTS[int(m.group(1))]}.")],
    [
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.0\.0\.", r"\1.spatial.conv."),
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.0\.1\.", r"\1.spatial.bn."),
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.1\.0\.", r"\1.temporal.conv."),
        (r"^(features\.(?:Conv2d_1a|Conv2d_2c))\.1\.1\.", r"\1.temporal.bn."),
        (r"^(features\.Conv2d_2b)\.0\.", r"\1.conv."),
        (r"^(features\.Conv2d_2b)\.1\.", r"\1.bn."),
        (r"\.branch0\.0\.", ".branch0.proj.conv."),
        (r"\.branch0\.1\.", ".branch0.proj.bn."),
        (r"\.branch([12])\.0\.0\.", r".branch\1.reduce.conv."),
        (r"\.branch([12])\.0\.1\.", r".branch\1.reduce.bn."),
        (r"\.branch([12])\.1\.0\.0\.", r".branch\1.conv.spatial.conv."),
        (r"\.branch([12])\.1\.0\.1\.", r".branch\1.conv.spatial.bn."),
        (r"\.branch([12])\.1\.1\.0\.", r".branch\1.conv.temporal.conv."),
        (r"\.branch([12])\.1\.1\.1\.", r".branch\1.conv.temporal.bn."),
        (r"\.branch3\.1\.0\.", ".branch3.proj.conv."),
        (r"\.branch3\.1\.1\.", ".branch3.proj.bn."),
        # Its classifier is a 1×1×1 conv after the 2×7×7 average; ours is the same map as a Linear.
        (r"^classifier\.1\.", "head.fc."),
    ],
]


@dataclass(frozen=True)
class Recipe:
    """How one foreign network maps onto a zoo model.

    ``passes`` are applied in turn; ``flatten`` names tensors (1×1×1 conv
    classifiers) to reshape to the model's Linear weight.
    """

    arch: str
    passes: list[Rules]
    overrides: dict = field(default_factory=dict)
    classifier: str = "fc.weight"
    flatten: tuple[str, ...] = ()


TORCHVISION: dict[str, Recipe] = {
    "r3d_18": Recipe("r3d_18", [_TV_SIMPLE_CONVS + _TV_RESNET_BLOCKS]),
    "mc3_18": Recipe("mc3_18", [_TV_SIMPLE_CONVS + _TV_RESNET_BLOCKS]),
    # torchvision computes the (2+1)D width once per block, not per conv as the paper does.
    "r2plus1d_18": Recipe("r2plus1d_18", [_TV_R2PLUS1D_CONVS + _TV_RESNET_BLOCKS], {"mid_channels": "per_block"}),
    "s3d": Recipe("s3d", _TV_S3D, classifier="classifier.1.weight", flatten=("head.fc.weight",)),
}
SOURCES: dict[str, dict[str, Recipe]] = {"torchvision": TORCHVISION}


def rename_keys(state: Mapping[str, torch.Tensor], passes: list[Rules]) -> dict[str, torch.Tensor]:
    """Rename every key through each pass in turn; within a pass the first matching rule applies."""
    out = dict(state)
    for rules in passes:
        compiled = [(re.compile(p), r) for p, r in rules]
        renamed = {}
        for key, value in out.items():
            for pattern, replacement in compiled:
                key, n = pattern.subn(replacement, key)
                if n:
                    break
            renamed[key] = value
        out = renamed
    return out


def unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    """The state dict inside what torch.load returned (bare, or under 'state_dict' / 'model')."""
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


def convert_state_dict(source: str, name: str, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A zoo model carrying the weights of ``source``'s network ``name`` (e.g. torchvision ``r2plus1d_18``)."""
    recipe = recipe_for(source, name)
    state = unwrap_state_dict(state)
    fc = state.get(recipe.classifier)
    num_classes = fc.shape[0] if fc is not None else 400
    model = create_model(recipe.arch, num_classes, **recipe.overrides)
    renamed = rename_keys(state, recipe.passes)
    own = model.state_dict()
    for key in recipe.flatten:
        if key in renamed and key in own and renamed[key].numel() == own[key].numel():
            renamed[key] = renamed[key].reshape(own[key].shape)
    load_state_checked(model, renamed, source=f"{source} {name} state dict")
    return model


def convert_file(source: str, name: str, src: str | os.PathLike, dst: str | os.PathLike,
                 load: Callable = torch.load) -> nn.Module:
    """Read a foreign ``.pth`` state dict, convert it, write a videozoo checkpoint. Returns the model."""
    recipe_for(source, name)  # an unsupported network fails before any reading
    src = Path(src)
    if not src.is_file():
        raise CheckpointError(f"weights file not found: {src}")
    try:
        state = load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many kinds for a bad file
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(
            f"{src} is not a readable PyTorch state dict ({type(e).__name__}: {first_line})") from None
    model = convert_state_dict(source, name, state)
    save_model(model, dst, metadata={"converted_from": f"{source}:{name}"})
    return model
