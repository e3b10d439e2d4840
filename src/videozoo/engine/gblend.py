"""Gradient-Blending (Wang, Tran, Feiszli, CVPR 2020): how much each head's loss should count.

Definitions (papers.md, G), for a head measured at the start (N) and end
(N + n) of a stretch of training, on a held-out split V and a training
subset T′:

- overfitting O_N = L^V_N − L^T′_N, and its change ΔO = O_{N+n} − O_N;
- generalisation gain ΔG = L^V_N − L^V_{N+n};
- the overfitting-to-generalisation ratio OGR = |ΔO / ΔG|;
- the blending weight w_i = ΔG_i / ΔO_i² / Z, normalised to sum to 1.

With ``metric="accuracy"`` accuracies replace losses (gains are increases,
overfitting is training minus held-out accuracy). A head that did not
generalise (ΔG ≤ ``min_gain``, a floor for the noise of measuring on a small
held-out split) gets weight 0: without the floor, a head that has stopped
learning (ΔG and ΔO both ~0) would get a noise-driven, arbitrarily large
weight. ΔO² is floored at ``eps`` so a head that generalised without
overfitting gets a large, finite weight; if no head generalised the weights
are uniform.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class HeadStats:
    """One head's loss (or accuracy) on the training subset T′ and the held-out split V."""

    train: float
    holdout: float


def overfitting(stats: HeadStats, metric: str = "loss") -> float:
    return stats.holdout - stats.train if metric == "loss" else stats.train - stats.holdout


def deltas(before: Mapping[str, HeadStats], after: Mapping[str, HeadStats], metric: str = "loss"
           ) -> tuple[dict[str, float], dict[str, float]]:
    """(ΔG, ΔO) per head between two measurements."""
    gain, over = {}, {}
    for head in before:
        b, a = before[head], after[head]
        gain[head] = (b.holdout - a.holdout) if metric == "loss" else (a.holdout - b.holdout)
        over[head] = overfitting(a, metric) - overfitting(b, metric)
    return gain, over


def ogr(delta_o: float, delta_g: float) -> float:
    """|ΔO / ΔG|; infinite when nothing generalised."""
    return abs(delta_o / delta_g) if delta_g != 0 else math.inf


def blend_weights(gain: Mapping[str, float], over: Mapping[str, float], eps: float = 1e-6,
                  min_gain: float = 0.0) -> dict[str, float]:
    """w_i = ΔG_i / max(ΔO_i², eps) where ΔG_i > ``min_gain`` (else 0), normalised to sum to 1 (uniform if no head
    gained)."""
    raw = {h: gain[h] / max(over[h] ** 2, eps) if gain[h] > max(min_gain, 0.0) else 0.0 for h in gain}
    total = sum(raw.values())
    if total <= 0 or not math.isfinite(total):
        return {h: 1.0 / len(raw) for h in raw}
    return {h: v / total for h, v in raw.items()}


def normalised(weights: Mapping[str, float], heads: list[str]) -> dict[str, float]:
    """Weights for exactly ``heads`` (missing ones 0), summing to 1."""
    unknown = [h for h in weights if h not in heads]
    if unknown:
        raise ValueError(f"weights for unknown heads {unknown}; the heads are {heads}")
    w = {h: float(weights.get(h, 0.0)) for h in heads}
    if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
        raise ValueError(f"weights must be non-negative and not all zero, got {dict(weights)}")
    total = sum(w.values())
    return {h: v / total for h, v in w.items()}


@dataclass(frozen=True)
class BlendSchedule:
    """When to (re-)estimate the weights.

    ``naive``: the fused head only; ``fixed``: given weights; ``offline``: train ``warmup`` epochs with uniform
    weights, estimate once from that stretch, then train from the initial weights with them fixed;
    ``online``: uniform for ``warmup`` epochs, then re-estimate at the end of every ``super_epoch`` epochs from
    that super-epoch's measurements (Algorithm 1; the paper: warm-up 10, super-epoch 5).
    """

    mode: str = "online"
    warmup: int = 10
    super_epoch: int = 5

    def __post_init__(self) -> None:
        if self.mode not in ("naive", "fixed", "offline", "online"):
            raise ValueError(f"weighting must be naive, fixed, offline or online, got {self.mode!r}")
        if self.warmup < 1 or self.super_epoch < 1:
            raise ValueError("warm-up and super-epoch must be at least one epoch")

    def estimate_after(self, epoch: int) -> bool:
        """Re-estimate after finishing ``epoch`` (0-based)? Online: at the end of the warm-up and of each
        super-epoch after it."""
        done = epoch + 1
        if self.mode == "online":
            return done >= self.warmup and (done - self.warmup) % self.super_epoch == 0
        return self.mode == "offline" and done == self.warmup

    def window_start(self, epoch: int) -> int:
        """The epoch count at the start of the stretch ending after ``epoch`` (for its first measurement)."""
        done = epoch + 1
        if self.mode == "online" and done > self.warmup:
            return done - self.super_epoch
        return done - self.warmup
