"""A tiny checkpoint as a run would write it, for tests of the commands that read one."""

from pathlib import Path

import videozoo
from videozoo.engine.inputs import InputSettings


def tiny_checkpoint(path: Path, classes: list[str], frames: int = 4, crop: int = 32) -> Path:
    """A random 8-wide R(2+1)D-18 with ``classes`` and its input settings (``frames`` × ``crop``², Kinetics
    normalisation, no flip) saved at ``path``."""
    model = videozoo.create_model("r2plus1d_18", len(classes), base_width=8)
    settings = InputSettings(family="residual", num_frames=frames, stride=1, fps=None, crop=crop, resize=None,
                             resize_hw=None, scale_jitter=None, flip=False, normalization="kinetics")
    return videozoo.save_model(model, path, classes=classes, metadata={"data_settings": settings.to_json()})
