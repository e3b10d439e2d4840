"""Guard against oneDNN bugs: wrong bf16 convolution weight gradients on some CPUs, per layer.

Measured with torch 2.14.1 (oneDNN 3.12), under bf16 autocast, against fp32:

- Intel Xeon with AMX-BF16: ``Conv3d`` weight gradients come back NaN for
  some shapes (128→256 channels, 1×3×3, input 8×128×4×28×28: exactly
  R(2+1)D-18's conv3_x at 8×112×112) and 5–6% off for others (64→64,
  8×64×4×56×56), against 0.3% for bf16 without AMX
  (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``);
- AMD EPYC with AVX-512 BF16 (no AMX): NaN, Inf or 100% off exactly when the
  input has 2 frames and the kernel 3 padded taps in time (1, 3, 4 and 8
  frames are right to 0.3%): R(2+1)D's, R3D's and CSN's conv5_x at 8
  frames. The same convolution on an input padded in time by hand (then
  padding 0 in time) is right.

The forward pass and the input gradients are right (0.3%) on both, and 2D
convolutions are right on both.

So the guard works per layer, at the shapes the model really sees
(:class:`Bf16Guard`): before the first training step it records every
``Conv3d``'s input shape in one forward pass, probes the bf16 weight gradient
of each distinct (input shape, convolution) against fp32 on a batch of 2,
and fixes only the layers that fail, the cheapest correct way: explicit
temporal padding (:class:`Conv3dPadTime`) where that probes right, fp32
weight gradients (:class:`Conv3dFp32WeightGrad`) otherwise. Both keep the
module's parameters and state dict; outside CPU autocast they are the plain
convolution.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger("videozoo.train")

TOLERANCE = 0.02  # relative L2 error of a weight gradient against fp32; bf16 rounding alone gives 0.3%
PROBE_BATCH = 2


@dataclass(frozen=True)
class ConvCase:
    """One convolution at one input shape: what a probe needs (the batch is the probe's own)."""

    input_shape: tuple[int, ...]  # (C, T, H, W)
    weight_shape: tuple[int, ...]  # (C_out, C_in / groups, kT, kH, kW)
    stride: tuple[int, int, int]
    padding: tuple[int, int, int]
    dilation: tuple[int, int, int]
    groups: int
    channels_last: bool

    @classmethod
    def of(cls, conv: nn.Conv3d, x: Tensor) -> ConvCase:
        return cls(tuple(x.shape[1:]), tuple(conv.weight.shape), tuple(conv.stride), tuple(conv.padding),
                   tuple(conv.dilation), conv.groups, x.is_contiguous(memory_format=torch.channels_last_3d)
                   and not x.is_contiguous())

    def conv(self) -> nn.Conv3d:
        c_out, c_in_g, *kernel = self.weight_shape
        conv = nn.Conv3d(c_in_g * self.groups, c_out, kernel, self.stride, self.padding, self.dilation,
                         self.groups, bias=False)
        return conv.to(memory_format=torch.channels_last_3d) if self.channels_last else conv


# (input shape, weight shape, padding, channels-last) of the bugs measured so far; the tests keep probing them
PROBES: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, int, int], bool], ...] = (
    ((8, 128, 4, 28, 28), (256, 128, 1, 3, 3), (0, 1, 1), True),  # Intel AMX: NaN
    ((8, 64, 2, 7, 7), (64, 64, 3, 1, 1), (1, 0, 0), False),  # AMD AVX-512 BF16: 2 frames, 3 taps
    ((8, 64, 2, 7, 7), (64, 64, 3, 1, 1), (1, 0, 0), True),
)


def probe_case(x_shape: tuple[int, ...], w_shape: tuple[int, ...], padding: tuple[int, int, int],
               channels_last: bool) -> ConvCase:
    """A stride-1 :class:`ConvCase` from one row of :data:`PROBES` (its batch dropped)."""
    return ConvCase(tuple(x_shape[1:]), tuple(w_shape), (1, 1, 1), tuple(padding), (1, 1, 1), 1, channels_last)


def weight_grad_error(case: ConvCase, fix: type[nn.Conv3d] | None = None, batch: int = PROBE_BATCH) -> float:
    """Relative L2 error of the bf16-autocast weight gradient of ``case`` (its conv swapped to ``fix`` when
    given) against fp32's, on random data; ``inf`` when it is not finite."""
    g = torch.Generator().manual_seed(0)
    conv = case.conv()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
    x = torch.randn(batch, *case.input_shape, generator=g)
    if case.channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    grad_out = None

    def weight_grad(bf16: bool) -> Tensor:
        nonlocal grad_out
        conv.weight.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
        if grad_out is None:
            grad_out = torch.randn(y.shape, generator=g)
        (y.float() * grad_out).sum().backward()
        return conv.weight.grad.float().clone()

    reference = weight_grad(False)
    if fix is not None:
        conv.__class__ = fix
    fast = weight_grad(True)
    if not torch.isfinite(fast).all():
        return float("inf")
    return ((fast - reference).norm() / reference.norm().clamp_min(1e-30)).item()


class Conv3dPadTime(nn.Conv3d):
    """A Conv3d (same parameters, same state dict) that pads time by hand under CPU autocast: oneDNN's bf16
    weight gradient is right on the padded input where it is wrong with the padding inside the kernel."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        pad_t = self.padding[0]
        if not (torch.is_autocast_enabled("cpu") and x.device.type == "cpu" and self.padding_mode == "zeros"
                and pad_t):
            return super()._conv_forward(x, weight, bias)
        x = F.pad(x, (0, 0, 0, 0, pad_t, pad_t))
        return F.conv3d(x, weight, bias, self.stride, (0, *self.padding[1:]), self.dilation, self.groups)


class _ConvFp32WeightGrad(torch.autograd.Function):
    """conv3d whose weight gradient is computed in fp32; forward and input gradient in the input's dtype."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, stride, padding, dilation, groups) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, groups)
        return F.conv3d(x, weight, None, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv3d_input(x.shape, weight, grad, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv3d_weight(x.float(), weight.shape, grad.float(), stride, padding, dilation,
                                                 groups).to(weight.dtype)
        return grad_x, grad_w, None, None, None, None


class Conv3dFp32WeightGrad(nn.Conv3d):
    """A Conv3d (same parameters, same state dict) whose weight gradient stays in fp32 under CPU autocast."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not (torch.is_autocast_enabled("cpu") and x.device.type == "cpu" and self.padding_mode == "zeros"):
            return super()._conv_forward(x, weight, bias)
        dtype = torch.get_autocast_dtype("cpu")
        with torch.autocast("cpu", enabled=False):
            y = _ConvFp32WeightGrad.apply(x.to(dtype), weight.to(dtype), self.stride, self.padding, self.dilation,
                                          self.groups)
            if bias is not None:
                y = y + bias.to(dtype).view(1, -1, 1, 1, 1)
        return y


FIXES: tuple[type[nn.Conv3d], ...] = (Conv3dPadTime, Conv3dFp32WeightGrad)  # cheapest first


def fp32_weight_grads(model: nn.Module) -> int:
    """Switch every Conv3d of ``model`` to fp32 weight gradients (in place); returns how many. The blunt
    fix, for a CPU whose every bf16 weight gradient is suspect; :class:`Bf16Guard` fixes only what fails."""
    count = 0
    for m in model.modules():
        if type(m) is nn.Conv3d:
            m.__class__ = Conv3dFp32WeightGrad
            count += 1
    return count


class Bf16Guard:
    """Per-layer guard for bf16 training on a CPU (see the module docstring).

    >>> guard = Bf16Guard(model)
    >>> guard.prepare(lambda: model(first_batch))  # before the first step: record, probe, fix
    >>> guard.report  # one row per distinct (shape, convolution): its layers, the error, the fix
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.report: list[dict] | None = None

    @property
    def pending(self) -> bool:
        return self.report is None

    @contextlib.contextmanager
    def recording(self) -> Iterator[dict[ConvCase, list[str]]]:
        """Within: every plain ``Conv3d`` that runs records its input shape; yields case → layer names."""
        cases: dict[ConvCase, list[str]] = {}

        def hook(name: str) -> Callable:
            def record(module: nn.Module, args: tuple) -> None:
                names = cases.setdefault(ConvCase.of(module, args[0]), [])
                if name not in names:
                    names.append(name)
            return record

        handles = [m.register_forward_pre_hook(hook(name)) for name, m in self.model.named_modules()
                   if type(m) is nn.Conv3d]
        try:
            yield cases
        finally:
            for h in handles:
                h.remove()

    def prepare(self, forward: Callable[[], object]) -> list[dict]:
        """Run ``forward`` (one forward pass of the model on real inputs) with gradients off, every module in
        eval mode (BatchNorm statistics untouched), recording shapes; probe each case; fix what fails."""
        modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        try:
            with self.recording() as cases, torch.no_grad():
                forward()
        finally:
            for m, training in modes.items():
                m.training = training
        self.report = self.probe(cases)
        self.apply()
        fixed = [r for r in self.report if r["fix"]]
        if fixed:
            log.info("bf16 guard: oneDNN's bf16 weight gradients are wrong on %d of %d convolution shapes here "
                     "(%s); fixed: %s", len(fixed), len(self.report),
                     ", ".join(f"{r['layers'][0]} at {'×'.join(map(str, r['case']['input_shape']))}" for r in fixed),
                     ", ".join(sorted({r["fix"] for r in fixed})))
        return self.report

    def probe(self, cases: dict[ConvCase, list[str]]) -> list[dict]:
        report = []
        for case, layers in cases.items():
            error, fix = weight_grad_error(case), None
            if not error < TOLERANCE:
                for candidate in FIXES:
                    fixed_error = weight_grad_error(case, candidate)
                    if fixed_error < TOLERANCE:
                        fix, error = candidate.__name__, fixed_error
                        break
                else:
                    raise RuntimeError(f"bf16 guard: no fix gives a right weight gradient for {layers[0]} at "
                                       f"{case}; train with train.precision=fp32")
            report.append({"layers": layers, "case": asdict(case), "error": error, "fix": fix})
        return report

    def apply(self) -> int:
        """Swap the class of every layer the report fixes; returns how many."""
        rank = {cls.__name__: i for i, cls in enumerate(FIXES)}
        chosen: dict[str, str] = {}  # a layer seen at several shapes gets the strongest fix any of them needs
        for row in self.report or []:
            if row["fix"]:
                for name in row["layers"]:
                    if name not in chosen or rank[row["fix"]] > rank[chosen[name]]:
                        chosen[name] = row["fix"]
        modules = dict(self.model.named_modules())
        for name, fix in chosen.items():
            modules[name].__class__ = FIXES[rank[fix]]
        return len(chosen)

    def summary(self) -> dict:
        """What the run folder's ``bf16_guard.json`` holds."""
        rows = self.report or []
        return {"device": "cpu", "torch": torch.__version__, "tolerance": TOLERANCE, "probe_batch": PROBE_BATCH,
                "cases": len(rows), "fixed": sum(bool(r["fix"]) for r in rows), "probes": rows}

