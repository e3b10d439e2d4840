"""Where a model's inference time goes, by kind of convolution: why CSN and S3D run further from the peak.

    python benchmarks/conv_profile.py [r2plus1d_18:4 ir_csn_152:1 s3d:1 ...] [--iters 3]

Each model (``NAME:BATCH``, at its default clip) runs through the default inference path (the Predictor at
``precision="auto"``: BatchNorm folded, channels-last-3d, bf16 where the CPU has it). A forward hook pair on every
convolution (``Conv3d``, or the packed oneDNN unit that replaces a conv unit) times it (the CPU runs it
synchronously, so wall time between the hooks is the kernel's) and counts its multiply-adds; the convolutions are
grouped by kind (full 3D, spatial 1×k×k, temporal k×1×1, pointwise 1×1×1, depthwise, grouped). Per kind: its share
of the model's MACs and of its time, its GFLOP/s and their share of this CPU's bf16 (or fp32) 2048² matmul peak,
measured in the same run; "everything else" is the forward time outside the convolutions (pooling, the head, and
the additions and activations no convolution took over; a fused block's add + ReLU counts in its last convolution).
Medians of ``--iters`` forward passes after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import torch
from torch import nn

from videozoo.benchmark import cpu_peaks
from videozoo.engine.onednn import PackedConv
from videozoo.engine.predictor import Predictor
from videozoo.models import create_model, get_entry


def conv_kind(conv: nn.Conv3d | PackedConv) -> str:
    kt, kh, kw = conv.kernel_size
    if conv.groups > 1:
        return "depthwise" if conv.groups == conv.in_channels else "grouped"
    if (kt, kh, kw) == (1, 1, 1):
        return "pointwise 1×1×1"
    if kt == 1:
        return "spatial 1×k×k"
    if kh == kw == 1:
        return "temporal k×1×1"
    return "full 3D"


def profile(name: str, batch: int, iters: int) -> tuple[dict[str, list[float]], dict[str, float], float, str]:
    """Per kind: seconds of each pass and MACs of one pass; the median whole-pass seconds; the precision."""
    predictor = Predictor(create_model(name), "auto")
    x = torch.randn(batch, 3, *get_entry(name).default_clip)
    seconds: dict[str, list[float]] = defaultdict(list)
    macs: dict[str, float] = defaultdict(float)
    current: dict[str, float] = defaultdict(float)
    counting = {"macs": True}

    def before(module, args):
        module._vz_start = time.perf_counter()

    def after(module, args, out):
        kind = conv_kind(module)
        current[kind] += time.perf_counter() - module._vz_start
        if counting["macs"]:
            kt, kh, kw = module.kernel_size
            macs[kind] += out.numel() * module.in_channels // module.groups * kt * kh * kw

    for m in predictor.model.modules():
        if isinstance(m, (nn.Conv3d, PackedConv)):
            m.register_forward_pre_hook(before)
            m.register_forward_hook(after)
    predictor(x)  # warm-up (oneDNN primitives, caches), counting each kind's MACs once
    counting["macs"] = False
    totals = []
    for _ in range(iters):
        current.clear()
        start = time.perf_counter()
        predictor(x)
        totals.append(time.perf_counter() - start)
        for kind, s in current.items():
            seconds[kind].append(s)
        seconds["everything else"].append(totals[-1] - sum(current.values()))
    return seconds, macs, statistics.median(totals), predictor.precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["r2plus1d_18:4", "ir_csn_152:1", "ip_csn_152:1", "s3d:1"])
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    peaks = cpu_peaks(print)
    for spec in args.models:
        name, _, batch = spec.partition(":")
        batch = int(batch or 1)
        seconds, macs, total, precision = profile(name, batch, args.iters)
        peak = peaks.get(precision, peaks["fp32"])
        all_macs = sum(macs.values())
        clip = "×".join(map(str, get_entry(name).default_clip))
        print(f"\n{name}, batch {batch} × 3 × {clip}, {precision}: {total * 1e3:.0f} ms per pass, "
              f"{2 * all_macs / total / 1e9:.0f} GFLOP/s overall ({100 * 2 * all_macs / total / 1e9 / peak:.0f}% "
              f"of the {precision} peak)")
        print(f"{'kind':<18} {'% MACs':>7} {'% time':>7} {'ms':>8} {'GFLOP/s':>8} {'% peak':>7}")
        for kind in sorted(seconds, key=lambda k: -statistics.median(seconds[k])):
            s = statistics.median(seconds[kind])
            gflops = 2 * macs.get(kind, 0.0) / s / 1e9 if kind in macs else float("nan")
            print(f"{kind:<18} {100 * macs.get(kind, 0.0) / all_macs:6.1f}% {100 * s / total:6.1f}% "
                  f"{s * 1e3:8.1f} {gflops:8.1f} " + (f"{100 * gflops / peak:6.1f}%" if kind in macs else "      —"))


if __name__ == "__main__":
    main()
