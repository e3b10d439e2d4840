"""Spatio-temporal action detection on any zoo backbone: the actors' boxes pooled from the clip's feature map.

::

    clip (B, C, T, H, W) ──► backbone.forward_map ──► (B, D, T', H', W') ──► mean over T' ──► (B, D, H', W')
                                                                                                │
    key-frame boxes (K, 5): clip index, x1, y1, x2, y2 in the clip's pixels ──► RoIAlign r × r ◄┘
                                                                                  (scale W'/W, aligned)
                                                    ──► (K, D, r, r) ──► max over r × r ──► dropout ──► fc
                                                    ──► logits (K, actions + 1): the last is background

The head of the S3D-G paper's detection experiments and of SlowFast's AVA head (temporal average, RoIAlign,
spatial max); one label per box (UCF101-24 and JHMDB give each actor one action), so a softmax, with a
background class that proposals overlapping no actor teach. RoIAlign is torchvision's.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.ops import roi_align

from .base import VideoNet
from .layers import init_linear


class RoIHead(nn.Module):
    """RoIAlign ``roi_size`` × ``roi_size`` → spatial max → dropout → linear; ``fc`` and ``reset`` as the
    classification heads have them."""

    def __init__(self, in_features: int, num_classes: int, roi_size: int = 7, dropout: float = 0.5) -> None:
        super().__init__()
        self.in_features, self.roi_size = in_features, roi_size
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.reset(num_classes)

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def reset(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"a detection head needs at least one class, got {num_classes}")
        self.fc = nn.Linear(self.in_features, num_classes)
        init_linear(self.fc)

    def pool(self, fmap: Tensor, rois: Tensor, spatial_scale: float) -> Tensor:
        """``(B, D, H', W')`` and rois ``(K, 5)`` → per-box features ``(K, D)``."""
        # float32 both: box corners in bf16 would be off by up to half a pixel per 128
        pooled = roi_align(fmap.float(), rois.float(), self.roi_size, spatial_scale=spatial_scale, sampling_ratio=0,
                           aligned=True)
        return pooled.amax(dim=(2, 3))

    def forward(self, features: Tensor) -> Tensor:
        return self.fc(self.dropout(features))


class ActionDetector(nn.Module):
    """A zoo backbone (its classifier removed) and a :class:`RoIHead`.

    ``forward(clips (B, C, T, H, W), rois (K, 5))`` → logits ``(K, num_classes)``; ``classes`` (when set) name
    them, the last being ``background``. ``arch`` and ``overrides`` are the backbone's, so the checkpoint
    format is the zoo's (its ``task`` metadata says to rebuild this wrapper).
    """

    def __init__(self, backbone: VideoNet, num_classes: int, roi_size: int = 7, dropout: float = 0.5) -> None:
        super().__init__()
        if backbone.modalities:
            raise ValueError(f"{backbone.name} is a multi-modal network; a detector takes one visual backbone")
        backbone.reset_classifier(0)
        self.backbone = backbone
        self.name = f"{backbone.name} detector"
        self.arch = getattr(backbone, "arch", None)
        self.overrides = getattr(backbone, "overrides", {})
        self.head = RoIHead(backbone.map_channels, num_classes, roi_size, dropout)
        self.classes: list[str] | None = None

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def in_channels(self) -> int | None:
        return self.backbone.in_channels

    @property
    def modalities(self) -> tuple[str, ...]:
        return ()

    @property
    def settings(self) -> dict:
        """What rebuilds the head: stored in the checkpoint."""
        return {"roi_size": self.head.roi_size,
                "dropout": self.head.dropout.p if isinstance(self.head.dropout, nn.Dropout) else 0.0}

    def check_input(self, x: Tensor) -> None:
        self.backbone.check_input(x)

    def box_features(self, clips: Tensor, rois: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` and rois ``(K, 5)`` → per-box features ``(K, D)``."""
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ValueError(f"{self.name}: boxes must be (K, 5) rows of clip index, x1, y1, x2, y2; got "
                             f"{tuple(rois.shape)}")
        fmap = self.backbone.forward_map(clips).mean(dim=2)
        return self.head.pool(fmap, rois, fmap.shape[-1] / clips.shape[-1])

    def forward(self, clips: Tensor, rois: Tensor) -> Tensor:
        return self.head(self.box_features(clips, rois))
