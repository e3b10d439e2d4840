"""A data list's index: every video's metadata, or why it cannot be read, built in parallel and cached.

Reading the header of a few hundred thousand files (Kinetics, Sports-1M) and decoding a frame or three of each
is what `videozoo check-data` and `videozoo shard` pay before anything else; :func:`build_index` does it in
``workers`` processes and keeps the answers beside the list (``<list>.index.jsonl``, :func:`index_path`), one
JSON line per file with the file's size and modification time. The next run re-reads only the files that are
new or changed (size or time differ) and takes the rest from the cache; a killed run keeps every line it
wrote, so starting it again goes on where it stopped. A missing file is never cached (it may appear).

An entry's ``metadata`` is :class:`~videozoo.data.decode.VideoMetadata`'s fields (``fps``, ``num_frames``,
``width``, ``height``, ``duration``, ``has_audio`` …); a file whose first, middle and last frames do not decode
has ``error`` instead, in one line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from .datasets import parallel_map

INDEX_SUFFIX = ".index.jsonl"
FOLDER_INDEX = ".videozoo-index.jsonl"


@dataclass(frozen=True)
class IndexEntry:
    path: str
    size: int | None  # bytes (a frame folder: None); with mtime_ns, what says the cached entry is current
    mtime_ns: int | None
    metadata: dict | None = None
    error: str | None = None

    @property
    def readable(self) -> bool:
        return self.error is None


def index_path(source: str | os.PathLike) -> Path:
    """Where the index of a data list lives: ``<list>.index.jsonl`` beside it (a folder: inside it)."""
    source = Path(source)
    return source / FOLDER_INDEX if source.is_dir() else source.with_name(source.name + INDEX_SUFFIX)


def _stamp(path: str) -> tuple[int | None, int | None] | None:
    """(size, mtime_ns) of a file, (None, mtime_ns) of a folder; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (None if os.path.isdir(path) else st.st_size), st.st_mtime_ns


def probe_entry(path: str) -> IndexEntry:
    """Read one video: its metadata after its first, middle and last frames decode, or the reason it cannot be
    read (what `videozoo check-data` checks)."""
    from .check import inspect_video

    stamp = _stamp(path)
    if stamp is None:
        return IndexEntry(path, None, None, error=f"video not found: {path}")
    metadata, error = inspect_video(path)
    return IndexEntry(path, *stamp, metadata=metadata, error=error)


def read_index(cache: Path) -> dict[str, IndexEntry]:
    """The entries of an index file (a later line for the same path wins; a torn last line is ignored)."""
    entries: dict[str, IndexEntry] = {}
    if not cache.is_file():
        return entries
    for line in cache.read_text(errors="replace").splitlines():
        try:
            entry = IndexEntry(**json.loads(line))
        except (ValueError, TypeError):
            continue  # a line cut short by a killed run, or another tool's
        entries[entry.path] = entry
    return entries


def _current(entry: IndexEntry | None, stamp) -> bool:
    return entry is not None and stamp is not None and (entry.size, entry.mtime_ns) == stamp


def build_index(paths: Iterable[str], cache: str | os.PathLike | None = None, workers: int = 0,
                progress: Callable[[int, int], None] | None = None) -> dict[str, IndexEntry]:
    """Every path's :class:`IndexEntry`, read in ``workers`` processes (0 or 1: in this one); with ``cache`` (an
    ``.index.jsonl`` file, see :func:`index_path`) the current entries come from it and the new ones are added to
    it as they arrive. ``progress(done, total)`` after each path."""
    paths = list(dict.fromkeys(str(p) for p in paths))
    cache = Path(cache) if cache is not None else None
    known = read_index(cache) if cache is not None else {}
    result: dict[str, IndexEntry] = {}
    todo = []
    for path in paths:
        entry = known.get(path)
        if _current(entry, _stamp(path)):
            result[path] = entry
        else:
            todo.append(path)
    done = len(result)
    if progress:
        progress(done, len(paths))
    handle = None
    if cache is not None and todo:
        cache.parent.mkdir(parents=True, exist_ok=True)
        handle = cache.open("a")
    try:
        # forkserver: workers that start clean (the caller may hold decoder or BLAS threads); a quick read each,
        # so jobs go out in chunks
        chunk = max(1, min(64, len(todo) // (4 * max(workers, 1))))
        for entry in parallel_map(probe_entry, todo, workers, start="forkserver", chunksize=chunk):
            result[entry.path] = entry
            if handle is not None and entry.mtime_ns is not None:  # a missing file is not cached
                handle.write(json.dumps(asdict(entry)) + "\n")  # at once: a killed run keeps what it read
                handle.flush()
            done += 1
            if progress:
                progress(done, len(paths))
    finally:
        if handle is not None:
            handle.close()
    if cache is not None and any(p in known for p in todo):
        _compact(cache, result)  # changed files left stale lines behind: keep one line per path of this list
    return {p: result[p] for p in paths}


def _compact(cache: Path, entries: dict[str, IndexEntry]) -> None:
    tmp = cache.with_name(cache.name + ".tmp")
    tmp.write_text("".join(json.dumps(asdict(e)) + "\n" for e in entries.values() if e.mtime_ns is not None))
    tmp.replace(cache)
