"""Kinetics end to end, timed: the commands docs/data.md gives, run on a Kinetics-shaped set made here.

    python benchmarks/kinetics_pipeline.py [--videos 12] [--workers 2] [--epochs 1]

The set is laid out as a Kinetics download: ``train/<label>/<youtube_id>_<start>_<end>.mp4`` (10-second
568×320 H.264 clips at 30 fps with x264's default 250-frame groups of pictures, a panning texture with a moving
disc and sensor noise, compressing like camera footage; see data_speed.py), the official CSV
(``label,youtube_id,time_start,time_end,split``), and one broken download. Then, each as a subprocess and timed:

1. ``videozoo check-data`` (and again, from the index it cached);
2. ``videozoo prepare --short-side 256 --gop 16``;
3. ``videozoo shard``;
4. ``videozoo train`` from the shards (R(2+1)D-18, the Kinetics 8-frame recipe's clip) and ``videozoo eval``.

Steps 1–3 are timed in this process through the functions those commands call (what a command adds is its
start, a few seconds, the same for any size of set); 4 as the commands themselves. It prints seconds per step, per
video and per video per worker, and what the data steps make for Kinetics-400's 240k training videos on this
machine's cores (training's speed is its clips/s, printed apart).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from videozoo.data.check import check_items
from videozoo.data.datasets import load_items
from videozoo.data.index import index_path
from videozoo.data.prepare import PrepareOptions, prepare_dataset
from videozoo.data.shards import write_shards

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_speed import make_video  # noqa: E402

KINETICS_400_TRAIN = 240_000


def timed(call) -> tuple[float, str]:
    begin = time.perf_counter()
    said = call()
    return time.perf_counter() - begin, said


def run(args: list[str]) -> tuple[float, str]:
    begin = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "videozoo.cli", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - begin
    if result.returncode not in (0, 1):  # check-data says 1 when it finds an unreadable video (it will: one)
        raise SystemExit(f"videozoo {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds, result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def make_set(root: Path, n: int) -> Path:
    labels = ("abseiling", "zumba")
    rows = []
    for i in range(n):
        label, ytid, start = labels[i % 2], f"vid{i:08d}", 10 * i
        path = root / "train" / label / f"{ytid}_{start:06d}_{start + 10:06d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        make_video(path, i, None)
        rows.append([label, ytid, start, start + 10, "train"])
    broken = root / "train" / "zumba" / f"broken00_{0:06d}_{10:06d}.mp4"
    broken.write_bytes(b"\x00" * 4096)  # a download that failed half-way
    rows.append(["zumba", "broken00", 0, 10, "train"])
    listing = root / "kinetics_train.csv"
    with listing.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        writer.writerows(rows)
    return listing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    w = str(args.workers)
    print(f"making {args.videos} videos …", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        listing = make_set(tmp / "k400", args.videos)
        raw_mb = sum(p.stat().st_size for p in (tmp / "k400").rglob("*.mp4")) / 1e6
        items, classes = load_items(listing)
        cache = index_path(listing)

        def check() -> str:
            problems = check_items(items, workers=args.workers, cache=cache)
            return f"{len(items) - len(problems)} of {len(items)} readable"

        def prepare() -> str:
            report = prepare_dataset(items, classes, listing.parent, tmp / "prepared", PrepareOptions(256, 16),
                                     workers=args.workers, list_name="kinetics_train.csv")
            return f"prepared {report.prepared}, {len(report.failed)} unreadable"

        def shard() -> str:
            prepared, names = load_items(tmp / "prepared" / "kinetics_train.csv")
            desc = write_shards(prepared, names, tmp / "shards", workers=args.workers,
                                index_cache=index_path(tmp / "prepared" / "kinetics_train.csv"))
            return f"{len(desc['samples'])} samples in {len(desc['shardlist'])} shard(s)"

        steps = [("check-data", *timed(check)), ("check-data again (index)", *timed(check)),
                 ("prepare", *timed(prepare)), ("shard (reads the prepared files first)", *timed(shard))]
        prep_mb = sum(p.stat().st_size for p in (tmp / "prepared").rglob("*.mp4")) / 1e6
        train = ["train", "--model", "r2plus1d_18", "--data", str(tmp / "shards"), "--epochs", str(args.epochs),
                 "--out", str(tmp / "run"), "--no-progress", "data.num_frames=8", "data.crop=112",
                 f"data.num_workers={args.workers}"]
        steps.append((f"train {args.epochs} epoch(s) from shards", *run(train)))
        steps.append(("eval (10 clips × 3 crops)", *run(["eval", "--checkpoint", str(tmp / "run"), "--data",
                                                       str(tmp / "shards"), "--workers", w, "--json"])))
        rows = list(csv.DictReader((tmp / "run" / "metrics.csv").open()))
        clips_s = float(rows[-1]["clips_per_s"])
        shards = json.loads((tmp / "shards" / "shards.json").read_text())
    n = args.videos
    print(f"{n} Kinetics-shaped videos (+1 broken), 10 s 568×320 at 30 fps, {raw_mb:.1f} MB; prepared "
          f"{prep_mb:.1f} MB; {len(shards['shardlist'])} shard(s) of {sum(s['nsamples'] for s in shards['shardlist'])} "
          f"samples; {args.workers} worker(s); {os.cpu_count()} cores")
    print(f"{'step':<40} {'seconds':>8} {'s / video':>10} {'s / video / worker':>19} {'240k videos, h':>15}")
    for name, seconds, _ in steps:
        per = seconds / n
        # training and eval carry start-up (model, bf16 probe, workers) that does not grow with the set: no 240k row
        hours = f"{per * KINETICS_400_TRAIN / 3600:15.1f}" if not name.startswith(("train", "eval")) else f"{'—':>15}"
        print(f"{name:<40} {seconds:8.1f} {per:10.2f} {per * args.workers:19.2f} {hours}")
    print(f"training from the shards: {clips_s:.1f} clips/s (the last epoch's, this CPU)")
    for name, _, last in steps:
        print(f"  {name}: {last[:150]}")


if __name__ == "__main__":
    main()
