"""Published weights on this machine: the download cache and the converted checkpoints.

Files go where torch.hub puts them (``$TORCH_HOME/hub/checkpoints``, ``~/.cache/torch/hub`` by
default), downloaded with a progress bar to a temporary file that is renamed only once the whole
file came and the hash its name carries (torch.hub's ``-<sha256 prefix>.`` rule) checks, so a
wrong hash or a broken transfer leaves nothing in the cache. Each source file is converted once
into a videozoo checkpoint (``checkpoints/videozoo/TAG-<row hash>.safetensors``) that carries the
classes and the input settings. ``VIDEOZOO_OFFLINE=1`` turns a missing file into an error without touching the network.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import uuid
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import torch
from tqdm import tqdm

from ..engine.checkpoint import CheckpointError
from .catalogue import WeightsEntry, get_weights, is_tag
from .convert import convert_file, input_settings_for


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
        _fetch(entry.download_url, dst, entry.sha256_prefix, progress)
    except HTTPError as e:
        raise WeightsError(f"{entry.tag}: the server answered {e.code} {e.reason}; {place}") from None
    except (URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, "reason", None) or type(e).__name__
        raise WeightsError(f"{entry.tag}: the download failed ({reason}); offline? {place}") from None
    except _Refused as e:
        raise WeightsError(f"{entry.tag}: {e}; nothing was kept") from None
    return dst


class _Refused(Exception):
    """A transfer that completed but must not be kept (cut short, or the wrong hash)."""


def _fetch(url: str, dst: Path, sha256_prefix: str | None, progress: bool) -> None:
    """Download ``url`` to a temporary file beside ``dst``, renamed onto it only when the whole file came
    (its Content-Length) and its SHA-256 starts with ``sha256_prefix``. (torch.hub's downloader keeps a
    file that the connection cut short when the name carries no hash.)"""
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.partial")
    try:
        digest = hashlib.sha256()
        with urlopen(Request(url, headers={"User-Agent": "videozoo"}), timeout=60) as response, \
                open(tmp, "wb") as f:
            if response.headers.get_content_type() == "text/html":  # a sign-in or "large file" page, not weights
                raise _Refused("the server sent a web page instead of the file (a link that needs a browser?)")
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, disable=not progress,
                      desc=dst.name) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            received = f.tell()
        if size is not None and received != size:
            raise _Refused(f"the transfer stopped after {received:,} of {size:,} bytes")
        if sha256_prefix and not digest.hexdigest().startswith(sha256_prefix):
            raise _Refused(f"the downloaded file's SHA-256 ({digest.hexdigest()[:16]}…) does not start with "
                           f"{sha256_prefix}, as its name says")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


CLASS_LISTS = Path(__file__).parent / "classes"  # <data set>.txt, one name per line, in the head's order


def class_names(entry: WeightsEntry) -> list[str] | None:
    """The class names of a row's head, where they are known: Kinetics-400 (torchvision's list), Sports-1M (the
    data set's labels.txt, CC BY 3.0) and UCF-101 (its classInd.txt order); None for the others (numbered)."""
    if entry.classes == "kinetics400":
        from torchvision.models.video import R3D_18_Weights

        names = list(R3D_18_Weights.KINETICS400_V1.meta["categories"])
    elif (CLASS_LISTS / f"{entry.classes}.txt").is_file():
        names = (CLASS_LISTS / f"{entry.classes}.txt").read_text(encoding="utf-8").splitlines()
    else:
        return None
    return names if len(names) == entry.num_classes else None


def input_settings(entry: WeightsEntry):
    """What the weights were trained on, as the :class:`~videozoo.engine.inputs.InputSettings` a run stores."""
    return input_settings_for(entry.recipe.arch, entry.normalization, entry.clip, stride=entry.stride, fps=entry.fps,
                              resize=entry.resize, resize_hw=list(entry.resize_hw) if entry.resize_hw else None)


def pretrained_checkpoint(tag: str, model: str | None = None, *, progress: bool = True) -> Path:
    """A videozoo checkpoint of published weights ``tag`` (``MODEL.PRETRAINING``, or ``PRETRAINING`` with
    ``model``): downloaded and converted the first time, from the cache after that."""
    entry = get_weights(tag, model)
    dst = converted_path(entry)
    if dst.is_file():
        return dst
    convert_row_file(entry, download(entry, progress=progress), dst)
    return dst


def convert_row_file(entry: WeightsEntry, src: str | os.PathLike, dst: str | os.PathLike):
    """Convert the file of catalogue row ``entry`` into a checkpoint carrying the row's classes, input settings,
    tag and URL. Returns the model."""
    return convert_file(entry.source, entry.source_name, src, dst, classes=class_names(entry),
                        data_settings=input_settings(entry).to_json(), num_classes=entry.num_classes,
                        metadata={"weights_tag": entry.tag, "weights_url": entry.url})


def resolve_weights(value: str | os.PathLike) -> Path:
    """A checkpoint path as given, or the converted checkpoint of a weights tag (``MODEL.PRETRAINING``)."""
    path = Path(value)
    if not path.exists() and is_tag(str(value)):
        return pretrained_checkpoint(str(value))
    return path
