"""Kill a training run by SIGKILL at random points, resume it, and count the resumes that end with the weights of an
uninterrupted run (issue 20: "kill anywhere, resume exactly").

    python benchmarks/kill_soak.py [--points 20] [--seed 0] [--epochs 3]

Each point is a fresh run of a tiny R(2+1)D-18 on synthetic data, killed once (benchmarks/kill_at.py) inside a
random optimizer step, during a random checkpoint write (half a file on disk) or at a random validation, then
resumed with ``videozoo train --resume``. Prints one line per point and the count.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.engine.checkpoint import read_checkpoint

HERE = Path(__file__).resolve().parent
TINY = ["model.overrides={base_width: 8}", "data.num_frames=4", "data.crop=32", "data.num_workers=0",
        "train.batch_size=4", "optim.warmup_epochs=0"]
STEPS_PER_EPOCH, WRITES_PER_EPOCH = 3, 2  # 12 training videos in batches of 4; last and best each epoch at most


def videozoo(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "videozoo.cli", *args], capture_output=True).returncode


def weights(run: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in read_checkpoint(run / "last.safetensors")[0].items() if k.startswith("model.")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="kill_soak_"))
    make_synthetic_dataset(root / "data", SynthConfig(classes=3, per_class=4, val_per_class=2, frames=12, size=32))

    def run_args(out: Path) -> list[str]:
        return ["train", "--model", "r2plus1d_18", "--data", str(root / "data" / "train.csv"), "--val",
                str(root / "data" / "val.csv"), "--epochs", str(args.epochs), "--out", str(out), "--no-progress",
                *TINY]

    assert videozoo(*run_args(root / "whole")) == 0
    whole = weights(root / "whole")
    limits = {"step": STEPS_PER_EPOCH * args.epochs, "write": WRITES_PER_EPOCH * args.epochs, "validate": args.epochs}
    same = 0
    for i in range(args.points):
        point = rng.choice(sorted(limits))
        n = rng.randint(1, limits[point])
        out = root / f"p{i}"
        killed = subprocess.run([sys.executable, str(HERE / "kill_at.py"), point, str(n), *run_args(out)],
                                capture_output=True).returncode
        resumed = videozoo(*run_args(out), "--resume") if (out / "last.safetensors").is_file() else \
            videozoo(*run_args(out))  # killed before the first checkpoint: start again
        got = weights(out) if resumed == 0 else {}
        ok = resumed == 0 and got.keys() == whole.keys() and all(torch.equal(got[k], whole[k]) for k in whole)
        same += ok
        print(f"point {i + 1:2d}: kill at {point} #{n} (exit {killed}), resume exit {resumed}: "
              f"{'same weights' if ok else 'DIFFERENT'}", flush=True)
    print(f"{same} of {args.points} killed runs resumed to the uninterrupted run's weights")
    if same == args.points:
        shutil.rmtree(root)
    else:
        print(f"run folders kept for inspection in {root}")


if __name__ == "__main__":
    main()
