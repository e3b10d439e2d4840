"""What the CPU path's packed, fused oneDNN convolutions (``engine/onednn.py``) buy, beside OpenVINO.

    python benchmarks/fused_convs.py ir_csn_152 r2plus1d_18 s3d --batch 1 [--iters 7]

Per model (random weights, BN randomised, its default clip): the Predictor at ``precision="auto"`` with its
convolutions fused (the default) and with ``fuse_convs=False`` (ATen's convolutions, ReLU and residual adds as
passes of their own), and OpenVINO on the model's ONNX export (its own precision: bf16 where the CPU has it), each
in a process of its own (``videozoo.isolated_paths``), timed in interleaved rounds: ms per clip (the median of
``--iters`` rounds), GFLOP/s and its share of this CPU's bf16 2048² matmul peak measured in the same run, the
fused path's speed-up over the unfused one, and OpenVINO's time over the fused path's (above 1: the Predictor is
ahead). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from videozoo.benchmark import cpu_name, matmul_peak, runtime_paths, time_interleaved
from videozoo.engine.export import example_input
from videozoo.isolated_paths import IsolatedPath, close_all, predictor_path
from videozoo.models.cards import count_macs
from videozoo.models.layers import randomize_batch_norm
from videozoo.models.registry import create_model, get_entry


def measure(name: str, batch: int, iters: int) -> dict[str, float]:
    """Seconds per batch of each path, and the model's GMACs per clip."""
    torch.manual_seed(0)
    clip = tuple(get_entry(name).default_clip)
    model = create_model(name).eval()
    randomize_batch_norm(model, torch.Generator().manual_seed(0))
    x = example_input(model, clip, batch=batch)  # an audio network's spectrogram is 4-D
    paths: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = str(Path(tmp) / "clips.pt")
        torch.save(x, inputs)
        try:
            paths["fused"] = IsolatedPath(predictor_path, model, inputs)
            paths["unfused"] = IsolatedPath(predictor_path, model, inputs, "auto", {"fuse_convs": False})
            for path in runtime_paths(model, x, tmp, print, input_file=inputs, onnx_runtime=False).values():
                paths["openvino"] = path
            seconds = time_interleaved(paths, iters, 1, torch.device("cpu"))
        finally:
            close_all(paths)
    return {**seconds, "gmacs": count_macs(model, clip, in_channels=model.in_channels) / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=7)
    args = parser.parse_args()
    peak = matmul_peak(torch.bfloat16)  # GFLOP/s
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads; bf16 matmul peak (2048²) {peak:.0f} GFLOP/s; "
          f"batch {args.batch}, ms per clip (share of the bf16 peak)\n")
    print("| model | GMACs | Predictor, fused | unfused | fused speed-up | OpenVINO | OpenVINO / fused |")
    print("|---|---|---|---|---|---|---|")
    for name in args.names:
        row = measure(name, args.batch, args.iters)
        ms = {k: 1e3 * v / args.batch for k, v in row.items() if k != "gmacs"}

        def cell(key: str, row=row, ms=ms) -> str:
            if key not in ms:
                return "—"
            return f"{ms[key]:.1f} ({2 * row['gmacs'] / ms[key] * 1e3 / peak:.0%})"

        ov = f"{ms['openvino'] / ms['fused']:.2f}" if "openvino" in ms else "—"
        print(f"| {name} | {row['gmacs']:.1f} | {cell('fused')} | {cell('unfused')} | "
              f"{ms['unfused'] / ms['fused']:.2f}× | {cell('openvino')} | {ov} |", flush=True)


if __name__ == "__main__":
    main()
