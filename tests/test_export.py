"""ONNX export: every family of the zoo (tiny widths) exports, ONNX Runtime gives PyTorch's outputs (fp32, 1e-4)
at another batch size, and the file carries the class names, clip and normalisation a runtime needs."""

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import videozoo
from tests.tiny import tiny_checkpoint
from videozoo.cli import main
from videozoo.engine.export import ExportError, export_onnx
from videozoo.engine.inputs import InputSettings
from videozoo.models.layers import randomize_batch_norm

# One network per conv kind and skeleton: (2+1)D, channel-separated, separable Inception, TF "SAME" padding,
# C3D's fc head, a 2D audio ResNet, and a backbone without a classifier.
CASES = [
    ("r2plus1d_18", {"base_width": 8}, 3, (8, 32, 32)),
    ("ir_csn_50", {"base_width": 8}, 3, (8, 32, 32)),
    ("s3d", {"base_width": 8}, 3, (16, 64, 64)),
    ("i3d", {"base_width": 8, "padding": "tf_same"}, 3, (16, 64, 64)),
    ("c3d", {"base_width": 8}, 3, (16, 112, 112)),
    ("audio_resnet_18", {"base_width": 8}, 3, (1, 100, 40)),
    ("r3d_18", {"base_width": 8}, 0, (8, 32, 32)),
]


def _checkpoint(tmp_path, name, overrides, num_classes, clip):
    model = videozoo.create_model(name, num_classes=num_classes, **overrides)
    randomize_batch_norm(model, torch.Generator().manual_seed(0))
    settings = InputSettings("residual", clip[0], 2, None, clip[1], 128, None, None, False, "kinetics")
    classes = [f"class {i}" for i in range(num_classes)] or None
    return model, videozoo.save_model(model, tmp_path / f"{name}.safetensors", classes=classes,
                                      metadata={"data_settings": settings.to_json()})


@pytest.mark.parametrize(("name", "overrides", "num_classes", "clip"), CASES, ids=[c[0] for c in CASES])
def test_export_runs_in_onnx_runtime_with_pytorchs_outputs(tmp_path, name, overrides, num_classes, clip):
    model, ckpt = _checkpoint(tmp_path, name, overrides, num_classes, clip)
    report = export_onnx(ckpt, tmp_path / "m.onnx", clip=clip, dynamic_batch=True)
    assert report.max_error <= 1e-4
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    shape = (5, 1, clip[1], clip[2]) if name.startswith("audio") else (5, 3, *clip)
    x = torch.randn(shape)
    got = session.run(None, {"clip": x.numpy()})[0]
    model.eval()
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape == (5, num_classes or model.num_features)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(expected).max()))
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx"), load_external_data=False).metadata_props}
    assert meta["videozoo_architecture"] == name and int(meta["num_classes"]) == num_classes
    inputs = json.loads(meta["input"])
    assert (inputs["normalization"], inputs["frame_step"]) == ("kinetics", 2)
    assert inputs["mean"] == [0.43216, 0.394666, 0.37645] and inputs["std"] == [0.22803, 0.22145, 0.216989]
    assert json.loads(meta.get("classes", "null")) == ([f"class {i}" for i in range(num_classes)] or None)


def test_export_command_by_model_name(tmp_path, capsys):
    assert main(["export", "mc3_18", str(tmp_path / "mc3.onnx"), "--clip", "8,32,32"]) == 0
    assert "input 'clip' (batch 2, 3×8×32×32), ONNX Runtime within" in capsys.readouterr().out
    session = ort.InferenceSession(str(tmp_path / "mc3.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"clip": np.zeros((2, 3, 8, 32, 32), np.float32)})[0].shape == (2, 400)


def test_export_refusals_are_one_line(tmp_path, monkeypatch, capsys):
    with pytest.raises(ExportError, match=r"c3d expects \(B, 3, T, H, W\) with T ≥ 16"):
        export_onnx("c3d", tmp_path / "x.onnx", clip=(8, 64, 64))
    with pytest.raises(ExportError, match="not a model name, a checkpoint, a run folder or a weights tag"):
        export_onnx(tmp_path / "missing.safetensors", tmp_path / "x.onnx")
    spec = videozoo.create_model("multimodal", num_classes=3, backbones={"rgb": "r3d_18", "audio": "audio_resnet_18"},
                                 backbone_overrides={"rgb": {"base_width": 4}, "audio": {"base_width": 4}})
    ckpt = videozoo.save_model(spec, tmp_path / "av.safetensors")
    with pytest.raises(ExportError, match="multi-modal network"):
        export_onnx(ckpt, tmp_path / "x.onnx")
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    assert main(["export", "r3d_18", str(tmp_path / "x.onnx")]) != 0
    assert "pip install 'videozoo[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


# OpenVINO keeps a thread pool alive in any process that loaded it: its tests run in a child process each, so the
# test process (which forks data-loader workers and encodes videos later) never holds it.
def videozoo_cli(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from videozoo.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)


def test_bench_times_onnx_runtime_and_openvino_on_the_export_beside_pytorch():
    """`videozoo bench --runtimes`: the exported model through ONNX Runtime and OpenVINO, timed in the same run,
    with their agreement against the fp32 reference."""
    done = videozoo_cli("bench", "r2plus1d_18", "--clip", "4,32,32", "--batch", "1", "--iters", "1", "--warmup", "0",
                        "--runtimes", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    labels = [t["label"] for t in result["timings"]]
    assert any(label.startswith("ONNX Runtime") for label in labels)
    assert any(label.startswith("OpenVINO") for label in labels)
    assert all(t["ms_per_batch"] > 0 for t in result["timings"])
    assert set(result["auto_vs_runtimes"]) == {label for label in labels if label.startswith(("ONNX", "OpenVINO"))}


OPENVINO_CHECK = """
import json, torch, videozoo
from videozoo.engine.predictor import Predictor
from videozoo.models.layers import randomize_batch_norm

model = videozoo.create_model("r2plus1d_18", 5, base_width=8)
randomize_batch_norm(model)
x = torch.randn(3, 3, 4, 32, 32)
reference = Predictor(model, "fp32")(x)
exact = Predictor(model, "fp32", backend="openvino")
error = ((exact(x) - reference).abs().max() / reference.abs().max()).item()
exact(x[:1])  # another batch size: the same compiled model
exact(torch.randn(1, 3, 8, 32, 32))  # another clip: one more
fast = Predictor(model, backend="openvino")(x)
late = videozoo.create_model("multimodal", 3, backbone_overrides={"rgb": {"base_width": 8}, "audio": {"base_width": 8}})
try:
    Predictor(late, backend="openvino")
    refused = ""
except ValueError as e:
    refused = str(e)
print(json.dumps({"error": error, "runners": len(exact._runners), "refused": refused,
                  "fast_error": ((fast - reference).norm() / reference.norm()).item(),
                  "same_top1": bool(torch.equal(fast.argmax(1), reference.argmax(1)))}))
"""


def test_the_openvino_backend_gives_pytorchs_logits():
    """Predictor(backend="openvino"): the model exported and compiled once per clip shape; fp32 keeps PyTorch's
    logits (1e-4), the default precision (bf16 where the CPU has it) stays within bf16's error."""
    done = subprocess.run([sys.executable, "-c", OPENVINO_CHECK], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["error"] < 1e-4 and got["runners"] == 2
    assert got["fast_error"] < 2e-2 and got["same_top1"]
    assert "single-input models on the CPU" in got["refused"]


OPENVINO_CACHED = """
import json, torch, videozoo
from videozoo.engine.predictor import Predictor
from videozoo.models.layers import randomize_batch_norm

torch.manual_seed(0)
model = videozoo.create_model("r2plus1d_18", 5, base_width=8)
randomize_batch_norm(model, torch.Generator().manual_seed(0))
predictor = Predictor(model, "fp32", backend="openvino")
out = predictor(torch.ones(2, 3, 4, 32, 32))
(c,) = predictor.compilations.values()
print(json.dumps({"cached": c.cached, "seconds": c.seconds, "said": str(c), "out": out.tolist()}))
"""


def test_openvino_exports_are_cached_on_disk(tmp_path):
    """A second process running the same model at the same shape takes the checked export and the compiled model
    from the disk cache (one entry per weights and shape): the same logits, and it says so."""
    env = {**__import__("os").environ, "VIDEOZOO_CACHE": str(tmp_path)}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", OPENVINO_CACHED], capture_output=True, text=True, timeout=600,
                              env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert not first["cached"] and second["cached"] and "(from the disk cache)" in second["said"]
    assert second["out"] == first["out"] and second["seconds"] < first["seconds"]
    (entry,) = (tmp_path / "openvino").iterdir()
    assert (entry / "model.onnx").is_file() and any((entry / "compiled").iterdir())


def test_eval_with_the_openvino_backend_scores_as_pytorch(tmp_path):
    from videozoo.data import SynthConfig, make_synthetic_dataset

    make_synthetic_dataset(tmp_path / "d", SynthConfig(classes=2, per_class=1, val_per_class=2, frames=8, size=32))
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", ["left", "right"])
    scores = {}
    for backend in ("pytorch", "openvino"):
        done = videozoo_cli("eval", "--checkpoint", str(ckpt), "--data", str(tmp_path / "d" / "val.csv"), "--clips",
                            "2", "--crops", "1", "--precision", "fp32", "--backend", backend, "--json", "--workers",
                            "0")
        assert done.returncode == 0, done.stderr[-2000:]
        scores[backend] = json.loads(done.stdout)
    assert scores["openvino"]["video_top1"] == scores["pytorch"]["video_top1"]
    assert scores["openvino"]["clip_top1"] == scores["pytorch"]["clip_top1"]


def test_extract_with_the_openvino_backend_gives_pytorchs_features(tmp_path):
    """extract --backend openvino: the pooled features through OpenVINO equal PyTorch's (fp32, 1e-4); another
    layer is refused in one line."""
    from videozoo.data import SynthConfig, make_synthetic_dataset
    from videozoo.engine.features import Features

    make_synthetic_dataset(tmp_path / "d", SynthConfig(classes=2, per_class=1, val_per_class=2, frames=8, size=32))
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", ["left", "right"])
    common = ["extract", "--checkpoint", str(ckpt), "--data", str(tmp_path / "d" / "val.csv"), "--clips", "2",
              "--precision", "fp32", "--workers", "0", "--quiet"]
    feats = {}
    for backend in ("pytorch", "openvino"):
        out = tmp_path / f"{backend}.npz"
        done = videozoo_cli(*common, "--backend", backend, "--out", str(out))
        assert done.returncode == 0, done.stderr[-2000:]
        feats[backend] = Features.load(out)
    a, b = feats["pytorch"], feats["openvino"]
    assert a.features.shape == b.features.shape == (8, 64) and b.info["backend"] == "openvino"
    assert np.abs(a.features - b.features).max() / np.abs(a.features).max() < 1e-4
    assert (a.video == b.video).all() and (a.clip == b.clip).all()
    refused = videozoo_cli(*common, "--backend", "openvino", "--layer", "layer3", "--out", str(tmp_path / "x.npz"))
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].endswith("layer 'layer3' of r2plus1d_18: use the PyTorch backend")
