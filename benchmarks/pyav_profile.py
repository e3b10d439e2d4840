"""Where PyAV's reader spends a random clip's time on prepared files, beside TorchCodec's, in one run.

    python benchmarks/pyav_profile.py [--videos 6] [--clips 60]

The files are data_speed.py's camera-style videos after ``videozoo prepare --short-side 256 --gop 16``; each reader
opens the file and reads one random 16-frame clip, as a dataset item does. PyAV's time is split by cProfile into
opening (container open and the packet index), seeking, decoding (``Packet.decode``), the RGB conversion
(``VideoFrame.to_ndarray``) and the rest (Python per packet and per frame, stacking); TorchCodec's into opening
and reading. Both readers are timed with FFmpeg's own threading and with one thread (what a loader worker uses).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from videozoo.data import VideoReader
from videozoo.data.prepare import PrepareOptions, prepare_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_speed import CLIP, make_video  # noqa: E402

PARTS = {  # a clip's read, by cProfile's own time of PyAV's methods
    "seek": "method 'seek'",
    "decode": "method 'decode' of 'av.packet.Packet'",
    "RGB conversion": "method 'to_ndarray'",
}


def clips_for(videos: list[Path], n: int, seed: int = 0) -> list[tuple[Path, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        path = videos[k % len(videos)]
        with VideoReader(path) as v:
            out.append((path, int(rng.integers(0, v.num_frames - CLIP))))
    return out


def pyav_clip(path: Path, start: int, threads: int) -> None:
    with VideoReader(path, threads=threads) as video:
        video.get_clip(start, CLIP)


def profile_pyav(clips: list[tuple[Path, int]], threads: int) -> dict[str, float]:
    """Milliseconds per clip of opening (the container and its packet index; timed plainly) and of each part of
    reading the clip (cProfile's split of the read, scaled to the read's plain time)."""
    profiler = cProfile.Profile()
    opening = reading = 0.0
    for path, start in clips:
        t0 = time.perf_counter()
        video = VideoReader(path, threads=threads)
        t1 = time.perf_counter()
        video.get_clip(start, CLIP)
        reading += time.perf_counter() - t1
        opening += t1 - t0
        profiler.enable()
        video.get_clip(start, CLIP)  # again, profiled (the same work: a seek, then decoding)
        profiler.disable()
        video.close()
    stats = pstats.Stats(profiler).stats
    profiled = sum(s[2] for s in stats.values())
    n = len(clips)
    out = {"open + packet index": 1e3 * opening / n}
    for part, key in PARTS.items():
        own = sum(s[2] for f, s in stats.items() if key in f[2])
        out[part] = 1e3 * reading / n * own / profiled
    out["rest of the read (Python per packet and frame, stacking)"] = 1e3 * reading / n - sum(
        v for k, v in out.items() if k != "open + packet index")
    return out


def time_plain(clips, read) -> float:
    begin = time.perf_counter()
    for path, start in clips:
        read(path, start)
    return (time.perf_counter() - begin) / len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--clips", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        videos = [prepare_video(make_video(Path(tmp) / f"raw{i}.mp4", i, None), Path(tmp) / f"p{i}.mp4",
                                PrepareOptions(short_side=256, gop=16)) for i in range(args.videos)]
        clips = clips_for(videos, args.clips)
        print(f"{args.videos} prepared videos (454×256, a keyframe every 16 frames), {args.clips} random "
              f"{CLIP}-frame clips, a file opened per clip\n")
        try:
            from videozoo.data.torchcodec_backend import TorchCodecReader

            def torchcodec_clip(path, start, threads):
                with TorchCodecReader(path, threads=threads) as video:
                    video.get_clip(start, CLIP)
        except ImportError:
            torchcodec_clip = None
        for threads, what in ((0, "FFmpeg's threads"), (1, "one thread, as in a loader worker")):
            pyav_clip(*clips[0], threads)  # warm caches
            plain = time_plain(clips, lambda p, s, t=threads: pyav_clip(p, s, t))
            parts = profile_pyav(clips, threads)
            print(f"PyAV ({what}): {1e3 * plain:.1f} ms a clip ({1 / plain:.1f} clips/s)")
            for part, ms in parts.items():
                print(f"  {part:<58} {ms:6.1f} ms  {ms / sum(parts.values()):6.1%}")
            if torchcodec_clip is not None:
                torchcodec_clip(*clips[0], threads)
                opening = time_plain(clips, lambda p, s, t=threads: TorchCodecReader(p, threads=t).close())
                whole = time_plain(clips, lambda p, s, t=threads: torchcodec_clip(p, s, t))
                print(f"TorchCodec ({what}): {1e3 * whole:.1f} ms a clip ({1 / whole:.1f} clips/s); opening "
                      f"{1e3 * opening:.1f} ms, reading {1e3 * (whole - opening):.1f} ms; PyAV at "
                      f"{whole / plain:.0%} of its speed\n")


if __name__ == "__main__":
    main()
