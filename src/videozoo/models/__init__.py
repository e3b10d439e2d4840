"""The zoo: conv factory, skeletons, registry and model cards. Imports only torch."""

from .cards import ModelCard, count_macs, model_card
from .layers import count_parameters
from .registry import PAPERS, ModelEntry, Reported, create_model, get_entry, list_models

__all__ = [
    "PAPERS", "ModelCard", "ModelEntry", "Reported", "count_macs", "count_parameters", "create_model",
    "get_entry", "list_models", "model_card",
]
