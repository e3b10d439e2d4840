"""A tiny checkpoint as a run would write it, for tests of the commands that read one."""

from pathlib import Path

import videozoo
from videozoo.engine.inputs import InputSettings

# The settings of a tiny training run (8-wide network, 4 frames of 32², batches of 4, no loader workers, no
# warm-up) for the tests that train: test_engine, test_kill_resume, test_lr_finder.
TINY_RUN = ["model.overrides={base_width: 8}", "data.num_frames=4", "data.crop=32", "data.num_workers=0",
            "train.batch_size=4", "optim.warmup_epochs=0", "train.progress=false"]


def tiny_checkpoint(path: Path, classes: list[str], frames: int = 4, crop: int = 32) -> Path:
    """A random 8-wide R(2+1)D-18 with ``classes`` and its input settings (``frames`` × ``crop``², Kinetics
    normalisation, no flip) saved at ``path``."""
    model = videozoo.create_model("r2plus1d_18", len(classes), base_width=8)
    settings = InputSettings(family="residual", num_frames=frames, stride=1, fps=None, crop=crop, resize=None,
                             resize_hw=None, scale_jitter=None, flip=False, normalization="kinetics")
    return videozoo.save_model(model, path, classes=classes, metadata={"data_settings": settings.to_json()})
