"""The learning-rate range test (Smith, 2017; fastai's ``lr_find``, Lightning's ``Tuner.lr_find``).

``videozoo train … --find-lr`` sets the run up as training would (model, data, precision, the bf16 guard,
optimizer) and takes ``steps`` optimizer steps with the learning rate rising geometrically from ``start_lr``
to ``end_lr``, through the same training core and step as a run. The loss, smoothed, is recorded per step;
the test stops early once it has blown up (``blowup`` × its lowest) or stopped being a number. Nothing is
checkpointed: the weights it leaves are thrown away.

The suggestion is the middle of the longest stretch over which the smoothed loss keeps falling (the
"valley" rule fastai uses by default): steep enough to learn fast, well before the loss turns. The curve
goes to ``lr_find.csv`` and ``lr_find.png`` in the run folder.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from . import distributed as dist_utils
from .config import ConfigError, RunConfig
from .core import TrainingDiverged

log = logging.getLogger("videozoo.train")

SMOOTHING = 0.9  # exponential moving average of the loss (bias-corrected)
MIN_FALL = 0.05  # a valley must lower the smoothed loss by this share at least


@dataclass
class LrFinderResult:
    lrs: list[float]  # the learning rate of each step taken
    losses: list[float]  # the smoothed loss after each step
    suggestion: float | None  # None when the loss never fell
    out: Path

    def summary(self) -> str:
        if self.suggestion is None:
            return (f"no suggestion: the loss did not fall by {MIN_FALL:.0%} in {len(self.lrs)} steps between lr "
                    f"{self.lrs[0]:.2g} and {self.lrs[-1]:.2g}. A task learned over epochs shows nothing in so "
                    f"few steps (try --find-lr {3 * len(self.lrs)}); else check the data and labels "
                    f"(videozoo check-data). Curve: {self.out / 'lr_find.png'}")
        low = self.lrs[self.losses.index(min(self.losses))]
        return (f"suggested lr {self.suggestion:.2g} (the loss fell fastest from about {self.suggestion / 3:.2g} "
                f"and was lowest at {low:.2g}); train with --lr {self.suggestion:.2g}. "
                f"Curve: {self.out / 'lr_find.png'}")


def suggest_lr(lrs: list[float], losses: list[float]) -> float | None:
    """The learning rate in the middle of the longest run of ever-lower losses (a longest decreasing
    subsequence over the recorded points; not necessarily consecutive, so noise does not cut it short).
    None when no such run has three points or lowers the loss by ``MIN_FALL`` of its start: the loss did not
    fall within the test (a task the network learns slowly, or data it cannot learn)."""
    n = len(losses)
    length, first = [1] * n, list(range(n))  # per point: the longest decreasing run ending there, and its start
    for i in range(n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 >= length[i]:  # ties: the latest start
                length[i], first[i] = length[j] + 1, first[j]
    end = max(range(n), key=lambda i: (length[i], -i))
    start = first[end]
    if length[end] < 3 or losses[start] - losses[end] < MIN_FALL * losses[start]:
        return None  # noise around a flat loss is no valley
    # the lrs are geometric, so the middle index is the geometric middle of the stretch
    return lrs[(start + end) // 2]


class _RangeTest:
    """The test's state: the lr of each step, the smoothed losses, and when to stop. Also the "scheduler" the
    training core steps (a no-op: ``after_step`` sets the next lr)."""

    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float, start_lr: float, end_lr: float,
                 steps: int, blowup: float, dist: dist_utils.DistInfo) -> None:
        self.optimizer, self.start_lr, self.steps, self.blowup, self.dist = optimizer, start_lr, steps, blowup, dist
        self.growth = (end_lr / start_lr) ** (1 / (steps - 1))
        # every group follows the test's lr in its run's proportion (backbone_lr_scale)
        self.ratios = [group["initial_lr"] / base_lr for group in optimizer.param_groups]
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.average, self.best, self.done = 0.0, math.inf, False
        self.set_lr(0)

    def set_lr(self, step: int) -> None:
        for group, ratio in zip(self.optimizer.param_groups, self.ratios, strict=True):
            group["lr"] = self.start_lr * self.growth ** step * ratio

    def step(self) -> None:
        pass

    def after_step(self, loss: float) -> bool:
        loss = dist_utils.all_reduce_sum([loss], self.dist)[0] / self.dist.world_size  # one decision everywhere
        self.lrs.append(self.start_lr * self.growth ** len(self.lrs))
        self.average = SMOOTHING * self.average + (1 - SMOOTHING) * loss
        smoothed = self.average / (1 - SMOOTHING ** len(self.lrs))
        self.losses.append(smoothed)
        self.best = min(self.best, smoothed)
        self.set_lr(len(self.lrs))
        self.done = len(self.lrs) >= self.steps or not math.isfinite(smoothed) or smoothed > self.blowup * self.best
        return self.done


def find_lr(cfg: RunConfig, *, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100,
            blowup: float = 4.0) -> LrFinderResult:
    """Run the range test for ``cfg`` (a single-network config; ``cfg.out`` receives the curve)."""
    if cfg.blend.modalities:
        raise ConfigError("--find-lr trains one network: run it on the RGB network's config (without blend.*), "
                          "then use its lr for the joint run")
    if not 0 < start_lr < end_lr or steps < 5:
        raise ConfigError(f"the range test needs 0 < start_lr < end_lr and at least 5 steps, got {start_lr}, "
                          f"{end_lr}, {steps}")
    from .trainer import make_trainer

    trainer = make_trainer(cfg)
    core, out = trainer.core, Path(cfg.out)
    test = _RangeTest(trainer.optimizer, cfg.optim.lr, start_lr, end_lr, steps, blowup, core.dist)
    if core.dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        log.info("lr range test of %s: %d steps from %.1e to %.1e", cfg.model.name, steps, start_lr, end_lr)
    epoch = 0
    try:
        while not test.done:  # as many epochs as the steps take
            before = len(test.lrs)
            core.train_epoch(trainer.loader, epoch, trainer.step, trainer.optimizer, test, epochs=1,
                             after_step=test.after_step)
            if len(test.lrs) == before:  # an epoch without a readable batch
                break
            epoch += 1
    except TrainingDiverged:
        pass  # at the top of the range the loss may stop being a number: the curve so far is the result
    finally:
        dist_utils.teardown()
    finite = [(lr, loss) for lr, loss in zip(test.lrs, test.losses, strict=True) if math.isfinite(loss)]
    if not finite:
        raise TrainingDiverged(f"no finite loss from the first step at lr {start_lr:.1e}: check the data")
    lrs, losses = [lr for lr, _ in finite], [loss for _, loss in finite]
    result = LrFinderResult(lrs, losses, suggest_lr(lrs, losses), out)
    if core.dist.is_main:
        _write(result)
    return result


def _write(result: LrFinderResult) -> None:
    with (result.out / "lr_find.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "lr", "smoothed_loss"])
        writer.writerows((i + 1, f"{lr:.6g}", f"{loss:.6g}")
                         for i, (lr, loss) in enumerate(zip(result.lrs, result.losses, strict=True)))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.lrs, result.losses)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    if result.suggestion is not None:
        at = result.lrs.index(result.suggestion)
        ax.plot([result.suggestion], [result.losses[at]], "o", color="tab:red",
                label=f"suggested {result.suggestion:.2g}")
        ax.legend()
    top = min(max(result.losses[: max(len(result.losses) // 10, 1)]) * 1.5, max(result.losses))
    ax.set_ylim(min(result.losses) * 0.9, top)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(result.out / "lr_find.png", dpi=100)
    plt.close(fig)
