"""The default inference path: same answers as the plain model, float32 logits, model untouched."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import videozoo
from videozoo.engine import predictor as predictor_mod
from videozoo.engine.predictor import Predictor, resolve_precision
from videozoo.engine.separable_pool import SeparableMaxPool3d, aten_max_pools, separable_max_pool3d
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kernel, stride, padding", [((3, 3, 3), (1, 1, 1), (1, 1, 1)),  # S3D's branch pool
                                                     ((1, 3, 3), (1, 2, 2), (0, 1, 1)),  # a ResNet stem's
                                                     ((3, 3, 3), (2, 2, 2), (1, 1, 1)),
                                                     ((2, 2, 2), (2, 2, 2), (0, 0, 0)),  # C3D's
                                                     ((2, 1, 1), (2, 1, 1), (0, 0, 0)),  # a temporal pool
                                                     ((3, 2, 3), (1, 3, 2), (1, 1, 0)),
                                                     ((2, 4, 5), (1, 3, 1), (1, 2, 2))])  # k = 2p at stride 1: padded
def test_separable_max_pool_gives_max_pooling_numbers_exactly(kernel, stride, padding, dtype):
    x = torch.randn(2, 5, 7, 10, 11, generator=torch.Generator().manual_seed(0)).to(dtype)
    x[0, 0, 0, 0, 0] = -1e4  # a lone minimum where the padding is: -inf padding must not win the window
    for layout in (torch.contiguous_format, torch.channels_last_3d):
        x = x.contiguous(memory_format=layout)
        assert torch.equal(separable_max_pool3d(x, kernel, stride, padding), F.max_pool3d(x, kernel, stride, padding))


def test_predictor_pools_separably_on_the_cpu_with_the_same_logits():
    """S3D (a max pool in every Inception block) and I3D with TensorFlow "SAME" padding (a forward hook on its
    strided pools, which must keep running); a ceil-mode pool (C3D's pool5) stays ATen's."""
    x = torch.randn(2, 3, 8, 64, 64)
    for name, overrides in (("s3d", {}), ("i3d", {"padding": "tf_same"})):
        model = videozoo.create_model(name, num_classes=5, base_width=8, **overrides).eval()
        fast = Predictor(model, "fp32", "cpu")
        plain = Predictor(model, "fp32", "cpu")
        aten_max_pools(plain.model)  # the same prepared copy, ATen's pooling
        assert sum(isinstance(m, SeparableMaxPool3d) for m in fast.model.modules()) == 13
        assert not any(isinstance(m, SeparableMaxPool3d) for m in model.modules())  # the user's model: untouched
        torch.testing.assert_close(fast(x), plain(x), rtol=0, atol=0)
        with torch.no_grad():  # and the hooks ran: the plain model's own numbers (BN folded: 1e-4)
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
    c3d = Predictor(videozoo.create_model("c3d", num_classes=5, base_width=8), "fp32", "cpu").model
    assert [type(m) for m in c3d.modules() if isinstance(m, nn.MaxPool3d)][-1] is nn.MaxPool3d


def test_a_cpu_predictor_keeps_freed_activation_memory():
    """After a CPU Predictor exists, large blocks come from the heap and come back on the next call: a third
    identical pass page-faults (almost) nothing in, where glibc's default maps, unmaps and faults every block in
    again. Each setting in a fresh process of its own (``mallopt`` is process-wide)."""
    import os
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc only")
    code = """
import resource, torch, videozoo
from videozoo.engine.host_memory import keep_freed_memory
from videozoo.engine.predictor import Predictor
predictor = Predictor(videozoo.create_model("r3d_18", num_classes=5, base_width=8), "fp32", "cpu")
x = torch.randn(2, 3, 8, 112, 112)  # activations of 6 MB and more: over glibc's default mmap threshold
predictor(x)
predictor(x)  # the heap has grown to what a pass needs
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
predictor(x)
print(keep_freed_memory(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

    def second_pass_faults(setting: str) -> tuple[str, int]:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "VIDEOZOO_KEEP_FREED_MEMORY": setting})
        kept, faults = done.stdout.split()[-2:]
        return kept, int(faults)

    kept, faults = second_pass_faults("1")
    default_kept, default_faults = second_pass_faults("0")
    assert (kept, default_kept) == ("True", "False")
    assert default_faults > 1000 and faults < default_faults / 5, (faults, default_faults)
