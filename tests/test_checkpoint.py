"""Self-describing safetensors checkpoints: exact round trips, clear refusals."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import videozoo
from videozoo.engine.checkpoint import CheckpointError, load_weights
from videozoo.models.layers import randomize_batch_norm


def test_round_trip_rebuilds_the_exact_model(tmp_path):
    model = videozoo.create_model("r2plus1d_18", num_classes=11, base_width=8, mid_channels="per_block",
                                  dropout=0.3)
    randomize_batch_norm(model)
    path = videozoo.save_model(model, tmp_path / "m.safetensors", classes=[f"c{i}" for i in range(11)])
    loaded = videozoo.load_model(path)
    assert loaded.arch == "r2plus1d_18"
    assert loaded.overrides == {"base_width": 8, "mid_channels": "per_block", "dropout": 0.3}
    assert loaded.classes[3] == "c3"
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded.eval()(x))


def test_reset_classifier_is_saved(tmp_path):
    model = videozoo.create_model("r3d_18", base_width=8)
    model.reset_classifier(5)
    loaded = videozoo.load_model(videozoo.save_model(model, tmp_path / "m.safetensors"))
    assert loaded.num_classes == 5


def test_create_model_with_weights(tmp_path):
    model = videozoo.create_model("mc3_18", num_classes=3, base_width=8)
    path = videozoo.save_model(model, tmp_path / "m.safetensors")
    again = videozoo.create_model("mc3_18", num_classes=3, base_width=8, weights=path)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_multimodal_checkpoint_with_the_old_backbone_classifiers_loads(tmp_path):
    """Late-fusion backbones once carried classifiers nothing used; checkpoints holding them still load (those
    weights are dropped, nothing else), and any other stray key is still refused."""
    small = {m: {"base_width": 8} for m in ("rgb", "audio")}
    model = videozoo.create_model("multimodal", 5, backbone_overrides=small)
    path = videozoo.save_model(model, tmp_path / "new.safetensors")
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    dead = {f"model.backbones.{m}.head.fc.{p}": torch.zeros((5, b.num_features) if p == "weight" else (5,))
            for m, b in model.backbones.items() for p in ("weight", "bias")}
    save_file({**tensors, **dead}, tmp_path / "old.safetensors", metadata=metadata)
    loaded = videozoo.load_model(tmp_path / "old.safetensors")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    save_file({**tensors, **dead, "model.heads.rgb.extra": torch.zeros(1)}, tmp_path / "stray.safetensors",
              metadata=metadata)
    with pytest.raises(CheckpointError, match=r"1 unexpected \(heads\.rgb\.extra\)"):
        videozoo.load_model(tmp_path / "stray.safetensors")


def test_other_architecture_is_refused_naming_keys(tmp_path):
    path = videozoo.save_model(videozoo.create_model("r3d_18", base_width=8), tmp_path / "r3d.safetensors")
    target = videozoo.create_model("r2plus1d_18", base_width=8)
    with pytest.raises(CheckpointError, match=r"r3d_18 checkpoint\) does not fit r2plus1d_18: \d+ missing "
                                              r"\(stem\.conv\.spatial\.conv\.weight"):
        load_weights(target, path)


def test_other_class_count_is_refused_naming_the_shape(tmp_path):
    path = videozoo.save_model(videozoo.create_model("r3d_18", num_classes=10, base_width=8), tmp_path / "a.st")
    with pytest.raises(CheckpointError, match=r"head\.fc\.weight \(10, 64\) vs \(400, 64\)"):
        videozoo.create_model("r3d_18", base_width=8, weights=path)


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        videozoo.load_model(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        videozoo.load_model(bad)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a videozoo checkpoint"):
        videozoo.load_model(foreign)


def test_metadata_is_plain_json(tmp_path):
    from safetensors import safe_open

    path = videozoo.save_model(videozoo.create_model("r3d_18", base_width=8, bn_eps=1e-3), tmp_path / "m.st")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["architecture"] == "r3d_18"
    assert json.loads(meta["overrides"]) == {"base_width": 8, "bn_eps": 1e-3}


def test_write_is_atomic(tmp_path, monkeypatch):
    """A failure while writing leaves the old checkpoint in place and no temporary file behind."""
    model = videozoo.create_model("r3d_18", base_width=8)
    path = videozoo.save_model(model, tmp_path / "last.safetensors")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("videozoo.engine.checkpoint.save_file", explode)
    with pytest.raises(CheckpointError, match="cannot write .*last.safetensors: No space left on device "
                                             r"\(its previous version is untouched\)"):
        videozoo.save_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]
