"""The engine: config checks, training, resume, NaN stop, eval, predict, fine-tuning."""

import json

import pytest
import torch

import videozoo
from tests.tiny import TINY_RUN as TINY
from videozoo.cli import main
from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.engine import trainer as trainer_mod
from videozoo.engine.checkpoint import read_checkpoint, read_training_checkpoint
from videozoo.engine.config import ConfigError, load_config
from videozoo.engine.core import TrainingDiverged
from videozoo.engine.trainer import train


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    make_synthetic_dataset(root, SynthConfig(classes=3, per_class=4, val_per_class=2, frames=12, size=32))
    return root


def config(synth, out, *extra):
    return load_config(None, [f"data.train={synth / 'train.csv'}", f"data.val={synth / 'val.csv'}", f"out={out}",
                              "model.name=r2plus1d_18", "train.epochs=3", *TINY, *extra])


def test_run_folder(synth, tmp_path):
    result = train(config(synth, tmp_path / "run"))
    out = tmp_path / "run"
    for name in ("config.yaml", "classes.txt", "metrics.csv", "curves.png", "last.safetensors", "best.safetensors"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").iterdir())
    assert (out / "classes.txt").read_text().split() == ["down", "left", "right"]  # names, sorted
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 3
    assert result.epochs_done == 3 and result.best_epoch is not None
    states, info, meta = read_training_checkpoint(out / "last.safetensors")
    assert info["epoch"] == 2 and {"optimizer", "scheduler", "rng"} <= set(states)
    assert json.loads(meta["data_settings"])["crop"] == 32
    model = videozoo.load_model(out / "best.safetensors")  # a training checkpoint is a model checkpoint too
    assert model.classes == ["down", "left", "right"]
    saved = load_config(out / "config.yaml")
    assert saved.model.overrides == {"base_width": 8} and saved.data.num_frames == 4


def test_resume_gives_the_same_weights(synth, tmp_path, monkeypatch):
    """Kill a run after epoch 2 of 3, resume it: the final weights equal those of an uninterrupted run."""
    whole = tmp_path / "whole"
    train(config(synth, whole, "data.num_workers=2"))

    killed = tmp_path / "killed"
    original = trainer_mod.Trainer.end_epoch

    def end_epoch_then_die(self, epoch, row):
        original(self, epoch, row)
        if epoch == 1:
            raise KeyboardInterrupt  # as if killed right after the epoch-2 checkpoint

    monkeypatch.setattr(trainer_mod.Trainer, "end_epoch", end_epoch_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(config(synth, killed, "data.num_workers=2"))
    monkeypatch.setattr(trainer_mod.Trainer, "end_epoch", original)
    assert read_training_checkpoint(killed / "last.safetensors")[1]["epoch"] == 1
    result = train(config(synth, killed, "data.num_workers=2"), resume=True)
    assert result.epochs_done == 3
    a, _ = read_checkpoint(whole / "last.safetensors")
    b, _ = read_checkpoint(killed / "last.safetensors")
    model_keys = [k for k in a if k.startswith("model.")]
    assert model_keys and all(torch.equal(a[k], b[k]) for k in model_keys)
    assert (whole / "metrics.csv").read_text().count("\n") == (killed / "metrics.csv").read_text().count("\n")


def test_workers_started_by_a_forkserver_train_the_same(synth, tmp_path):
    """data.worker_start=forkserver: clean worker processes, the same samples, so the same weights as fork."""
    runs = {start: tmp_path / start for start in ("fork", "forkserver")}
    for start, out in runs.items():
        train(config(synth, out, "train.epochs=1", "data.num_workers=2", f"data.worker_start={start}"))
    a, _ = read_checkpoint(runs["fork"] / "last.safetensors")
    b, _ = read_checkpoint(runs["forkserver"] / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(synth, tmp_path, monkeypatch):
    out = tmp_path / "nan"
    calls = {"n": 0}
    real = torch.nn.functional.cross_entropy

    def poisoned(logits, y, **kw):
        calls["n"] += 1
        loss = real(logits, y, **kw)
        return loss * float("nan") if calls["n"] > 4 else loss  # epoch 1 has 3 batches: NaN in epoch 2

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2.*last good epoch \(1\)"):
        train(config(synth, out, "data.val=null"))
    assert read_training_checkpoint(out / "last.safetensors")[1]["epoch"] == 0


@pytest.mark.parametrize("override,match", [
    ("optim.lrr=0.1", "optim.lrr"),
    ("train.epochs=many", "train.epochs"),
    ("data.train=/no/such.csv", "file not found: /no/such.csv"),
    ("optim.schedule=wavy", "optim.schedule"),
    ("model.name=r2plus1d18", "did you mean r2plus1d_18"),
    ("train.batch_size=0", "train.batch_size"),
    ("data.worker_start=thread", "data.worker_start"),
])
def test_bad_configs_fail_before_training(synth, tmp_path, override, match):
    with pytest.raises((ConfigError, ValueError), match=match):
        train(config(synth, tmp_path / "bad", override))
    assert not (tmp_path / "bad").exists()


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: r3d_18\ntrain: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")


def test_clip_that_does_not_fit_fails_before_training(synth, tmp_path):
    with pytest.raises(ConfigError, match=r"clips do not fit the model.*T ≥ 16"):
        train(config(synth, tmp_path / "p3d", "model.name=p3d_63", "data.num_frames=8"))


def test_eval_predict_and_finetune_from_the_cli(synth, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "r2plus1d_18", "--data", str(synth / "train.csv"), "--val",
                 str(synth / "val.csv"), "--epochs", "1", "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--data", str(synth / "val.csv"), "--clips", "2", "--crops", "3",
                 "--workers", "0", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"clip_top1", "clip_top5", "video_top1", "video_top5", "num_videos", "num_skipped"} <= set(metrics)
    assert metrics["num_videos"] == 6 and metrics["num_clips"] == 6 * 2 * 3 and metrics["num_skipped"] == 0
    assert all(0 <= metrics[k] <= 1 for k in ("clip_top1", "video_top1", "video_top5"))
    assert metrics["video_top5"] == 1.0  # 3 classes: the true one is always among the top 5
    for name in ("metrics.json", "per_class.csv", "confusion.csv", "confusion.png"):
        assert (run / "eval_val" / name).is_file()

    video = synth / "videos" / "left" / "left_0004.mp4"
    assert main(["predict", str(video), "--checkpoint", str(run / "best.safetensors"), "--json"]) == 0
    top = json.loads(capsys.readouterr().out)["top"]
    assert [t["class"] for t in top] and sorted(t["class"] for t in top) == ["down", "left", "right"]
    assert abs(sum(t["probability"] for t in top) - 1) < 1e-4

    # Fine-tune on a 2-class subset with a frozen backbone: a new head, the backbone unchanged.
    (tmp_path / "two.csv").write_text("".join(line for line in (synth / "train.csv").read_text().splitlines(True)
                                              if "down" not in line).replace("videos/", f"{synth}/videos/"))
    tuned = tmp_path / "tuned"
    assert main(["train", "--model", "r2plus1d_18", "--data", str(tmp_path / "two.csv"), "--epochs", "1",
                 "--out", str(tuned), "--finetune", str(run / "best.safetensors"), "--freeze-backbone", *TINY]) == 0
    before, after = videozoo.load_model(run / "best.safetensors"), videozoo.load_model(tuned / "last.safetensors")
    assert after.num_classes == 2
    b, a = before.state_dict(), after.state_dict()
    assert all(torch.equal(b[k], a[k]) for k in b if not k.startswith("head."))


def test_finetune_refuses_another_architecture(synth, tmp_path):
    run = tmp_path / "r3d"
    train(config(synth, run, "model.name=r3d_18", "train.epochs=1"))
    with pytest.raises(ConfigError, match="is a r3d_18 checkpoint, the model is r2plus1d_18"):
        train(config(synth, tmp_path / "ft", f"train.finetune={run / 'last.safetensors'}"))


def test_broken_videos_are_skipped_and_counted(synth, tmp_path):
    listing = tmp_path / "with_broken.csv"
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    listing.write_text((synth / "train.csv").read_text().replace("videos/", f"{synth}/videos/")
                       + f"{tmp_path / 'broken.mp4'},right\n{tmp_path / 'gone.mp4'},left\n")
    result = train(config(synth, tmp_path / "run", f"data.train={listing}", "train.epochs=1"))
    assert result.skipped == 2


def test_finetune_keeps_the_weights_architecture_and_preprocessing(synth, tmp_path):
    """Converted weights carry their overrides (VMZ's BatchNorm eps) and normalisation; fine-tuning keeps both."""
    from videozoo.engine.inputs import InputSettings

    source = videozoo.create_model("r2plus1d_18", 7, base_width=8, bn_eps=1e-3)
    settings = InputSettings(family="residual", num_frames=4, stride=1, fps=None, crop=32, resize=None,
                             resize_hw=None, scale_jitter=None, flip=True, normalization="pytorchvideo")
    videozoo.save_model(source, tmp_path / "w.safetensors", metadata={"data_settings": settings.to_json()})
    tuned = trainer_mod.Trainer(config(synth, tmp_path / "ft", f"train.finetune={tmp_path / 'w.safetensors'}"))
    assert tuned.model.spec.bn_eps == 1e-3 and tuned.inputs.normalization == "pytorchvideo"
    assert torch.equal(tuned.model.layer1[0].conv1.spatial.conv.weight, source.layer1[0].conv1.spatial.conv.weight)
    told = trainer_mod.Trainer(config(synth, tmp_path / "ft2", f"train.finetune={tmp_path / 'w.safetensors'}",
                                      "data.normalization=kinetics"))
    assert told.inputs.normalization == "kinetics"
    # from scratch the default is per-clip standardisation, written into the run's config and checkpoints
    scratch = trainer_mod.Trainer(config(synth, tmp_path / "scratch"))
    assert scratch.inputs.normalization == "clip" and scratch.cfg.data.normalization == "clip"
    given = trainer_mod.Trainer(config(synth, tmp_path / "given", "data.normalization=kinetics"))
    assert given.inputs.normalization == "kinetics"  # a preset given is kept


def test_a_checkpoint_that_cannot_be_written_stops_the_run_in_one_line(synth, tmp_path, monkeypatch, capsys):
    """A full disk at the epoch-2 checkpoint: the run stops with one line, epoch 1's checkpoint stays loadable,
    and once there is room again the run resumes from it."""
    from videozoo.engine import checkpoint as checkpoint_mod

    original, writes = checkpoint_mod.save_file, []

    def disk_full_on_third(*args, **kwargs):  # epoch 1 writes last and best; epoch 2's first write fails
        writes.append(args[1])
        if len(writes) == 3:
            raise OSError(28, "No space left on device")
        return original(*args, **kwargs)

    monkeypatch.setattr(checkpoint_mod, "save_file", disk_full_on_third)
    out = tmp_path / "run"
    args = ["train", "--model", "r2plus1d_18", "--data", str(synth / "train.csv"), "--val", str(synth / "val.csv"),
            "--epochs", "3", "--out", str(out), "--no-progress", *TINY]
    assert main(args) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0] and "No space left on device" in err[0], err
    assert read_training_checkpoint(out / "last.safetensors")[1]["epoch"] == 0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(checkpoint_mod, "save_file", original)
    assert main([*args, "--resume"]) == 0
    assert read_training_checkpoint(out / "last.safetensors")[1]["epoch"] == 2


def test_auto_resume_starts_a_new_run_and_continues_an_old_one(synth, tmp_path, caplog):
    out = tmp_path / "run"
    args = ["train", "--model", "r2plus1d_18", "--data", str(synth / "train.csv"), "--out", str(out),
            "--no-progress", "--auto-resume", *TINY]
    with caplog.at_level("INFO", logger="videozoo"):
        assert main([*args, "--epochs", "1"]) == 0  # nothing to resume: it starts
        assert "resuming" not in caplog.text
        assert main([*args, "--epochs", "2"]) == 0  # a checkpoint: it continues, for one more epoch
    assert f"resuming {out} after epoch 1" in caplog.text
    assert read_training_checkpoint(out / "last.safetensors")[1]["epoch"] == 1
