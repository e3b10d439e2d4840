"""Inference speed of a zoo model, side by side with torchvision's implementation of the same network.

PyTorch's paths are timed in one process on the same input: torchvision fp32
eager (the reference), torchvision channels-last-3d + bf16 autocast (the best
plain PyTorch gets), our model eager, and our
:class:`~videozoo.engine.predictor.Predictor` in fp32 and at ``precision="auto"``;
ONNX Runtime and OpenVINO on the model's export each run in a process of their
own (:mod:`videozoo.isolated_paths`), timed in the same interleaved rounds. Each row gives clips/s, the ratio to the
reference and the achieved GFLOP/s (2 FLOPs per multiply-add). The numerical
cost of the fast path is stated too: top-1 agreement and relative error of
its logits against fp32.
"""

from __future__ import annotations

import copy
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .engine.predictor import Predictor, autocast_dtype, default_device, resolve_precision
from .isolated_paths import close_all
from .models.cards import count_macs
from .models.layers import randomize_batch_norm
from .models.registry import create_model, get_entry
from .weights.convert import TORCHVISION, convert_state_dict


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                isa = "AMX" if "amx_bf16" in flags else "AVX-512 BF16" if "avx512_bf16" in flags else "no bf16 ISA"
                return f"{line.split(':', 1)[1].strip()} ({isa})"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of the best of ``repeats`` n×n matmuls."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):  # warm-up: thread pool, caches, clocks
        torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


@dataclass
class Timing:
    label: str
    seconds: float  # median per batch
    batch: int
    gmacs_per_clip: float

    @property
    def clips_per_s(self) -> float:
        return self.batch / self.seconds

    @property
    def gflops_per_s(self) -> float:
        return 2 * self.gmacs_per_clip * self.clips_per_s


def time_interleaved(paths: dict[str, Callable[[], object]], iters: int, warmup: int,
                     device: torch.device) -> dict[str, float]:
    """Median seconds per call of each path, timed in interleaved rounds (A, B, C, A, B, C, …) so that
    a change in the machine's load during the run touches every path alike."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for fn in paths.values():
        for _ in range(warmup):
            fn()
    sync()
    times: dict[str, list[float]] = {label: [] for label in paths}
    for _ in range(iters):
        for label, fn in paths.items():
            start = time.perf_counter()
            fn()
            sync()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}


def torchvision_twin(name: str) -> tuple[nn.Module, dict, str] | None:
    """torchvision's network of the same architecture as zoo model ``name``, the overrides that make ours
    equal it, and torchvision's name for it."""
    import torchvision.models.video as tvv

    for tv_name, recipe in TORCHVISION.items():
        if recipe.arch == name:
            return getattr(tvv, tv_name)(), dict(recipe.overrides), tv_name
    return None


def torchvision_fast_path(reference: nn.Module, x: torch.Tensor) -> tuple[str, Callable[[], torch.Tensor]]:
    """The best plain PyTorch gives torchvision's network on ``x``: channels-last-3d and autocast to bf16 where the
    device computes it natively (else fp32), as (label, call)."""
    precision = resolve_precision("auto", x.device)
    dtype = autocast_dtype(precision)
    net = copy.deepcopy(reference).eval().to(memory_format=torch.channels_last_3d)
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)

    def call() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=dtype or torch.bfloat16,
                                                    enabled=dtype is not None):
            return net(x_cl)

    return f"torchvision channels-last + {precision} autocast" if dtype else "torchvision channels-last fp32", call


def runtime_paths(model: nn.Module, x: torch.Tensor, workdir: str, log: Callable[[str], None],
                  input_file: str | None = None, onnx_runtime: bool = True) -> dict[str, Callable[[], torch.Tensor]]:
    """The runtimes a CPU user would pick instead of PyTorch, on our model exported to ONNX (``videozoo export``,
    checked against ONNX Runtime at 1e-4): ONNX Runtime (fp32, as many threads as torch) and OpenVINO as the
    Predictor's ``backend="openvino"`` runs it (its own precision choice: bf16 on CPUs that have it). Each runs
    in a process of its own, and so does the export (:mod:`videozoo.isolated_paths`: once they had run in this
    process, the Predictor here ran 1.5-2x slower); the caller stops them with ``isolated_paths.close_all``. Empty
    when the ``[onnx]`` extra is missing. ``input_file``: ``x`` already saved with ``torch.save`` (else saved here);
    ``onnx_runtime=False``: OpenVINO's path only (the export is still checked against ONNX Runtime)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from .engine.checkpoint import save_model
    from .engine.export import ExportError, export_onnx
    from .isolated_paths import IsolatedPath, onnx_runtime_path, openvino_path

    try:
        import onnxruntime  # noqa: F401 - only whether it is there
    except ImportError:
        log("ONNX Runtime not installed (pip install 'videozoo[onnx]'): no runtime rows")
        return {}
    ckpt, path = os.path.join(workdir, "model.safetensors"), os.path.join(workdir, "model.onnx")
    save_model(model, ckpt)
    inputs = input_file
    if inputs is None:
        inputs = os.path.join(workdir, "input.pt")
        torch.save(x.detach().cpu(), inputs)
    clip = tuple(x.shape[2:]) if x.ndim == 5 else (1, *x.shape[2:])  # a spectrogram (B, 1, frames, mels)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as exporter:
            exporter.submit(export_onnx, ckpt, path, clip=clip, dynamic_batch=True).result()
    except ExportError as e:
        log(f"not exportable, no runtime rows: {e}")
        return {}
    paths: dict[str, Callable[[], torch.Tensor]] = {}
    if onnx_runtime:
        ort = IsolatedPath(onnx_runtime_path, path, inputs)
        paths[ort.label] = ort
    try:
        openvino = IsolatedPath(openvino_path, path, inputs)  # the export above, checked
    except RuntimeError as e:
        log(f"no OpenVINO row: {e}")
        return paths
    paths[openvino.label] = openvino
    return paths


def agreement(fast: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """(top-1 agreement, relative L2 error) of ``fast`` logits against ``reference``."""
    top1 = (fast.argmax(1) == reference.argmax(1)).float().mean().item()
    rel = ((fast - reference).norm() / reference.norm().clamp_min(1e-12)).item()
    return top1, rel


def cpu_peaks(log: Callable[[str], None]) -> dict[str, float]:
    """This CPU's fp32 and bf16 matmul peaks (GFLOP/s), measured now and logged with the CPU's name."""
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    log(f"CPU: {cpu_name()}; matmul peaks (2048²): fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    return peaks


def share_of_peak(t: Timing, peaks: dict[str, float]) -> float | None:
    """Percent of the matmul peak of the precision the path computes in (bf16 when its label says so)."""
    peak = peaks.get("bf16" if "bf16" in t.label else "fp32")
    return 100 * t.gflops_per_s / peak if peak else None


def log_table(timings: list[Timing], peaks: dict[str, float], log: Callable[[str], None]) -> None:
    base = timings[0]
    log(f"{'path':<48} {'ms/batch':>9} {'clips/s':>8} {'× ref':>6} {'GFLOP/s':>8} {'% peak':>7}")
    for t in timings:
        pct = share_of_peak(t, peaks)
        log(f"{t.label:<48} {t.seconds * 1e3:9.1f} {t.clips_per_s:8.2f} {base.seconds / t.seconds:6.2f} "
            f"{t.gflops_per_s:8.1f} " + (f"{pct:6.1f}%" if pct is not None else "      —"))


def bench_model(name: str, batch: int = 4, clip: tuple[int, int, int] | None = None, iters: int = 5,
                warmup: int = 2, device: str | None = None, compile: bool = False, runtimes: bool = False,
                log: Callable[[str], None] = print) -> dict:
    """Time ``name`` against its torchvision twin (when there is one) and, with ``runtimes``, against ONNX Runtime
    and OpenVINO on its ONNX export (CPU). Returns the measurements as a dict."""
    dev = torch.device(device) if device else default_device()
    clip = tuple(clip or get_entry(name).default_clip)
    torch.manual_seed(0)
    twin = torchvision_twin(name)
    if twin is not None:
        reference, overrides, tv_name = twin
        randomize_batch_norm(reference, torch.Generator().manual_seed(0))
        ours = convert_state_dict("torchvision", tv_name, reference.state_dict())
        reference = reference.eval().to(dev)
    else:
        reference, overrides, tv_name = None, {}, None
        ours = create_model(name)
        randomize_batch_norm(ours, torch.Generator().manual_seed(0))
    ours = ours.eval().to(dev)
    gmacs = count_macs(ours, clip) / 1e9
    x = torch.randn(batch, 3, *clip, device=dev)
    auto = Predictor(ours, "auto", dev)
    fast_precision = auto.precision  # what "auto" chose for this model on this device
    dtype = autocast_dtype(resolve_precision("auto", dev))  # torchvision's fast path: bf16 where native
    log(f"{name} on {dev}: batch {batch} × 3 × {'×'.join(map(str, clip))}, {gmacs:.2f} GMACs per clip, "
        f"{torch.get_num_threads()} threads; auto precision = {fast_precision}"
        + (f"; reference: torchvision {tv_name}" + (f" (ours built with {overrides})" if overrides else "")
           if tv_name else "; no torchvision twin: reference is our own fp32 eager model"))

    paths: dict[str, Callable[[], torch.Tensor]] = {}
    if reference is not None:
        paths["torchvision fp32 eager"] = lambda: reference(x)
        if dtype is not None:
            paths.update([torchvision_fast_path(reference, x)])
    paths["videozoo fp32 eager"] = lambda: ours(x)
    fp32 = Predictor(ours, "fp32", dev)
    paths["videozoo Predictor fp32"] = lambda: fp32(x)
    auto_label = f"videozoo Predictor auto ({fast_precision})"
    paths[auto_label] = lambda: auto(x)
    if compile:
        compiled = Predictor(ours, "auto", dev, compile=True)
        paths[f"videozoo Predictor auto + compile ({fast_precision})"] = lambda: compiled(x)

    with tempfile.TemporaryDirectory() as workdir:
        try:
            if runtimes and dev.type == "cpu":
                paths.update(runtime_paths(ours, x, workdir, log))
            with torch.inference_mode():
                outputs = {label: fn().float() for label, fn in paths.items()}  # also compiles, outside the timing
                seconds = time_interleaved(paths, iters, warmup, dev)
        finally:
            close_all(paths)
    timings = [Timing(label, seconds[label], batch, gmacs) for label in paths]

    base = timings[0]
    peaks = cpu_peaks(log) if dev.type == "cpu" else {}
    log_table(timings, peaks, log)
    best_peer = min((t for t in timings if t.label.startswith("torchvision")), key=lambda t: t.seconds, default=None)
    fp32_ref = outputs[base.label]
    top1, rel = agreement(outputs[auto_label], fp32_ref)
    log(f"numerics of {auto_label} vs {base.label}: top-1 agreement {top1:.3f}, relative error {rel:.2e}")
    for label in paths:
        if label.startswith(("ONNX Runtime", "OpenVINO")):
            t1, r = agreement(outputs[label], fp32_ref)
            log(f"numerics of {label} vs {base.label}: top-1 agreement {t1:.3f}, relative error {r:.2e}")
    runtime_rows = [t for t in timings if t.label.startswith(("ONNX Runtime", "OpenVINO"))]
    auto_t = next(t for t in timings if t.label == auto_label)
    if best_peer is not None:
        log(f"Predictor auto vs best torchvision path ({best_peer.label}): "
            f"{best_peer.seconds / auto_t.seconds:.2f}× "
            f"{'faster' if auto_t.seconds <= best_peer.seconds else 'SLOWER'}")
    return {
        "model": name, "device": str(dev), "batch": batch, "clip": list(clip), "gmacs_per_clip": gmacs,
        "precision_auto": fast_precision, "threads": torch.get_num_threads(),
        "matmul_peaks_gflops": peaks,
        "timings": [{"label": t.label, "ms_per_batch": t.seconds * 1e3, "clips_per_s": t.clips_per_s,
                     "ratio_vs_reference": base.seconds / t.seconds, "gflops_per_s": t.gflops_per_s,
                     "share_of_peak": share_of_peak(t, peaks)} for t in timings],
        "auto_vs_fp32": {"top1_agreement": top1, "relative_error": rel},
        "auto_vs_best_torchvision": best_peer.seconds / auto_t.seconds if best_peer else None,
        "auto_vs_runtimes": {t.label: t.seconds / auto_t.seconds for t in runtime_rows},
    }
