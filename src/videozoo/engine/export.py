"""Export a zoo model to ONNX, with what a runtime outside PyTorch needs to feed it.

::

    model name, checkpoint, run folder or weights tag
        └─► model + class names + input settings ─► torch.onnx.export (dynamo) ─► OUT.onnx
                                                                      metadata: classes, clip, mean/std …
        └─► ONNX Runtime on a fresh batch ─► outputs compared with PyTorch's (the export is refused if they differ)

The graph takes ``clip``: float ``(B, C, T, H, W)`` (a spectrogram ``(B, 1, frames, mels)`` for an audio
network), already normalised, and returns ``logits`` ``(B, num_classes)`` (the pooled features for a backbone
without a classifier). ``onnx``, ``onnxscript`` and ``onnxruntime`` are the optional ``[onnx]`` extra.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data.transforms import NORMALIZATION
from ..models.registry import create_model, get_entry
from .checkpoint import CheckpointError, atomic_write

OPSET = 18
TOLERANCE = 1e-4  # ONNX Runtime's outputs against PyTorch's, relative to the outputs' scale (fp32)


class ExportError(ValueError):
    """A model that cannot be exported, or an export whose outputs differ from PyTorch's."""


@dataclass(frozen=True)
class ExportReport:
    path: Path
    input_shape: tuple[int, ...]
    max_error: float  # ONNX Runtime against PyTorch, relative to the largest output
    dynamic_batch: bool


def _modules():
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise ExportError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'videozoo[onnx]'") from None
    return onnx, onnxruntime


def _load(source: str) -> tuple[nn.Module, list[str] | None, dict]:
    """The model, its class names and its input description, from a zoo name (random weights) or a checkpoint."""
    from ..models.registry import list_models
    from .evaluate import load_for_inference

    if source in list_models() and not Path(source).exists():
        model = create_model(source)
        t, h, w = get_entry(source).default_clip
        return model, None, {"num_frames": t, "crop": h, "crop_w": w}
    try:
        model, classes, settings = load_for_inference(source, classify=False)
    except CheckpointError as e:
        raise ExportError(f"{source}: not a model name, a checkpoint, a run folder or a weights tag ({e})") from None
    mean, std = NORMALIZATION[settings.normalization]
    return model, (classes or None), {
        "num_frames": settings.num_frames, "crop": settings.crop, "crop_w": settings.crop,
        "frame_step": settings.stride, "fps": settings.fps, "resize": settings.resize,
        "normalization": settings.normalization, "mean": list(mean), "std": list(std), "modality": settings.modality}


def example_input(model: nn.Module, clip: tuple[int, int, int], batch: int = 2) -> torch.Tensor:
    """A random input of the shape ``model`` takes: ``(batch, C, T, H, W)``, or ``(batch, 1, frames, mels)`` for an
    audio network (its ``clip`` is ``(1, frames, mels)``)."""
    if get_entry(model.arch).family == "audio":
        return torch.randn(batch, model.in_channels, clip[1], clip[2])
    return torch.randn(batch, model.in_channels, *clip)


def export_onnx(source: str | os.PathLike, out: str | os.PathLike, *, clip: tuple[int, int, int] | None = None,
                dynamic_batch: bool = False, opset: int = OPSET) -> ExportReport:
    """Write ``source`` (a zoo model name, a checkpoint, a run folder or a weights tag) as ONNX at ``out``.

    ``clip`` is ``(T, H, W)`` (default: the checkpoint's input settings, or the model's default clip);
    ``dynamic_batch`` leaves the batch size free. The file carries the architecture, class names, clip and
    normalisation as metadata. ONNX Runtime then runs it on a fresh batch: outputs further than
    ``TOLERANCE`` (relative) from PyTorch's are refused and nothing is written.
    """
    onnx, ort = _modules()
    model, classes, inputs = _load(str(source))
    if model.modalities:
        raise ExportError(f"{source} is a multi-modal network (its input is a dict of streams): export each "
                          "stream's network instead")
    model = model.float().eval()
    clip = clip or (inputs["num_frames"], inputs["crop"], inputs["crop_w"])
    x = example_input(model, clip)
    try:
        model.check_input(x)
    except ValueError as e:
        raise ExportError(str(e)) from None
    out = Path(out)
    program = _export(model, x, dynamic_batch, opset)
    proto = program.model_proto
    meta = {"videozoo_architecture": model.arch, "videozoo_overrides": json.dumps(getattr(model, "overrides", {})),
            "num_classes": str(model.num_classes), "input_layout": "NCTHW" if x.ndim == 5 else "NCHW (spectrogram)",
            "input": json.dumps({**inputs, "shape": list(x.shape[1:])})}
    if classes:
        meta["classes"] = json.dumps(classes)
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    data = proto.SerializeToString()
    error = _check_with_runtime(ort, data, model, x, dynamic_batch)
    if error > TOLERANCE:
        raise ExportError(f"ONNX Runtime's outputs differ from PyTorch's by {error:.2e} (relative); not written")
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(data))
    return ExportReport(out, tuple(x.shape[1:]), error, dynamic_batch)


def openvino_cache_dir() -> Path:
    """Where OpenVINO's exports and compiled models are kept: ``$VIDEOZOO_CACHE/openvino``, else
    ``~/.cache/videozoo/openvino``."""
    root = os.environ.get("VIDEOZOO_CACHE") or Path.home() / ".cache" / "videozoo"
    return Path(root) / "openvino"


def _runner_key(model: nn.Module, clip_shape: tuple[int, ...], precision: str, ov_version: str) -> str:
    """A name for the model's weights and structure, the input shape and the versions: what an export and its
    compilation depend on (a changed weight or version is another entry)."""
    import hashlib

    h = hashlib.sha256()
    h.update(json.dumps([type(model).__name__, getattr(model, "arch", ""), getattr(model, "overrides", {}),
                         list(clip_shape), precision, OPSET, torch.__version__, ov_version],
                        sort_keys=True, default=str).encode())
    for name, value in model.state_dict().items():
        h.update(name.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def openvino_runner(model: nn.Module | None, clip_shape: tuple[int, ...], precision: str = "auto",
                    onnx_path: str | os.PathLike | None = None, cache: bool = True):
    """``model`` exported to ONNX for inputs ``(B, *clip_shape)`` (any batch; checked against ONNX Runtime as
    :func:`export_onnx` checks) and compiled by OpenVINO for the CPU: a callable on float clips returning float32
    logits. ``precision="fp32"`` keeps OpenVINO in fp32; otherwise it picks (bf16 on CPUs that have it).
    ``onnx_path``: ``model``'s export that :func:`export_onnx` already wrote and checked (with a dynamic batch),
    compiled as it is instead of exporting again (``model`` may then be None).

    With ``cache`` the checked export and OpenVINO's compiled model are kept on disk (:func:`openvino_cache_dir`,
    one entry per weights, input shape, precision and versions), so the next process that runs the same model
    at the same shape skips the export, its check and most of the compilation. The callable's ``seconds`` is
    what preparing it took, ``cached`` whether the export came from the cache."""
    import time

    try:
        import openvino as ov
    except ImportError:
        raise ExportError("the OpenVINO backend needs OpenVINO: pip install 'videozoo[onnx]'") from None
    start = time.perf_counter()
    config = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "fp32" else {}
    core = ov.Core()
    cached = False
    with tempfile.TemporaryDirectory() as folder:
        if onnx_path is None:
            model = model.float().eval()
            entry = openvino_cache_dir() / _runner_key(model, clip_shape, precision, ov.__version__) if cache else None
            onnx_path = entry / "model.onnx" if entry is not None else Path(folder) / "model.onnx"
            cached = entry is not None and onnx_path.is_file()
            if not cached:
                _, ort = _modules()
                x = torch.randn(2, *clip_shape)
                data = _export(model, x, True, OPSET).model_proto.SerializeToString()
                error = _check_with_runtime(ort, data, model, x, True)
                if error > TOLERANCE:
                    raise ExportError(f"{model.arch}'s ONNX graph differs from PyTorch's by {error:.2e}; "
                                      f"not run in OpenVINO")
                Path(onnx_path).parent.mkdir(parents=True, exist_ok=True)
                atomic_write(Path(onnx_path), lambda tmp: Path(tmp).write_bytes(data))
            if entry is not None:  # OpenVINO keeps the compiled model beside the export and reuses it
                core.set_property({"CACHE_DIR": str(entry / "compiled")})
        compiled = core.compile_model(str(onnx_path), "CPU", config)
    request = compiled.create_infer_request()
    output = compiled.output(0)

    def run(clips: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(request.infer([clips.detach().float().cpu().numpy()])[output].copy())

    hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    run.precision = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)  # what OpenVINO chose
    run.version = ov.__version__.split("-")[0]
    run.seconds, run.cached = time.perf_counter() - start, cached
    return run


def _export(model: nn.Module, x: torch.Tensor, dynamic_batch: bool, opset: int):
    shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    try:
        return torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=shapes, input_names=["clip"],
                                 output_names=["logits"], opset_version=opset, verbose=False)
    except Exception as e:  # the exporter raises many kinds; the user needs the first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"{model.arch} does not export to ONNX: {type(e).__name__}: {first}") from None


def _check_with_runtime(ort, data: bytes, model: nn.Module, x: torch.Tensor, dynamic_batch: bool) -> float:
    """Largest difference between ONNX Runtime's and PyTorch's outputs on a fresh batch, relative to their scale."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    fresh = torch.randn((x.shape[0] + 1 if dynamic_batch else x.shape[0]), *x.shape[1:])
    got = torch.from_numpy(session.run(None, {"clip": fresh.numpy()})[0])
    with torch.no_grad():
        expected = model(fresh)
    return float((got - expected).abs().max() / max(1.0, expected.abs().max().item()))
