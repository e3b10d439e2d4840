"""Published weights on this machine: the download cache and the converted checkpoints.

Files go where torch.hub puts them (``$TORCH_HOME/hub/checkpoints``, ``~/.cache/torch`` by
default), downloaded by ``torch.hub.download_url_to_file``: to a temporary file, renamed only
once the hash that the file name carries has been checked, so a wrong hash or a broken transfer
leaves nothing in the cache. Each source file is converted once into a videozoo checkpoint
(``checkpoints/videozoo/TAG-<row hash>.safetensors``) that carries the classes and the input
settings. ``VIDEOZOO_OFFLINE=1`` turns a missing file into an error without touching the network.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
from pathlib import Path
from urllib.error import HTTPError, URLError

import torch

from ..engine.checkpoint import CheckpointError
from .catalogue import WeightsEntry, get_weights, is_tag
from .convert import convert_file


class WeightsError(CheckpointError):
    """Published weights that cannot be had: offline, a server error, a wrong hash."""


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def source_path(entry: WeightsEntry) -> Path:
    """Where the source's own file lives in the cache (where to place it by hand when offline)."""
    return cache_dir() / entry.filename


def converted_path(entry: WeightsEntry) -> Path:
    # The row's hash in the name: a corrected catalogue row converts again instead of reusing a stale file.
    row = hashlib.sha256(repr(entry).encode()).hexdigest()[:8]
    return cache_dir() / "videozoo" / f"{entry.tag}-{row}.safetensors"


def offline() -> bool:
    return os.environ.get("VIDEOZOO_OFFLINE", "").lower() in ("1", "true", "yes")


def download(entry: WeightsEntry, *, progress: bool = True) -> Path:
    """The source file of ``entry`` in the cache, downloaded first if it is not there."""
    dst = source_path(entry)
    if dst.is_file():
        return dst
    place = f"download {entry.download_url} and place it at {dst}"
    if offline():
        raise WeightsError(f"{entry.tag} is not in the cache and VIDEOZOO_OFFLINE is set: {place}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(entry.download_url, str(dst), hash_prefix=entry.sha256_prefix,
                                       progress=progress)
    except HTTPError as e:
        raise WeightsError(f"{entry.tag}: the server answered {e.code} {e.reason}; {place}") from None
    except (URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, "reason", None) or type(e).__name__
        raise WeightsError(f"{entry.tag}: the download failed ({reason}); offline? {place}") from None
    except RuntimeError as e:
        if "invalid hash value" not in str(e):
            raise
        got = re.search(r'got "([0-9a-f]+)"', str(e))
        raise WeightsError(f"{entry.tag}: the downloaded file's SHA-256 ({got.group(1)[:16] if got else '?'}…) does "
                           f"not start with {entry.sha256_prefix}, as its name says; nothing was kept") from None
    return dst


def class_names(entry: WeightsEntry) -> list[str] | None:
    """The class names of a row's head, where they are known (Kinetics-400: torchvision's list)."""
    if entry.classes == "kinetics400":
        from torchvision.models.video import R3D_18_Weights

        names = list(R3D_18_Weights.KINETICS400_V1.meta["categories"])
        return names if len(names) == entry.num_classes else None
    return None


def input_settings(entry: WeightsEntry):
    """What the weights were trained on, as the :class:`~videozoo.engine.inputs.InputSettings` a run stores."""
    from ..engine.inputs import InputSettings
    from ..models.registry import get_entry

    t, h, _ = entry.clip
    return InputSettings(family=get_entry(entry.recipe.arch).family, num_frames=t, stride=entry.stride,
                         fps=entry.fps, crop=h, resize=entry.resize, resize_hw=entry.resize_hw, scale_jitter=None,
                         flip=True, normalization=entry.normalization)


def pretrained_checkpoint(tag: str, model: str | None = None, *, progress: bool = True) -> Path:
    """A videozoo checkpoint of published weights ``tag`` (``MODEL.PRETRAINING``, or ``PRETRAINING`` with
    ``model``): downloaded and converted the first time, from the cache after that."""
    entry = get_weights(tag, model)
    dst = converted_path(entry)
    if dst.is_file():
        return dst
    src = download(entry, progress=progress)
    convert_file(entry.source, entry.source_name, src, dst, classes=class_names(entry),
                 data_settings=input_settings(entry).to_json(),
                 metadata={"weights_tag": entry.tag, "weights_url": entry.url})
    return dst


def resolve_weights(value: str | os.PathLike) -> Path:
    """A checkpoint path as given, or the converted checkpoint of a weights tag (``MODEL.PRETRAINING``)."""
    path = Path(value)
    if not path.exists() and is_tag(str(value)):
        return pretrained_checkpoint(str(value))
    return path
