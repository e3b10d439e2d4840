"""Every model of the zoo through the default inference path, in one run: speed and peak memory.

    python benchmarks/zoo_table.py --out docs/zoo_speed.json --plot docs/zoo_speed.png
    python benchmarks/zoo_table.py r2plus1d_18 s3d ir_csn_152      # some models only

Each model runs in a process of its own (so that its peak resident memory is its own): random weights, the
Predictor at ``precision="auto"`` (BN folded, channels-last, bf16 where the CPU has it), its default clip,
batch 1 and batch 8: milliseconds per clip (the median of ``--iters`` timed calls after a warm-up),
achieved GFLOP/s (2 × GMACs per clip / seconds) and its share of this CPU's bf16 matmul peak measured at the
start of the run, and the process's peak resident memory at batch 8 (weights, runtime and activations: the
ceiling to plan for); with ``--onnx``, its export (``videozoo export``) checked against ONNX Runtime; with
``--runtimes``, ONNX Runtime (fp32) and OpenVINO (its own precision: bf16 where the CPU has it) on that export at
batch 8 (the runtimes a CPU user would pick instead), the Predictor again and torchvision's network where it has one
(channels-last, bf16 autocast where native: the best plain PyTorch), each in a process of its own, timed in
interleaved rounds.
Prints a Markdown table; ``--out`` writes the rows as JSON, ``--plot`` GMACs against ms per clip, one point per
model.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

from videozoo.benchmark import cpu_name, matmul_peak, time_interleaved


def onnx_check(name: str, clip: tuple[int, int, int]) -> str:
    """``videozoo export`` of the model at its clip, checked against ONNX Runtime: "ok (error)" or why not."""
    import tempfile

    from videozoo.engine.export import ExportError, export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        try:
            report = export_onnx(name, Path(tmp) / "model.onnx", clip=clip)
        except (ExportError, ImportError, RuntimeError) as e:
            return f"not exported: {str(e).splitlines()[0][:160]}"
    return f"ok ({report.max_error:.0e})"


def runtime_rows(name: str, iters: int) -> dict:
    """Batch 8 through the Predictor, ONNX Runtime and OpenVINO on the model's export and, where torchvision has the
    network, torchvision's best plain PyTorch path (channels-last, bf16 autocast where native): each in a process of
    its own (``videozoo.isolated_paths``), timed in interleaved rounds; ms per clip of each."""
    import tempfile

    from videozoo.benchmark import runtime_paths, torchvision_twin
    from videozoo.engine.export import example_input
    from videozoo.isolated_paths import IsolatedPath, close_all, predictor_path, torchvision_path
    from videozoo.models.layers import randomize_batch_norm
    from videozoo.models.registry import create_model, get_entry

    torch.manual_seed(0)
    clip = tuple(get_entry(name).default_clip)
    model = create_model(name).eval()
    randomize_batch_norm(model, torch.Generator().manual_seed(0))
    x = example_input(model, clip, batch=8)  # the export's rank: an audio network's spectrogram is 4-D
    notes: list[str] = []
    paths: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            inputs = str(Path(tmp) / "clips.pt")
            torch.save(x, inputs)
            paths["predictor"] = IsolatedPath(predictor_path, model, inputs)
            twin = torchvision_twin(name)
            if twin:
                paths["torchvision"] = IsolatedPath(torchvision_path, twin[0], inputs)
            runtimes = runtime_paths(model, x, tmp, notes.append, input_file=inputs)
            paths.update(runtimes)
            if not runtimes:
                return {"runtimes": notes[-1][:160] if notes else "no runtime"}
            seconds = time_interleaved(paths, iters, 1, torch.device("cpu"))
        except Exception as e:  # noqa: BLE001 - a runtime that refuses the export is a row's note, not a lost row
            return {"runtimes": f"{type(e).__name__}: {' '.join(str(e).split())}"[:160]}
        finally:
            close_all(paths)
    out = {}
    for label, s in seconds.items():
        key = "ort" if label.startswith("ONNX Runtime") else "openvino" if label.startswith("OpenVINO") else label
        out[f"{key}_ms_per_clip_b8"] = round(1e3 * s / 8, 2)
        out[f"{key}_label"] = paths[label].label
    return out


def measure_one(name: str, iters: int, onnx: bool = False) -> dict:
    """Run in the child: the model's row (peak memory read after batch 8, before any export)."""
    from videozoo.engine.predictor import Predictor
    from videozoo.models.cards import count_macs
    from videozoo.models.layers import randomize_batch_norm
    from videozoo.models.registry import create_model, get_entry

    torch.manual_seed(0)
    clip = tuple(get_entry(name).default_clip)
    model = create_model(name).eval()
    randomize_batch_norm(model, torch.Generator().manual_seed(0))
    gmacs = count_macs(model, clip, in_channels=model.in_channels) / 1e9
    predictor = Predictor(model)
    del model  # the peak memory is the Predictor's alone
    row = {"model": name, "clip": "×".join(map(str, clip)), "gmacs": round(gmacs, 3),
           "precision": predictor.precision}
    for batch in (1, 8):
        x = torch.randn(batch, predictor.model.in_channels, *clip)
        seconds = time_interleaved({"": lambda x=x: predictor(x)}, iters, 1, predictor.device)[""]
        row[f"ms_per_clip_b{batch}"] = round(1e3 * seconds / batch, 2)
        row[f"gflops_b{batch}"] = round(2 * gmacs * batch / seconds, 1)
    row["peak_rss_mb_b8"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux: KiB
    if onnx:
        row["onnx"] = onnx_check(name, clip)
    return row


def runtimes_markdown(rows: list[dict], bf16_peak: float) -> str:
    """The Predictor beside torchvision, ONNX Runtime and OpenVINO, batch 8, ms per clip and (for the Predictor and
    OpenVINO, which compute in bf16 where the CPU has it) the share of the bf16 matmul peak; one process per path,
    interleaved."""
    lines = ["| model | GMACs | torchvision CL + bf16 | Predictor (auto) | ONNX Runtime fp32 | OpenVINO | "
             "Predictor vs OpenVINO |", "|---|---|---|---|---|---|---|"]

    def cell(ms: float | None, gmacs: float, share: bool = True) -> str:
        if ms is None:
            return "—"
        return f"{ms:.1f}" + (f" ({2 * gmacs / ms / bf16_peak * 1e3:.0%})" if share else "")

    for r in rows:
        if "predictor_ms_per_clip_b8" not in r:
            lines.append(f"| {r['model']} | | | {r.get('error') or r.get('runtimes', '')} | | | |")
            continue
        p, ov = r["predictor_ms_per_clip_b8"], r.get("openvino_ms_per_clip_b8")
        g = r["gmacs"]
        lines.append(f"| {r['model']} | {g:.2f} | {cell(r.get('torchvision_ms_per_clip_b8'), g, False)} | "
                     f"{cell(p, g)} | {cell(r.get('ort_ms_per_clip_b8'), g, False)} | {cell(ov, g)} | "
                     f"{'' if ov is None else f'{ov / p:.2f}×'} |")
    return "\n".join(lines)


def markdown(rows: list[dict], bf16_peak: float) -> str:
    onnx = any("onnx" in r for r in rows)
    lines = ["| model | clip | GMACs | ms / clip, batch 1 | ms / clip, batch 8 | GFLOP/s (batch 8) | "
             "share of bf16 peak | peak memory, batch 8 |" + (" ONNX (ONNX Runtime vs PyTorch) |" if onnx else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if onnx else "")]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | | | {r['error']} | | | | |" + (" |" if onnx else ""))
            continue
        lines.append(f"| {r['model']} | {r['clip']} | {r['gmacs']:.2f} | {r['ms_per_clip_b1']:.1f} | "
                     f"{r['ms_per_clip_b8']:.1f} | {r['gflops_b8']:.0f} | {r['gflops_b8'] / bf16_peak:.0%} | "
                     f"{r['peak_rss_mb_b8'] / 1024:.1f} GB |" + (f" {r.get('onnx', '')} |" if onnx else ""))
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "error" not in r]
    fig, ax = plt.subplots(figsize=(9, 6.5))
    ax.scatter([r["gmacs"] for r in rows], [r["ms_per_clip_b8"] for r in rows], s=18)
    for r in rows:
        ax.annotate(r["model"], (r["gmacs"], r["ms_per_clip_b8"]), fontsize=6, xytext=(3, 2),
                    textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="GMACs per clip (default clip)", ylabel="ms per clip (batch 8)",
           title=title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=150)


def main() -> None:
    from videozoo.models.registry import list_models

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="models (default: the whole zoo)")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--out", help="write the rows (and the CPU's peaks) as JSON")
    parser.add_argument("--plot", help="write GMACs against ms per clip as a PNG")
    parser.add_argument("--onnx", action="store_true",
                        help="also export each model to ONNX and check it against ONNX Runtime (fp32, 1e-4)")
    parser.add_argument("--runtimes", action="store_true",
                        help="also time ONNX Runtime and OpenVINO on the export at batch 8, beside the Predictor")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child: one model, its row as JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.iters, args.onnx)))
        return
    names = args.names or list_models()
    fp32_peak, bf16_peak = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    cpu = cpu_name()
    print(f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}; matmul peaks: fp32 "
          f"{fp32_peak:.0f} GFLOP/s, bf16 {bf16_peak:.0f} GFLOP/s", flush=True)
    rows: list[dict] = []

    def write_rows() -> None:  # after every model: a run cut short keeps what it measured
        if args.out:
            Path(args.out).write_text(json.dumps({"cpu": cpu, "threads": torch.get_num_threads(),
                                                  "torch": torch.__version__, "fp32_peak_gflops": fp32_peak,
                                                  "bf16_peak_gflops": bf16_peak, "rows": rows}, indent=1))

    for name in names:
        done = subprocess.run([sys.executable, __file__, "--one", name, "--iters", str(args.iters)]
                              + ["--onnx"] * args.onnx, capture_output=True, text=True)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            rows.append({"model": name, "error": last[:200]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        if args.runtimes and "error" not in r:  # after the child has gone: its memory is not theirs to share
            r.update(runtime_rows(name, args.iters))
        print(f"{name}: " + (r["error"] if "error" in r else
                             f"{r['ms_per_clip_b1']:.1f} / {r['ms_per_clip_b8']:.1f} ms per clip (batch 1 / 8), "
                             f"{r['gflops_b8']:.0f} GFLOP/s, {r['peak_rss_mb_b8']} MB"), flush=True)
        write_rows()
    print()
    print(markdown(rows, bf16_peak))
    if args.runtimes:
        print()
        print(runtimes_markdown(rows, bf16_peak))
    if args.plot:
        plot(rows, Path(args.plot), f"the zoo through the Predictor: {cpu}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
