"""The zoo at a glance: cost against Kinetics-400 accuracy, one point per model (`videozoo zoo-plot`).

Published points come from the weights catalogue: per zoo model, its best Kinetics-400 top-1 among the rows with a
400-class head, at the clip that row was trained on, its GMACs counted on that clip (the recipe's overrides
applied, on the meta device). ``measure`` adds the milliseconds of one clip through the inference path on this
machine;
local checkpoints add points at their measured accuracy.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .models.cards import measure
from .models.registry import get_entry
from .weights.catalogue import CATALOGUE, WeightsEntry


@dataclass
class ZooPoint:
    model: str
    label: str  # the weights tag, or the checkpoint
    clip: tuple[int, int, int]
    gmacs: float
    top1: float  # %
    source: str  # "published" (with its source) or "measured"
    ms: float | None = None  # one clip, batch 1, on this machine


def published_points() -> list[ZooPoint]:
    """Per model, the catalogue row with the best published Kinetics-400 top-1 (400-class heads, RGB models)."""
    best: dict[str, WeightsEntry] = {}
    for row in CATALOGUE:
        acc = row.accuracy
        if (acc is None or acc.dataset != "Kinetics-400" or row.num_classes != 400
                or get_entry(row.recipe.arch).family == "multimodal" or row.normalization == "vmz_flow"):
            continue
        if row.model not in best or acc.top1 > best[row.model].accuracy.top1:
            best[row.model] = row
    points = []
    for model, row in best.items():
        macs = measure(row.recipe.arch, row.clip, **row.recipe.overrides)[2]
        points.append(ZooPoint(model, row.tag, row.clip, macs / 1e9, row.accuracy.top1,
                               f"published ({row.accuracy.source})"))
    return sorted(points, key=lambda p: p.gmacs)


def time_clip(model_name: str, clip: tuple[int, int, int], overrides: dict | None = None, repeats: int = 2) -> float:
    """Milliseconds of one clip (batch 1) through the inference path `eval` and `predict` use (:class:`Predictor`:
    bf16 where the machine has it natively) on this machine: the best of ``repeats`` after a warm-up."""
    from .engine.predictor import Predictor

    predictor = Predictor(get_entry(model_name).make(400, **(overrides or {})))
    x = torch.randn(1, 3, *clip)
    predictor(x)
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        predictor(x)
        times.append(time.perf_counter() - begin)
    return 1000 * min(times)


def plot(points: list[ZooPoint], out: str | os.PathLike, title: str = "") -> Path:
    """GMACs (log scale) against top-1, one labelled point per model; measured points as squares."""
    from .engine.metrics import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 6))
    for measured in (False, True):
        chosen = [p for p in points if (p.source == "measured") == measured]
        if chosen:
            ax.scatter([p.gmacs for p in chosen], [p.top1 for p in chosen], marker="s" if measured else "o",
                       label="measured here" if measured else "published")
    for p in points:
        extra = f" {p.ms:.0f} ms" if p.ms is not None else ""
        ax.annotate(f"{p.model}{extra}", (p.gmacs, p.top1), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("GMACs per clip (at the clip the weights were trained on)")
    ax.set_ylabel("Kinetics-400 video top-1 (%), as each source reports it")
    ax.set_title(title or "videozoo: cost against accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def format_points(points: list[ZooPoint]) -> str:
    lines = [f"{'model':<16} {'clip':>12} {'GMACs':>8} {'top-1':>6} {'ms':>7}  weights / source"]
    for p in points:
        ms = f"{p.ms:7.0f}" if p.ms is not None else f"{'':>7}"
        lines.append(f"{p.model:<16} {'×'.join(map(str, p.clip)):>12} {p.gmacs:8.1f} {p.top1:6.1f} {ms}  "
                     f"{p.label} ({p.source})")
    return "\n".join(lines)
