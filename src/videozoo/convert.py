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
from .models.registry import create_model

Rules = list[tuple[str, str]]  # (regex on the source key, replacement)

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


@dataclass(frozen=True)
class Recipe:
    """How one foreign network maps onto a zoo model."""

    arch: str
    rules: Rules
    overrides: dict = field(default_factory=dict)


TORCHVISION: dict[str, Recipe] = {
    "r3d_18": Recipe("r3d_18", _TV_SIMPLE_CONVS + _TV_RESNET_BLOCKS),
    "mc3_18": Recipe("mc3_18", _TV_SIMPLE_CONVS + _TV_RESNET_BLOCKS),
    # torchvision computes the (2+1)D width once per block, not per conv as the paper does.
    "r2plus1d_18": Recipe("r2plus1d_18", _TV_R2PLUS1D_CONVS + _TV_RESNET_BLOCKS, {"mid_channels": "per_block"}),
}
SOURCES: dict[str, dict[str, Recipe]] = {"torchvision": TORCHVISION}


def rename_keys(state: Mapping[str, torch.Tensor], rules: Rules) -> dict[str, torch.Tensor]:
    compiled = [(re.compile(p), r) for p, r in rules]
    out = {}
    for key, value in state.items():
        for pattern, replacement in compiled:
            key, n = pattern.subn(replacement, key)
            if n:
                break
        out[key] = value
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
    fc = state.get("fc.weight")
    num_classes = fc.shape[0] if fc is not None else 400
    model = create_model(recipe.arch, num_classes, **recipe.overrides)
    load_state_checked(model, rename_keys(state, recipe.rules), source=f"{source} {name} state dict")
    return model


def convert_file(source: str, name: str, src: str | os.PathLike, dst: str | os.PathLike,
                 load: Callable = torch.load) -> nn.Module:
    """Read a foreign ``.pth`` state dict, convert it, write a videozoo checkpoint. Returns the model."""
    src = Path(src)
    if not src.is_file():
        raise CheckpointError(f"weights file not found: {src}")
    try:
        state = load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many kinds for a bad file
        raise CheckpointError(f"{src} is not a readable PyTorch state dict: {type(e).__name__}: {e}") from None
    model = convert_state_dict(source, name, state)
    save_model(model, dst, metadata={"converted_from": f"{source}:{name}"})
    return model
