"""Sharded data sets: a data list packed into tar shards, read back by sample index.

``videozoo shard LIST OUT --shard-size 1GB`` (:func:`write_shards`) packs every readable video's encoded bytes, as
they are (no re-encode), with its labels and metadata into WebDataset tar shards (``OUT/shard-000000.tar`` …;
one sample is ``<key>.mp4`` (the file's own extension) and ``<key>.json``), written by ``webdataset``'s
``ShardWriter``; then ``OUT/shards.json``, a ``wids`` dataset descriptor (the shard list with each shard's sample
count) that also carries the classes and every sample's labels, so that a data set is known without opening a
shard. The descriptor is written last: a killed run leaves no descriptor, nothing half-made to train on.

Reading (``data.format=shards``, :func:`shard_items`): a sample's "path" is ``…/shards.json::<index>``;
:func:`open_member` gives its bytes through ``wids.ShardListDataset``, which memory-maps each shard in place
(local or mounted storage; no copy) and indexes its members once per process. A sample is then read like any
file (PyAV opens the bytes), so everything the data path does (clip sampling, the skip of unreadable videos,
audio) holds for shards, and training's sampler does the rest: the indices of an epoch split across processes
and loader workers, once each, in an order fixed by (seed, epoch), resumed from the last checkpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .check import write_failures
from .datasets import DataError, VideoItem, is_multilabel, write_classes
from .decode import VideoError

DESCRIPTOR = "shards.json"
SHARD_PATTERN = "shard-%06d.tar"
REF = "::"  # "<descriptor>::<sample index>": a sample of a sharded data set where a video path goes
KIND = "videozoo-shards"


def is_shard_ref(path: str | os.PathLike) -> bool:
    text = str(path)
    return REF in text and text.rsplit(REF, 1)[0].endswith(".json")


def shard_ref(descriptor: str | os.PathLike, index: int) -> str:
    return f"{descriptor}{REF}{index}"


def parse_size(text: str | int | float) -> int:
    """``"1GB"``, ``"500MB"``, ``"64KiB"``, ``1e9`` → bytes."""
    if isinstance(text, (int, float)):
        return int(text)
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    s = text.strip().upper().replace(" ", "")
    number = s.rstrip("KMGTIB")
    try:
        value = float(number) * units[s[len(number):]]
    except (ValueError, KeyError):
        raise ValueError(f"shard size {text!r}: expected a number of bytes with a unit (500MB, 1GB, 2GiB)") from None
    if value < 1:
        raise ValueError(f"shard size {text!r} is not positive")
    return int(value)


# -- writing ------------------------------------------------------------------------------------

def write_shards(items: Sequence[VideoItem], classes: Sequence[str], out: str | os.PathLike,
                 shard_size: int = 10**9, workers: int = 0, index_cache: str | os.PathLike | None = None,
                 progress: Callable[[str, int, int], None] | None = None, name: str | None = None) -> dict:
    """Pack ``items``' files into shards of about ``shard_size`` bytes in ``out`` (see the module docstring).

    ``out``'s earlier shards and descriptor are replaced. Every video is read first
    (:func:`~videozoo.data.index.build_index`, ``workers`` processes, answers cached in ``index_cache``): an
    unreadable one is listed with its reason in ``out/failed.csv`` and left out. ``progress(stage, done, total)``:
    stage ``"reading"`` then ``"packing"``. Returns the descriptor (also ``out/shards.json``;
    ``out/classes.txt`` keeps the class order)."""
    import webdataset as wds

    from .index import build_index

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DESCRIPTOR).unlink(missing_ok=True)  # the old descriptor goes first: it would describe other shards
    for old in out.glob("shard-*.tar"):
        old.unlink()
    entries = build_index((item.path for item in items), index_cache, workers,
                          progress and (lambda done, total: progress("reading", done, total)))
    failed = {p: e.error for p, e in entries.items() if e.error is not None}
    failed.update({p: f"{p} is a folder of frames: shards hold video files" for p in entries
                   if p not in failed and Path(p).is_dir()})
    keep = [item for item in items if item.path not in failed]
    if not keep:
        raise DataError(f"none of the {len(items)} videos can be read (first: {next(iter(failed.values()), '')})")
    counts: dict[str, int] = {}
    samples = []
    with contextlib.redirect_stdout(io.StringIO()):  # the writer announces each shard
        writer = wds.ShardWriter(str(out / SHARD_PATTERN), maxsize=shard_size, maxcount=10**7, verbose=0)
        try:
            for k, item in enumerate(keep):
                ext = Path(item.path).suffix.lstrip(".").lower() or "mp4"
                meta = {"labels": [classes[c] for c in item.classes], "source": item.path,
                        "start": item.start, "end": item.end, "video": entries[item.path].metadata}
                writer.write({"__key__": f"{k:09d}", ext: Path(item.path).read_bytes(), "json": meta})
                name_k = Path(writer.fname).name
                counts[name_k] = counts.get(name_k, 0) + 1
                samples.append([list(item.classes), item.start, item.end])
                if progress:
                    progress("packing", k + 1, len(keep))
        finally:
            writer.close()
    descriptor = {
        "__kind__": KIND, "wids_version": 1, "name": name or out.name,
        "shardlist": [{"url": shard, "nsamples": n, "filesize": (out / shard).stat().st_size}
                      for shard, n in counts.items()],
        "classes": list(classes), "multilabel": is_multilabel(keep),
        "samples": samples,  # per sample, in shard order: [class indices, start, end]
    }
    write_failures(out / "failed.csv", failed)
    write_classes(out / "classes.txt", classes)
    tmp = out / (DESCRIPTOR + ".tmp")
    tmp.write_text(json.dumps(descriptor))
    tmp.replace(out / DESCRIPTOR)
    return descriptor


# -- reading ------------------------------------------------------------------------------------

def descriptor_path(source: str | os.PathLike) -> Path:
    source = Path(source)
    return source / DESCRIPTOR if source.is_dir() else source


def read_descriptor(source: str | os.PathLike) -> dict:
    path = descriptor_path(source)
    if not path.is_file():
        raise DataError(f"no sharded data set at {source}: {path} not found (write one with `videozoo shard`)")
    try:
        desc = json.loads(path.read_text())
    except ValueError as e:
        raise DataError(f"{path} is not a shard descriptor: {e}") from None
    if not isinstance(desc, dict) or desc.get("__kind__") != KIND or "shardlist" not in desc:
        raise DataError(f"{path} is not a videozoo shard descriptor (written by `videozoo shard`)")
    return desc


def is_shard_descriptor(path: Path) -> bool:
    """A ``shards.json`` (or a folder holding one) that `videozoo shard` wrote."""
    path = descriptor_path(path)
    if not path.is_file() or path.suffix != ".json":
        return False
    with path.open(errors="replace") as f:
        return f'"__kind__": "{KIND}"' in f.read(256)


def shard_items(source: str | os.PathLike, classes: Sequence[str] | None = None
                ) -> tuple[list[VideoItem], list[str]]:
    """The samples of a sharded data set (its folder or ``shards.json``) as items whose paths are
    ``shards.json::<index>``; ``classes``, when given, must be the set's own."""
    path = descriptor_path(source).resolve()
    desc = read_descriptor(path)
    names = list(desc["classes"])
    if classes is not None and list(classes) != names:
        raise DataError(f"{path}: its classes ({len(names)}) are not the class list given ({len(classes)})")
    multilabel = bool(desc.get("multilabel"))
    items = []
    for k, (labels, start, end) in enumerate(desc["samples"]):
        items.append(VideoItem(shard_ref(path, k), labels[0], start, end, labels=tuple(labels) if multilabel else ()))
    return items, names


_OPEN: dict[tuple[int, str], object] = {}  # (process, descriptor) → wids.ShardListDataset, one per process


def _dataset(descriptor: str):
    key = (os.getpid(), descriptor)  # a forked loader worker opens its own maps
    if key not in _OPEN:
        import wids

        desc = read_descriptor(descriptor)
        base = Path(descriptor).parent
        shards = [{**s, "url": str(base / s["url"])} for s in desc["shardlist"]]
        with contextlib.redirect_stderr(io.StringIO()):  # wids announces every dataset it opens
            dataset = wids.ShardListDataset(shards, localname=lambda url: url, transformations=[], lru_size=64)
        # Random access over more shards than stay open re-opens one now and then (an mmap and a scan of its
        # headers: milliseconds); wids would print a warning about it on stdout.
        dataset.check_cache_misses = lambda: None
        _OPEN[key] = dataset
    return _OPEN[key]


def open_member(ref: str | os.PathLike) -> tuple[io.BytesIO, str]:
    """The video bytes of the sample ``ref`` (``shards.json::<index>``) and its file extension."""
    descriptor, _, index = str(ref).rpartition(REF)
    try:
        dataset = _dataset(descriptor)
        sample = dataset[int(index)]
    except DataError as e:
        raise VideoError(str(e)) from None
    except (OSError, ValueError, IndexError, KeyError, AssertionError) as e:
        raise VideoError(f"{ref}: cannot read the sample from its shard: {type(e).__name__}: {e}") from None
    if sample.get("__key__") != f"{int(index):09d}":  # the descriptor and the shards must be one set
        raise VideoError(f"{ref}: the shard holds sample {sample.get('__key__')} there; {descriptor} does not "
                         "describe these shards (write them again with `videozoo shard`)")
    for ext, data in sample.items():  # wids names a member by its extension with the dot: ".mp4", ".json"
        if not ext.startswith("__") and ext.lstrip(".") != "json":
            return data, ext.lstrip(".")
    raise VideoError(f"{ref}: its shard sample {sample.get('__key__')} holds no video")
