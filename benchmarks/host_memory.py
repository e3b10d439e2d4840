"""The Predictor on a CPU with glibc's default malloc against keeping freed memory (engine.host_memory).

    python benchmarks/host_memory.py [ir_csn_152:8 s3d:1 r2plus1d_18:8 ...] [--iters 5] [--rounds 2]

``keep_freed_memory`` is process-wide, so each setting runs in processes of its own (``VIDEOZOO_KEEP_FREED_MEMORY``
0 or 1), alternating, ``--rounds`` times each; every process times ``--iters`` calls after a warm-up call on one
model (``NAME:BATCH``, random weights, its default clip) and reports the median ms per batch, the page faults
per call and its peak resident memory. Printed per model: the median over rounds of each, and the speed-up; with
the CPU and its bf16 matmul peak measured in the same run, and the share of it the faster setting reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch


def child(name: str, batch: int, iters: int) -> dict:
    from videozoo.engine.host_memory import keep_freed_memory
    from videozoo.engine.predictor import Predictor
    from videozoo.models import create_model, get_entry
    from videozoo.models.cards import count_macs

    clip = get_entry(name).default_clip
    model = create_model(name).eval()
    predictor = Predictor(model)
    x = torch.randn(batch, 3, *clip)
    predictor(x)
    seconds, faults = [], []
    for _ in range(iters):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        predictor(x)
        seconds.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {"ms": 1e3 * statistics.median(seconds), "faults": statistics.median(faults),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "kept": keep_freed_memory(),
            "gmacs": count_macs(model, clip) / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["ir_csn_152:8", "s3d:1", "r2plus1d_18:8", "r3d_18:8"])
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, _, batch = args.child.partition(":")
        print(json.dumps(child(name, int(batch), args.iters)))
        return
    from videozoo.benchmark import cpu_peaks

    peaks = cpu_peaks(print)
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'model, batch':<18} {'default ms':>10} {'kept ms':>8} {'speed-up':>8} {'faults/call':>17} "
          f"{'peak memory':>15} {'% bf16 peak':>11}")
    for spec in args.models:
        runs: dict[str, list[dict]] = {"0": [], "1": []}
        for _ in range(args.rounds):
            for setting in runs:
                done = subprocess.run([sys.executable, __file__, "--child", spec, "--iters", str(args.iters)],
                                      capture_output=True, text=True, check=True,
                                      env={**os.environ, "VIDEOZOO_KEEP_FREED_MEMORY": setting})
                runs[setting].append(json.loads(done.stdout.strip().splitlines()[-1]))

        def med(setting: str, key: str, runs: dict = runs) -> float:
            return statistics.median(r[key] for r in runs[setting])

        default, kept = med("0", "ms"), med("1", "ms")
        gflops = 2 * runs["1"][0]["gmacs"] * int(spec.partition(":")[2] or 1) / (min(default, kept) / 1e3)
        print(f"{spec:<18} {default:10.0f} {kept:8.0f} {default / kept:7.2f}× "
              f"{med('0', 'faults'):8.0f} → {med('1', 'faults'):6.0f} "
              f"{med('0', 'peak_mb') / 1024:5.2f} → {med('1', 'peak_mb') / 1024:4.2f} GB "
              f"{100 * gflops / peaks['bf16']:10.0f}%")


if __name__ == "__main__":
    main()
