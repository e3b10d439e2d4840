"""Multi-modal training: audio backbones, flow files, late fusion, the four weightings, clear errors."""

import csv
import json

import numpy as np
import pytest
import torch

import videozoo
from videozoo.cli import main
from videozoo.data import SynthConfig, VideoDataset, load_items, make_synthetic_dataset, write_video
from videozoo.data.datasets import AudioConfig, DataError
from videozoo.data.flow import FlowReader, dequantize, flow_path, make_flows
from videozoo.data.transforms import TransformConfig
from videozoo.engine.config import ConfigError, load_config
from videozoo.engine.multimodal import split_holdout, train_multimodal

SMALL = ["blend.backbone_overrides={rgb: {base_width: 8}, audio: {base_width: 8}, flow: {base_width: 8}}",
         "blend.fusion_hidden=32", "blend.holdout=0.25", "data.num_frames=4", "data.crop=32", "data.num_workers=0",
         "train.batch_size=4", "train.progress=false"]


def run(av, out, *extra):
    cfg = load_config(None, [f"data.train={av / 'train.csv'}", f"data.val={av / 'val.csv'}", f"out={out}",
                             "blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}", *SMALL, *extra])
    return train_multimodal(cfg)


def test_audio_backbones_in_the_zoo():
    for name in ("audio_resnet_18", "audio_resnet_50"):
        model = videozoo.create_model(name, num_classes=3, base_width=8)
        assert model(torch.randn(2, 1, 100, 40)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(B, 1, frames, mels\)"):
        videozoo.create_model("audio_resnet_18")(torch.randn(2, 100, 40))


def test_multimodal_model_round_trip(tmp_path):
    model = videozoo.create_model("multimodal", num_classes=3, backbones={"rgb": "r3d_18", "audio": "audio_resnet_18"},
                                  backbone_overrides={"rgb": {"base_width": 8}, "audio": {"base_width": 8}},
                                  fusion_hidden=16).eval()
    x = {"rgb": torch.randn(2, 3, 4, 32, 32), "audio": torch.randn(2, 1, 100, 40)}
    out = model(x)
    assert set(out) == {"rgb", "audio", "fused"} and all(v.shape == (2, 3) for v in out.values())
    again = videozoo.load_model(videozoo.save_model(model, tmp_path / "m.safetensors")).eval()
    with torch.no_grad():
        assert all(torch.equal(again(x)[k], model(x)[k]) for k in out)
    with pytest.raises(ValueError, match="missing audio"):
        model({"rgb": x["rgb"]})


def test_holdout_split_is_stratified():
    labels = [0] * 20 + [1] * 10
    train, held = split_holdout(labels, 0.2, seed=0)
    assert sorted(train + held) == list(range(30)) and not set(train) & set(held)
    assert sum(labels[i] == 0 for i in held) == 4 and sum(labels[i] == 1 for i in held) == 2


@pytest.mark.parametrize("weighting,extra", [
    ("naive", []), ("fixed", ["blend.fixed_weights={rgb: 0.485, audio: 0.009, fused: 0.506}"]),
    ("offline", ["blend.warmup_epochs=1"]), ("online", ["blend.warmup_epochs=1", "blend.super_epoch=1"]),
])
def test_weightings_run_and_log(av, tmp_path, weighting, extra):
    result = run(av, tmp_path / weighting, f"blend.weighting={weighting}", "train.epochs=2", *extra)
    out = tmp_path / weighting
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == (3 if weighting == "offline" else 2)  # offline: a warm-up epoch, then the run
    for head in ("rgb", "audio", "fused"):
        assert {f"{head}_weight", f"{head}_train_loss", f"{head}_holdout_loss", f"{head}_val_top1"} <= set(rows[0])
    assert "rgb_ogr" in rows[-1]
    w = result["weights"]
    assert sum(w.values()) == pytest.approx(1.0)
    if weighting == "naive":
        assert w == {"rgb": 0.0, "audio": 0.0, "fused": 1.0}
    if weighting == "fixed":
        assert w["audio"] == pytest.approx(0.009)
    if weighting in ("offline", "online"):
        assert result["estimates"] and json.loads((out / "blend.json").read_text())["estimates"]
    for name in ("config.yaml", "classes.txt", "modality_losses.png", "last.safetensors"):
        assert (out / name).is_file()
    assert list((out / "tensorboard").iterdir())
    # From scratch, the RGB stream standardises each clip, as a single network's run does (docs/multimodal.md)
    assert load_config(out / "config.yaml").data.normalization == "clip"
    # The head predictions come from, chosen on V, goes with the checkpoint
    assert rows[-1]["predict_head"] == result["predict_head"] in ("rgb", "audio", "fused")
    assert json.loads((out / "blend.json").read_text())["predict_head"] == result["predict_head"]
    assert videozoo.load_model(out / "last.safetensors").predict_head == result["predict_head"]


def test_the_run_predicts_with_the_head_best_on_the_held_out_split(av, tmp_path):
    """Lowest held-out loss wins (highest accuracy with blend.metric=accuracy); the fused head on a tie."""
    from videozoo.engine.multimodal import MultiModalTrainer

    cfg = load_config(None, [f"data.train={av / 'train.csv'}", f"out={tmp_path / 'r'}", "train.epochs=1",
                             "blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}", *SMALL])
    trainer = MultiModalTrainer(cfg)
    measured = {"holdout": {"rgb": (0.5, 0.8), "audio": (1.1, 0.9), "fused": (0.9, 0.7)}}
    assert trainer.choose_predict_head(measured) == "rgb" and trainer.model.predict_head == "rgb"
    assert trainer.choose_predict_head({"holdout": {"rgb": (0.5, 0.8), "audio": (1.1, 0.5),
                                                    "fused": (0.5, 0.8)}}) == "fused"
    trainer.cfg.blend.metric = "accuracy"
    assert trainer.choose_predict_head(measured) == "audio"


@pytest.mark.parametrize("weighting,estimate,epochs,kill_after", [
    ("online", "joint", 3, 2), ("offline", "joint", 2, 1), ("offline", "joint", 2, 2),
    ("online", "separate", 3, 1), ("offline", "separate", 1, 0),
])
def test_a_killed_multimodal_run_resumes_exactly(av, tmp_path, monkeypatch, weighting, estimate, epochs, kill_after):
    """Killed after epoch ``kill_after`` (offline joint: 1 is the end of the warm-up, 2 inside the main phase;
    offline separate: 0 is just after the estimate) and resumed from the CLI: the weights, G-Blend estimates and
    metrics equal an uninterrupted run's."""
    from videozoo.engine import multimodal as mm
    from videozoo.engine.checkpoint import read_checkpoint

    extra = [f"blend.weighting={weighting}", f"blend.estimate={estimate}", "blend.warmup_epochs=1",
             "blend.super_epoch=1", f"train.epochs={epochs}"]
    whole = run(av, tmp_path / "whole", *extra)
    real = mm.save_training_checkpoint

    def save_then_die(*args, info, **kwargs):
        real(*args, info=info, **kwargs)
        if info["epoch"] == kill_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(mm, "save_training_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(av, tmp_path / "killed", *extra)
    monkeypatch.setattr(mm, "save_training_checkpoint", real)
    assert main(["train", "--resume", "--out", str(tmp_path / "killed")]) == 0  # the saved config, the saved epochs
    a, _ = read_checkpoint(tmp_path / "whole" / "last.safetensors")
    b, _ = read_checkpoint(tmp_path / "killed" / "last.safetensors")
    keys = [k for k in a if k.startswith("model.")]
    assert keys and all(torch.equal(a[k], b[k]) for k in keys)
    resumed = json.loads((tmp_path / "killed" / "blend.json").read_text())
    assert resumed["final"] == whole["weights"] and resumed["estimates"] == json.loads(json.dumps(whole["estimates"]))
    assert (tmp_path / "killed" / "metrics.csv").read_text().count("\n") == len(whole["metrics"]) + 1


def test_separate_estimate_trains_each_head_alone(av, tmp_path):
    """Offline G-Blend estimated as in Algorithm 1 (``blend.estimate=separate``): after the warm-up each head
    measures as it does in a run that trains it alone (weight 1 on a modality's head; naive for the fused head),
    the weights follow from those measurements, and the main run trains from the initial weights with them."""
    from videozoo.engine.gblend import blend_weights

    common = ["train.epochs=2", "blend.warmup_epochs=1", "blend.min_gain=0"]
    result = run(av, tmp_path / "separate", "blend.weighting=offline", "blend.estimate=separate", *common)
    (estimate,) = result["estimates"]
    assert estimate["estimate"] == "separate" and estimate["trained_epochs"] == 1
    assert [r["phase"] for r in result["metrics"]] == ["main", "main"]  # no warm-up phase of its own
    alone = {"rgb": ["blend.weighting=fixed", "blend.fixed_weights={rgb: 1}"],
             "audio": ["blend.weighting=fixed", "blend.fixed_weights={audio: 1}"],
             "fused": ["blend.weighting=naive"]}
    after = estimate["measured_after"]
    for head, overrides in alone.items():
        row = run(av, tmp_path / head, *common, *overrides)["metrics"][0]  # after its first epoch
        assert tuple(after["train_subset"][head]) == (row[f"{head}_train_loss"], row[f"{head}_train_top1"])
        assert tuple(after["holdout"][head]) == (row[f"{head}_holdout_loss"], row[f"{head}_holdout_top1"])
    assert estimate["weights"] == blend_weights(estimate["gain"], estimate["overfitting"])
    w = estimate["weights"]
    fixed = run(av, tmp_path / "fixed", *common, "blend.weighting=fixed",
                f"blend.fixed_weights={{rgb: {w['rgb']!r}, audio: {w['audio']!r}, fused: {w['fused']!r}}}")
    for a, b in zip(result["metrics"], fixed["metrics"], strict=True):
        assert a["fused_val_loss"] == pytest.approx(b["fused_val_loss"], rel=1e-4)


def test_separate_estimate_puts_the_run_back(av, tmp_path):
    """The k + 1 trainings of a separate estimate leave the model, optimizer, scheduler and RNG as they were;
    each head's gain and overfitting are measured against the state they started from."""
    from videozoo.engine.multimodal import MultiModalTrainer

    cfg = load_config(None, [f"data.train={av / 'train.csv'}", f"out={tmp_path}", "train.epochs=3",
                             "blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}", *SMALL])
    trainer = MultiModalTrainer(cfg)
    optimizer, scheduler = trainer._optim(3)
    trainer.train_epoch(0, optimizer, scheduler)
    model = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    moments = {(i, k): v.clone() for i, s in optimizer.state_dict()["state"].items() for k, v in s.items()}
    before = trainer._measure_all()
    sched, rng = scheduler.state_dict(), torch.get_rng_state()
    gain, over, after = trainer.estimate_separately(1, 2, optimizer, scheduler, before)
    assert all(torch.equal(v, model[k]) for k, v in trainer.model.state_dict().items())
    now = {(i, k): v for i, s in optimizer.state_dict()["state"].items() for k, v in s.items()}
    assert now.keys() == moments.keys() and all(torch.equal(v, moments[k]) for k, v in now.items())
    assert scheduler.state_dict() == sched and torch.equal(torch.get_rng_state(), rng)
    for h in ("rgb", "audio", "fused"):
        assert gain[h] == before["holdout"][h][0] - after["holdout"][h][0]
        assert over[h] == ((after["holdout"][h][0] - after["train_subset"][h][0])
                           - (before["holdout"][h][0] - before["train_subset"][h][0]))
    assert trainer.measure("holdout") == before["holdout"]  # the model measures as before


def test_online_separate_estimates_each_super_epoch_but_the_last(av, tmp_path):
    """Online, separate: after the warm-up and every super-epoch but the last, each head trained for the
    super-epoch or the fewer epochs the run has left; the next epochs train with the estimate."""
    result = run(av, tmp_path / "x", "blend.weighting=online", "blend.estimate=separate", "blend.warmup_epochs=1",
                 "blend.super_epoch=2", "train.epochs=4")
    estimates = result["estimates"]
    assert [(e["after_epoch"], e["trained_epochs"]) for e in estimates] == [(1, 2), (3, 1)]
    assert all(e["estimate"] == "separate" for e in estimates)
    assert [r["rgb_weight"] for r in result["metrics"]] == [
        1 / 3, estimates[0]["weights"]["rgb"], estimates[0]["weights"]["rgb"], estimates[1]["weights"]["rgb"]]


def test_eval_of_a_multimodal_run_scores_every_head(av, tmp_path, capsys):
    """`videozoo eval` on a G-Blend run folder: clip and video accuracy of every head, the prediction head's at the
    top (as any run's); seen as the run sees its validation set (one clip, one crop, fp32) it gives the run's own
    validation top-1 of every head."""
    result = run(av, tmp_path / "run", "blend.weighting=fixed", "blend.fixed_weights={rgb: 1, audio: 1, fused: 1}",
                 "train.epochs=2", "train.precision=fp32")
    capsys.readouterr()
    common = ["eval", "--checkpoint", str(tmp_path / "run"), "--data", str(av / "val.csv"), "--workers", "0"]
    assert main([*common, "--clips", "1", "--crops", "1", "--precision", "fp32", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics["heads"]) == {"rgb", "audio", "fused"} and metrics["num_videos"] == 4
    last = result["metrics"][-1]
    for head, m in metrics["heads"].items():
        assert m["video_top1"] == pytest.approx(last[f"{head}_val_top1"]), head
    assert metrics["predict_head"] == result["predict_head"]
    assert metrics["video_top1"] == metrics["heads"][result["predict_head"]]["video_top1"]
    # The same from Python, to the loss: the views are the run's own, the sound each clip's.
    from videozoo.engine.evaluate import audio_settings_of, evaluate_multimodal, load_for_inference
    from videozoo.engine.inputs import multimodal_dataset
    from videozoo.engine.predictor import Predictor

    model, classes, settings = load_for_inference(tmp_path / "run")
    dataset = multimodal_dataset(load_items(av / "val.csv", classes=classes)[0], classes, settings, model.modalities,
                                 train=False, audio=audio_settings_of(tmp_path / "run"))
    heads = evaluate_multimodal(Predictor(model, precision="fp32"), dataset, num_workers=0)
    for head, r in heads.items():
        loss = -np.log(r.video_probs[np.arange(len(r.video_labels)), r.video_labels]).mean()
        assert loss == pytest.approx(last[f"{head}_val_loss"], rel=1e-4), head
    # `videozoo predict` on a joint run: the prediction head's probabilities, from the frames and the sound.
    video = dataset.items[0].path
    assert main(["predict", "--checkpoint", str(tmp_path / "run"), video, "--clips", "1", "--precision", "fp32",
                 "--json"]) == 0
    top = {t["class"]: t["probability"] for t in json.loads(capsys.readouterr().out)["top"]}
    chosen = heads[model.predict_head]
    row = list(chosen.video_indices).index(0)
    assert [top[c] for c in classes] == pytest.approx(chosen.video_probs[row].tolist(), rel=1e-5)
    # `videozoo extract` on a joint run: per clip, the fused head's input (every backbone's pooled feature,
    # concatenated), or one backbone's; each clip with its own sound.
    from videozoo.engine.features import Features

    extract = ["extract", "--checkpoint", str(tmp_path / "run"), "--data", str(av / "val.csv"), "--clips", "2",
               "--precision", "fp32", "--workers", "0", "--quiet"]
    assert main([*extract, "--out", str(tmp_path / "fused.npz")]) == 0
    assert main([*extract, "--modality", "audio", "--out", str(tmp_path / "audio.npz")]) == 0
    fused, audio = Features.load(tmp_path / "fused.npz"), Features.load(tmp_path / "audio.npz")
    two_clips = multimodal_dataset(dataset.items, classes, settings, model.modalities, train=False, num_clips=2,
                                   audio=audio_settings_of(tmp_path / "run"))
    sample = two_clips[0]
    with torch.no_grad():
        want = model.eval().forward_features({"rgb": sample["video"], "audio": sample["audio"]})  # (2 clips, D)
    assert fused.info["modality"] == "fused" and list(fused.clip[fused.video == 0]) == [0, 1]
    assert np.allclose(fused.features[fused.video == 0], want.numpy(), atol=1e-5)
    rgb_width = model.backbones["rgb"].forward_features(sample["video"][:1]).shape[1]
    assert np.allclose(audio.features, fused.features[:, rgb_width:], atol=1e-5)  # fused = [rgb | audio]
    assert main([*extract, "--layer", "layer1", "--out", str(tmp_path / "x.npz")]) == 2  # fused: pooled only
    assert "layer 'pooled'" in capsys.readouterr().err
    assert main([*extract, "--modality", "flow", "--out", str(tmp_path / "x.npz")]) == 2
    assert "modalities are rgb, audio and fused" in capsys.readouterr().err
    saved = json.loads((tmp_path / "run" / "eval_val" / "metrics.json").read_text())
    assert saved["heads"] == metrics["heads"] and (tmp_path / "run" / "eval_val" / "confusion.png").is_file()
    assert main([*common, "--clips", "2", "--crops", "3"]) == 0  # the papers' protocol, fewer clips
    text = capsys.readouterr().out
    assert "fused head: video top-1" in text and "audio head: clip  top-1" in text


def test_missing_audio_is_zeros_and_flagged(av, tmp_path):
    write_video(tmp_path / "a" / "silent.mp4", np.zeros((8, 32, 32, 3), np.uint8))
    items, classes = load_items(tmp_path)
    ds = VideoDataset(items, classes, transform=TransformConfig(crop=32), audio=AudioConfig())
    sample = ds[0]
    assert not sample["has_audio"] and torch.count_nonzero(sample["audio"]) == 0
    # A run counts its silent training videos (blend.json), and refuses a data set with no sound at all.
    silent = []
    for c in ("left", "right"):
        for k in range(2):
            path = tmp_path / "silent" / f"{c}{k}.mp4"
            write_video(path, np.zeros((12, 32, 32, 3), np.uint8))
            silent.append(f"{path},{c}")
    rows = (av / "train.csv").read_text().splitlines()
    absolute = [f"{av / line.split(',')[0]},{line.split(',')[1]}" for line in rows[1:]]
    (tmp_path / "mixed.csv").write_text("\n".join(["path,label", *absolute, *silent]) + "\n")
    (tmp_path / "quiet.csv").write_text("\n".join(["path,label", *silent]) + "\n")
    common = ["blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}", "blend.weighting=naive",
              "train.epochs=1", *SMALL]
    train_multimodal(load_config(None, [f"data.train={tmp_path / 'mixed.csv'}", f"out={tmp_path / 'm'}", *common]))
    tracks = json.loads((tmp_path / "m" / "blend.json").read_text())["audio_tracks"]
    items = load_items(tmp_path / "mixed.csv")[0]
    train_idx, _ = split_holdout([i.label for i in items], 0.25, seed=0)  # the probe covers the training split
    assert tracks["probed"] == len(train_idx)
    assert tracks["without_audio"] == sum("silent" in items[i].path for i in train_idx) > 0
    assert all("silent" in p for p in tracks["examples"])
    with pytest.raises(DataError, match="none of .* has an audio track"):
        train_multimodal(load_config(None, [f"data.train={tmp_path / 'quiet.csv'}", f"out={tmp_path / 'q'}",
                                            *common]))


def test_config_errors(av, tmp_path):
    with pytest.raises(ConfigError, match="blend.modalities"):
        run(av, tmp_path / "x", "blend.modalities={rgb: r2plus1d_18, depth: r3d_18}")
    with pytest.raises(ConfigError, match="flow_root"):
        run(av, tmp_path / "x", "blend.modalities={rgb: r2plus1d_18, flow: r2plus1d_18}")
    with pytest.raises(ConfigError, match="fixed_weights"):
        run(av, tmp_path / "x", "blend.weighting=fixed")
    with pytest.raises(ConfigError, match="blend.min_gain"):
        run(av, tmp_path / "x", "blend.min_gain=-1")
    with pytest.raises(ConfigError, match="blend.estimate"):
        run(av, tmp_path / "x", "blend.estimate=alone")
    with pytest.raises(ValueError, match="did you mean audio_resnet_18"):
        run(av, tmp_path / "x", "blend.modalities={rgb: r2plus1d_18, audio: audio_resnet18}")


def test_online_warmup_as_long_as_the_run_warns(av, tmp_path, caplog):
    result = run(av, tmp_path / "x", "blend.weighting=online", "blend.warmup_epochs=2", "train.epochs=2")
    assert "the weights stay uniform throughout" in caplog.text
    weights = [row[f"{h}_weight"] for row in result["metrics"] for h in ("rgb", "audio", "fused")]
    assert weights == [pytest.approx(1 / 3)] * 6


def test_flow_files_are_read_aligned(av, tmp_path, capsys):
    assert main(["flow", str(av / "val.csv"), str(tmp_path / "flow"), "--quiet"]) == 0
    items, classes = load_items(av / "val.csv")
    right = next(i for i in items if "right" in i.path)
    target = flow_path(right.path, av, tmp_path / "flow")
    with FlowReader(target) as reader:
        assert reader.num_frames == 12
        flow = dequantize(reader.get_frames(range(11)).numpy())
    assert flow[..., 0].mean() > 0.5  # "right" moves right
    ds = VideoDataset(items, classes, transform=TransformConfig(crop=32, normalization="flow"), train=False,
                      modality="flow", flow_root=tmp_path / "flow", data_root=av)
    assert ds[0]["video"].shape == (1, 2, 16, 32, 32)
    # A flow file made from another video is refused, and the dataset skips the video.
    other = next(i for i in items if i.path != right.path)
    write_video(tmp_path / "short.mp4", np.zeros((5, 32, 32, 3), np.uint8))
    make_flows([str(tmp_path / "short.mp4")], tmp_path, tmp_path / "flow2")
    flow_path(other.path, av, tmp_path / "flow2").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "flow2" / "short.mp4.flow.mp4").rename(flow_path(other.path, av, tmp_path / "flow2"))
    ds2 = VideoDataset([other], classes, transform=TransformConfig(crop=32, normalization="flow"), train=False,
                       modality="flow", flow_root=tmp_path / "flow2", data_root=av)
    assert ds2[0]["skipped"] and "does not match its video" in ds2[0]["error"]
    with pytest.raises(DataError, match="flow_root"):
        VideoDataset(items, classes, modality="flow")
    with pytest.raises(DataError, match="data_root"):
        VideoDataset(items, classes, modality="flow", flow_root=tmp_path / "flow")


def test_rgb_flow_audio_training(av, tmp_path):
    make_flows([i.path for i in load_items(av / "train.csv")[0] + load_items(av / "val.csv")[0]], av,
               tmp_path / "flow")
    three = "blend.modalities={rgb: r2plus1d_18, flow: r2plus1d_18, audio: audio_resnet_18}"
    result = run(av, tmp_path / "three", three,
                 f"blend.flow_root={tmp_path / 'flow'}", "train.epochs=1", "blend.weighting=naive")
    assert set(result["weights"]) == {"rgb", "flow", "audio", "fused"}
    assert all(r["fused_holdout_top1"] == r["fused_holdout_top1"] for r in result["metrics"])
    assert json.loads((tmp_path / "three" / "blend.json").read_text())["skipped"] == {}


def test_two_stream_score_fusion(av, tmp_path, capsys):
    """Separately trained RGB and flow models, fused at eval time; per-stream and fused accuracy in the JSON."""
    from videozoo.engine.trainer import train

    make_flows([i.path for i in load_items(av / "train.csv")[0] + load_items(av / "val.csv")[0]], av,
               tmp_path / "flow")
    common = [f"data.train={av / 'train.csv'}", "model.name=r2plus1d_18", "train.epochs=1", "data.num_frames=4",
              "data.crop=32", "data.num_workers=0", "train.batch_size=4", "train.progress=false",
              "model.overrides.base_width=8"]
    train(load_config(None, [*common, f"out={tmp_path / 'rgb'}"]))
    # The flow stream: `videozoo train ... data.modality=flow data.flow_root=FLOW` (2 input channels by itself).
    assert main(["train", *common, f"out={tmp_path / 'flowrun'}", "data.modality=flow",
                 f"data.flow_root={tmp_path / 'flow'}"]) == 0
    flow_model = videozoo.load_model(tmp_path / "flowrun" / "last.safetensors")
    assert flow_model.in_channels == 2
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(tmp_path / "rgb"), "--checkpoint", str(tmp_path / "flowrun"),
                 "--flow-root", str(tmp_path / "flow"), "--data", str(av / "val.csv"), "--clips", "2", "--crops", "1",
                 "--workers", "0", "--json"]) == 0
    fused = json.loads(capsys.readouterr().out)
    assert set(fused["streams"]) == {"rgb", "flowrun"} and fused["num_videos"] == 4
    assert 0 <= fused["fused"]["video_top1"] <= 1
    assert main(["eval", "--checkpoint", str(tmp_path / "flowrun"), "--data", str(av / "val.csv")]) == 2
    assert "give --flow-root" in capsys.readouterr().err
    video = str(av / load_items(av / "val.csv")[0][0].path)
    assert main(["predict", "--checkpoint", str(tmp_path / "flowrun"), video]) == 2
    assert "takes optical flow" in capsys.readouterr().err
    assert main(["train", *common, f"out={tmp_path / 'x'}", "data.modality=flow"]) == 2
    assert "data.flow_root" in capsys.readouterr().err


@pytest.fixture(scope="module")
def av_blend(tmp_path_factory):
    """The set of benchmarks/gblend_synth.py: 4 (motion, pitch) classes, 48 training videos each."""
    root = tmp_path_factory.mktemp("av_blend")
    make_synthetic_dataset(root, SynthConfig(classes=4, per_class=48, val_per_class=0, audio_visual=True))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("weighting, schedule", [("offline", ["blend.warmup_epochs=8", "train.epochs=1"]),
                                                 ("online", ["blend.warmup_epochs=6", "blend.super_epoch=3",
                                                             "train.epochs=9"])])
def test_gblend_weights_the_faster_overfitting_modality_down(av_blend, tmp_path, weighting, schedule):
    """On the audio-visual set the sound is learned within a few epochs and then memorised (each video's chord):
    its held-out loss rises while the motion keeps generalising. Offline and online G-Blend must see that and
    give audio the smaller weight."""
    cfg = load_config(None, [f"data.train={av_blend / 'train.csv'}", f"out={tmp_path / weighting}",
                             "blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}",
                             "blend.backbone_overrides={rgb: {base_width: 16}, audio: {base_width: 16}}",
                             "blend.fusion_hidden=128", "blend.holdout=0.15", f"blend.weighting={weighting}",
                             *schedule, "train.progress=false"])
    result = train_multimodal(cfg)
    print(json.dumps(result["estimates"], indent=1))
    first = result["estimates"][0]  # after the warm-up: audio has been learned, then memorised
    assert first["overfitting"]["audio"] > first["overfitting"]["rgb"], first
    assert all(e["weights"]["audio"] < e["weights"]["rgb"] for e in result["estimates"]), result["estimates"]
    assert result["weights"]["audio"] < result["weights"]["rgb"]
