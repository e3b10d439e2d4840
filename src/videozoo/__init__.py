"""videozoo: spatiotemporal ConvNets for video classification.

>>> import videozoo
>>> model = videozoo.create_model("r2plus1d_18", num_classes=101)
>>> videozoo.model_card("r2plus1d_18").gmacs   # at its default 16×112×112 clip
"""

from .api import create_model
from .engine.checkpoint import load_model, save_model
from .engine.config import load_config
from .engine.evaluate import evaluate
from .engine.features import Features, extract_features
from .engine.linear import linear_eval
from .engine.lr_finder import find_lr
from .engine.predictor import Predictor
from .engine.trainer import train
from .models import list_models, model_card

__version__ = "0.1.0"
__all__ = [
    "Features", "Predictor", "create_model", "evaluate", "extract_features", "find_lr", "linear_eval", "list_models",
    "load_config", "load_model", "model_card", "save_model", "train",
]
