"""The default inference path: every CLI verb that runs a model goes through :class:`Predictor`.

What it does to a model, and why:

- ``eval()`` and ``torch.inference_mode``: no autograd bookkeeping.
- BatchNorm folded into the preceding convolution
  (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`): one memory pass less per conv.
- channels-last-3d memory format: the layout oneDNN (CPU) and cuDNN (GPU) run fastest.
- bf16 autocast where the hardware has bf16 units (AMX / AVX-512 BF16 CPUs,
  Ampere+ GPUs); fp32 elsewhere. Logits come back as float32 either way. The
  convolution and linear weights are cast once on a CPU, not by autocast on
  every call.
- On a CPU, freed activation memory kept for the next call instead of being page-faulted in again
  (:mod:`.host_memory`: up to 1.7× faster at batch 8).
- On a CPU, each conv unit as one oneDNN call on a weight packed once, with ReLU and residual add + ReLU
  fused in (:mod:`.onednn`; 1.06–2× at batch 1, CSN 1.2–1.5×).
- On a CPU, 3D max pooling as three 1-D passes (:mod:`.separable_pool`): the same numbers without the
  argmax that ATen's CPU kernel always computes (S3D: 1.5× faster).
- One exception, measured: cuDNN runs depthwise 3D convolutions (CSN) slowest
  in channels-last and in bf16 (H100: ir-CSN-152 14 ms in fp32 contiguous,
  17 ms bf16, 20–35 ms channels-last), so on CUDA a model with grouped
  convolutions stays contiguous and ``"auto"`` picks fp32 (TF32) for it. On a
  CPU bf16 channels-last is fastest for every family (ir-CSN-50: 180 ms vs
  548 ms fp32 contiguous).

The model you pass in is left untouched: the predictor works on a copy.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..models.layers import ConvNormAct
from . import onednn
from .host_memory import keep_freed_memory
from .separable_pool import separable_max_pools

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@functools.cache
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matrix units (AMX-BF16 or AVX-512 BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' → 'bf16' where the device computes it natively, else 'fp32'."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise ValueError("fp16 autocast is for CUDA; on a CPU use bf16 or fp32")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


@contextlib.contextmanager
def full_fp32_convs(on: bool):
    """cuDNN convolutions in IEEE fp32 instead of TF32 inside the block, when ``on``."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if not on or not hasattr(conv, "fp32_precision"):
        yield
        return
    old = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = old


def has_grouped_convs(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv3d) and m.groups > 1 for m in model.modules())


def autocast_dtype(precision: str) -> torch.dtype | None:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


@torch.no_grad()
def fold_batch_norm(model: nn.Module) -> nn.Module:
    """Fold every conv → BN pair of the zoo's :class:`ConvNormAct` units (eval mode only)."""
    for unit in model.modules():
        if isinstance(unit, ConvNormAct) and isinstance(unit.bn, nn.modules.batchnorm._BatchNorm):
            unit.conv = fuse_conv_bn_eval(unit.conv, unit.bn)
            unit.bn = nn.Identity()
    return model


BACKENDS = ("pytorch", "openvino")


@dataclass(frozen=True)
class Compilation:
    """One compilation of the model for one input shape: its seconds (torch.compile: the first call, forward
    included; OpenVINO: export, check and compilation, or loading them from the disk cache)."""

    shape: str  # e.g. "8×3×16×112×112"; a multi-modal input: "rgb 8×3×8×112×112, audio 8×1×100×40"
    seconds: float
    what: str = "torch.compile"
    cached: bool = False

    def __str__(self) -> str:
        return f"{self.what} for {self.shape}: {self.seconds:.1f} s" + (" (from the disk cache)" if self.cached else "")


def _shape_of(x: Tensor | dict[str, Tensor]) -> str:
    if isinstance(x, dict):
        return ", ".join(f"{k} {_shape_of(v)}" for k, v in x.items())
    return "×".join(map(str, x.shape))


class _PooledFeatures(nn.Module):
    """A model's ``forward_features`` as its forward: what gets exported for OpenVINO's features."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.arch = net, getattr(net, "arch", type(net).__name__)

    def forward(self, x: Tensor) -> Tensor:
        return self.net.forward_features(x)


class Predictor:
    """A fast, inference-only callable: ``(B, C, T, H, W)`` float clips → float32 logits ``(B, num_classes)``.

    Args:
        model: any zoo model (left untouched; the predictor holds a prepared copy).
        precision: ``"auto"`` (bf16 where native, else fp32; TF32 convolutions on CUDA), ``"fp32"`` (full
            fp32 on CUDA too: TF32 off), ``"bf16"`` or ``"fp16"`` (CUDA).
        device: where to run; CUDA when present, else the CPU.
        channels_last: use the channels-last-3d layout; None chooses (see the module docstring).
        fold_bn: fold BatchNorm into the convolutions.
        compile: ``torch.compile`` the model (inductor fuses conv + ReLU; about 1.4× faster once
            compiled on an AMX CPU or a GPU, about 1.0× on an AVX-512 EPYC). Compiling takes seconds to tens of
            seconds per input shape; ``compilations`` records each. Inductor keeps compiled kernels on disk
            (``$TORCHINDUCTOR_CACHE_DIR``, by default under /tmp), which cuts a later run's compile (R(2+1)D-18:
            25.7 s → 4.8 s); its whole-graph cache is bypassed under weight freezing (torch 2.14.1), which the
            speed needs, so a later run still traces and lowers the graph.
        backend: ``"pytorch"``, or ``"openvino"`` (CPU): the logits come from the model exported to ONNX and
            compiled by OpenVINO, once per input shape (faster on CPUs than PyTorch's eager path for every
            family measured, see docs/speed.md); so do ``features`` (the pooled embedding, exported on its
            own); ``run`` (any other layer) stays on PyTorch.
        fuse_convs: on a CPU (eager, channels-last), run each folded conv unit as one oneDNN call on a weight
            packed once, with its ReLU and a residual block's add + ReLU fused in (:mod:`.onednn`; 1.06–2× at
            batch 1). Layers inside a unit or a fused block's last unit can then not be hooked;
            ``videozoo extract --layer`` turns it off for them.
    """

    def __init__(self, model: nn.Module, precision: str = "auto", device: str | torch.device | None = None,
                 channels_last: bool | None = None, fold_bn: bool = True, compile: bool = False,
                 backend: str = "pytorch", fuse_convs: bool = True) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        if backend == "openvino" and (getattr(model, "modalities", ()) or (device is not None and
                                                                            torch.device(device).type != "cpu")):
            raise ValueError("the OpenVINO backend runs single-input models on the CPU")
        self.backend, self._runners = backend, {}
        self.device = torch.device("cpu") if backend == "openvino" else \
            torch.device(device) if device is not None else default_device()
        depthwise_on_cuda = self.device.type == "cuda" and has_grouped_convs(model)
        self.precision = "fp32" if precision == "auto" and depthwise_on_cuda else resolve_precision(
            precision, self.device)
        # An explicit "fp32" is a request for fp32 numbers (features to compare, references to match).
        self.allow_tf32 = precision != "fp32"
        if channels_last is None:
            channels_last = not depthwise_on_cuda
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        model = copy.deepcopy(model).eval()
        if fold_bn:
            fold_batch_norm(model)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.fused: dict[str, int] = {}  # what onednn.pack_convolutions did (the CPU's eager path only)
        if backend == "pytorch" and self.device.type == "cpu":  # OpenVINO's export keeps ONNX's MaxPool
            self._prepare_for_cpu(fuse_convs=fuse_convs and channels_last and not compile)
        self.classes = getattr(model, "classes", None)
        self._forward = self.model
        self.compilations: dict[str, Compilation] = {}  # compile=True: one per input shape
        if compile:
            # Freezing lets inductor treat weights as constants and fuse conv + ReLU in oneDNN; it must be
            # on while the first call compiles (torch.compile's options= does not switch it on).
            from torch._inductor import config as inductor_config

            compiled = torch.compile(self.model)

            def frozen(x: Tensor | dict[str, Tensor]) -> Tensor | dict[str, Tensor]:
                with inductor_config.patch(freezing=True):
                    shape = _shape_of(x)
                    if shape in self.compilations:
                        return compiled(x)
                    start = time.perf_counter()
                    out = compiled(x)
                    self.compilations[shape] = Compilation(shape, time.perf_counter() - start)
                    return out

            self._forward = frozen

    def _prepare_for_cpu(self, fuse_convs: bool) -> None:
        separable_max_pools(self.model)
        keep_freed_memory()
        if self.dtype is not None:
            # Autocast casts the weights of every convolution and linear layer on every call (a tenth of
            # ir-CSN-152's time on a CPU); casting them once gives the same numbers (measured: identical logits).
            # Normalisation layers keep fp32, as under autocast.
            for m in self.model.modules():
                if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                    m.to(self.dtype)
        if fuse_convs and onednn.available():  # after the cast: the weights are packed in their final dtype
            self.fused = onednn.pack_convolutions(self.model)

    @property
    def dtype(self) -> torch.dtype | None:
        return autocast_dtype(self.precision)

    def __call__(self, clips: Tensor) -> Tensor:
        if self.backend == "openvino":
            return self._openvino("logits", self.model, clips)
        return self.run(self._forward, clips)

    def features(self, clips: Tensor) -> Tensor:
        """Pooled embeddings ``(B, D)`` as float32, on the same fast path (OpenVINO's, with that backend)."""
        if self.backend == "openvino":
            return self._openvino("features", _PooledFeatures(self.model), clips)
        return self.run(self.model.forward_features, clips)

    def _openvino(self, output: str, net: nn.Module, clips: Tensor) -> Tensor:
        """``net`` on ``clips`` through OpenVINO: one export and compilation per output and input shape."""
        key = (output, *clips.shape[1:])
        if key not in self._runners:
            from .export import openvino_runner

            run = self._runners[key] = openvino_runner(net, tuple(clips.shape[1:]), self.precision)
            shape = f"{output} of B×{'×'.join(map(str, clips.shape[1:]))}"
            self.compilations[shape] = Compilation(shape, run.seconds, f"OpenVINO {run.version}", run.cached)
        return self._runners[key](clips)

    @torch.inference_mode()
    def run(self, fn, clips: Tensor | dict[str, Tensor]) -> Tensor | dict[str, Tensor]:
        """``fn`` on ``clips`` (a tensor, or a multi-modal model's dict of them); float32 out, a dict for a dict."""
        x = {m: self._place(v) for m, v in clips.items()} if isinstance(clips, dict) else self._place(clips)
        dtype = self.dtype
        with (full_fp32_convs(self.device.type == "cuda" and not self.allow_tf32),
              torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)):
            out = fn(x)
        return {k: v.float() for k, v in out.items()} if isinstance(out, dict) else out.float()

    def _place(self, x: Tensor) -> Tensor:
        x = x.to(self.device, non_blocking=True)
        if x.ndim == 4 and hasattr(self.model, "as_clip"):  # a spectrogram, made the 5-D clip the network runs on,
            x = self.model.as_clip(x)  # so that it is channels-last too (1.6× faster than a 4-D input, measured)
        return x.contiguous(memory_format=self.memory_format) if x.ndim == 5 else x

    def __repr__(self) -> str:
        return (f"Predictor({getattr(self.model, 'arch', type(self.model).__name__)}, device={self.device}, "
                f"precision={self.precision}, memory_format={self.memory_format})")
