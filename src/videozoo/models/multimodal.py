"""Late fusion of modalities (G-Blend paper): one backbone per modality, a head on each, and a fused head.

::

    rgb   (B, 3, T, H, W) ─► backbone ─► feature (B, D_rgb) ──► head_rgb ──► logits
    audio (B, 1, 100, 40) ─► backbone ─► feature (B, D_a)   ──► head_audio ► logits
    flow  (B, 2, T, H, W) ─► backbone ─► feature (B, D_f)   ──► head_flow ─► logits
                                         concat (B, ΣD) ─► FC ─► ReLU ─► FC ─► ReLU ─► FC ─► fused logits

``forward`` takes a dict of modality tensors and returns a dict of logits,
one per modality and ``"fused"``; :mod:`videozoo.engine.gblend` weighs their
losses. ``predict_head`` names the head a prediction comes from: ``"fused"``
unless a G-Blend run found another better on its held-out split (a head that
G-Blend weighted near zero stops learning), saved with the checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from .base import VideoNet
from .layers import init_linear
from .registry import ModelEntry, create_model

FUSED = "fused"
# Before backbones were built without a classifier, each carried one that nothing used.
_DEAD_BACKBONE_HEAD = re.compile(r"^backbones\.[^.]+\.head\.fc\.(weight|bias)$")


@dataclass(frozen=True)
class MultiModalSpec:
    """``backbones``: modality → zoo model name; ``backbone_overrides``: modality → create_model overrides;
    ``fusion_hidden``: width of the fused head's two hidden layers (0: a single linear layer)."""

    backbones: dict = field(default_factory=lambda: {"rgb": "r2plus1d_18", "audio": "audio_resnet_18"})
    backbone_overrides: dict = field(default_factory=dict)
    fusion_hidden: int = 512
    dropout: float = 0.0

    def with_overrides(self, **overrides) -> MultiModalSpec:
        return replace(self, **overrides)


def _linear(d_in: int, d_out: int) -> nn.Linear:
    layer = nn.Linear(d_in, d_out)
    init_linear(layer)
    return layer


class MultiModalNet(VideoNet):
    """Late-fusion network over the modalities its spec names (see the module docstring)."""

    def __init__(self, spec: MultiModalSpec, num_classes: int, name: str = "multimodal") -> None:
        super().__init__()
        if not spec.backbones:
            raise ValueError("a multimodal model needs at least one modality in backbones")
        if FUSED in spec.backbones:
            raise ValueError(f"{FUSED!r} names the fused head; pick another modality name")
        if num_classes < 1:
            raise ValueError("a multimodal model needs num_classes ≥ 1 (its heads are what G-Blend weighs)")
        self.spec, self.name = spec, name
        self.modalities = tuple(spec.backbones)
        self.backbones = nn.ModuleDict({  # no classifier of their own: the heads below read their features
            m: create_model(model, 0, **dict(spec.backbone_overrides.get(m, {})))
            for m, model in spec.backbones.items()
        })
        dims = {m: b.num_features for m, b in self.backbones.items()}
        self.heads = nn.ModuleDict({m: _linear(d, num_classes) for m, d in dims.items()})
        total, h = sum(dims.values()), spec.fusion_hidden
        layers: list[nn.Module] = [nn.Dropout(spec.dropout)] if spec.dropout else []
        if h:
            # Hidden layers keep PyTorch's (Kaiming-uniform) init: the classifier's N(0, 0.01) on all three
            # would shrink the signal ~100x per layer and the fused head would not learn.
            layers += [nn.Linear(total, h), nn.ReLU(inplace=True), nn.Linear(h, h), nn.ReLU(inplace=True),
                       _linear(h, num_classes)]
        else:
            layers.append(_linear(total, num_classes))
        self.fused_head = nn.Sequential(*layers)
        self.num_features = total
        self.in_channels = None  # a dict of modality tensors, not one clip
        self.predict_head = FUSED  # the head predictions come from (a run's checkpoint says which)

    @property
    def head_names(self) -> tuple[str, ...]:
        return (*self.modalities, FUSED)

    def _check(self, inputs: dict, modalities: tuple[str, ...]) -> None:
        if not isinstance(inputs, dict):
            raise ValueError(f"{self.name} takes a dict of modality tensors ({', '.join(self.modalities)})")
        missing = [m for m in modalities if m not in inputs]
        if missing:
            raise ValueError(f"{self.name} needs the modalities {', '.join(modalities)}; "
                             f"missing {', '.join(missing)}")

    def features(self, inputs: dict[str, Tensor], modalities: tuple[str, ...] | None = None
                 ) -> dict[str, Tensor]:
        """Each modality's pooled feature ``(B, D_m)`` (of ``modalities``, default all)."""
        modalities = self.modalities if modalities is None else modalities
        self._check(inputs, modalities)
        return {m: self.backbones[m].forward_features(inputs[m]) for m in modalities}

    def forward_features(self, inputs: dict[str, Tensor]) -> Tensor:
        """The concatenated features ``(B, ΣD)`` the fused head sees."""
        feats = self.features(inputs)
        return torch.cat([feats[m] for m in self.modalities], dim=1)

    def forward(self, inputs: dict[str, Tensor], heads: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """Logits ``(B, classes)`` per head: every modality's and ``"fused"``, or only ``heads`` (a modality's
        head runs its backbone alone: what training one modality by itself needs)."""
        heads = self.head_names if heads is None else tuple(heads)
        unknown = [h for h in heads if h not in self.head_names]
        if unknown:
            raise ValueError(f"{self.name} has the heads {', '.join(self.head_names)}; not {', '.join(unknown)}")
        needed = self.modalities if FUSED in heads else tuple(m for m in self.modalities if m in heads)
        feats = self.features(inputs, needed)
        out = {m: self.heads[m](feats[m]) for m in heads if m != FUSED}
        if FUSED in heads:
            out[FUSED] = self.fused_head(torch.cat([feats[m] for m in self.modalities], dim=1))
        return out

    @property
    def head(self) -> nn.Module:
        """All classifier layers (the part a fine-tune with a frozen backbone trains)."""
        return nn.ModuleList([self.heads, self.fused_head])

    @property
    def num_classes(self) -> int:
        return self.heads[self.modalities[0]].out_features

    def check_input(self, inputs: dict[str, Tensor]) -> None:
        self._check(inputs, self.modalities)
        for m in self.modalities:
            self.backbones[m].check_input(inputs[m])

    def reset_classifier(self, num_classes: int) -> None:
        """Fresh heads (every modality's and the fused head's last layer) for ``num_classes``."""
        for m, head in self.heads.items():
            self.heads[m] = _linear(head.in_features, num_classes)
        last = len(self.fused_head) - 1
        self.fused_head[last] = _linear(self.fused_head[last].in_features, num_classes)

    def upgrade_state(self, state: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """Drops the unused backbone classifiers that checkpoints of earlier versions carry."""
        return {k: v for k, v in state.items() if not _DEAD_BACKBONE_HEAD.match(k)}

    @property
    def head_description(self) -> str:
        return "a linear head per modality on its backbone's pooled feature; the fused head on their concatenation"


ROW = ModelEntry("multimodal", "multimodal", MultiModalSpec(), MultiModalNet, (0, 0, 0), "gblend",
                 "Late fusion: a backbone and a head per modality, and a fused head", listed=False)
# VMZ's G-Blend audio-visual nets (av_resnet_ip-csn): ip-CSN beside VMZ's audio ResNet of the same depth, the fused
# head 4096 → 2048 → 2048 → classes. Named rows, so their published weights have a model to load into.
AV_ROWS = tuple(
    ModelEntry(f"av_ip_csn_{depth}", "multimodal",
               MultiModalSpec({"rgb": f"ip_csn_{depth}", "audio": f"vmz_audio_resnet_{depth}"}, fusion_hidden=2048),
               MultiModalNet, (32, 224, 224), "gblend",
               f"G-Blend's audio-visual ip-CSN-{depth} (VMZ): RGB (B, 3, T, 224, 224) and log-Mels (B, 1, 100, 40)",
               listed=False)
    for depth in (50, 101, 152))
