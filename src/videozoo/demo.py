"""What `make demo` runs: the zoo table, then one clip through a model on the fast inference path."""

from __future__ import annotations

import time

import torch

from .engine.predictor import Predictor
from .models import create_model
from .models.cards import format_table, zoo_rows


def moving_square_clip(frames: int = 16, size: int = 112, seed: int = 0) -> torch.Tensor:
    """A ``(1, 3, T, H, W)`` clip of a bright square sliding left to right over noise."""
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(3, frames, size, size, generator=g) * 0.2
    side = size // 4
    for t in range(frames):
        x = (size - side) * t // max(frames - 1, 1)
        clip[:, t, size // 2 - side // 2: size // 2 + side // 2, x: x + side] = 1.0
    return clip.unsqueeze(0)


def run_demo(model_name: str = "r2plus1d_18") -> None:
    print("The videozoo model zoo (params with BN; GMACs = multiply-adds at the default clip):\n")
    print(format_table(zoo_rows()))
    model = create_model(model_name)
    predictor = Predictor(model)
    clip = moving_square_clip()
    start = time.perf_counter()
    probs = predictor(clip).softmax(1)[0]
    elapsed = time.perf_counter() - start
    top = probs.topk(5)
    print(f"\nOne 16×112×112 clip through a randomly initialised {model_name} ({predictor.precision} on "
          f"{predictor.device}, {elapsed * 1e3:.0f} ms). Untrained, so the classes mean nothing yet:")
    for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        print(f"  class {i:3d}  p = {p:.4f}")
