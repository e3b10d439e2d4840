"""One training core under single-stream and joint runs: every train.* / optim.* key means the same in both."""

import json
import sys

import pytest
import torch

from tests.test_multimodal import SMALL  # the tiny joint-run settings, one list for both files
from videozoo.data import SynthConfig, VideoDataset, load_items, make_synthetic_dataset
from videozoo.engine.checkpoint import read_checkpoint
from videozoo.engine.config import ConfigError, load_config
from videozoo.engine.multimodal import MultiModalTrainer, train_multimodal
from videozoo.engine.trainer import train
from videozoo.models.multimodal import FUSED

JOINT = ["blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}", "blend.weighting=fixed",
         "blend.fixed_weights={rgb: 1, audio: 1, fused: 1}"]


def config(av, out, *extra):
    return load_config(None, [f"data.train={av / 'train.csv'}", f"out={out}", *SMALL, *extra])


def test_a_joint_run_steps_its_schedule_to_the_end(av, tmp_path):
    """The schedule counts the optimizer steps an epoch takes (the loader's batches over train.accumulate, the
    last partial batch dropped): the cosine reaches zero with the last step of the run."""
    cfg = config(av, tmp_path / "j", *JOINT, "train.accumulate=2", "train.epochs=2", "optim.warmup_epochs=0")
    trainer = MultiModalTrainer(cfg)
    assert len(trainer.loader) == len(trainer.train_set) // 4  # 8 videos, batch 4: 2 batches
    assert trainer.steps_per_epoch == 1
    result = trainer.run()
    assert result["metrics"][-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert result["metrics"][0]["lr"] > 0


def test_a_joint_run_fine_tunes_a_single_network_checkpoint_with_a_frozen_backbone(av, tmp_path):
    """train.finetune with a single network's checkpoint starts the backbone of that architecture;
    optim.freeze_backbone keeps every backbone (BatchNorm statistics too) as it started, and trains the heads."""
    single = train(config(av, tmp_path / "single", "model.name=r2plus1d_18", "model.overrides.base_width=8",
                          "train.epochs=1"))
    start, _ = read_checkpoint(single.out / "last.safetensors")
    train_multimodal(config(av, tmp_path / "joint", *JOINT, "train.epochs=1", "optim.freeze_backbone=true",
                            f"train.finetune={single.out / 'last.safetensors'}"))
    joint, _ = read_checkpoint(tmp_path / "joint" / "last.safetensors")
    backbone = [k for k in start if k.startswith("model.") and not k.startswith("model.head.")]
    assert backbone and all(torch.equal(joint[k.replace("model.", "model.backbones.rgb.", 1)], start[k])
                            for k in backbone)
    fused = [k for k in joint if k.startswith("model.fused_head.")]
    fresh = MultiModalTrainer(config(av, tmp_path / "fresh", *JOINT, "train.epochs=1")).model.state_dict()
    assert any(not torch.equal(joint[k], fresh[k.removeprefix("model.")]) for k in fused)  # the heads trained


def test_a_joint_run_refuses_a_checkpoint_of_another_network(av, tmp_path):
    single = train(config(av, tmp_path / "single", "model.name=r3d_18", "model.overrides.base_width=8",
                          "train.epochs=1"))
    with pytest.raises(ConfigError, match="is a r3d_18 checkpoint, the model is multimodal or r2plus1d_18"):
        MultiModalTrainer(config(av, tmp_path / "joint", *JOINT, f"train.finetune={single.out / 'last.safetensors'}"))


def test_joint_run_config_errors(av, tmp_path):
    with pytest.raises(ConfigError, match="data.modality"):
        MultiModalTrainer(config(av, tmp_path / "x", *JOINT, "data.modality=flow", f"data.flow_root={av}"))
    with pytest.raises(ConfigError, match="the clips do not fit the model"):
        MultiModalTrainer(config(av, tmp_path / "x", "blend.modalities={rgb: s3d, audio: audio_resnet_18}"))


def test_the_bf16_guard_report_is_in_the_run_folder(av, tmp_path):
    """A bf16 run on a CPU probes every conv shape its model sees before the first step and says what it fixed."""
    result = train(config(av, tmp_path / "r", "model.name=r2plus1d_18", "model.overrides.base_width=8",
                          "train.epochs=1", "train.precision=bf16", "train.device=cpu"))
    report = json.loads((result.out / "bf16_guard.json").read_text())
    layers = {name for row in report["probes"] for name in row["layers"]}
    assert report["cases"] == len(report["probes"]) > 0 and "stem.conv.spatial.conv" in layers
    assert all(row["error"] < report["tolerance"] for row in report["probes"])


@pytest.mark.slow
def test_a_joint_run_under_ddp_matches_one_process(av, tmp_path):
    """`videozoo train` of a joint run under torchrun (2 processes, sync-BN, each half the batch): the same
    weights and the same per-head measurements as one process."""
    from tests.test_distributed import assert_same, run, torchrun

    make_synthetic_dataset(tmp_path / "d", SynthConfig(classes=2, per_class=8, val_per_class=0, frames=8, size=32))
    common = ["train", "--data", str(tmp_path / "d" / "train.csv"), "--epochs", "2",
              "blend.modalities={rgb: r2plus1d_18}", "blend.weighting=fixed",
              "blend.fixed_weights={rgb: 1, fused: 1}", "blend.backbone_overrides={rgb: {base_width: 8}}",
              "blend.fusion_hidden=16", "blend.holdout=0.25", "data.num_frames=4", "data.crop=32",
              "data.num_workers=0", "train.precision=fp32", "train.sync_bn=true", "train.progress=false",
              "optim.warmup_epochs=0", "optim.name=sgd", "optim.lr=0.01"]
    run([sys.executable, "-m", "videozoo.cli", *common, "--batch-size", "8", "--out", str(tmp_path / "one")])
    run(torchrun("-m", "videozoo.cli", *common, "--batch-size", "4", "--out", str(tmp_path / "two")))
    a, _ = read_checkpoint(tmp_path / "one" / "last.safetensors")
    b, _ = read_checkpoint(tmp_path / "two" / "last.safetensors")
    keys = [k for k, v in a.items() if k.startswith("model.") and v.is_floating_point()]
    assert_same(torch.cat([b[k].flatten() for k in keys]), torch.cat([a[k].flatten() for k in keys]), "model", 1e-4)
    one = json.loads((tmp_path / "one" / "blend.json").read_text())
    two = json.loads((tmp_path / "two" / "blend.json").read_text())
    assert one["final"] == two["final"]
    rows = [(tmp_path / run_dir / "metrics.csv").read_text().splitlines() for run_dir in ("one", "two")]
    header = rows[0][0].split(",")
    for line_a, line_b in zip(rows[0][1:], rows[1][1:], strict=True):
        for name, x, y in zip(header, line_a.split(","), line_b.split(","), strict=True):
            if name.startswith(f"{FUSED}_holdout"):
                assert float(x) == pytest.approx(float(y), rel=1e-3), name



def test_persistent_workers_draw_each_epochs_clips(av):
    """The training loader's workers live for the run; the epoch travels with each index, so every epoch's
    clips are those the dataset draws in the main process for that epoch (and differ between epochs)."""
    from videozoo.engine.core import TrainingCore
    from videozoo.engine.inputs import resolve_inputs
    from videozoo.models.registry import create_model

    cfg = config(av, av / "unused", "data.num_workers=2", "train.batch_size=2", "train.precision=fp32")
    items, classes = load_items(av / "train.csv")
    inputs = resolve_inputs(cfg.data, "r2plus1d_18", items)
    dataset = VideoDataset(items, classes, inputs.sampling, inputs.transform(), train=True, seed=0)
    core = TrainingCore(cfg, create_model("r2plus1d_18", len(classes), base_width=8), av / "unused")
    loader = core.train_loader(dataset)
    assert loader.persistent_workers
    seen = {}
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        seen[epoch] = [b for b in loader]
        order = [(epoch, i) for i in loader.sampler.sampler]
        for batch, keys in zip(seen[epoch], [order[k:k + 2] for k in range(0, len(order), 2)], strict=False):
            expected = torch.stack([dataset[key]["video"] for key in keys])
            assert torch.equal(batch["video"], expected)
    assert not torch.equal(seen[0][0]["video"], seen[1][0]["video"])


def test_a_joint_run_fine_tunes_vmz_audio_visual_weights(av, tmp_path):
    """A G-Blend fine-tune from VMZ's audio-visual weights (a named late-fusion row, converted from its Caffe2
    layout) builds the published fused head (2048 wide) and feeds VMZ's log-Mels, both read from the checkpoint,
    and starts both backbones from the weights."""
    import pickle

    from tests.weight_sources import Caffe2Net
    from videozoo.weights.convert import convert_file

    reference = Caffe2Net("ip-csn", 50, num_labels=7)
    with torch.no_grad():
        reference.audio_visual(torch.randn(1, 3, 8, 64, 64), torch.randn(1, 1, 100, 40))
    with open(tmp_path / "av.pkl", "wb") as f:
        pickle.dump({"blobs": reference.numpy_blobs()}, f, protocol=2)
    converted = convert_file("vmz-caffe2", "av_ip_csn_50", tmp_path / "av.pkl", tmp_path / "av.safetensors")
    cfg = load_config(None, [f"data.train={av / 'train.csv'}", f"out={tmp_path / 'ft'}", *JOINT[1:],
                             "blend.modalities={rgb: ip_csn_50, audio: vmz_audio_resnet_50}", "blend.holdout=0.25",
                             "data.num_frames=4", "data.crop=32", "data.num_workers=0", "train.batch_size=4",
                             "train.progress=false", f"train.finetune={tmp_path / 'av.safetensors'}"])
    trainer = MultiModalTrainer(cfg)
    assert trainer.audio.style == "vmz" and cfg.data.normalization == "kinetics"
    # Resolved into the config that config.yaml records: a resumed run rebuilds the same net and inputs.
    assert (cfg.blend.fusion_hidden, cfg.blend.audio_style) == (2048, "vmz")
    model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
    assert model.spec.fusion_hidden == 2048 and model.num_classes == 2
    ours, start = model.state_dict(), converted.state_dict()
    backbone = [k for k in start if k.startswith("backbones.")]
    assert backbone and all(torch.equal(ours[k], start[k]) for k in backbone)
