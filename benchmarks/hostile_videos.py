"""Mutated videos through probe, the data set and check-data: no crash, no hang, no memory blow-up, every failure
counted (issue 20, "hostile files").

    python benchmarks/hostile_videos.py [--files 1000] [--seed 0] [--time-limit 10]

A seeded generator makes ``--files`` broken copies of small valid videos (MP4 / H.264, AVI, MKV, WebM and raw
YUV4MPEG) by six kinds of damage: bit flips, truncation, lying header fields (durations, sample counts, sizes),
zero-size streams, huge declared frame sizes and absurd frame counts. A worker process reads each file three ways
(``probe``, ``check_video`` as ``videozoo check-data`` does, and a ``VideoDataset`` item as training does) under a
per-file time limit and an address-space limit; a worker that dies is restarted after the file that killed it.
Every file's outcome is one of: ``read`` (it still decodes), ``refused`` (one ``VideoError`` line, or the
data set's skip marker), ``error`` (any other exception: a bug), ``timeout``, ``memory``, ``crash`` (the worker
died). The exit status is 0 only when nothing but ``read`` and ``refused`` happened. tests/test_hostile_inputs.py
runs a seeded slice.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

KINDS = ("flip", "cut", "lie", "empty", "huge", "frames")
GOOD = ("read", "refused")
MEMORY_LIMIT = 8 << 30  # address space of the worker: a file may not make it allocate more


# -- valid files ----------------------------------------------------------------------------------------------

def y4m(frames: int = 12, width: int = 32, height: int = 24) -> bytes:
    """A raw YUV4MPEG 4:2:0 video (its header declares the frame size and count)."""
    frame = bytes(width * height * 3 // 2)
    return f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\n".encode() + b"".join(
        b"FRAME\n" + frame for _ in range(frames))


def base_videos(folder: Path) -> dict[str, bytes]:
    """The valid files the mutations start from."""
    import numpy as np

    from videozoo.data import write_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 48, 64, 3), dtype=np.uint8)
    out = {".y4m": y4m()}
    for suffix, kw in ((".mp4", {}), (".avi", {}), (".mkv", {}), (".webm", {"codec": "libvpx-vp9"})):
        path = write_video(folder / f"base{suffix}", frames, fps=25, **kw)
        out[suffix] = path.read_bytes()
    return out


# -- damage ---------------------------------------------------------------------------------------------------

HEADER_TAGS = (b"mvhd", b"tkhd", b"mdhd", b"stsz", b"stts", b"stco", b"stsc", b"avih", b"strh", b"strf", b"idx1",
               b"\x2a\xd7\xb1", b"\x44\x89")  # MP4 / AVI boxes and chunks, Matroska's TimecodeScale and Duration


def _flip(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.randint(1, 40)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return data


def _cut(data: bytearray, rng: random.Random) -> bytearray:
    return data[: rng.randint(0, len(data) - 1)]


def _tag_offsets(data: bytes) -> list[int]:
    return [m.end() for tag in HEADER_TAGS for m in re.finditer(re.escape(tag), data)]


def _lie(data: bytearray, rng: random.Random) -> bytearray:
    """Overwrite 4-byte fields just after header tags with extreme values."""
    offsets = _tag_offsets(bytes(data))
    if not offsets:
        return _flip(data, rng)
    for _ in range(rng.randint(1, 4)):
        at = rng.choice(offsets) + 4 * rng.randint(0, 6)
        if at + 4 <= len(data):
            data[at:at + 4] = struct.pack(">I", rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)]))
    return data


def _empty(data: bytearray, rng: random.Random) -> bytearray:
    """Zero sizes: MP4 sample sizes, AVI chunk lengths, or YUV4MPEG frames with no pixels."""
    if data.startswith(b"YUV4MPEG2"):
        header = bytes(data[: data.index(b"\n") + 1])
        return bytearray(header + b"FRAME\n" * rng.randint(1, 50))
    for tag in (b"stsz", b"00dc", b"01wb"):
        for m in re.finditer(re.escape(tag), bytes(data)):
            end = min(len(data), m.end() + 4 * rng.randint(1, 64))
            data[m.end():end] = bytes(end - m.end())
    return data


def _huge(data: bytearray, rng: random.Random) -> bytearray:
    """Declared frame sizes of tens of thousands of pixels."""
    side = rng.choice([16384, 30000, 60000, 65535])
    if data.startswith(b"YUV4MPEG2"):
        return bytearray(re.sub(rb"W\d+ H\d+", f"W{side} H{side}".encode(), bytes(data), count=1))
    for tag, fmt, skip in ((b"avih", "<II", 36), (b"strf", "<Ii", 8), (b"tkhd", ">II", 80)):
        for m in re.finditer(re.escape(tag), bytes(data)):
            at = m.end() + skip
            if at + 8 <= len(data):
                value = side << 16 if tag == b"tkhd" else side
                data[at:at + 8] = struct.pack(fmt, value, value)
    for m in re.finditer(rb"avc1", bytes(data)):  # the sample entry's 16-bit width and height
        at = m.end() + 28
        if at + 4 <= len(data):
            data[at:at + 4] = struct.pack(">HH", min(side, 65535), min(side, 65535))
    return data


def _frames(data: bytearray, rng: random.Random) -> bytearray:
    """Absurd frame counts: AVI's total-frames and stream length fields, MP4's sample counts, a YUV4MPEG stream
    of thousands of markers."""
    if data.startswith(b"YUV4MPEG2"):
        return data + b"FRAME\n" * rng.randint(1000, 20000)
    for tag, skip in ((b"avih", 20), (b"strh", 36), (b"stsz", 12), (b"stts", 8)):
        for m in re.finditer(re.escape(tag), bytes(data)):
            at = m.end() + skip
            if at + 4 <= len(data):
                data[at:at + 4] = struct.pack("<I" if tag in (b"avih", b"strh") else ">I", 0xFFFFFFF0)
    return data


DAMAGE = {"flip": _flip, "cut": _cut, "lie": _lie, "empty": _empty, "huge": _huge, "frames": _frames}


def hostile_files(folder: Path, n: int, seed: int) -> list[tuple[Path, str]]:
    """``n`` damaged files in ``folder`` (seeded), with the kind of damage of each."""
    rng = random.Random(seed)
    bases = base_videos(folder)
    out = []
    for i in range(n):
        suffix, kind = rng.choice(sorted(bases)), KINDS[i % len(KINDS)]
        path = folder / f"{i:04d}_{kind}{suffix}"
        path.write_bytes(bytes(DAMAGE[kind](bytearray(bases[suffix]), rng)))
        out.append((path, kind))
    return out


# -- reading them ---------------------------------------------------------------------------------------------

WORKER = r"""
import json, resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
from videozoo.data import ClipSampling, VideoDataset, VideoError, VideoItem, probe, transform_config_for
from videozoo.data.check import check_video

class Timeout(Exception):
    pass

def alarm(*_):
    raise Timeout

signal.signal(signal.SIGALRM, alarm)
limit = int(sys.argv[3])
dataset_of = lambda p: VideoDataset([VideoItem(p, 0)], ["x"], ClipSampling(4, 1), transform_config_for("residual", 32),
                                    train=True)
for line in sys.stdin:
    path = line.strip()
    print(json.dumps({"start": path}), flush=True)
    outcome, detail = "read", ""
    signal.alarm(limit)
    try:
        try:
            probe(path)
        except VideoError:
            outcome = "refused"
        if check_video(path) is not None:
            outcome = "refused"
        item = dataset_of(path)[0]
        if item.get("skipped"):
            outcome = "refused"
    except Timeout:
        outcome = "timeout"
    except MemoryError:
        outcome = "memory"
    except Exception as e:
        outcome, detail = "error", f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    finally:
        signal.alarm(0)
    print(json.dumps({"path": path, "outcome": outcome, "detail": detail}), flush=True)
"""


def read_all(paths: list[Path], time_limit: int = 10, memory_limit: int = MEMORY_LIMIT) -> dict[str, dict]:
    """Each path's outcome; a worker that dies marks its file ``crash`` and a new worker takes the rest."""
    results: dict[str, dict] = {}
    todo = [str(p) for p in paths]
    while todo:
        worker = subprocess.run([sys.executable, "-c", WORKER, "worker", str(memory_limit), str(time_limit)],
                                input="\n".join(todo) + "\n", capture_output=True, text=True,
                                timeout=(time_limit + 30) * len(todo))
        started = None
        for line in worker.stdout.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
            else:
                results[record["path"]] = record
                started = None
        if started is not None:  # the worker died on this file
            results[started] = {"path": started, "outcome": "crash",
                                "detail": f"worker exit status {worker.returncode}: {worker.stderr.strip()[-200:]}"}
        todo = [p for p in todo if p not in results]
        if worker.returncode != 0 and started is None and todo:
            raise RuntimeError(f"the worker failed before reading a file: {worker.stderr[-2000:]}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=int, default=10, help="seconds per file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hostile_"))
    files = hostile_files(folder, args.files, args.seed)
    results = read_all([p for p, _ in files], args.time_limit)
    table = Counter((kind, results[str(p)]["outcome"]) for p, kind in files)
    outcomes = ("read", "refused", "error", "timeout", "memory", "crash")
    print(f"{'damage':<8}" + "".join(f"{o:>9}" for o in outcomes))
    for kind in KINDS:
        print(f"{kind:<8}" + "".join(f"{table[(kind, o)]:>9}" for o in outcomes))
    bad = [r for r in results.values() if r["outcome"] not in GOOD]
    for r in bad[:20]:
        print(f"  {r['outcome']}: {r['path']} {r['detail']}")
    print(f"{len(files)} hostile files: {len(files) - len(bad)} read or refused in one line, {len(bad)} not")
    if bad:
        print(f"the files are kept for inspection in {folder}")
    else:
        shutil.rmtree(folder)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
