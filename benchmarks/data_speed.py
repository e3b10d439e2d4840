"""Clip decoding speed: our reader against whole-file decoding and a naive PyAV loop, in one run.

    python benchmarks/data_speed.py                 # 6 ten-second 320p videos, 40 random 16-frame clips each way
    python benchmarks/data_speed.py --clips 100 --loader

For random 16-frame clips from 10-second 568×320 videos at 30 fps it prints
clips/s and frames decoded per clip of:

- ``videozoo VideoReader``: demux index, seek to the keyframe before the clip,
  decode to the clip's end, convert only the clip's frames;
- ``whole file``: decode and convert every frame, then slice (what
  ``torchvision.io.read_video`` did; torchvision 0.29 no longer has it);
- ``naive PyAV``: decode from the start, convert every frame up to the clip's end;
- ``videozoo TorchCodecReader``, where TorchCodec is installed.

Videos are written twice: with x264's defaults (a keyframe every 250
frames: one long group of pictures per 8 s) and with a keyframe every 2 s
(typical of cameras and streaming encodes); the first set is then timed
again after ``videozoo prepare`` (short side 256, a keyframe every 16 frames). ``--loader`` also times the
training DataLoader (decode, short side 128, crop 112, 8 frames) with 0, 1, 2 … workers (``--workers``), from
the prepared files and from ``videozoo shard``'s shards of them, against the bf16 training step of r2plus1d_18
at 8×112×112 on this CPU (and on the GPU where there is one, or a rate given with ``--step-rate``), and says
how many workers keep that step fed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from videozoo.data import VideoReader, write_video
from videozoo.data.prepare import PrepareOptions, prepare_video

SECONDS, FPS, WIDTH, HEIGHT, CLIP = 10, 30, 568, 320, 16


def make_video(path: Path, seed: int, gop: int | None) -> Path:
    """A panning smooth texture with a moving bright disc and sensor noise: compresses like real footage."""
    rng = np.random.default_rng(seed)
    n = SECONDS * FPS
    coarse = rng.uniform(0, 255, (12, 20, 3)).astype(np.float32)
    big = torch.nn.functional.interpolate(torch.from_numpy(coarse).permute(2, 0, 1)[None], size=(HEIGHT, WIDTH * 2),
                                          mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = np.empty((n, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(n):
        frame = big[:, (2 * t) % WIDTH: (2 * t) % WIDTH + WIDTH].copy()
        cx, cy = (40 + 5 * t) % WIDTH, HEIGHT / 2 + 80 * np.sin(t / 15)
        frame[(xs - cx) ** 2 + (ys - cy) ** 2 < 30 ** 2] = 240
        frames[t] = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255)
    options = {"g": str(gop), "keyint_min": str(gop)} if gop else None
    return write_video(path, frames, FPS, options=options)


def ours(path: Path, start: int) -> tuple[np.ndarray, int]:
    with VideoReader(path) as video:
        clip = video.get_clip(start, CLIP)
        return clip.numpy(), video.packets_decoded


def torchcodec(path: Path, start: int) -> tuple[np.ndarray, int]:
    from videozoo.data.torchcodec_backend import TorchCodecReader

    with TorchCodecReader(path) as video:
        return video.get_clip(start, CLIP).numpy(), 0  # it does not say how many frames it decoded


def whole_file(path: Path, start: int) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames[start:start + CLIP]), len(frames)


def naive(path: Path, start: int) -> tuple[np.ndarray, int]:
    out, decoded = [], 0
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="rgb24")
            decoded += 1
            if i >= start:
                out.append(image)
            if len(out) == CLIP:
                break
    return np.stack(out), decoded


def bench_decoders(videos: list[Path], clips: int, rng: np.random.Generator) -> None:
    starts = [(videos[i % len(videos)], int(rng.integers(0, SECONDS * FPS - CLIP))) for i in range(clips)]
    reference = {}
    rows = []
    from videozoo.data.torchcodec_backend import available

    readers = [("videozoo VideoReader", ours), ("whole file, then slice", whole_file), ("naive PyAV loop", naive)]
    if available():
        readers.append(("videozoo TorchCodecReader", torchcodec))
    for label, fn in readers:
        decoded = 0
        begin = time.perf_counter()
        for path, start in starts:
            clip, n = fn(path, start)
            decoded += n
            key = (path, start)
            if key in reference:
                assert np.array_equal(reference[key], clip), f"{label} returned other frames"
            else:
                reference[key] = clip
        seconds = time.perf_counter() - begin
        rows.append((label, clips / seconds, decoded / clips))
    base = rows[1][1]
    print(f"{'reader':<26} {'clips/s':>8} {'× whole file':>13} {'frames decoded / clip':>22}")
    for label, rate, per_clip in rows:
        print(f"{label:<26} {rate:8.1f} {rate / base:13.2f} {per_clip if per_clip else float('nan'):22.1f}")


def loader_rate(dataset, workers: int, batches: int) -> float:
    """Clips/s a DataLoader with ``workers`` processes delivers (decode + augment, batches of 8), after its first
    batch (the workers' start)."""
    from torch.utils.data import DataLoader

    from videozoo.data import collate_videos

    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=workers, collate_fn=collate_videos,
                        persistent_workers=workers > 0)
    it = iter(loader)
    next(it)
    begin, seen = time.perf_counter(), 0
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        seen += len(batch["label"])
    return seen / (time.perf_counter() - begin)


def step_rate(device: str) -> float:
    """Clips/s of r2plus1d_18's training step (bf16 autocast, batch 8 × 8×112×112) on ``device``."""
    import videozoo

    model = videozoo.create_model("r2plus1d_18", num_classes=400).to(device, memory_format=torch.channels_last_3d)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(8, 3, 8, 112, 112, device=device).contiguous(memory_format=torch.channels_last_3d)
    y = torch.randint(0, 400, (8,), device=device)

    def step():
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2 if device == "cuda" else 1):
        step()
    n = 20 if device == "cuda" else 3
    if device == "cuda":
        torch.cuda.synchronize()
    begin = time.perf_counter()
    for _ in range(n):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return n * 8 / (time.perf_counter() - begin)


def bench_loader(videos: list[Path], batches: int, workers: list[int], external: float | None, tmp: Path) -> None:
    """The training loader (decode + short side 128 + crop 112, 8 frames with stride 2) with each worker count, from
    the files and from `videozoo shard`'s shards of them, against the training step; then how many workers keep
    a step of that speed fed."""
    import math

    from videozoo.data import ClipSampling, TransformConfig, VideoDataset, VideoItem
    from videozoo.data.shards import shard_items, write_shards

    items = [VideoItem(str(p), 0) for p in videos] * 8
    sampling, transform = ClipSampling(8, stride=2), TransformConfig(crop=112)
    write_shards(items[:len(videos)], ["x"], tmp / "shards", shard_size=50 * 10**6)
    sharded = shard_items(tmp / "shards")[0] * 8
    rates = {}
    print(f"{'loader (batches of 8)':<34} {'clips/s':>8}")
    for n in workers:
        for label, source in (("files", items), ("shards", sharded)):
            rate = loader_rate(VideoDataset(source, ["x"], sampling, transform), n, batches)
            rates[(n, label)] = rate
            print(f"{f'{n} worker(s), {label}':<34} {rate:8.1f}")
    steps = {"r2plus1d_18 bf16 step, this CPU": step_rate("cpu")}
    if torch.cuda.is_available():
        steps[f"r2plus1d_18 bf16 step, {torch.cuda.get_device_name()}"] = step_rate("cuda")
    if external:
        steps["the step rate given (--step-rate)"] = external
    one = rates.get((1, "files"))
    print(f"\n{'training step (batch 8 × 8×112×112)':<46} {'clips/s':>8} {'loader workers to keep up':>26}")
    for label, rate in steps.items():
        need = f"{math.ceil(rate / one)} (at {one:.1f} clips/s a worker)" if one else "n/a (time 1 worker)"
        print(f"{label:<46} {rate:8.1f} {need:>26}")
    best = max(rates.values())
    cpu_step = steps["r2plus1d_18 bf16 step, this CPU"]
    print(f"best loader / this CPU's step = {best / cpu_step:.2f}: the loader "
          f"{'keeps ahead' if best >= cpu_step else 'FALLS BEHIND'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--loader", action="store_true")
    parser.add_argument("--workers", default="0,1,2", help="--loader: the worker counts to time (default 0,1,2)")
    parser.add_argument("--step-rate", type=float,
                        help="--loader: a training step's clips/s measured elsewhere (a GPU's), to size workers for")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        made = {}
        for gop, what in ((None, "x264 defaults (keyframe every 250 frames)"), (60, "a keyframe every 2 s")):
            videos = made[gop] = [make_video(Path(tmp) / f"v{gop}_{i}.mp4", i, gop) for i in range(args.videos)]
            print(f"\n{args.videos} videos of {SECONDS} s, {WIDTH}×{HEIGHT} at {FPS} fps, H.264, {what}; "
                  f"{args.clips} random {CLIP}-frame clips")
            bench_decoders(videos, args.clips, rng)
        # The x264-default files after `videozoo prepare --short-side 256 --gop 16`.
        begin = time.perf_counter()
        videos = [prepare_video(v, Path(tmp) / f"prepared_{i}.mp4", PrepareOptions(short_side=256, gop=16))
                  for i, v in enumerate(made[None])]
        print(f"\nthe first set after `videozoo prepare --short-side 256 --gop 16` "
              f"({(time.perf_counter() - begin) / len(videos):.1f} s a video on one process): 454×256, a keyframe "
              f"every 16 frames; {args.clips} random {CLIP}-frame clips")
        bench_decoders(videos, args.clips, rng)
        if args.loader:
            print()
            bench_loader(videos, 20, [int(w) for w in args.workers.split(",")], args.step_rate, Path(tmp))


if __name__ == "__main__":
    main()
