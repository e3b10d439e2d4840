"""The CUDA path: run where a GPU is present (CI has none; these run on the lent GPU machine)."""

import pytest
import torch

import videozoo
from videozoo.engine.predictor import Predictor
from videozoo.models.layers import randomize_batch_norm

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("name", ["r2plus1d_18", "ir_csn_50", "s3d_g", "p3d_63"])
def test_predictor_on_cuda_matches_cpu(name):
    model = videozoo.create_model(name, num_classes=10)
    randomize_batch_norm(model, torch.Generator().manual_seed(0))
    model.eval()
    clip = {"s3d_g": (16, 224, 224), "p3d_63": (16, 160, 160), "ir_csn_50": (8, 224, 224)}.get(name, (8, 112, 112))
    x = torch.randn(2, 3, *clip)
    with torch.no_grad():
        expected = model(x)
    got32 = Predictor(model, "fp32", "cuda")(x).cpu()
    # TF32 convolutions; random BN statistics make deep nets' logits large, so compare relative norms.
    assert ((got32 - expected).norm() / expected.norm()).item() < 1e-3
    fast = Predictor(model, "auto", "cuda")
    assert fast.precision == ("fp32" if name == "ir_csn_50" else "bf16")  # cuDNN's depthwise 3D is fastest in fp32
    got = fast(x).cpu()
    assert got.dtype == torch.float32
    assert ((got - expected).norm() / expected.norm()).item() < 0.05


def test_training_step_on_cuda_bf16_channels_last():
    model = videozoo.create_model("r2plus1d_18", num_classes=5).cuda().to(memory_format=torch.channels_last_3d)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(4, 3, 8, 112, 112, device="cuda").contiguous(memory_format=torch.channels_last_3d)
    y = torch.randint(0, 5, (4,), device="cuda")
    losses = []
    for _ in range(5):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_train_eval_extract_predict_on_cuda(tmp_path, capsys):
    """The whole CLI on the GPU: scores and features come back to the CPU for aggregation."""
    import json

    from videozoo.cli import main
    from videozoo.data.synthetic import SynthConfig, make_synthetic_dataset

    data = tmp_path / "data"
    make_synthetic_dataset(data, SynthConfig(classes=2, per_class=4, val_per_class=2, frames=12, size=32))
    run = tmp_path / "run"
    assert main(["train", "model.name=r2plus1d_18", "model.overrides.base_width=8", f"data.train={data}/train.csv",
                 f"data.val={data}/val.csv", "data.num_frames=4", "data.crop=32", "data.num_workers=0",
                 "train.batch_size=4", "train.epochs=1", "train.progress=false", f"out={run}"]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--data", f"{data}/val.csv", "--clips", "2", "--crops", "1",
                 "--workers", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_videos"] == 4
    assert main(["extract", "--checkpoint", str(run), "--data", f"{data}/val.csv", "--out",
                 str(tmp_path / "feats.npz"), "--workers", "0"]) == 0
    assert (tmp_path / "feats.npz").is_file()
    video = sorted(data.rglob("*.mp4"))[0]
    assert main(["predict", "--checkpoint", str(run), str(video)]) == 0
