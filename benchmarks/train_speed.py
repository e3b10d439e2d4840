"""Training speed: our engine against bare PyTorch loops, in one run, with this CPU's peaks beside them.

    python benchmarks/train_speed.py [--steps 6] [--rounds 3] [--batch 8] [--model r2plus1d_18] [--frames 8]
                                     [--loader [--repeats 3]]

On whatever CPU it runs on, it measures this CPU's fp32 and bf16 matmul peaks
(GFLOP/s of a 2048² matmul, best of several) and times training steps of
r2plus1d_18 on 8×112×112 clips (batch 8, in-memory random clips: decoding is
``--loader``'s row):

- ``torchvision fp32``: torchvision's r2plus1d_18, bare fp32 loop (SGD): the reference;
- ``raw bf16``: our network (``mid_channels="per_block"``, torchvision's), a bare loop with bf16
  autocast, channels-last-3d and oneDNN's raw kernels: the ceiling, wrong weight gradients and all;
- ``guarded bf16``: the same bare loop after the engine's per-layer bf16 guard (the engine's own bare step);
- ``engine``: :class:`~videozoo.engine.core.TrainingCore`'s epoch loop with the defaults of ``videozoo train``
  (AdamW, schedule, progress bar, metrics, all of it), fed the same in-memory batches;
- ``Trainer + data`` (``--loader``): ``Trainer.train_epoch`` as ``videozoo train`` runs it, decoding synthetic
  videos (128 px, crop 112) with 2 loader workers, beside the same Trainer's epoch on the same batches decoded
  beforehand: their ratio is what data loading and its CPU share cost.

Each row: s/step, clips/s, achieved GFLOP/s (3 × forward FLOPs per clip), its share of this CPU's bf16 (or
fp32) matmul peak, the speed-up over the reference, and the whole-model conv weight gradient's relative error
against fp32 (the model in eval mode, one batch). Targets (issue 15): engine within 10% of raw bf16; engine
overhead over its own bare step below 5%; on an AMX CPU at least 3.5× the fp32 reference.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

from videozoo.benchmark import cpu_name, matmul_peak, time_interleaved
from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.engine.bf16_guard import Bf16Guard
from videozoo.engine.config import load_config
from videozoo.engine.core import TrainingCore
from videozoo.engine.predictor import autocast_dtype, resolve_precision
from videozoo.engine.trainer import Trainer
from videozoo.models.cards import count_macs
from videozoo.weights.convert import convert_state_dict

CL = torch.channels_last_3d


def bare_loop(model, optimizer, batches, dtype, memory_format) -> Callable[[], None]:
    """A plain training loop over ``batches`` (one call = one pass), for :func:`time_interleaved`."""
    def run() -> None:
        model.train()
        for x, y in batches:
            x = x.contiguous(memory_format=memory_format)
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return run


def conv_grads(model, x, dtype) -> torch.Tensor:
    """Every 5-D weight gradient of one backward pass, the model in eval mode, flattened."""
    model.eval()
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = model(x)
    g = torch.Generator().manual_seed(3)
    (out.float() * torch.randn(out.shape, generator=g)).sum().backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.dim() == 5])
    model.zero_grad(set_to_none=True)
    return grads


def grad_error(grads: torch.Tensor, reference: torch.Tensor) -> float:
    if not torch.isfinite(grads).all():
        return float("inf")
    return ((grads - reference).norm() / reference.norm()).item()


def engine_core(cfg_overrides: list[str], tmp: Path, model: torch.nn.Module) -> TrainingCore:
    cfg = load_config(None, [f"data.train={tmp}", f"out={tmp / 'run'}", *cfg_overrides])
    return TrainingCore(cfg, model, tmp / "run")


def time_with_data(args, overrides: dict, tmp: Path) -> dict[str, float]:
    """Seconds per step of ``Trainer.train_epoch`` as ``videozoo train`` runs it (synthetic videos decoded by 2
    workers) and of the same Trainer's epoch on the same batches decoded beforehand, interleaved; medians."""
    make_synthetic_dataset(tmp / "d", SynthConfig(classes=4, per_class=args.batch * args.steps // 4,
                                                  val_per_class=0, frames=max(2 * args.frames, 16),
                                                  size=128))
    cfg = load_config(None, [f"data.train={tmp / 'd' / 'train.csv'}", f"out={tmp / 'run2'}",
                             f"model.name={args.model}", *(f"model.overrides.{k}={v}"
                                                           for k, v in overrides.items()),
                             f"data.num_frames={args.frames}", "data.crop=112",
                             f"train.batch_size={args.batch}", f"train.epochs={2 + 2 * args.repeats}",
                             "data.num_workers=2"])
    trainer = Trainer(cfg)
    trainer.train_epoch(0)  # warm-up: the guard, the caches
    in_memory = list(trainer.loader)  # the same batches, decoded beforehand
    decoded, loaded = [], []
    for epoch in range(1, 1 + 2 * args.repeats, 2):  # interleaved: a change in load touches both alike
        start = time.perf_counter()
        trainer.core.train_epoch(in_memory, epoch, trainer.step, trainer.optimizer, trainer.scheduler)
        decoded.append((time.perf_counter() - start) / len(in_memory))
        start = time.perf_counter()
        trainer.train_epoch(epoch + 1)
        loaded.append((time.perf_counter() - start) / len(trainer.loader))
    return {"Trainer, decoded batches": statistics.median(decoded),
            "Trainer + data (2 workers)": statistics.median(loaded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--model", default="r2plus1d_18", choices=["r2plus1d_18", "r3d_18"])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every loop (median)")
    parser.add_argument("--loader", action="store_true", help="also time videozoo train with data loading")
    parser.add_argument("--repeats", type=int, default=3, help="--loader: epochs of each kind (median)")
    args = parser.parse_args()
    torch.manual_seed(0)
    clip = (args.frames, 112, 112)
    batches = [(torch.randn(args.batch, 3, *clip), torch.randint(0, 400, (args.batch,))) for _ in range(args.steps)]
    fp32_peak, bf16_peak = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    dtype = autocast_dtype(resolve_precision("auto", torch.device("cpu")))

    reference = getattr(torchvision.models.video, args.model)()
    overrides = {"mid_channels": "per_block"} if args.model == "r2plus1d_18" else {}
    ours = convert_state_dict("torchvision", args.model, reference.state_dict()).to(memory_format=CL)
    gmacs = count_macs(ours, clip) / 1e9
    x_check = batches[0][0][:4].contiguous(memory_format=CL)
    fp32_grads = conv_grads(copy.deepcopy(ours), x_check, None)
    errors = {"torchvision fp32": grad_error(conv_grads(reference, batches[0][0][:4], None), fp32_grads),
              "raw bf16": grad_error(conv_grads(ours, x_check, dtype), fp32_grads)}

    # Each loop trains its own copy: the raw kernels' NaN gradients would poison the weights of the next.
    raw = copy.deepcopy(ours)
    guard = Bf16Guard(ours)
    if dtype is not None:
        with torch.autocast("cpu", dtype=dtype):
            guard.prepare(lambda: ours(batches[0][0].contiguous(memory_format=CL)))
    fixed = [r for r in guard.report or [] if r["fix"]]
    errors["guarded bf16"] = errors["engine"] = grad_error(conv_grads(ours, x_check, dtype), fp32_grads)
    guarded = copy.deepcopy(ours)
    reference_batches = batches[:max(2, args.steps // 3)]  # fp32 is 3-5× slower: fewer steps, same rounds
    steps = {"torchvision fp32": len(reference_batches), "raw bf16": len(batches), "guarded bf16": len(batches),
             "engine": len(batches)}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        core = engine_core([f"model.name={args.model}", f"train.batch_size={args.batch}", "train.epochs=1"], tmp,
                           copy.deepcopy(ours))
        core.guard.report = guard.report  # the copy carries the guard's fixes already
        optimizer, scheduler = core.optimizer(args.steps * (args.rounds + 1))
        loader = [{"video": x, "label": y, "skipped": []} for x, y in batches]

        def step(net, batch):
            logits = net(batch["video"])
            return torch.nn.functional.cross_entropy(logits.float(), batch["label"]), logits, batch["label"]

        paths = {
            "torchvision fp32": bare_loop(reference, torch.optim.SGD(reference.parameters(), lr=0.01, momentum=0.9),
                                          reference_batches, None, torch.contiguous_format),
            "raw bf16": bare_loop(raw, torch.optim.AdamW(raw.parameters(), lr=1e-3, weight_decay=0.05,
                                                         foreach=True), batches, dtype, CL),
            "guarded bf16": bare_loop(guarded, torch.optim.AdamW(guarded.parameters(), lr=1e-3, weight_decay=0.05,
                                                                 foreach=True), batches, dtype, CL),
            "engine": lambda: core.train_epoch(loader, 0, step, optimizer, scheduler),
        }
        # Interleaved rounds (one pass of each loop per round, medians): this machine's speed drifts by tens of
        # per cent over minutes (a shared host), which would otherwise land on whichever loop ran then.
        per_call = time_interleaved(paths, iters=args.rounds, warmup=1, device=torch.device("cpu"))
        seconds = {label: per_call[label] / steps[label] for label in paths}

        if args.loader:
            seconds.update(time_with_data(args, overrides, tmp))
            errors["Trainer, decoded batches"] = errors["Trainer + data (2 workers)"] = errors["engine"]

    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"matmul peak: fp32 {fp32_peak:.0f} GFLOP/s, bf16 {bf16_peak:.0f} GFLOP/s ({bf16_peak / fp32_peak:.1f}×)")
    print(f"{args.model}, batch {args.batch} × 3 × {'×'.join(map(str, clip))}, {gmacs:.1f} GMACs/clip forward; "
          f"bf16 guard fixed {len(fixed)} of {len(guard.report or [])} conv shapes"
          + (f" ({', '.join(sorted({r['fix'] for r in fixed}))})" if fixed else ""))
    print(f"{'loop':<30} {'s/step':>7} {'clips/s':>8} {'GFLOP/s':>8} {'% peak':>7} {'× ref':>6} {'grad err':>9}")
    ref = seconds["torchvision fp32"]
    for label, s in seconds.items():
        gflops = 3 * 2 * gmacs * args.batch / s
        peak = fp32_peak if label == "torchvision fp32" or dtype is None else bf16_peak
        print(f"{label:<30} {s:7.3f} {args.batch / s:8.2f} {gflops:8.1f} {100 * gflops / peak:6.1f}% "
              f"{ref / s:6.2f} {errors[label]:9.2e}")
    raw, engine = seconds["raw bf16"], seconds["engine"]
    print(f"engine vs raw bf16 ceiling: {100 * raw / engine:.0f}% of its speed (target ≥ 90%)")
    print(f"engine overhead over its own bare step: {100 * (engine / seconds['guarded bf16'] - 1):+.1f}% "
          "(target < 5%)")
    print(f"engine vs bare fp32 torchvision: {ref / engine:.2f}× (target on AMX ≥ 3.5×)")
    if args.loader:
        print(f"videozoo train with data (2 workers, worker start included) vs the same step on decoded batches: "
              f"{100 * seconds['Trainer, decoded batches'] / seconds['Trainer + data (2 workers)']:.0f}% "
              "(target ≥ 90%)")


if __name__ == "__main__":
    main()
