"""Max pooling on the CPU inference path: ATen's max_pool3d against the Predictor's separable passes.

    python benchmarks/pool_speed.py [s3d:1 i3d:1 c2d_r50:1 ...] [--iters 5]

Each model (``NAME:BATCH``, random weights, its default clip) runs through two Predictors at
``precision="auto"`` that differ only in their max pools: the default (every plain ``nn.MaxPool3d`` computed by
:func:`videozoo.engine.separable_pool.separable_max_pool3d`) and the same prepared copy with ATen's
``max_pool3d`` put back. Timed in interleaved rounds (median of ``--iters``); per model: ms per batch for each,
the speed-up, GFLOP/s and the share of this CPU's matmul peak (measured in the same run) of the default path, and
whether the logits are identical.
"""

from __future__ import annotations

import argparse

import torch

from videozoo.benchmark import cpu_peaks, time_interleaved
from videozoo.engine.predictor import Predictor
from videozoo.engine.separable_pool import aten_max_pools
from videozoo.models import create_model, get_entry
from videozoo.models.cards import count_macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["s3d:1", "s3d_g:1", "i3d:1", "c2d_r50:1", "slow_r50:1",
                                                      "c3d:1"])
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    peaks = cpu_peaks(print)
    print(f"{'model, batch':<16} {'pools':>5} {'ATen ms':>9} {'separable ms':>13} {'speed-up':>9} {'GFLOP/s':>8} "
          f"{'% peak':>7}  logits")
    for spec in args.models:
        name, _, batch = spec.partition(":")
        batch = int(batch or 1)
        model = create_model(name).eval()
        clip = get_entry(name).default_clip
        x = torch.randn(batch, 3, *clip)
        separable = Predictor(model)
        aten = Predictor(model)
        pools = aten_max_pools(aten.model)
        same = torch.equal(separable(x), aten(x))
        paths = {"aten": lambda p=aten, x=x: p(x), "separable": lambda p=separable, x=x: p(x)}
        times = time_interleaved(paths, args.iters, 1, torch.device("cpu"))
        gflops = 2 * count_macs(model, clip) * batch / times["separable"] / 1e9
        peak = peaks.get(separable.precision, peaks["fp32"])
        print(f"{f'{name}, {batch}':<16} {pools:>5} {times['aten'] * 1e3:9.1f} {times['separable'] * 1e3:13.1f} "
              f"{times['aten'] / times['separable']:8.2f}× {gflops:8.1f} {100 * gflops / peak:6.1f}%  "
              f"{'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
