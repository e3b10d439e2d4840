import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def av(tmp_path_factory):
    """A small audio-visual synthetic set (2 classes × 6 training videos, 2 validation each; the sound names the
    class): what the multi-modal and training-core tests train on."""
    from videozoo.data import SynthConfig, make_synthetic_dataset

    root = tmp_path_factory.mktemp("av")
    make_synthetic_dataset(root, SynthConfig(classes=2, per_class=6, val_per_class=2, frames=12, size=32,
                                             audio_informative=1.0))
    return root


@pytest.fixture(autouse=True, scope="session")
def _own_cache(tmp_path_factory):
    """OpenVINO's export cache (engine.export.openvino_cache_dir) in the session's temporary folder, for this
    process and the commands it starts, not in the user's ~/.cache."""
    import os

    os.environ["VIDEOZOO_CACHE"] = str(tmp_path_factory.mktemp("videozoo_cache"))
