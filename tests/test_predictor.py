"""The default inference path: same answers as the plain model, float32 logits, model untouched."""

import pytest
import torch
from torch import nn

import videozoo
from videozoo.engine import predictor as predictor_mod
from videozoo.engine.predictor import Predictor, resolve_precision
from videozoo.models.layers import randomize_batch_norm


@pytest.fixture(scope="module")
def model():
    m = videozoo.create_model("r2plus1d_18", num_classes=10, base_width=16)
    randomize_batch_norm(m, torch.Generator().manual_seed(0))
    return m.eval()


def test_fp32_path_matches_the_model(model):
    x = torch.randn(3, 3, 8, 64, 64)
    with torch.no_grad():
        expected = model(x)
    got = Predictor(model, precision="fp32", device="cpu")(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_bf16_path_is_close_and_returns_float(model):
    x = torch.randn(3, 3, 8, 64, 64)
    with torch.no_grad():
        expected = model(x)
    got = Predictor(model, precision="bf16", device="cpu")(x)
    assert got.dtype == torch.float32
    assert ((got - expected).norm() / expected.norm()).item() < 0.05


def test_features_match(model):
    x = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        expected = model.forward_features(x)
    torch.testing.assert_close(Predictor(model, "fp32", "cpu").features(x), expected, rtol=1e-4, atol=1e-4)


def test_model_is_left_untouched(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Predictor(model, "fp32", "cpu")
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, nn.BatchNorm3d) for m in model.modules())


def test_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch):
    cpu = torch.device("cpu")
    predictor_mod.cpu_has_bf16.cache_clear()
    monkeypatch.setattr(predictor_mod, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(predictor_mod, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"


def test_bad_precision_and_bad_input(model):
    with pytest.raises(ValueError, match="precision must be one of"):
        Predictor(model, precision="int4")
    with pytest.raises(ValueError, match="fp16 autocast is for CUDA"):
        Predictor(model, precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="5-D clip batch"):
        Predictor(model, "fp32", "cpu")(torch.randn(3, 8, 64, 64))


def test_compiled_path_matches_and_records_each_compilation(model, tmp_path, capsys):
    """compile=True: the same logits as the eager fp32 path; each input shape compiled once, its seconds recorded
    and printed by the commands that take --compile."""
    x = torch.randn(2, 3, 8, 64, 64)
    compiled = Predictor(model, precision="fp32", device="cpu", compile=True)
    torch.testing.assert_close(compiled(x), Predictor(model, "fp32", "cpu")(x), rtol=1e-3, atol=1e-3)
    compiled(x)
    assert list(compiled.compilations) == ["2×3×8×64×64"]
    assert compiled.compilations["2×3×8×64×64"].seconds > 0
    assert str(compiled.compilations["2×3×8×64×64"]).startswith("torch.compile for 2×3×8×64×64: ")

    from tests.tiny import tiny_checkpoint
    from tests.videos import barcodes
    from videozoo.cli import main
    from videozoo.data import write_video

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", ["a", "b"])
    video = write_video(tmp_path / "v.mp4", barcodes(8), fps=8)
    assert main(["predict", str(video), "--checkpoint", str(ckpt), "--clips", "1", "--compile"]) == 0
    assert "torch.compile for 1×3×4×32×32: " in capsys.readouterr().err
    assert main(["predict", str(video), "--checkpoint", str(ckpt), "--compile", "--backend", "openvino"]) == 2
    assert "--compile compiles the PyTorch path" in capsys.readouterr().err
