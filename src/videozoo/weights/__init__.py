"""Published weights: the catalogue, the converters of each source's layout, the download cache.

>>> from videozoo.weights import list_weights
>>> [w.tag for w in list_weights("r2plus1d_34")][:2]
['r2plus1d_34.ig65m_8f', 'r2plus1d_34.ig65m_32f']
"""

from .catalogue import CATALOGUE, Accuracy, WeightsEntry, get_weights, is_tag, list_weights
from .convert import SOURCES, convert_file, convert_state_dict
from .hub import WeightsError, download, pretrained_checkpoint, resolve_weights

__all__ = [
    "CATALOGUE", "SOURCES", "Accuracy", "WeightsEntry", "WeightsError", "convert_file", "convert_state_dict",
    "download", "get_weights", "is_tag", "list_weights", "pretrained_checkpoint", "resolve_weights",
]
