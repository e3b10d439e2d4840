"""Training speed: our engine against bare PyTorch loops, in one run.

    python benchmarks/train_speed.py [--steps 6] [--batch 8]

Times training steps of r2plus1d_18 on 8×112×112 clips (batch 8, in-memory
random clips, so decoding is not measured; benchmarks/data_speed.py does
that):

- torchvision r2plus1d_18, bare fp32 loop (SGD): the reference;
- our r2plus1d_18 (the same network: ``mid_channels="per_block"``), bare loop with the engine's default
  settings (bf16 autocast where native, channels-last-3d, AdamW): the engine's own model, bare; twice:
  with oneDNN's raw bf16 kernels, and with the fp32 weight gradients the engine uses where those kernels
  are wrong (see ``videozoo.engine.bf16_guard``);
- the engine: ``Trainer.train_epoch`` with its defaults, fed the same in-memory batches
  (progress bar, metrics, schedule, all of it).

It prints clips/s, the engine's overhead over its own bare step and the speed-up over the reference.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision

import videozoo
from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.engine.bf16_guard import bf16_weight_grads_ok, fp32_weight_grads
from videozoo.engine.config import load_config
from videozoo.engine.predictor import autocast_dtype, resolve_precision
from videozoo.engine.trainer import Trainer

CLIP = (8, 112, 112)


def bare_steps(model, optimizer, batches, dtype, memory_format) -> float:
    """Seconds per step of a plain loop."""
    model.train()
    times = []
    for x, y in batches:
        start = time.perf_counter()
        x = x.contiguous(memory_format=memory_format)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.mean(times[1:])  # the first step warms caches up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    batches = [(torch.randn(args.batch, 3, *CLIP), torch.randint(0, 400, (args.batch,))) for _ in range(args.steps)]

    reference = torchvision.models.video.r2plus1d_18()
    ref_s = bare_steps(reference, torch.optim.SGD(reference.parameters(), lr=0.01, momentum=0.9), batches, None,
                       torch.contiguous_format)

    dtype = autocast_dtype(resolve_precision("auto", torch.device("cpu")))
    ours = videozoo.create_model("r2plus1d_18", mid_channels="per_block").to(memory_format=torch.channels_last_3d)
    raw_s = bare_steps(ours, torch.optim.AdamW(ours.parameters(), lr=1e-3, weight_decay=0.05), batches, dtype,
                       torch.channels_last_3d)
    guarded = dtype is not None and not bf16_weight_grads_ok()
    if guarded:
        fp32_weight_grads(ours)
    bare_s = bare_steps(ours, torch.optim.AdamW(ours.parameters(), lr=1e-3, weight_decay=0.05), batches, dtype,
                        torch.channels_last_3d)

    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_dataset(Path(tmp) / "d", SynthConfig(classes=2, per_class=2, val_per_class=0, frames=8))
        cfg = load_config(None, [f"data.train={Path(tmp) / 'd' / 'train.csv'}", f"out={Path(tmp) / 'run'}",
                                 "model.name=r2plus1d_18", "model.overrides.mid_channels=per_block",
                                 "data.crop=112", f"train.batch_size={args.batch}", "train.epochs=1",
                                 "train.progress=false"])
        trainer = Trainer(cfg)
        trainer.model.reset_classifier(400)
        trainer.model.to(memory_format=torch.channels_last_3d)
        trainer.optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=1e-3, weight_decay=0.05)
        trainer.loader = [{"video": x, "label": y, "skipped": []} for x, y in batches]
        trainer.train_epoch(0)  # warm-up epoch
        start = time.perf_counter()
        trainer.train_epoch(0)
        engine_s = (time.perf_counter() - start) / args.steps

    precision = resolve_precision("auto", torch.device("cpu"))
    rows = [("torchvision r2plus1d_18, bare fp32 loop (SGD)", ref_s),
            (f"videozoo r2plus1d_18, bare loop ({precision}, channels-last, AdamW), raw oneDNN"
             + (" [WRONG weight grads here]" if guarded else ""), raw_s),
            (f"videozoo r2plus1d_18, bare loop ({precision}, channels-last, AdamW)"
             + (", fp32 weight grads" if guarded else ""), bare_s),
            ("videozoo engine (Trainer.train_epoch, defaults)", engine_s)]
    print(f"training steps, batch {args.batch} × 3 × {'×'.join(map(str, CLIP))}, {torch.get_num_threads()} threads")
    if guarded:
        print("this CPU's oneDNN computes wrong bf16 conv weight gradients (see videozoo/engine/bf16_guard.py): "
              "the engine computes them in fp32; the raw row is for reference only")
    print(f"{'loop':<96} {'s/step':>7} {'clips/s':>8} {'× ref':>6}")
    for label, seconds in rows:
        print(f"{label:<96} {seconds:7.3f} {args.batch / seconds:8.2f} {ref_s / seconds:6.2f}")
    print(f"engine overhead over its own bare step: {100 * (engine_s / bare_s - 1):+.1f}% (target < 5%)")
    print(f"engine defaults vs bare fp32 torchvision: {ref_s / engine_s:.2f}× (target ≥ 4×)")


if __name__ == "__main__":
    main()
