"""The public Python interface, composed from the library's rooms."""

from __future__ import annotations

import os

from torch import nn

from .engine.checkpoint import load_weights
from .models import registry


def create_model(name: str, num_classes: int = 400, weights: str | os.PathLike | None = None,
                 **overrides) -> nn.Module:
    """Build a zoo model, optionally loading a videozoo checkpoint into it.

    Args:
        name: a name from :func:`videozoo.list_models` (an unknown name lists the close matches).
        num_classes: classifier outputs.
        weights: path of a ``.safetensors`` checkpoint of the same architecture; one of another
            architecture is refused with the mismatching keys named.
        **overrides: fields of the model's spec: ``stem_temporal_stride``, ``stem_spatial_stride``,
            ``mid_channels`` (``"per_conv"`` as the paper, ``"per_block"`` as torchvision), ``bn_eps``,
            ``dropout``, ``in_channels`` (2 for flow, 1 for grey), ``base_width`` and more
            (``videozoo.models.get_entry(name).override_names()`` lists them).

    Returns an ``nn.Module`` taking ``(B, C, T, H, W)`` float clips and returning logits
    ``(B, num_classes)``; ``forward_features`` gives the pooled embedding ``(B, D)`` and
    ``reset_classifier(n)`` swaps the head.
    """
    model = registry.create_model(name, num_classes, **overrides)
    if weights is not None:
        load_weights(model, weights)
    return model
