"""Inference speed of zoo models against torchvision's implementation of the same network, in one run.

    python benchmarks/zoo_speed.py                       # r2plus1d_18, r3d_18, mc3_18 at 4×3×16×112×112
    python benchmarks/zoo_speed.py ir_csn_152 --batch 1  # any zoo model (no twin: ours alone)

Same as `videozoo bench NAME`; prints clips/s, the ratio to torchvision fp32
eager, achieved GFLOP/s, and the fast path's top-1 agreement and relative
error against fp32. ``--runtimes`` adds ONNX Runtime and (where installed)
OpenVINO on the model's ONNX export.
"""

import argparse

import torch

from videozoo.benchmark import bench_model
from videozoo.cli import parse_clip

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=["r2plus1d_18", "r3d_18", "mc3_18"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--clip", type=parse_clip)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--runtimes", action="store_true", help="ONNX Runtime and OpenVINO on the ONNX export")
    args = parser.parse_args()
    for name in args.names:
        bench_model(name, batch=args.batch, clip=args.clip, iters=args.iters, device=args.device,
                    compile=args.compile, runtimes=args.runtimes)
        print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
