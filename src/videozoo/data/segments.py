"""Action segments in untrimmed videos: ground truth and predictions, in the formats the benchmarks use.

- ActivityNet (v1.2 / v1.3) JSON: ``{"database": {VIDEO_ID: {"subset": "validation", "duration": 123.4,
  "annotations": [{"segment": [START, END], "label": "CLASS"}, …]}, …}}``;
- THUMOS'14: a folder of per-class files ``CLASS_SUBSET.txt`` (``Billiards_val.txt``), one
  ``VIDEO_NAME START END`` line per instance; ``Ambiguous_*.txt`` marks stretches the benchmark does not score
  and is left out;
- a CSV ``video,label,start,end`` (a header row is optional): a user's own annotations;
- predictions: ActivityNet's result JSON, ``{"results": {VIDEO_ID: [{"label": …, "score": …,
  "segment": [START, END]}, …]}}``, which ``videozoo localize`` writes.

Times are seconds; a video is named by its ID (ActivityNet) or file stem (THUMOS, ``videozoo localize``).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .datasets import DataError

AMBIGUOUS = "Ambiguous"  # THUMOS'14's label for stretches that are neither action nor background
BACKGROUND = "background"  # the class of what lies between actions (THUMOS'14's convention); never reported


@dataclass(frozen=True)
class Segment:
    """``label`` from ``start`` to ``end`` seconds; ``score`` is a prediction's confidence (1 for ground truth)."""

    start: float
    end: float
    label: str
    score: float = 1.0

    @property
    def length(self) -> float:
        return self.end - self.start


Segments = dict[str, list[Segment]]  # video ID → its segments


def _segment(start, end, label, origin: str, score: float = 1.0) -> Segment:
    try:
        start, end, score = float(start), float(end), float(score)
    except (TypeError, ValueError):
        raise DataError(f"{origin}: expected numbers for start, end and score, got {start!r}, {end!r}, "
                        f"{score!r}") from None
    if not 0 <= start < end:
        raise DataError(f"{origin}: a segment must have 0 ≤ start < end, got {start}–{end}")
    if not str(label).strip():
        raise DataError(f"{origin}: a segment without a label")
    return Segment(start, end, str(label).strip(), score)


def read_segments(path: str | os.PathLike, subset: str | None = None) -> Segments:
    """Ground-truth segments per video from an ActivityNet JSON file, a THUMOS'14 annotation folder or a CSV.

    ``subset``: ActivityNet's ``"training"`` / ``"validation"`` (default: every video), THUMOS's file suffix
    (``"val"``, ``"test"``; default: every file). Videos listed without annotations keep an empty list.
    """
    path = Path(path)
    if path.is_dir():
        return _thumos(path, subset)
    if not path.is_file():
        raise DataError(f"annotation file not found: {path}")
    if path.suffix.lower() == ".json":
        return _activitynet(path, subset)
    return _csv(path)


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not readable JSON: {' '.join(str(e).split())}") from None


def _activitynet(path: Path, subset: str | None) -> Segments:
    data = _load_json(path)
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise DataError(f"{path}: expected ActivityNet's layout {{\"database\": {{VIDEO_ID: {{\"annotations\": "
                        "[{\"segment\": [START, END], \"label\": CLASS}]}}}}")
    out: Segments = {}
    for video, entry in database.items():
        if not isinstance(entry, dict):
            raise DataError(f"{path}: database entry {video!r} is not an object")
        if subset is not None and entry.get("subset") != subset:
            continue
        segments = []
        for k, ann in enumerate(entry.get("annotations", [])):
            origin = f"{path}: {video} annotation {k}"
            if not isinstance(ann, dict) or len(ann.get("segment", ())) != 2 or "label" not in ann:
                raise DataError(f"{origin}: expected {{\"segment\": [START, END], \"label\": CLASS}}")
            segments.append(_segment(*ann["segment"], ann["label"], origin))
        out[str(video)] = segments
    if subset is not None and not out:
        subsets = sorted({str(e.get("subset")) for e in database.values() if isinstance(e, dict)})
        raise DataError(f"{path} has no videos in subset {subset!r}; its subsets are {', '.join(subsets)}")
    return out


def _thumos(folder: Path, subset: str | None) -> Segments:
    files = sorted(f for f in folder.glob("*.txt") if "_" in f.stem)
    if subset is not None:
        files = [f for f in files if f.stem.rsplit("_", 1)[1] == subset]
    files = [f for f in files if f.stem.rsplit("_", 1)[0] != AMBIGUOUS]
    if not files:
        raise DataError(f"{folder} holds no THUMOS annotation files CLASS_{subset or 'SUBSET'}.txt")
    out: Segments = {}
    for f in files:
        label = f.stem.rsplit("_", 1)[0]
        for n, line in enumerate(f.read_text().splitlines(), start=1):
            cells = line.split()
            if not cells:
                continue
            if len(cells) != 3:
                raise DataError(f"{f}:{n}: expected VIDEO_NAME START END, got {line.strip()!r}")
            out.setdefault(cells[0], []).append(_segment(cells[1], cells[2], label, f"{f}:{n}"))
    return out


def _csv(path: Path) -> Segments:
    out: Segments = {}
    with path.open(newline="") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if not row or (n == 1 and row[0].strip().lower() == "video"):
                continue
            if len(row) != 4:
                raise DataError(f"{path}:{n}: expected video,label,start,end; got {len(row)} fields")
            out.setdefault(row[0].strip(), []).append(_segment(row[2], row[3], row[1], f"{path}:{n}"))
    return out


def write_predictions(path: str | os.PathLike, predictions: Segments) -> Path:
    """ActivityNet's result JSON (what its evaluation and :func:`read_predictions` read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = {video: [{"label": s.label, "score": round(s.score, 6), "segment": [round(s.start, 3),
                                                                                  round(s.end, 3)]}
                       for s in segments] for video, segments in predictions.items()}
    path.write_text(json.dumps({"version": "videozoo", "results": results,
                                "external_data": {"used": False}}, indent=1))
    return path


def read_predictions(path: str | os.PathLike) -> Segments:
    """Predicted segments per video from ActivityNet's result JSON."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"prediction file not found: {path}")
    data = _load_json(path)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict):
        raise DataError(f"{path}: expected {{\"results\": {{VIDEO_ID: [{{\"label\", \"score\", \"segment\"}}]}}}}")
    out: Segments = {}
    for video, entries in results.items():
        segments = []
        for k, p in enumerate(entries):
            origin = f"{path}: {video} prediction {k}"
            if not isinstance(p, dict) or len(p.get("segment", ())) != 2 or "label" not in p or "score" not in p:
                raise DataError(f"{origin}: expected {{\"label\": CLASS, \"score\": S, \"segment\": [START, END]}}")
            segments.append(_segment(*p["segment"], p["label"], origin, p["score"]))
        out[str(video)] = segments
    return out
