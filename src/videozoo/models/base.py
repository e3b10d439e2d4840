"""The interface every zoo network has: one base class, so the skeletons do not copy it and the engine need not
guess at it.

::

    clip (B, C, T, H, W) ──► forward_features ──► (B, D) ──► forward_head ──► logits (B, num_classes)
                              (check_input first)               (the classifier, ``head``)
         │
         └──────────────► forward_map ──► (B, D', T', H', W')  the last spatiotemporal map, before any pool
                                          (what a detection head pools boxes from, Grad-CAM weighs)

A late-fusion network takes a dict of modality tensors instead (``modalities`` names them) and returns a dict
of logits per head.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from .shapes import Triple, Window, check_clip


class VideoNet(nn.Module):
    """Base of the zoo's networks.

    Attributes a subclass sets: ``name``; ``in_channels`` (3 for RGB, 2 for flow; None for a multi-modal net);
    ``head`` (a module with ``fc`` and ``reset``); ``spine`` and ``min_size`` (the conv and pool windows, for
    :meth:`check_input`); ``num_features`` (D). Class attributes: ``feature_layers`` (named outputs of
    ``forward_features`` besides the pooled one, e.g. C3D's ``fc6``), ``modalities`` (a multi-modal net's input
    keys; empty for one clip tensor). ``arch`` and ``overrides`` are set by the registry.
    """

    name: str = "videonet"
    in_channels: int | None = 3
    feature_layers: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    spine: list[Window]
    min_size: Triple
    output_size: Triple | None = None  # a fixed map size the head needs (C3D's pool5), else None

    def check_input(self, x: Tensor) -> None:
        """A ValueError in one line unless ``x`` is a ``(B, in_channels, T, H, W)`` clip the network takes."""
        check_clip(x, name=self.name, in_channels=self.in_channels, spine=self.spine, min_size=self.min_size,
                   output_size=self.output_size)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → the pooled embedding ``(B, D)``."""
        raise NotImplementedError

    def forward_map(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → the last convolution map before the head's pooling ``(B, D', T', H', W')``."""
        raise NotImplementedError(f"{self.name} has no single convolution map")

    def forward_head(self, features: Tensor) -> Tensor:
        """``(B, D)`` → logits ``(B, num_classes)``."""
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` → logits ``(B, num_classes)``."""
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` (0: none), on the
        network's device and dtype."""
        like = next(self.parameters())
        self.head.reset(num_classes)
        self.head.to(device=like.device, dtype=like.dtype)

    def upgrade_state(self, state: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """A state dict written by an older version of this network in today's layout (unchanged by default)."""
        return state

    @property
    def map_channels(self) -> int:
        """D' of :meth:`forward_map`: the pooled feature size D, where the head pools the map itself."""
        return self.num_features

    @property
    def num_classes(self) -> int:
        """Classifier outputs; 0 for a backbone without one (``forward`` then returns the pooled features)."""
        return self.head.num_classes

    @property
    def head_description(self) -> str:
        """What the head pools, for the model card."""
        return "global average pool (any clip)"
