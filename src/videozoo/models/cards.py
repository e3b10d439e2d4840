"""Model cards: what a zoo model costs, measured, next to what its paper reports.

Counting happens on the ``meta`` device: no memory is allocated and no
arithmetic is done, so a card for a 152-layer network takes well under a second.
MACs come from :mod:`torch.utils.flop_counter`, which counts 2 FLOPs per
multiply-add; the papers' "GFLOPs" are multiply-adds (MACs), so cards report
``gmacs`` (= FLOPs / 2) and keep ``gflops`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .layers import count_parameters
from .registry import PAPER_SHORT, PAPERS, Reported, get_entry
from .shapes import Triple

MEASURED = "measured by videozoo: parameters counted, MACs by torch.utils.flop_counter (FLOPs / 2), BN not counted"


@dataclass(frozen=True)
class ModelCard:
    """Measured size and cost of a model at its default clip, with the numbers its sources publish."""

    name: str
    summary: str
    num_classes: int
    params: int
    params_no_bn: int
    gmacs: float
    clip: Triple
    paper: str
    paper_short: str
    reported: tuple[Reported, ...] = ()
    sources: dict = field(default_factory=dict)
    head: str = ""  # what the classifier pools, and which clips it takes

    @property
    def gflops(self) -> float:
        """FLOPs counting a multiply-add as two operations."""
        return 2 * self.gmacs

    def as_dict(self) -> dict:
        return {
            "name": self.name, "summary": self.summary, "num_classes": self.num_classes,
            "params": self.params, "params_no_bn": self.params_no_bn,
            "gmacs": round(self.gmacs, 4), "gflops": round(self.gflops, 4), "clip": list(self.clip),
            "paper": self.paper, "reported": [r.describe() for r in self.reported], "sources": self.sources,
            "head": self.head,
        }


def count_macs(model: nn.Module, clip: Triple, in_channels: int = 3, batch: int = 1) -> int:
    """Multiply-adds of one forward pass of ``model`` on a ``(batch, in_channels, *clip)`` input."""
    device = next(model.parameters()).device
    x = torch.empty(batch, in_channels, *clip, device=device)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def measure(name: str, clip: Triple | None = None, num_classes: int = 400, **overrides) -> tuple[int, int, int]:
    """(params, params without BN, MACs) of a zoo model, built on the meta device."""
    entry = get_entry(name)
    return _measure(name, tuple(clip or entry.default_clip), num_classes, tuple(sorted(overrides.items())))


@lru_cache(maxsize=512)
def head_description(name: str, overrides: tuple = ()) -> str:
    """What the model's classifier pools (its ``head_description``), built on the meta device."""
    with torch.device("meta"):
        return get_entry(name).make(**dict(overrides)).head_description


@lru_cache(maxsize=512)
def _measure(name: str, clip: Triple, num_classes: int, overrides: tuple) -> tuple[int, int, int]:
    with torch.device("meta"):
        model = get_entry(name).make(num_classes, **dict(overrides))
    in_channels = model.in_channels
    return count_parameters(model), count_parameters(model, batch_norm=False), count_macs(model, clip, in_channels)


def model_card(name: str, num_classes: int = 400, clip: Triple | None = None, **overrides) -> ModelCard:
    """The card of a zoo model: params (with and without BN), GMACs at its default clip (or ``clip``),
    the clip shape, the paper, and for each number where it came from."""
    entry = get_entry(name)
    clip = tuple(clip or entry.default_clip)
    params, params_no_bn, macs = measure(name, clip, num_classes, **overrides)
    return ModelCard(
        name=name, summary=entry.summary, num_classes=num_classes, params=params, params_no_bn=params_no_bn,
        gmacs=macs / 1e9, clip=clip, paper=PAPERS[entry.paper], paper_short=PAPER_SHORT[entry.paper],
        reported=entry.reported,
        sources={"params": MEASURED, "params_no_bn": MEASURED, "gmacs": MEASURED,
                 "clip": f"default clip of the paper setting ({PAPER_SHORT[entry.paper]})",
                 "reported": "each reported figure names its own source"},
        head=head_description(name, tuple(sorted(overrides.items()))),
    )


ZOO_COLUMNS = ("model", "params (M)", "GMACs", "clip T×H×W", "GMACs vs baseline", "paper")


def zoo_rows(names: list[str] | None = None) -> list[tuple[str, ...]]:
    """One row per model: name, params in millions (with BN), GMACs at the default clip, clip, cost
    relative to the network its paper compares it with (each at its default clip), paper."""
    from .registry import zoo_order

    rows = []
    for name in names or zoo_order():
        card = model_card(name)
        baseline = get_entry(name).baseline
        relative = f"{card.gmacs / model_card(baseline).gmacs:.2f}× {baseline}" if baseline else ""
        rows.append((name, f"{card.params / 1e6:.2f}", f"{card.gmacs:.2f}", "×".join(map(str, card.clip)),
                     relative, card.paper_short))
    return rows


def format_table(rows: list[tuple[str, ...]], columns: tuple[str, ...] = ZOO_COLUMNS, markdown: bool = False) -> str:
    """Rows as an aligned text table, or as a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    numeric = [all(_is_number(r[i]) for r in rows) for i in range(len(columns))]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True))

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in rows]).rstrip()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
