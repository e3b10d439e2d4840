"""The zoo: conv factory, skeletons, registry and model cards. Imports only torch."""

from . import multimodal, zoo_inception, zoo_residual
from .cards import ModelCard, count_macs, model_card
from .layers import count_parameters
from .registry import PAPERS, ModelEntry, Reported, create_model, get_entry, list_models, register

# The zoo's rows, in the order of its table: residual networks, then Inception and C3D, then composites.
for _entry in (*zoo_residual.ROWS, *zoo_inception.ROWS, multimodal.ROW, *multimodal.AV_ROWS):
    register(_entry)

__all__ = [
    "PAPERS", "ModelCard", "ModelEntry", "Reported", "count_macs", "count_parameters", "create_model",
    "get_entry", "list_models", "model_card",
]
