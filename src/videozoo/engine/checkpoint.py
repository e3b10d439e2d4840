"""Self-describing model checkpoints.

A videozoo checkpoint is one ``.safetensors`` file: the state dict, plus
metadata naming the architecture, its overrides and its class count (and,
when known, the class names), so :func:`load_model` rebuilds the exact model
without being told what it is. Writes are atomic: a temporary file in the
same folder, then a rename, so a killed process never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..models.registry import create_model
from .metrics import is_multilabel_model

FORMAT = "videozoo"
FORMAT_VERSION = "1"
DETECTION = "detection"  # the ``task`` metadata of an action detector's checkpoint (else a classifier's)


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the model."""


def save_model(model: nn.Module, path: str | os.PathLike, *, classes: list[str] | None = None,
               metadata: Mapping[str, str] | None = None, tensors: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write ``model`` (a zoo model) as a self-describing safetensors checkpoint.

    ``classes`` are stored for predict/eval; ``metadata`` adds string entries;
    ``tensors`` adds non-model tensors under their own names (e.g. ``"optim/..."``).
    """
    arch = getattr(model, "arch", None)
    if arch is None:
        raise CheckpointError("save_model needs a model built by videozoo.create_model (it has no .arch)")
    model = getattr(model, "module", model)  # DistributedDataParallel wraps the model
    state = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for k, v in (tensors or {}).items():
        state[k] = v.detach().contiguous().cpu()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": arch,
        "num_classes": str(model.num_classes),
        "overrides": json.dumps(getattr(model, "overrides", {})),
    }
    if classes is not None:
        if len(classes) != model.num_classes:
            raise CheckpointError(f"{len(classes)} class names for a model with {model.num_classes} outputs")
        meta["classes"] = json.dumps(list(classes))
    if is_multilabel_model(model):  # trained with sigmoid scores (binary cross-entropy), not softmax
        meta["multilabel"] = "true"
    meta.update(metadata or {})
    return atomic_write(Path(path), lambda tmp: save_file(state, str(tmp), metadata=meta))


def atomic_write(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``. A file that cannot be written (a
    full disk, a read-only folder) is a :class:`CheckpointError` in one line, and what ``path`` held stays."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            kept = " (its previous version is untouched)" if path.exists() else ""
            raise CheckpointError(f"cannot write {path}: {e.strerror or e}{kept}") from None
        raise
    return path


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files a killed :func:`atomic_write` left in ``folder`` (never a published file).
    Returns how many."""
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a videozoo checkpoint, with a one-line error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        hint = " (a PyTorch .pth state dict? convert it: `videozoo convert torchvision NAME IN.pth OUT.safetensors`)"
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {e}{hint}") from None
    if metadata.get("format") != FORMAT or "architecture" not in metadata:
        raise CheckpointError(f"{path} is a safetensors file but not a videozoo checkpoint (no architecture in "
                              "its metadata); import foreign weights with `videozoo convert`")
    return tensors, metadata


def model_state(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def checkpoint_classes(metadata: Mapping[str, str]) -> list[str] | None:
    return json.loads(metadata["classes"]) if "classes" in metadata else None


def load_model(path: str | os.PathLike, device: str | torch.device | None = None) -> nn.Module:
    """Rebuild the exact model stored in a videozoo checkpoint (architecture, overrides, weights).

    The class names, when the checkpoint has them, are on ``model.classes``; ``model.multilabel`` says whether
    its classes are scored independently (sigmoid) rather than by softmax.
    """
    tensors, metadata = read_checkpoint(path)
    overrides = json.loads(metadata.get("overrides", "{}"))
    if metadata.get("task") == DETECTION:  # a zoo backbone under a box head (models.detection)
        from ..models.detection import ActionDetector

        model = ActionDetector(create_model(metadata["architecture"], 0, **overrides), int(metadata["num_classes"]),
                               **json.loads(metadata.get("detection_head", "{}")))
    else:
        model = create_model(metadata["architecture"], int(metadata["num_classes"]), **overrides)
    load_state_checked(model, model_state(tensors), source=str(path), source_arch=metadata["architecture"])
    model.classes = checkpoint_classes(metadata)
    model.multilabel = metadata.get("multilabel") == "true"
    if "predict_head" in metadata and hasattr(model, "predict_head"):  # a multi-modal run's choice
        model.predict_head = metadata["predict_head"]
    return model.to(device) if device is not None else model


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a videozoo checkpoint into an existing model, refusing one of another architecture."""
    tensors, metadata = read_checkpoint(path)
    load_state_checked(model, model_state(tensors), source=str(path), source_arch=metadata.get("architecture"))
    return model


def state_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor], limit: int = 4) -> str:
    """Describe how ``state`` fails to fit ``model`` ('' when it fits exactly)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    # Integer weights for float ones (or the reverse) would be cast silently by load_state_dict.
    kinds = [f"{k} {state[k].dtype} vs {own[k].dtype}".replace("torch.", "")
             for k in own if k in state and state[k].is_floating_point() != own[k].is_floating_point()]

    def listing(keys: list[str]) -> str:
        more = f", … {len(keys) - limit} more" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({listing(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({listing(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} of another shape, checkpoint vs model ({listing(shapes)})")
    if kinds:
        parts.append(f"{len(kinds)} of another kind of number, checkpoint vs model ({listing(kinds)})")
    return "; ".join(parts)


def load_state_checked(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "state dict",
                       source_arch: str | None = None) -> None:
    """``load_state_dict`` that refuses any mismatch with one line naming the keys (after the model's
    ``upgrade_state``, which brings checkpoints of its earlier layouts up to date)."""
    upgrade = getattr(model, "upgrade_state", None)
    state = upgrade(state) if upgrade is not None else state
    problem = state_mismatch(model, state)
    if problem:
        arch = getattr(model, "arch", type(model).__name__)
        what = f"{source} (a {source_arch} checkpoint)" if source_arch and source_arch != arch else source
        raise CheckpointError(f"{what} does not fit {arch}: {problem}")
    model.load_state_dict(state, strict=True)


# -- training state: optimizer, scheduler, RNG, epoch, alongside the model -----------------------------

def pack_tree(tree, prefix: str) -> tuple[dict[str, torch.Tensor], object]:
    """Split a nested state (dicts, lists, tensors, numbers) into named tensors and a JSON-able skeleton."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(node, path: str):
        if isinstance(node, torch.Tensor):
            tensors[path] = node
            return {"__tensor__": path}
        if isinstance(node, dict):
            return {"__dict__": [[walk(k, f"{path}/k{i}"), walk(v, f"{path}/{i}")]
                                 for i, (k, v) in enumerate(node.items())]}
        if isinstance(node, (list, tuple)):
            return {"__list__": [walk(v, f"{path}/{i}") for i, v in enumerate(node)],
                    "tuple": isinstance(node, tuple)}
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise CheckpointError(f"cannot store a {type(node).__name__} in a checkpoint ({path})")

    return tensors, walk(tree, prefix)


def unpack_tree(skeleton, tensors: Mapping[str, torch.Tensor]):
    if isinstance(skeleton, dict) and "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if isinstance(skeleton, dict) and "__dict__" in skeleton:
        return {unpack_tree(k, tensors): unpack_tree(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, dict) and "__list__" in skeleton:
        items = [unpack_tree(v, tensors) for v in skeleton["__list__"]]
        return tuple(items) if skeleton.get("tuple") else items
    return skeleton


def save_training_checkpoint(path: str | os.PathLike, model: nn.Module, *, states: Mapping[str, object],
                             classes: list[str] | None = None, info: Mapping[str, object] | None = None,
                             metadata: Mapping[str, str] | None = None) -> Path:
    """A model checkpoint (loadable by :func:`load_model`) that also holds ``states`` (optimizer,
    scheduler, RNG … each a nested state dict), JSON ``info`` (epoch, metrics) and extra ``metadata``."""
    tensors: dict[str, torch.Tensor] = {}
    skeletons = {}
    for name, state in states.items():
        t, skeletons[name] = pack_tree(state, f"state/{name}")
        tensors.update(t)
    meta = {**(metadata or {}), "training_states": json.dumps(skeletons),
            "training_info": json.dumps(dict(info or {}))}
    return save_model(model, path, classes=classes, metadata=meta, tensors=tensors)


def read_training_checkpoint(path: str | os.PathLike) -> tuple[dict, dict, dict[str, str]]:
    """``(states, info, metadata)`` of a training checkpoint; ``states`` maps names to nested state dicts."""
    tensors, metadata = read_checkpoint(path)
    if "training_states" not in metadata:
        raise CheckpointError(f"{path} holds a model but no training state (optimizer, epoch); "
                              "to start a new run from its weights use --finetune")
    skeletons = json.loads(metadata["training_states"])
    states = {name: unpack_tree(s, tensors) for name, s in skeletons.items()}
    return states, json.loads(metadata.get("training_info", "{}")), metadata
