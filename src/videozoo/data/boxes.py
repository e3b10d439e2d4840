"""Actor boxes and action tubes: the annotations of spatio-temporal action detection (UCF101-24, JHMDB-21).

A *tube* is one actor doing one action over a run of frames, one box per frame; a video holds one or more.
Boxes are ``(x1, y1, x2, y2)`` in pixels of the video's own frames; frames are counted from 0.

Formats read (:func:`load_box_annotations`):

- ``csv``: one row per box, ``video,frame,x1,y1,x2,y2,label[,tube]`` with a header (``label`` a class name
  or index; ``tube`` tells two actors of one video apart, default 0). ``video`` is the video's path
  relative to the data root, with or without its extension. What ``videozoo synth --task detect`` writes.
- ``act``: the pickles of the ACT detector (Kalogeiton et al., ICCV 2017) that UCF101-24 (``UCF101v2-GT.pkl``)
  and JHMDB-21 (``JHMDB-GT.pkl``) are distributed with: ``labels``, ``gttubes`` (video → label index → list
  of ``(n, 5)`` arrays ``frame, x1, y1, x2, y2`` with frames counted from 1), ``nframes``, ``resolution``,
  ``train_videos`` / ``test_videos`` (one list per split). Videos are the frame folders
  ``ROOT/<video>/00001.jpg …`` (``rgb-images`` of the distributions) or video files. The pickle is read with
  an unpickler that builds nothing but numpy arrays and Python containers.

Person boxes from a detector (*proposals*) are a CSV ``video,frame,x1,y1,x2,y2[,score]``
(:func:`read_proposals`): at training time a proposal that overlaps no annotated actor (IoU < 0.5) teaches
the ``background`` class; at detection time they are the boxes classified.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import DataError, resolve_labels

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov")


@dataclass
class Tube:
    """One actor's action: ``frames`` ``(n,)`` and their ``boxes`` ``(n, 4)``."""

    label: int
    frames: np.ndarray
    boxes: np.ndarray


@dataclass
class BoxedVideo:
    """A video with its tubes; ``path`` is where it is read from, ``video`` its id in the annotations."""

    video: str
    path: str
    tubes: list[Tube] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_frame: dict[int, list[tuple[np.ndarray, int]]] = defaultdict(list)
        for tube in self.tubes:
            for f, box in zip(tube.frames.tolist(), tube.boxes, strict=True):
                self._by_frame[int(f)].append((box, tube.label))

    @property
    def frames(self) -> list[int]:
        """The annotated frames, in order."""
        return sorted(self._by_frame)

    def boxes_at(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(k, 4)`` and labels ``(k,)`` annotated on ``frame``."""
        entries = self._by_frame.get(frame, [])
        boxes = np.array([b for b, _ in entries], np.float32).reshape(-1, 4)
        return boxes, np.array([label for _, label in entries], np.int64)


def resolve_video(root: Path, video: str) -> str:
    """The file or frame folder of annotation id ``video`` under ``root``: as named, else with a video
    suffix; a one-line error when none exists."""
    direct = root / video
    if direct.exists():
        return str(direct)
    for suffix in VIDEO_SUFFIXES:
        candidate = root / f"{video}{suffix}"
        if candidate.is_file():
            return str(candidate)
    raise DataError(f"video {video!r} of the annotations is not under {root} (as a file, a frame folder, or with "
                    f"one of {', '.join(VIDEO_SUFFIXES)})")


def _check_box(box, origin: str) -> None:
    x1, y1, x2, y2 = box
    if not all(np.isfinite(box)) or x2 <= x1 or y2 <= y1:
        raise DataError(f"{origin}: box {tuple(float(v) for v in box)} is not (x1, y1, x2, y2) with x2 > x1 and "
                        "y2 > y1")


def _box_rows(path: Path, what: str, layout: str, required: set[str]):
    """``(origin, row, frame, box)`` of each row of a box CSV (``layout`` names its columns for the message),
    the frame and box checked."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"video", "frame", "x1", "y1", "x2", "y2"} | required
        missing -= set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: expected the columns {layout}; missing {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            origin = f"{path}:{line}"
            try:
                frame = int(row["frame"])
                box = tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            except (TypeError, ValueError):
                raise DataError(f"{origin}: frame must be an integer and x1, y1, x2, y2 numbers") from None
            if frame < 0:
                raise DataError(f"{origin}: frame {frame} is negative (frames count from 0)")
            _check_box(box, origin)
            yield origin, row, frame, box


def read_box_csv(path: str | os.PathLike, classes: list[str] | None = None
                 ) -> tuple[dict[str, list[Tube]], list[str]]:
    """Tubes per video of a ``video,frame,x1,y1,x2,y2,label[,tube]`` file, and the class list."""
    path = Path(path)
    rows, where = [], []
    for origin, row, frame, box in _box_rows(path, "box annotations", "video,frame,x1,y1,x2,y2,label[,tube]",
                                             {"label"}):
        try:
            tube = int(row.get("tube") or 0)
        except ValueError:
            raise DataError(f"{origin}: tube must be an integer, got {row['tube']!r}") from None
        rows.append((row["video"], frame, box, (row["label"] or "").strip(), tube))
        where.append(origin)
    if not rows:
        raise DataError(f"{path} lists no boxes")
    labels, classes = resolve_labels([r[3] for r in rows], where, classes)
    grouped: dict[tuple[str, int, int], list[tuple[int, tuple]]] = defaultdict(list)
    for (video, frame, box, _, tube), label in zip(rows, labels, strict=True):
        grouped[(video, tube, label)].append((frame, box))
    tubes: dict[str, list[Tube]] = defaultdict(list)
    for (video, _, label), entries in grouped.items():
        entries.sort()
        tubes[video].append(Tube(label, np.array([f for f, _ in entries], np.int64),
                                 np.array([b for _, b in entries], np.float32)))
    return dict(tubes), classes


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and Python containers; anything else (code a pickle could run) is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict"), ("collections", "defaultdict"),
               ("builtins", "list"), ("builtins", "dict"), ("builtins", "set"), ("builtins", "tuple"),
               ("_codecs", "encode")}  # how protocol 2 stores an array's bytes

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to build {module}.{name}")
        return super().find_class(module, name)


def read_act_pickle(path: str | os.PathLike) -> dict:
    """The ACT annotation dict of ``path`` (Python 2 pickles included)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"box annotations not found: {path}")
    try:
        data = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{path} is not an ACT annotation pickle (UCF101v2-GT.pkl, JHMDB-GT.pkl): {e}") from None
    missing = [k for k in ("labels", "gttubes") if not isinstance(data, dict) or k not in data]
    if missing:
        raise DataError(f"{path}: an ACT annotation pickle holds labels and gttubes; missing {', '.join(missing)}")
    return data


def act_tubes(data: dict, subset: str, split: int = 1, origin: str = "annotations"
              ) -> tuple[dict[str, list[Tube]], list[str]]:
    """Tubes per video of an ACT annotation dict's ``subset`` (train / test) of ``split`` (from 1; the pickle's
    list of video lists), frames counted from 0, and its class list."""
    classes = [str(c) for c in data["labels"]]
    key = f"{subset}_videos"
    if key in data:
        splits = data[key]
        if not 1 <= split <= len(splits):
            raise DataError(f"{origin}: split {split} does not exist ({len(splits)} in {key})")
        videos = list(splits[split - 1])
    else:
        videos = sorted(data["gttubes"])
    tubes: dict[str, list[Tube]] = {}
    for video in videos:
        found = []
        for label, arrays in data["gttubes"].get(video, {}).items():
            if not 0 <= int(label) < len(classes):
                raise DataError(f"{origin}: {video}: label {label} is out of range for {len(classes)} classes")
            for a in arrays:
                a = np.asarray(a, np.float64).reshape(-1, 5)
                for box in a[:, 1:]:
                    _check_box(box, f"{origin}: {video}")
                found.append(Tube(int(label), a[:, 0].astype(np.int64) - 1, a[:, 1:].astype(np.float32)))
        tubes[video] = found
    return tubes, classes


def box_format_of(source: str | os.PathLike) -> str | None:
    """``boxes`` for a CSV with the box columns, ``act`` for a pickle, else None (a list of labelled videos)."""
    source = Path(source)
    if source.suffix.lower() == ".pkl":
        return "act"
    if source.is_file() and source.suffix.lower() == ".csv":
        with source.open(newline="") as f:
            header = next(csv.reader(f), [])
        if {"video", "frame", "x1", "y1", "x2", "y2", "label"} <= {h.strip() for h in header}:
            return "boxes"
    return None


def load_box_annotations(source: str | os.PathLike, *, fmt: str = "boxes", root: str | os.PathLike | None = None,
                         classes: list[str] | None = None, split: int = 1, subset: str = "train",
                         resolve: bool = True) -> tuple[list[BoxedVideo], list[str]]:
    """The annotated videos of ``source`` (``fmt``: ``boxes`` CSV or ``act`` pickle), their paths resolved under
    ``root`` (default: the file's folder; ``resolve=False``: not looked for, as scoring needs none), and the
    class list (``classes`` fixes its order)."""
    source = Path(source)
    base = Path(root) if root is not None else source.parent
    if fmt == "act":
        tubes, names = act_tubes(read_act_pickle(source), subset, split, origin=str(source))
        if classes is not None and list(classes) != names:
            raise DataError(f"{source}: its classes ({', '.join(names[:3])} …) are not those of data.classes")
    elif fmt == "boxes":
        tubes, names = read_box_csv(source, classes)
    else:
        raise DataError(f"unknown box annotation format {fmt!r}; expected boxes (CSV) or act (pickle)")
    videos = [BoxedVideo(video, resolve_video(base, video) if resolve else video, t)
              for video, t in sorted(tubes.items())]
    return videos, names


def read_proposals(path: str | os.PathLike) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Detector boxes of ``video,frame,x1,y1,x2,y2[,score]``: video → frame → (boxes ``(k, 4)``, scores)."""
    found: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for origin, row, frame, box in _box_rows(Path(path), "proposals", "video,frame,x1,y1,x2,y2[,score]", set()):
        try:
            score = float(row.get("score") or 1.0)
        except ValueError:
            raise DataError(f"{origin}: score must be a number, got {row['score']!r}") from None
        found[row["video"]][frame].append((*box, score))
    return {video: {frame: (np.array(v, np.float32)[:, :4], np.array(v, np.float32)[:, 4])
                    for frame, v in frames.items()} for video, frames in found.items()}


def write_box_csv(path: str | os.PathLike, rows: list[tuple]) -> Path:
    """Write ``(video, frame, x1, y1, x2, y2, label, tube)`` rows as a box annotation CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "frame", "x1", "y1", "x2", "y2", "label", "tube"])
        for video, frame, x1, y1, x2, y2, label, tube in rows:
            writer.writerow([video, frame, f"{x1:.1f}", f"{y1:.1f}", f"{x2:.1f}", f"{y2:.1f}", label, tube])
    return path
