"""Preparing a data set for training: every video re-encoded small and easy to seek.

What every peer's Kinetics recipe does first: scale the videos to a 256-pixel short side and re-encode them
with short groups of pictures, because a random 16-frame clip from x264's default 250-frame group decodes up
to 250 frames. :func:`prepare_dataset` does it for any data list, in parallel processes:

- H.264 (``libx264``, CRF 23 by default) with a keyframe every ``gop`` frames exactly (no scene-cut
  keyframes in between), ``yuv420p``, the short side scaled down to ``short_side`` (never up; even sizes);
  the frames kept one for one at the source's average rate, or resampled to ``fps``;
- the first audio track re-encoded to AAC (mono stays mono, more channels become stereo);
- each file written under a temporary name and renamed when complete, so a killed run redoes only the
  files it had not finished (and removes its half-written temporaries);
- an unreadable video is listed with its reason in ``failed.csv`` and left out of the new list, never a crash.

The new list (``path,label[,start,end]``, paths relative to the output folder; ``path,labels,…`` for
multi-label data) keeps each item's labels and segment; ``classes.txt`` keeps the class order.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

from .check import write_failures
from .datasets import VideoItem, is_multilabel, parallel_map, write_classes
from .decode import VideoError, error_reason, open_container

TEMP_PREFIX = ".prepare-"  # half-written outputs of a killed run start with it


@dataclass(frozen=True)
class PrepareOptions:
    short_side: int | None = 256
    gop: int = 16
    fps: float | None = None
    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.short_side is not None and (self.short_side < 16 or self.short_side % 2):
            raise ValueError(f"short_side must be an even number of at least 16, got {self.short_side}")
        if self.gop < 1:
            raise ValueError(f"gop must be at least 1, got {self.gop}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0…51 (x264), got {self.crf}")


@dataclass
class PrepareReport:
    prepared: int = 0
    already_done: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # source path → reason
    list_path: Path | None = None


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def output_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) with the short side scaled down to ``short_side`` (never up), both even (yuv420p)."""
    scale = 1.0 if short_side is None else min(1.0, short_side / min(width, height))
    return _even(width * scale), _even(height * scale)


def _audio_out(container, source):
    layout = "mono" if source.codec_context.channels == 1 else "stereo"
    stream = container.add_stream("aac", rate=source.codec_context.sample_rate, layout=layout)
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout,
                                  rate=stream.codec_context.sample_rate,
                                  frame_size=stream.codec_context.frame_size or None)
    return stream, resampler


def prepare_video(src: str | os.PathLike, dst: str | os.PathLike, options: PrepareOptions = PrepareOptions()) -> Path:
    """Re-encode ``src`` to ``dst`` (an .mp4) as :mod:`the module <videozoo.data.prepare>` describes; raises
    :class:`VideoError` for a video it cannot read, leaving nothing at ``dst``."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f"{TEMP_PREFIX}{os.getpid()}-{dst.name}")
    try:
        with open_container(src) as source, av.open(str(tmp), "w", format="mp4") as out:
            if not source.streams.video:
                raise VideoError(f"{src} has no video stream")
            vin = source.streams.video[0]
            vin.thread_type = "AUTO"
            rate = Fraction(options.fps).limit_denominator(1001) if options.fps else \
                (vin.average_rate or vin.guessed_rate or Fraction(25))
            width, height = output_size(vin.codec_context.width, vin.codec_context.height, options.short_side)
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            vout.codec_context.gop_size = options.gop
            vout.options = {"crf": str(options.crf), "preset": options.preset,
                            "x264-params": f"keyint={options.gop}:min-keyint={options.gop}:scenecut=0"}
            ain = source.streams.audio[0] if source.streams.audio else None
            aout, resampler = _audio_out(out, ain) if ain is not None else (None, None)
            written = 0
            for packet in source.demux(*(s for s in (vin, ain) if s is not None)):
                for frame in packet.decode():
                    if packet.stream is ain:
                        for chunk in resampler.resample(frame):
                            out.mux(aout.encode(chunk))
                        continue
                    # Frames one for one, or as many copies of each as the new rate needs by its time (--fps).
                    copies = 1 if not options.fps else max(0, int((frame.time or 0.0) * float(rate) + 1) - written)
                    if copies:
                        image = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
                        image.pict_type = PictureType.NONE  # the source's I frames would force keyframes
                    for _ in range(copies):
                        image.pts, image.time_base = written, 1 / rate  # constant rate: frame k at k / rate
                        out.mux(vout.encode(image))
                        written += 1
            if written == 0:
                raise VideoError(f"{src} has no decodable frame")
            out.mux(vout.encode(None))
            if aout is not None:
                for chunk in resampler.resample(None):
                    out.mux(aout.encode(chunk))
                out.mux(aout.encode(None))
        os.replace(tmp, dst)
    except av.FFmpegError as e:
        raise VideoError(f"cannot prepare {src}: {error_reason(e)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _prepare_one(job: tuple[str, str, PrepareOptions]) -> tuple[str, str | None]:
    src, dst, options = job
    try:
        prepare_video(src, dst, options)
        return src, None
    except (VideoError, OSError) as e:
        return src, " ".join(str(e).split())


def _target(path: str, data_root: Path, out: Path) -> Path:
    """Where a video's prepared copy goes: its path relative to the data root, under ``out``, as .mp4."""
    p = Path(path)
    try:
        rel = p.resolve().relative_to(data_root.resolve())
    except ValueError:  # outside the data root (an absolute path elsewhere): keep its name, under _external/
        rel = Path("_external") / p.name
    return (out / rel).with_suffix(".mp4")


def prepare_dataset(items: Sequence[VideoItem], classes: Sequence[str], data_root: str | os.PathLike,
                    out: str | os.PathLike, options: PrepareOptions = PrepareOptions(), workers: int = 1,
                    list_name: str = "videos.csv", progress: Callable[[int], None] | None = None) -> PrepareReport:
    """Prepare every video of ``items`` (their paths under ``data_root``) into ``out``; write the new list
    ``out/list_name``, ``out/classes.txt`` and ``out/failed.csv``. Finished files are not redone."""
    out, data_root = Path(out), Path(data_root)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.rglob(f"{TEMP_PREFIX}*"):  # a killed run's half-written files
        stale.unlink(missing_ok=True)
    targets = {item.path: _target(item.path, data_root, out) for item in items}
    report = PrepareReport()
    jobs = []
    for src, dst in targets.items():
        if dst.is_file():
            report.already_done += 1
        else:
            jobs.append((src, str(dst), options))
    if progress is not None and report.already_done:
        progress(report.already_done)
    results = parallel_map(_prepare_one, jobs, workers)
    for src, reason in results:
        if reason is None:
            report.prepared += 1
        else:
            report.failed[src] = reason
        if progress is not None:
            progress(1)
    report.list_path = _write_list(out / list_name, items, classes, targets, report.failed, out)
    write_classes(out / "classes.txt", classes)
    write_failures(out / "failed.csv", report.failed)
    return report


def _write_list(path: Path, items: Sequence[VideoItem], classes: Sequence[str], targets: dict[str, Path],
                failed: dict[str, str], out: Path) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        segments = any(item.start is not None or item.end is not None for item in items)
        label_column = "labels" if is_multilabel(items) else "label"  # several classes a video, ";" between them
        writer.writerow(["path", label_column, "start", "end"] if segments else ["path", label_column])
        for item in items:
            if item.path in failed:
                continue
            row = [targets[item.path].relative_to(out).as_posix(), ";".join(classes[c] for c in item.classes)]
            if segments:
                row += ["" if item.start is None else item.start, "" if item.end is None else item.end]
            writer.writerow(row)
    return path
