"""The model registry: every network is a named entry, built from data.

``create_model(name)`` looks the name up, applies keyword overrides to the
entry's spec, and returns the module. Entries also carry the numbers the
papers (and torchvision, VMZ) publish for them, so tests and model cards can
hold the zoo to them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass

from torch import nn

from .shapes import Triple

PAPERS = {
    "c3d": "Tran et al., Learning Spatiotemporal Features with 3D Convolutional Networks, ICCV 2015",
    "res3d": "Tran et al., ConvNet Architecture Search for Spatiotemporal Feature Learning, arXiv 1708.05038",
    "r2plus1d": "Tran et al., A Closer Look at Spatiotemporal Convolutions for Action Recognition, CVPR 2018",
    "csn": "Tran, Wang, Torresani, Feiszli, Video Classification with Channel-Separated Convolutional "
           "Networks, ICCV 2019",
    "p3d": "Qiu, Yao, Mei, Learning Spatio-Temporal Representation with Pseudo-3D Residual Networks, ICCV 2017",
    "s3d": "Xie et al., Rethinking Spatiotemporal Feature Learning: Speed-Accuracy Trade-offs in Video "
           "Classification, ECCV 2018",
    "gblend": "Wang, Tran, Feiszli, What Makes Training Multi-modal Classification Networks Hard?, CVPR 2020",
    "nonlocal": "Wang, Girshick, Gupta, He, Non-local Neural Networks, CVPR 2018 (the C2D and I3D ResNet-50 baselines)",
    "slowfast": "Feichtenhofer, Fan, Malik, He, SlowFast Networks for Video Recognition, ICCV 2019 (the Slow pathway)",
}
PAPER_SHORT = {
    "c3d": "C3D (ICCV'15)", "res3d": "Res3D (arXiv'17)", "r2plus1d": "R(2+1)D (CVPR'18)",
    "csn": "CSN (ICCV'19)", "p3d": "P3D (ICCV'17)", "s3d": "S3D (ECCV'18)", "gblend": "G-Blend (CVPR'20)",
    "nonlocal": "Non-local (CVPR'18)", "slowfast": "SlowFast (ICCV'19)",
}


@dataclass(frozen=True)
class Reported:
    """A number published for a model, which the zoo is tested against.

    ``quantity`` is ``"params"`` (with BN), ``"params_no_bn"`` (the papers' rule)
    or ``"gmacs"``. ``exact`` marks a count given to the unit; otherwise
    ``decimals`` says how the figure was rounded (params in millions, MACs in G).
    """

    quantity: str
    value: float
    source: str
    exact: bool = False
    decimals: int = 1
    num_classes: int = 400
    clip: Triple | None = None
    overrides: dict = field(default_factory=dict)
    note: str = ""

    def tolerance(self) -> float:
        """Allowed absolute difference, in the figure's own unit (count, M or G)."""
        if self.exact:
            return 0.0
        rounding = 0.5 * 10 ** -self.decimals
        relative = 0.005 if self.quantity.startswith("params") else 0.01
        return max(relative * self.value, rounding)

    def describe(self) -> str:
        if self.quantity == "gmacs":
            what = f"{self.value:g} GMACs at {'×'.join(map(str, self.clip or ()))}"
        elif self.exact:
            what = f"{int(self.value):,} params"
        else:
            what = f"{self.value:g}M params"
        bn = " without BN" if self.quantity == "params_no_bn" else ""
        extras = f", {self.num_classes} classes" if self.quantity != "gmacs" else ""
        if self.overrides:
            extras += ", " + ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        return f"{what}{bn}{extras} ({self.source})"


@dataclass(frozen=True)
class ModelEntry:
    """One row of the zoo."""

    name: str
    family: str
    spec: object  # a frozen dataclass with ``with_overrides``
    build: Callable[[object, int, str], nn.Module]
    default_clip: Triple
    paper: str
    summary: str
    reported: tuple[Reported, ...] = ()
    baseline: str | None = None  # the network its paper compares it with (cost ratio in the zoo table)
    listed: bool = True  # composites (the multimodal net) are built by name but are not in the zoo table

    def override_names(self) -> list[str]:
        return [f.name for f in fields(self.spec)] if is_dataclass(self.spec) else []

    def make(self, num_classes: int = 400, **overrides) -> nn.Module:
        allowed = self.override_names()
        unknown = [k for k in overrides if k not in allowed]
        if unknown:
            hints = "; ".join(_did_you_mean(k, allowed) for k in unknown)
            raise ValueError(f"unknown override(s) for {self.name}: {hints}. Allowed: {', '.join(allowed)}")
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a positive integer (0 for a backbone without a classifier), "
                             f"got {num_classes!r}")
        spec = self.spec.with_overrides(**{k: _tuples(v) for k, v in overrides.items()})
        model = self.build(spec, num_classes, self.name)
        model.arch = self.name
        model.overrides = dict(overrides)
        return model


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"model {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.5)
    if not close:
        close = [c for c in choices if name.lower().replace("-", "_") in c][:5]
    return f"{name!r} (did you mean {', '.join(close)}?)" if close else repr(name)


def _tuples(value):
    """JSON round trips turn tuples into lists; specs want tuples back."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {_did_you_mean(name, sorted(_REGISTRY))}; "
                         f"`videozoo models` lists all {len(_REGISTRY)}")
    return _REGISTRY[name]


def zoo_order(family: str | None = None, unlisted: bool = False) -> list[str]:
    """Model names in table order: grouped by paper, shallow before deep (with ``unlisted``, also the composites
    that the zoo table leaves out)."""
    return [n for n, e in _REGISTRY.items() if (e.listed or unlisted) and (family is None or e.family == family)]


def list_models(family: str | None = None) -> list[str]:
    """Sorted names of every registered model (optionally of one family)."""
    return sorted(n for n, e in _REGISTRY.items() if e.listed and (family is None or e.family == family))


def create_model(name: str, num_classes: int = 400, **overrides) -> nn.Module:
    """Build a zoo model with fresh weights.

    Args:
        name: a name from :func:`list_models`.
        num_classes: classifier outputs; 0 builds the backbone alone (``forward`` returns the pooled
            features ``(B, D)``, as ``forward_features``), ``reset_classifier(n)`` adds a head later.
        **overrides: fields of the model's spec, e.g. ``stem_temporal_stride=2``,
            ``mid_channels="per_block"``, ``bn_eps=1e-3``, ``dropout=0.5``, ``in_channels=2``.

    The model takes ``(B, C, T, H, W)`` float clips and returns logits ``(B, num_classes)``.
    """
    return get_entry(name).make(num_classes, **overrides)
