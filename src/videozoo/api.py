"""The public Python interface, composed from the library's rooms."""

from __future__ import annotations

import os

from torch import nn

from .engine.checkpoint import checkpoint_classes, load_state_checked, load_weights, model_state, read_checkpoint
from .models import registry


def create_model(name: str, num_classes: int | None = None, weights: str | os.PathLike | None = None,
                 pretrained: str | None = None, **overrides) -> nn.Module:
    """Build a zoo model, optionally with a videozoo checkpoint or published weights in it.

    Args:
        name: a name from :func:`videozoo.list_models` (an unknown name lists the close matches).
        num_classes: classifier outputs (default 400, or the published head's). With ``pretrained`` and
            another count, the backbone keeps its weights and the head starts afresh (fine-tuning). 0 builds
            no classifier (``forward`` returns the pooled features); so do backbone-only published weights
            (``…_backbone`` tags) unless a count is given.
        weights: path of a ``.safetensors`` checkpoint of the same architecture; one of another
            architecture is refused with the mismatching keys named.
        pretrained: published weights by tag (``videozoo weights list NAME``), e.g. ``"ig65m_kinetics_32f"``
            for ``r2plus1d_34``: downloaded into torch.hub's cache and converted the first time. The model
            then has ``classes`` (the data set's class names, where known).
        **overrides: fields of the model's spec: ``stem_temporal_stride``, ``stem_spatial_stride``,
            ``mid_channels`` (``"per_conv"`` as the paper, ``"per_block"`` as torchvision), ``bn_eps``,
            ``dropout``, ``in_channels`` (2 for flow, 1 for grey), ``base_width`` and more
            (``videozoo.models.get_entry(name).override_names()`` lists them).

    Returns an ``nn.Module`` taking ``(B, C, T, H, W)`` float clips and returning logits
    ``(B, num_classes)``; ``forward_features`` gives the pooled embedding ``(B, D)`` and
    ``reset_classifier(n)`` swaps the head.
    """
    if pretrained is not None:
        if weights is not None:
            raise ValueError("give weights= (a checkpoint) or pretrained= (a published tag), not both")
        from .weights.catalogue import get_weights
        from .weights.hub import pretrained_checkpoint

        entry = get_weights(pretrained, name)
        model = registry.create_model(name, entry.num_classes, **{**entry.recipe.overrides, **overrides})
        path = pretrained_checkpoint(entry.tag)
        tensors, metadata = read_checkpoint(path)
        load_state_checked(model, model_state(tensors), source=str(path), source_arch=metadata["architecture"])
        model.classes = checkpoint_classes(metadata)
        if num_classes is not None and num_classes != entry.num_classes:
            model.reset_classifier(num_classes)
            model.classes = None
        return model
    model = registry.create_model(name, 400 if num_classes is None else num_classes, **overrides)
    if weights is not None:
        load_weights(model, weights)
    return model
