"""Video datasets: lists of (video, label) from the formats people have, and clips from them.

Sources (each returns ``(items, classes)``):

- :func:`read_video_csv`: ``path,label[,start,end]`` (a header row is optional;
  whitespace-separated ``path label`` lines, pytorchvideo's format, work too); a header naming the
  column ``labels`` makes it multi-label (``path,"a;b"``: several classes per video, ``;`` or ``,``);
- :func:`folder_items`: one folder per class;
- :func:`kinetics_items`: Kinetics' ``label,youtube_id,time_start,time_end,split`` CSVs;
- :func:`ucf101_items`, :func:`hmdb51_items`: the official split files;
- :func:`ssv2_items`: Something-Something v2's JSON split and label files;
- :func:`audioset_items`: AudioSet's segment CSVs with ``class_labels_indices.csv`` (multi-label);
- :func:`sports1m_items`: Sports-1M's ``URL label[,label…]`` partition lists with ``labels.txt`` (multi-label);
- folders of extracted frames work wherever a video path does.

Labels may be class names or integers. :class:`VideoDataset` turns items into
clips; a video that cannot be read becomes a *skip record* instead of an
exception, :func:`collate_videos` drops those from the batch and lists them,
and :class:`SkipLog` warns once per file and counts them for the report at
the end of a run.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from .audio import audio_window, log_mel, read_audio, vmz_align, vmz_log_mel
from .decode import VideoError, VideoReader
from .flow import FlowReader, check_flow_matches, flow_path
from .frames import FrameFolderReader, is_frame_folder
from .reader import ClipReader
from .sampling import ClipSampling, clip_indices, random_start, sample_rng, uniform_starts
from .transforms import Compose, TransformConfig, frames_to_clip

log = logging.getLogger("videozoo.data")

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ogv")
KINETICS_TEMPLATE = "{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"


class DataError(ValueError):
    """A data set description that cannot be used: a missing list file, a bad label, a malformed line."""


@dataclass(frozen=True)
class VideoItem:
    """One labelled video; ``start``/``end`` (seconds) restrict it to a segment.

    Multi-label data (AudioSet, Sports-1M, a CSV with a ``labels`` column) give every class of the video in
    ``labels`` (``label`` is the first of them); single-label items leave ``labels`` empty.
    """

    path: str
    label: int
    start: float | None = None
    end: float | None = None
    labels: tuple[int, ...] = ()

    @property
    def classes(self) -> tuple[int, ...]:
        """Every class of the video: ``labels``, or ``(label,)``."""
        return self.labels or (self.label,)


def is_multilabel(items: Iterable[VideoItem]) -> bool:
    """Whether the items come from a multi-label source (any of them carries ``labels``; other kinds of item,
    such as actor boxes, never do)."""
    return any(getattr(item, "labels", ()) for item in items)


def split_labels(cell: str) -> list[str]:
    """A multi-label cell's classes: separated by ``;`` or ``,`` (a quoted CSV field), blanks dropped."""
    return [part.strip() for part in re.split(r"[;,]", cell) if part.strip()]


def multilabel_items(paths: Sequence[str], raw: Sequence[list[str]], where: Sequence[str],
                     classes: Sequence[str] | None, segments: Sequence[tuple[float | None, float | None]] | None = None
                     ) -> tuple[list[VideoItem], list[str]]:
    """Items with several labels each (``raw``: each video's class names or integers, resolved as
    :func:`resolve_labels` does); a video without a label is a list error."""
    flat, flat_where = [], []
    for labels, origin in zip(raw, where, strict=True):
        if not labels:
            raise DataError(f"{origin}: no label (a multi-label list gives one or more per video)")
        flat += labels
        flat_where += [origin] * len(labels)
    indices, names = resolve_labels(flat, flat_where, classes)
    items, k = [], 0
    for n, (path, labels) in enumerate(zip(paths, raw, strict=True)):
        ids = tuple(dict.fromkeys(indices[k:k + len(labels)]))  # in order, each once
        k += len(labels)
        start, end = segments[n] if segments else (None, None)
        items.append(VideoItem(path, ids[0], start, end, labels=ids))
    return items, names


BACKENDS = ("pyav", "torchcodec")


def open_reader(path: str | os.PathLike, threads: int | None = None, frames_fps: float = 30.0,
                backend: str = "pyav") -> ClipReader:
    """A reader for ``path``: :class:`VideoReader` (PyAV), ``TorchCodecReader`` with ``backend="torchcodec"``,
    or a :class:`FrameFolderReader` for a folder of frames; each a :class:`ClipReader`."""
    path = Path(path)
    if path.is_dir():
        return FrameFolderReader(path, fps=frames_fps)
    if threads is None:
        threads = 1 if get_worker_info() is not None else 0  # workers already use every core
    if backend == "torchcodec":
        from .shards import is_shard_ref
        from .torchcodec_backend import TorchCodecReader

        if is_shard_ref(path):
            raise DataError("sharded data sets are read with PyAV (data.backend=pyav)")
        return TorchCodecReader(path, threads=threads)
    if backend != "pyav":
        raise DataError(f"unknown video backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return VideoReader(path, threads=threads)


# -- labels and class lists ---------------------------------------------------------------------

def read_classes(path: str | os.PathLike) -> list[str]:
    """One class name per line (``classes.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"class list not found: {path}")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise DataError(f"{path} lists a class twice")
    return names


def write_classes(path: str | os.PathLike, classes: Sequence[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{c}\n" for c in classes))
    return path


def resolve_labels(raw: Sequence[str], where: Sequence[str], classes: Sequence[str] | None = None
                   ) -> tuple[list[int], list[str]]:
    """Labels given as names or integers → indices and the class list.

    Integers index ``classes`` when it is given (else classes are "0" … "K-1"); names are
    looked up in ``classes`` (else the sorted set of names is the class list). ``where`` names
    each label's origin (``file:line``) for the error message.
    """
    if not raw:
        return [], list(classes or [])
    for label, origin in zip(raw, where, strict=True):
        if not label:
            raise DataError(f"{origin}: empty label")
    if all(re.fullmatch(r"\d+", label) for label in raw):
        ints = [int(label) for label in raw]
        names = list(classes) if classes is not None else [str(i) for i in range(max(ints) + 1)]
        for value, origin in zip(ints, where, strict=True):
            if value >= len(names):
                raise DataError(f"{origin}: label {value} is out of range for {len(names)} classes "
                                f"(expected 0…{len(names) - 1})")
        return ints, names
    if any(re.fullmatch(r"-\d+", label) for label in raw):
        bad = next((label, o) for label, o in zip(raw, where, strict=True) if re.fullmatch(r"-\d+", label))
        raise DataError(f"{bad[1]}: label {bad[0]} is negative (expected 0 or more, or a class name)")
    names = list(classes) if classes is not None else sorted(set(raw))
    index = {name: i for i, name in enumerate(names)}
    for label, origin in zip(raw, where, strict=True):
        if label not in index:
            raise DataError(f"{origin}: label {label!r} is not in the class list "
                            f"({len(names)} classes, e.g. {', '.join(names[:3])})")
    return [index[label] for label in raw], names


def _resolve_path(path: str, root: Path, origin: str) -> str:
    """``path`` as given when absolute, else under ``root``; a relative path whose ``..`` climbs out of ``root``
    is a list error (an absolute path says so openly). Symbolic links under the root may point anywhere."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    if os.path.normpath(p).split(os.sep)[0] == os.pardir:
        raise DataError(f"{origin}: {path} climbs out of the data root {root} (give an absolute path to mean it)")
    return str(root / p)


def _seconds(value: str, origin: str) -> float | None:
    if value in ("", None):
        return None
    try:
        return float(value)
    except ValueError:
        raise DataError(f"{origin}: expected a time in seconds, got {value!r}") from None


# -- sources ------------------------------------------------------------------------------------

def read_video_csv(csv_path: str | os.PathLike, root: str | os.PathLike | None = None,
                   classes: Sequence[str] | None = None) -> tuple[list[VideoItem], list[str]]:
    """``path,label[,start,end]`` lines (paths relative to ``root``, else to the CSV's folder).

    A header row whose second column is ``labels`` makes the list multi-label: each video's classes in that
    one field, separated by ``;`` (or by commas inside quotes, AudioSet's way: ``a.mp4,"dog,bark"``).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"data list not found: {csv_path}")
    root = Path(root) if root is not None else csv_path.parent
    rows: list[tuple[list[str], str]] = []
    multilabel = False
    with csv_path.open(newline="") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = next(csv.reader([line])) if "," in line else line.split()
            cells = [c.strip() for c in cells]
            if not rows and len(cells) > 1 and cells[1].lower() in ("label", "class", "target", "labels"):
                multilabel = cells[1].lower() == "labels"
                continue  # a header row
            if len(cells) < 2 or len(cells) > 4:
                raise DataError(f"{csv_path}:{n}: expected path,label{'s' if multilabel else ''}[,start,end]; "
                                f"got {len(cells)} fields")
            rows.append((cells, f"{csv_path}:{n}"))
    if not rows:
        raise DataError(f"{csv_path} lists no videos")
    segments = []
    for cells, origin in rows:
        if multilabel and len(cells) > 2 and not re.fullmatch(r"\s*[-+.\deE]*\s*", cells[2]):
            raise DataError(f"{origin}: {cells[2]!r} where the segment's start goes: several labels go in one field, "
                            f"quoted (\"{cells[1]},{cells[2]}\") or separated by ;")
        start = _seconds(cells[2], origin) if len(cells) > 2 else None
        end = _seconds(cells[3], origin) if len(cells) > 3 else None
        if start is not None and end is not None and end <= start:
            raise DataError(f"{origin}: segment end {end} is not after its start {start}")
        segments.append((start, end))
    paths = [_resolve_path(cells[0], root, origin) for cells, origin in rows]
    where = [o for _, o in rows]
    if multilabel:
        return multilabel_items(paths, [split_labels(cells[1]) for cells, _ in rows], where, classes, segments)
    labels, names = resolve_labels([r[1] for r, _ in rows], where, classes)
    return [VideoItem(p, y, s, e) for p, y, (s, e) in zip(paths, labels, segments, strict=True)], names


def _videos_in(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES or is_frame_folder(p):
            out.append(p)
    return out


def folder_items(root: str | os.PathLike, classes: Sequence[str] | None = None
                 ) -> tuple[list[VideoItem], list[str]]:
    """``root/<class>/<video>`` (videos or frame folders); classes are the sub-folder names, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root} has no class folders (expected {root}/<class>/<video>)")
    names = list(classes) if classes is not None else [p.name for p in folders]
    index = {name: i for i, name in enumerate(names)}
    items = []
    for folder in folders:
        if folder.name not in index:
            raise DataError(f"{folder}: class {folder.name!r} is not in the class list")
        items += [VideoItem(str(p), index[folder.name]) for p in _videos_in(folder)]
    if not items:
        raise DataError(f"{root} has class folders but no videos ({', '.join(VIDEO_SUFFIXES[:4])}, …)")
    return items, names


def kinetics_items(csv_path: str | os.PathLike, root: str | os.PathLike, template: str = KINETICS_TEMPLATE,
                   classes: Sequence[str] | None = None) -> tuple[list[VideoItem], list[str]]:
    """Kinetics CSVs (``label,youtube_id,time_start,time_end,split``); ``template`` places the files."""
    csv_path, root = Path(csv_path), Path(root)
    if not csv_path.is_file():
        raise DataError(f"data list not found: {csv_path}")
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        needed = {"label", "youtube_id", "time_start", "time_end"}
        if not reader.fieldnames or not needed <= set(reader.fieldnames):
            raise DataError(f"{csv_path}: expected the Kinetics columns label,youtube_id,time_start,time_end[,split]; "
                            f"got {reader.fieldnames}")
        rows = list(reader)
    raw, where, paths = [], [], []
    for n, row in enumerate(rows, start=2):
        fields = {**row, "time_start": int(float(row["time_start"])), "time_end": int(float(row["time_end"])),
                  "split": row.get("split", ""), "label": row["label"]}
        try:
            rel = template.format(**fields)
        except (KeyError, ValueError) as e:
            raise DataError(f"path template {template!r} does not fit {csv_path}: {e}") from None
        paths.append(_resolve_path(rel, root, f"{csv_path}:{n}"))
        raw.append(row["label"].strip())
        where.append(f"{csv_path}:{n}")
    labels, names = resolve_labels(raw, where, classes)
    return [VideoItem(p, y) for p, y in zip(paths, labels, strict=True)], names


def ucf101_items(root: str | os.PathLike, splits_dir: str | os.PathLike, split: int = 1, subset: str = "train"
                 ) -> tuple[list[VideoItem], list[str]]:
    """UCF101 from ``classInd.txt`` and ``trainlist0{split}.txt`` / ``testlist0{split}.txt``."""
    root, splits_dir = Path(root), Path(splits_dir)
    class_file = splits_dir / "classInd.txt"
    list_file = splits_dir / f"{'trainlist' if subset == 'train' else 'testlist'}0{split}.txt"
    for f in (class_file, list_file):
        if not f.is_file():
            raise DataError(f"UCF101 split file not found: {f}")
    names = [line.split()[1] for line in class_file.read_text().splitlines() if line.strip()]
    index = {name: i for i, name in enumerate(names)}
    items = []
    for n, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        rel = line.split()[0]
        name = rel.split("/")[0]
        if name not in index:
            raise DataError(f"{list_file}:{n}: class {name!r} is not in {class_file}")
        items.append(VideoItem(_resolve_path(rel, root, f"{list_file}:{n}"), index[name]))
    return items, names


def hmdb51_items(root: str | os.PathLike, splits_dir: str | os.PathLike, split: int = 1, subset: str = "train"
                 ) -> tuple[list[VideoItem], list[str]]:
    """HMDB51 from ``<class>_test_split{split}.txt`` files (1 = train, 2 = test, 0 = unused)."""
    root, splits_dir = Path(root), Path(splits_dir)
    files = sorted(splits_dir.glob(f"*_test_split{split}.txt"))
    if not files:
        raise DataError(f"no HMDB51 split files *_test_split{split}.txt in {splits_dir}")
    names = [f.name[: -len(f"_test_split{split}.txt")] for f in files]
    wanted = "1" if subset == "train" else "2"
    items = []
    for i, (name, f) in enumerate(zip(names, files, strict=True)):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == wanted:
                items.append(VideoItem(_resolve_path(f"{name}/{parts[0]}", root, str(f)), i))
    return items, names


SSV2_LABELS = "something-something-v2-labels.json"


def ssv2_items(json_path: str | os.PathLike, root: str | os.PathLike, labels_path: str | os.PathLike | None = None,
               suffix: str = ".webm") -> tuple[list[VideoItem], list[str]]:
    """Something-Something v2: a split file (``[{"id", "label", "template", "placeholders"}, …]``) and the label
    file beside it (``{"Approaching something with your camera": "0", …}``, 174 classes in its order); a
    video is ``{id}.webm`` under ``root``. The class is the template without its brackets."""
    json_path = Path(json_path)
    labels_path = Path(labels_path) if labels_path else json_path.parent / SSV2_LABELS
    for f in (json_path, labels_path):
        if not f.is_file():
            raise DataError(f"Something-Something v2 file not found: {f}")
    try:
        entries, label_ids = json.loads(json_path.read_text()), json.loads(labels_path.read_text())
        names = [name for name, _ in sorted(label_ids.items(), key=lambda kv: int(kv[1]))]
    except (ValueError, AttributeError) as e:
        raise DataError(f"{json_path} / {labels_path} are not Something-Something v2 JSON: {e}") from None
    if not isinstance(entries, list):
        raise DataError(f"{json_path}: expected a list of videos ({{\"id\", \"template\", …}})")
    index = {name: i for i, name in enumerate(names)}
    items = []
    for n, entry in enumerate(entries):
        where = f"{json_path}: entry {n}"
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise DataError(f"{where}: expected an id and a template (the test split has no labels)")
        name = entry["template"].replace("[", "").replace("]", "")
        if name not in index:
            raise DataError(f"{where}: class {name!r} is not in {labels_path}")
        items.append(VideoItem(_resolve_path(f"{entry['id']}{suffix}", root, where), index[name]))
    return items, names


AUDIOSET_CLASSES = "class_labels_indices.csv"
AUDIOSET_TEMPLATE = "{ytid}.mp4"


def _audioset_classes(path: Path) -> tuple[list[str], dict[str, int]]:
    """AudioSet's ``index,mid,display_name`` file: class names in index order, and each mid's index."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"index", "mid", "display_name"} <= set(reader.fieldnames):
            raise DataError(f"{path}: expected AudioSet's columns index,mid,display_name; got {reader.fieldnames}")
        rows = sorted(reader, key=lambda r: int(r["index"]))
    return [r["display_name"] for r in rows], {r["mid"]: i for i, r in enumerate(rows)}


def audioset_items(csv_path: str | os.PathLike, root: str | os.PathLike, labels_path: str | os.PathLike | None = None,
                   template: str = AUDIOSET_TEMPLATE) -> tuple[list[VideoItem], list[str]]:
    """AudioSet's segment lists (``YTID, start_seconds, end_seconds, "mid,mid,…"`` after ``#`` comment lines) with
    ``class_labels_indices.csv`` beside them (527 classes, named by ``display_name``); multi-label. ``template``
    places each video under ``root`` (fields ``ytid``, ``start``, ``end`` in seconds): the downloaded files are
    the 10-second segments themselves, so the items are whole files."""
    csv_path = Path(csv_path)
    labels_path = Path(labels_path) if labels_path else csv_path.parent / AUDIOSET_CLASSES
    for f in (csv_path, labels_path):
        if not f.is_file():
            raise DataError(f"AudioSet file not found: {f}")
    names, by_mid = _audioset_classes(labels_path)
    paths, raw, where = [], [], []
    with csv_path.open(newline="") as f:
        for n, cells in enumerate(csv.reader(f, skipinitialspace=True), start=1):
            if not cells or cells[0].startswith("#"):
                continue
            origin = f"{csv_path}:{n}"
            if len(cells) != 4:
                raise DataError(f"{origin}: expected YTID, start_seconds, end_seconds, \"labels\"; "
                                f"got {len(cells)} fields")
            ytid, start, end = cells[0].strip(), _seconds(cells[1], origin), _seconds(cells[2], origin)
            unknown = [m for m in split_labels(cells[3]) if m not in by_mid]
            if unknown:
                raise DataError(f"{origin}: label {unknown[0]!r} is not in {labels_path}")
            try:
                rel = template.format(ytid=ytid, start=start, end=end)
            except (KeyError, ValueError) as e:
                raise DataError(f"path template {template!r} does not fit {csv_path}: {e}") from None
            paths.append(_resolve_path(rel, Path(root), origin))
            raw.append([str(by_mid[m]) for m in split_labels(cells[3])])
            where.append(origin)
    if not paths:
        raise DataError(f"{csv_path} lists no segments")
    return multilabel_items(paths, raw, where, names)


SPORTS1M_LABELS = "labels.txt"
SPORTS1M_TEMPLATE = "{youtube_id}.mp4"


def sports1m_items(list_path: str | os.PathLike, root: str | os.PathLike, labels_path: str | os.PathLike | None = None,
                   template: str = SPORTS1M_TEMPLATE) -> tuple[list[VideoItem], list[str]]:
    """Sports-1M's partition files (``URL<space>label,label…``, indices into ``labels.txt``: 487 classes, first
    line class 0) ; multi-label (a video may have several sports). ``template`` places each video under
    ``root`` from its ``youtube_id`` (the URL's ``v=``)."""
    list_path = Path(list_path)
    labels_path = Path(labels_path) if labels_path else list_path.parent / SPORTS1M_LABELS
    for f in (list_path, labels_path):
        if not f.is_file():
            raise DataError(f"Sports-1M file not found: {f}")
    names = [line.strip() for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    paths, raw, where = [], [], []
    for n, line in enumerate(list_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{list_path}:{n}"
        parts = line.split()
        found = re.search(r"[?&]v=([\w-]+)", parts[0])
        if len(parts) != 2 or found is None:
            raise DataError(f"{origin}: expected a YouTube URL (…watch?v=ID) and its label indices (168,169)")
        paths.append(_resolve_path(template.format(youtube_id=found.group(1)), Path(root), origin))
        raw.append(split_labels(parts[1]))
        where.append(origin)
    if not paths:
        raise DataError(f"{list_path} lists no videos")
    return multilabel_items(paths, raw, where, names)


def sniff_format(source: Path) -> str:
    """The format of a data list from its name and first line: shards (`videozoo shard`'s folder or descriptor),
    folder, ssv2 (JSON), audioset (its ``#`` header), sports1m (YouTube URLs), kinetics (its header) or csv."""
    from .shards import is_shard_descriptor

    if is_shard_descriptor(source):
        return "shards"
    if source.is_dir():
        return "folder"
    if not source.exists():
        raise DataError(f"data not found: {source}")
    if source.suffix.lower() == ".json":
        return "ssv2"
    with source.open(errors="replace") as f:
        head = [f.readline() for _ in range(3)]
    compact = "".join(head).replace(" ", "")
    if head[0].startswith("# Segments csv") or "#YTID,start_seconds" in compact:
        return "audioset"
    if re.match(r"https?://(www\.)?youtube\.com/watch\?", head[0]):
        return "sports1m"
    return "kinetics" if compact.startswith("label,youtube_id") else "csv"


def load_items(source: str | os.PathLike, *, fmt: str = "auto", root: str | os.PathLike | None = None,
               classes: Sequence[str] | None = None, splits_dir: str | os.PathLike | None = None, split: int = 1,
               subset: str = "train", template: str = KINETICS_TEMPLATE) -> tuple[list[VideoItem], list[str]]:
    """Items from any supported source. ``fmt``: auto, csv, folder, kinetics, ssv2, audioset, sports1m, shards,
    ucf101, hmdb51.

    ``auto`` (:func:`sniff_format`) reads a folder as one-folder-per-class, a CSV as Kinetics or AudioSet when
    its header says so, a list of YouTube URLs as Sports-1M and a JSON file as Something-Something v2 (their
    videos under ``root``, default the list's folder).
    """
    source = Path(source)
    if fmt == "auto":
        fmt = sniff_format(source)
    if fmt == "csv":
        return read_video_csv(source, root, classes)
    if fmt == "folder":
        return folder_items(source, classes)
    if fmt == "kinetics":
        return kinetics_items(source, root or source.parent, template, classes)
    if fmt == "ssv2":
        return ssv2_items(source, root or source.parent)
    if fmt == "shards":
        from .shards import shard_items

        return shard_items(source, classes)
    if fmt in ("audioset", "sports1m"):
        loader = audioset_items if fmt == "audioset" else sports1m_items
        items, names = loader(source, root or source.parent)
        if classes is not None and list(classes) != names:
            raise DataError(f"{source}: its class list ({len(names)} classes) is not the one given ({len(classes)})")
        return items, names
    if fmt in ("ucf101", "hmdb51"):
        if splits_dir is None:
            raise DataError(f"{fmt} needs splits_dir (the folder of its split files)")
        loader = ucf101_items if fmt == "ucf101" else hmdb51_items
        return loader(source, splits_dir, split, subset)
    raise DataError(f"unknown data format {fmt!r}; expected auto, csv, folder, kinetics, ssv2, audioset, sports1m, "
                    "shards, ucf101 or hmdb51")


# -- the dataset --------------------------------------------------------------------------------

AUDIO_STYLES = ("htk", "vmz")


@dataclass(frozen=True)
class AudioConfig:
    """The audio of each clip as a log-Mel spectrogram ``(1, frames, n_mels)``, from the clip's own time.

    ``style``: ``"htk"``, :func:`~videozoo.data.audio.log_mel` of the ``seconds`` from the clip's first frame;
    ``"vmz"``, VMZ's op (:func:`~videozoo.data.audio.vmz_log_mel` of the whole track) with the clip's frame span
    resized to ``frames`` rows (:func:`~videozoo.data.audio.vmz_align`), what VMZ's audio-visual weights take.
    Videos without an audio track give zeros and ``has_audio = False``.
    """

    seconds: float = 1.0
    sample_rate: int = 16000
    n_mels: int = 40
    style: str = "htk"

    def __post_init__(self) -> None:
        if self.style not in AUDIO_STYLES:
            raise ValueError(f"audio style {self.style!r}: expected one of {', '.join(AUDIO_STYLES)}")

    @property
    def frames(self) -> int:
        return int(round(self.seconds * 100))


class VideoDataset(Dataset):
    """Clips of labelled videos.

    In training mode an item is one random clip: ``{"video": (C, T, H, W), "label", "index"}``; the label is the
    class index, or for multi-label data (``multilabel``; by default when the items carry ``labels``) a multi-hot
    float vector ``(num_classes,)``.
    In eval mode it is ``num_clips`` uniformly spaced clips × the transform's views:
    ``{"video": (num_clips · V, C, T, H, W), …}`` (clip-major: view ``k · V + j`` is crop ``j`` of clip ``k``),
    and with ``audio`` each clip's spectrogram, ``{"audio": (num_clips, 1, frames, mels)}``. A video that
    cannot be read gives ``{"skipped": True, "index", "path", "error"}`` instead (see :func:`collate_videos`).

    Args:
        items, classes: from one of the sources above.
        sampling: frames per clip and frame stride.
        transform: a :class:`TransformConfig` (its ``train()`` or ``eval()`` pipeline is used) or a callable
            ``(clip (T, C, H, W) uint8, rng) → tensor``.
        train: training (random clip, random augmentation) or eval mode.
        num_clips: clips per video in eval mode.
        seed: with the epoch and the index, fixes every random choice (see :meth:`set_epoch`).
        audio: an :class:`AudioConfig` to add ``"audio"`` and ``"has_audio"`` to every item.
        backend: ``"pyav"`` (default; installs with pip alone) or ``"torchcodec"`` (where installed).
        modality: what ``"video"`` holds: ``"rgb"`` frames or ``"flow"`` (from ``flow_root``, see
            :mod:`videozoo.data.flow`), transformed by ``transform`` either way.
        flow_transform: with ``modality="rgb"``, also give ``"flow"`` clips (same frames, same crop) through this
            transform (a :class:`TransformConfig` with ``normalization="flow"``).
        flow_root, data_root: flow files mirror the videos' paths relative to ``data_root`` under ``flow_root``.
        multilabel: labels as multi-hot vectors (None: when the items are multi-label; False: each item's first
            class, for what takes one class per video).
    """

    def __init__(self, items: Sequence[VideoItem], classes: Sequence[str], sampling: ClipSampling | None = None,
                 transform: TransformConfig | Compose | None = None, *, train: bool = True, num_clips: int = 1,
                 seed: int = 0, audio: AudioConfig | None = None, frames_fps: float = 30.0,
                 backend: str = "pyav", modality: str = "rgb", flow_transform: TransformConfig | None = None,
                 flow_root: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
                 multilabel: bool | None = None) -> None:
        self.items = list(items)
        self.multilabel = is_multilabel(self.items) if multilabel is None else multilabel
        self.classes = list(classes)
        self.sampling = sampling or ClipSampling()
        config = transform if transform is not None else TransformConfig()
        self.transform = (config.train() if train else config.eval()) if isinstance(config, TransformConfig) else config
        self.train = train
        self.num_clips = num_clips
        self.seed = seed
        self.epoch = 0
        self.audio = audio
        self.frames_fps = frames_fps
        if backend not in BACKENDS:
            raise DataError(f"unknown video backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        if modality not in ("rgb", "flow"):
            raise DataError(f"unknown modality {modality!r}; expected rgb or flow")
        self.modality = modality
        self.flow_transform = None
        if flow_transform is not None:
            self.flow_transform = flow_transform.train() if train else flow_transform.eval()
        needs_flow = modality == "flow" or flow_transform is not None
        if needs_flow and flow_root is None:
            raise DataError("optical flow needs flow_root: the folder `videozoo flow` wrote")
        if needs_flow and data_root is None:
            raise DataError("optical flow needs data_root: the folder the videos' paths are relative to (as given "
                            "to `videozoo flow`; data_root_of(list, root) gives it)")
        self.flow_root = Path(flow_root) if flow_root is not None else None
        self.data_root = Path(data_root) if data_root is not None else None
        for item in self.items:
            for label in item.classes:
                if not 0 <= label < len(self.classes):
                    raise DataError(f"{item.path}: label {label} is out of range for {len(self.classes)} classes")

    def set_epoch(self, epoch: int) -> None:
        """Draw new random clips: the clip of (video, epoch) is fixed by the seed, whatever the worker."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """The item at ``key``: an index (at the epoch :meth:`set_epoch` set), or ``(epoch, index)`` as
        :class:`EpochSampler` gives it (what persistent loader workers, whose copy of the dataset does not see
        ``set_epoch``, need)."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        item = self.items[index]
        return load_or_skip(lambda: self._load(index, item, epoch), index, item.path)

    def _load(self, index: int, item: VideoItem, epoch: int) -> dict:
        rng = sample_rng(self.seed, epoch, index)
        flow = None
        with open_reader(item.path, frames_fps=self.frames_fps, backend=self.backend) as video:
            first, count = self._segment(video, item)
            fps = video.fps
            if self.train:
                starts = [random_start(count, self.sampling, rng, fps)]
            else:
                starts = uniform_starts(count, self.sampling, self.num_clips, fps)
            clips_idx = [[first + i for i in clip_indices(s, count, self.sampling, fps)] for s in starts]
            total = video.num_frames
            indices = [i for clip in clips_idx for i in clip]
            frames = video.get_frames(indices) if self.modality == "rgb" else None
            has_audio = getattr(video, "has_audio", False)
            if self.modality == "flow" or self.flow_transform is not None:
                with FlowReader(flow_path(item.path, self.data_root, self.flow_root)) as reader:
                    check_flow_matches(video, reader)
                    flow = reader.get_frames(indices)
        out = {"video": self._clips(frames if frames is not None else flow, self.transform, index, epoch,
                                    len(starts)),
               "label": self.target(item), "index": index}
        if self.modality == "rgb" and self.flow_transform is not None:
            out["flow"] = self._clips(flow, self.flow_transform, index, epoch, len(starts))
        if self.audio is not None:
            # Each clip's sound, from the clip's first frame; training: (1, F, M), eval: (clips, 1, F, M).
            spectrograms = self._audio(item, clips_idx, total, fps, has_audio)
            out["audio"] = spectrograms[0] if self.train else spectrograms
            out["has_audio"] = has_audio
        return out

    def target(self, item: VideoItem) -> int | torch.Tensor:
        """The item's label as the loss takes it: its class index, or a multi-hot ``(num_classes,)`` vector."""
        if not self.multilabel:
            return item.label
        hot = torch.zeros(len(self.classes))
        hot[list(item.classes)] = 1.0
        return hot

    def _clips(self, frames: torch.Tensor, transform, index: int, epoch: int, num_clips: int) -> torch.Tensor:
        """Transform each clip; every modality draws the same crop and flip (one seed per video and epoch)."""
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        n = self.sampling.num_frames
        clips = [transform(frames_to_clip(frames[k * n:(k + 1) * n]), rng) for k in range(num_clips)]
        return clips[0] if self.train else torch.cat(clips)

    @staticmethod
    def _segment(video, item: VideoItem) -> tuple[int, int]:
        """First frame and frame count of the item's segment."""
        first, last = 0, video.num_frames
        if item.start is not None and video.fps:
            first = min(int(item.start * video.fps), video.num_frames - 1)
        if item.end is not None and video.fps:
            last = max(min(int(round(item.end * video.fps)), video.num_frames), first + 1)
        return first, last - first

    def _audio(self, item: VideoItem, clips_idx: list[list[int]], num_frames: int, fps: float,
               has_audio: bool) -> torch.Tensor:
        """The log-Mel spectrogram ``(clips, 1, frames, mels)`` of each clip (its frame indices); zeros without an
        audio track. The track is decoded once for all clips."""
        cfg = self.audio
        specs = torch.zeros(len(clips_idx), 1, cfg.frames, cfg.n_mels)
        if not has_audio:
            return specs
        wave = read_audio(item.path, cfg.sample_rate)
        track = vmz_log_mel(wave, cfg.sample_rate, cfg.n_mels) if cfg.style == "vmz" else None
        span = int(round(self.sampling.span(fps)))  # the clip's frames, first to last (VMZ's required frames)
        for k, clip in enumerate(clips_idx):
            if track is not None:
                specs[k, 0] = vmz_align(track, num_frames, clip[0], span, cfg.frames)
                continue
            start = clip[0] / fps if fps else 0.0
            mel = log_mel(audio_window(wave, cfg.sample_rate, start, cfg.seconds), cfg.sample_rate, cfg.n_mels)
            mel = mel[: cfg.frames]
            specs[k, 0, : mel.shape[0]] = mel
        return specs


def load_or_skip(load: Callable[[], dict], index: int, path: str) -> dict:
    """``load()``, or for a video that cannot be read ``{"skipped": True, "index", "path", "error"}`` (the error in
    one line), which :func:`collate_videos` lists and the training loop counts."""
    try:
        return load()
    except (VideoError, av.FFmpegError, OSError, RuntimeError, ValueError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        return {"skipped": True, "index": index, "path": path, "error": message}


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` for each index of ``sampler`` (a sampler with ``set_epoch``, e.g.
    DistributedSampler): the epoch travels with the index, so persistent loader workers draw each epoch's
    clips as a fresh process would."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, i) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def data_root_of(source: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """The folder a data list's relative paths start from: ``root``, a folder source itself, or the list's folder."""
    if root is not None:
        return Path(root)
    source = Path(source)
    return source if source.is_dir() else source.parent


def worker_context(start: str = "fork"):
    """The multiprocessing context for loader workers. ``fork`` is the quickest; ``forkserver`` forks workers
    from a clean server process (this module preloaded, so each starts in milliseconds) and so avoids a
    deadlock inherited from a parent that already ran decoder or BLAS threads; ``spawn`` starts each from
    scratch. Both re-import the main module: scripts need an ``if __name__ == "__main__":`` guard."""
    import multiprocessing

    if start == "forkserver":
        multiprocessing.set_forkserver_preload([__name__])
    return multiprocessing.get_context(start)


def parallel_map(fn: Callable, jobs: Sequence, workers: int, start: str | None = None, chunksize: int = 1
                 ) -> Iterator:
    """``fn`` over ``jobs``, results in order: in this process for ``workers`` ≤ 1 (or one job), else in that many
    processes (``start``: how they start, see :func:`worker_context`; None: the platform's default), handed out
    ``chunksize`` jobs at a time."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    context = worker_context(start) if start else None
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(fn, jobs, chunksize=chunksize)


def collate_videos(batch: list[dict]) -> dict:
    """Stack the readable items; list the skipped ones under ``"skipped"`` as ``(index, path, error)``.

    A batch where every video failed has no ``"video"`` key.
    """
    good = [b for b in batch if not b.get("skipped")]
    out: dict = {"skipped": [(b["index"], b["path"], b["error"]) for b in batch if b.get("skipped")]}
    if good:
        out.update(torch.utils.data.default_collate(good))
    return out


class SkipLog:
    """Counts unreadable videos over a run; warns once per file, in one line."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.errors: dict[str, str] = {}
        self.logger = logger

    def record(self, skipped: Iterable[tuple[int, str, str]]) -> None:
        for _, path, error in skipped:
            if path not in self.errors:
                self.errors[path] = error
                self.logger.warning("skipping unreadable video: %s", error if path in error else f"{path}: {error}")

    def __len__(self) -> int:
        return len(self.errors)

    def summary(self) -> str:
        return f"{len(self.errors)} unreadable video(s) skipped" if self.errors else "no unreadable videos"
