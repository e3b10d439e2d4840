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


@pytest.fixture(scope="session")
def photo_motion_runs(tmp_path_factory):
    """The newcomer's runs (slow tests only): R(2+1)D-18 and the frame-level f-R2D-18, each trained 8 epochs with
    only a model, a data set and an epoch count on the photographs set (4 camera motions over real scenes with
    real sound, 32 training and 10 validation videos a class). Returns ``(data, {model: (run folder, last row of
    metrics.csv)})``; the newcomer test holds the defaults to them and the features test extracts from them."""
    from videozoo.cli import main
    from videozoo.data import SynthConfig, make_synthetic_dataset

    root = tmp_path_factory.mktemp("photo_motion")
    data = root / "d"
    make_synthetic_dataset(data, SynthConfig(source="photos", classes=4, per_class=32, val_per_class=10, frames=24,
                                             size=64, fps=12, audio_informative=0.33, sounds="music"))
    runs = {}
    for model in ("r2plus1d_18", "f_r2d_18"):
        out = root / model
        assert main(["train", "--model", model, "--data", str(data / "train.csv"), "--val", str(data / "val.csv"),
                     "--epochs", "8", "--out", str(out), "--no-progress"]) == 0
        rows = (out / "metrics.csv").read_text().splitlines()
        runs[model] = out, dict(zip(rows[0].split(","), rows[-1].split(","), strict=True))
    return data, runs
