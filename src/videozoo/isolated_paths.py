"""Inference paths timed each in a process of its own, for the benchmarks that put runtimes side by side.

A runtime changes the process it runs in: ONNX Runtime and OpenVINO bring their own thread pools and memory
pools, and after they had run, the Predictor timed in the same process ran 1.5–2× slower than it did alone
(docs/speed.md). A user runs one of them, so each is measured in a process of its own: the parent spawns one
worker per path, which builds the path once and then, each time the parent calls it, runs it once and sends
back its output. The parent still times the calls in interleaved rounds (``benchmark.time_interleaved``); a
worker that is not running waits on its pipe, idle.

    parent:  A()  B()  C()  A()  B()  C() …        (only one worker computes at a time)
               │    │    │
    workers: [A]  [B]  [C]    each built once: its model, session or compiled network
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Build = Callable[..., tuple[str, Callable[[], torch.Tensor]]]


def _serve(conn, build: Build, args: tuple, threads: int) -> None:
    """The worker: build the path, say its label, then run it once per "run" until "stop"."""
    torch.set_num_threads(threads)
    try:
        label, fn = build(*args)
    except Exception as e:  # noqa: BLE001 - the parent raises it with the path's name
        conn.send(("error", f"{type(e).__name__}: {' '.join(str(e).split())}"))
        return
    conn.send(("ready", label))
    while _next_order(conn) == "run":
        try:
            with torch.inference_mode():
                # as numpy: torch's own pickling of tensors between processes goes through shared memory
                conn.send(("ok", fn().float().numpy()))
        except Exception as e:  # noqa: BLE001
            conn.send(("error", f"{type(e).__name__}: {' '.join(str(e).split())}"))


def _next_order(conn) -> str:
    try:
        return conn.recv()
    except EOFError:  # the parent has gone without saying stop
        return "stop"


class IsolatedPath:
    """``build(*args) -> (label, call)`` run in a spawned process of its own; calling this runs ``call`` there
    once and returns its output (a CPU float tensor). ``build`` must be a module-level function and ``args``
    picklable (paths and small objects: a model travels pickled, a large input is better saved to a file).

    Raises RuntimeError with the worker's one-line error when building or running fails."""

    def __init__(self, build: Build, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the parent's runtimes
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, build, args, torch.get_num_threads()),
                                        daemon=True)
        self._process.start()
        child.close()
        try:
            self.label = self._answer()
        except RuntimeError:
            self.close()
            raise

    def _answer(self) -> Any:
        try:
            kind, value = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the worker process died (exit code {self._process.exitcode})") from None
        if kind == "error":
            raise RuntimeError(value)
        return value

    def __call__(self) -> torch.Tensor:
        self._conn.send("run")
        return torch.from_numpy(self._answer())

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send("stop")
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
        self._conn.close()


def close_all(paths: dict[str, Callable[[], Any]]) -> None:
    """Stop the workers among ``paths`` (the others are left as they are)."""
    for fn in paths.values():
        if isinstance(fn, IsolatedPath):
            fn.close()


# Builders: module-level, so that a spawned worker can find them.


def predictor_path(model: torch.nn.Module, input_file: str, precision: str = "auto", options: dict | None = None
                   ) -> tuple[str, Callable[[], torch.Tensor]]:
    """The Predictor on ``model`` (its CPU defaults at ``precision``, changed by ``options``: more keyword arguments
    of the Predictor), on the input saved in ``input_file``."""
    from .engine.predictor import Predictor

    predictor = Predictor(model, precision, **(options or {}))
    x = torch.load(input_file)
    changed = "".join(f", {k}={v}" for k, v in (options or {}).items())
    return f"videozoo Predictor {precision} ({predictor.precision}{changed})", lambda: predictor(x)


def torchvision_path(reference: torch.nn.Module, input_file: str) -> tuple[str, Callable[[], torch.Tensor]]:
    """torchvision's network through the best plain PyTorch path (``benchmark.torchvision_fast_path``), in a process
    that keeps freed memory as the Predictor's does (``engine.host_memory``): the comparison is of the networks
    and their layouts, not of the allocator's setting, which any PyTorch program can make."""
    from .benchmark import torchvision_fast_path
    from .engine.host_memory import keep_freed_memory

    keep_freed_memory()
    return torchvision_fast_path(reference, torch.load(input_file))


def onnx_runtime_path(onnx_file: str, input_file: str) -> tuple[str, Callable[[], torch.Tensor]]:
    """ONNX Runtime (CPU, fp32, as many threads as torch, threads that sleep between runs) on ``onnx_file``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    # By default its threads spin for a while after each run, taking the cores from whatever runs next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: torch.load(input_file).numpy()}
    return f"ONNX Runtime {ort.__version__} fp32", lambda: torch.from_numpy(session.run(None, feed)[0])


def openvino_path(onnx_file: str, input_file: str) -> tuple[str, Callable[[], torch.Tensor]]:
    """OpenVINO on ``onnx_file`` (an export already checked), as ``Predictor(backend="openvino")`` runs it: its own
    precision choice, bf16 on CPUs that have it."""
    from .engine.export import openvino_runner

    x = torch.load(input_file)
    run = openvino_runner(None, tuple(x.shape[1:]), onnx_path=Path(onnx_file))
    return f"OpenVINO {run.version} ({run.precision})", lambda: run(x)
