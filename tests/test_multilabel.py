"""Multi-label data: AudioSet's and Sports-1M's lists, a CSV's ``labels`` column, multi-hot targets, binary
cross-entropy, mAP in training and in ``videozoo eval``, sigmoid scores in predict."""

import csv
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

import videozoo
from tests.tiny import TINY_RUN as TINY
from videozoo.cli import main
from videozoo.data import DataError, SynthConfig, VideoDataset, load_items, make_synthetic_dataset, read_video_csv
from videozoo.data.sampling import ClipSampling
from videozoo.data.transforms import TransformConfig
from videozoo.engine.checkpoint import read_checkpoint
from videozoo.engine.config import load_config
from videozoo.engine.metrics import classification_loss, mean_average_precision, topk_correct

AUDIOSET_CLASSES = 'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/05zppz,"Male speech, man speaking"\n' \
                   '2,/m/0jbk,"Animal"\n'


def test_audioset_segments_csv(tmp_path):
    (tmp_path / "class_labels_indices.csv").write_text(AUDIOSET_CLASSES)
    segments = tmp_path / "balanced_train_segments.csv"
    segments.write_text("# Segments csv created Sun Mar  5 10:54:31 2017\n"
                        "# num_ytids=2, num_segs=2, num_unique_labels=3, num_positive_labels=3\n"
                        "# YTID, start_seconds, end_seconds, positive_labels\n"
                        '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/05zppz"\n'
                        '-0RWZT-miFs, 420.000, 430.000, "/m/0jbk"\n')
    items, classes = load_items(segments, root=tmp_path / "videos")  # auto: its header says AudioSet
    assert classes == ["Speech", "Male speech, man speaking", "Animal"]  # names from display_name, in index order
    assert [i.labels for i in items] == [(0, 1), (2,)] and items[0].label == 0
    assert items[0].path == str(tmp_path / "videos" / "--PJHxphWEs.mp4")
    assert items[0].start is None  # the downloaded files are the 10-second segments
    (tmp_path / "bad.csv").write_text("# YTID, start_seconds, end_seconds, positive_labels\n"
                                      'abc, 0.0, 10.0, "/m/nothere"\n')
    with pytest.raises(DataError, match="bad.csv:2: label '/m/nothere' is not in"):
        load_items(tmp_path / "bad.csv", root=tmp_path)


def test_sports1m_partition_lists(tmp_path):
    (tmp_path / "labels.txt").write_text("boomerang\ncricket\nmodel aircraft\n", encoding="utf-8")
    (tmp_path / "train_partition.txt").write_text("https://www.youtube.com/watch?v=UDqivjS-lpI 1,2\n"
                                                  "http://www.youtube.com/watch?v=oHg5SJYRHA0 0\n")
    items, classes = load_items(tmp_path / "train_partition.txt", root=tmp_path / "v")  # auto: YouTube URLs
    assert classes == ["boomerang", "cricket", "model aircraft"]
    assert [i.labels for i in items] == [(1, 2), (0,)]
    assert items[0].path == str(tmp_path / "v" / "UDqivjS-lpI.mp4")
    (tmp_path / "bad.txt").write_text("https://www.youtube.com/watch?v=abc 7\n")
    with pytest.raises(DataError, match="label 7 is out of range for 3 classes"):
        load_items(tmp_path / "bad.txt", fmt="sports1m", root=tmp_path)
    (tmp_path / "worse.txt").write_text("not-a-url 1\n")
    with pytest.raises(DataError, match="worse.txt:1: expected a YouTube URL"):
        load_items(tmp_path / "worse.txt", fmt="sports1m", root=tmp_path)


def test_csv_labels_column_gives_multi_hot_targets(tmp_path):
    from tests.videos import barcodes
    from videozoo.data import write_video

    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.mp4", barcodes(8), fps=10)
    (tmp_path / "list.csv").write_text('path,labels\na.mp4,"dog,bark"\nb.mp4,cat;dog\n')
    items, classes = read_video_csv(tmp_path / "list.csv")
    assert classes == ["bark", "cat", "dog"] and [i.labels for i in items] == [(2, 0), (1, 2)]
    ds = VideoDataset(items, classes, ClipSampling(4), TransformConfig(crop=32))
    assert ds.multilabel and ds[0]["label"].tolist() == [1.0, 0.0, 1.0]
    single = VideoDataset(items, classes, ClipSampling(4), TransformConfig(crop=32), multilabel=False)
    assert single[1]["label"] == 1  # the first class, for what takes one class per video
    (tmp_path / "empty.csv").write_text("path,labels\na.mp4,\n")
    with pytest.raises(DataError, match="empty.csv:2: no label"):
        read_video_csv(tmp_path / "empty.csv")
    (tmp_path / "unquoted.csv").write_text("path,labels\na.mp4,dog,bark\n")
    with pytest.raises(DataError, match="unquoted.csv:2: 'bark' where the segment's start goes.*quoted"):
        read_video_csv(tmp_path / "unquoted.csv")


def test_loss_hits_and_map():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-2.0, 1.0, 3.0]])
    hot = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, hot, reduction="sum") / 2
    assert torch.allclose(classification_loss(logits, hot), expected)  # summed over classes, mean over videos
    assert torch.allclose(classification_loss(logits, torch.tensor([0, 2])),
                          torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])))
    assert topk_correct(logits, hot, 1).tolist() == [True, False]  # row 2's best (class 2) is not its class
    assert topk_correct(logits, hot, 2).tolist() == [True, True]
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.6], [0.1, 0.2]])
    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    # class 0: positives ranked 1st and 3rd, AP = (1/1 + 2/3) / 2; class 1: its positive ranked 1st, AP = 1
    assert mean_average_precision(scores, targets) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    assert mean_average_precision(scores, targets) == pytest.approx(
        np.mean([average_precision_score(targets[:, c], scores[:, c]) for c in range(2)]))


# Each motion of the synthetic set with its axis: two labels a video, one of them shared by two motions.
AXES = {"left": "horizontal", "right": "horizontal", "down": "vertical"}


def multilabel_list(synth, name: str, out, labels_of=lambda label: f"{label};{AXES[label]}"):
    """The synthetic set's list ``name`` as a multi-label list in ``out``: each video's labels ``labels_of(label)``."""
    with open(synth / f"{name}.csv") as f:
        rows = list(csv.reader(f))[1:]
    path = out / f"{name}.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "labels"])
        for video, label in rows:
            writer.writerow([synth / video, labels_of(label)])
    return path


def test_train_eval_predict_multilabel(tmp_path, capsys):
    """A run on a multi-label list trains with binary cross-entropy, reports validation mAP per epoch, saves a
    multi-label checkpoint; eval gives the video mAP (equal to scikit-learn's on its own scores) and per-class
    AP; predict gives sigmoid probabilities."""
    synth = tmp_path / "synth"
    make_synthetic_dataset(synth, SynthConfig(classes=3, per_class=8, val_per_class=3, frames=12, size=32))
    train_csv, val_csv = multilabel_list(synth, "train", tmp_path), multilabel_list(synth, "val", tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--model", "r2plus1d_18", "--data", str(train_csv), "--val", str(val_csv),
                 "--epochs", "4", "--out", str(run), *TINY]) == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 4 and all(0 <= float(r["val_map"]) <= 1 for r in rows)
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    _, meta = read_checkpoint(run / "best.safetensors")
    assert meta["multilabel"] == "true" and videozoo.load_model(run / "best.safetensors").multilabel
    assert (run / "classes.txt").read_text().split() == ["down", "horizontal", "left", "right", "vertical"]

    assert main(["eval", "--checkpoint", str(run), "--data", str(val_csv), "--clips", "2", "--crops", "1",
                 "--workers", "0", "--out", str(tmp_path / "eval"), "--json"]) == 0
    from videozoo.engine.evaluate import evaluate, load_for_inference

    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert 0 <= metrics["video_map"] <= 1 and set(metrics["per_class_ap"]) == set(AXES) | {"horizontal", "vertical"}
    per_class = (tmp_path / "eval" / "per_class.csv").read_text().splitlines()
    assert per_class[0] == "class,ap,videos" and not (tmp_path / "eval" / "confusion.csv").exists()

    model, classes, settings = load_for_inference(run)
    items, _ = load_items(val_csv, classes=classes)
    result = evaluate(model, VideoDataset(items, classes, settings.sampling, settings.transform(1), train=False,
                                          num_clips=2), num_workers=0)
    assert result.video_map == pytest.approx(metrics["video_map"])
    ap = [average_precision_score(result.video_labels[:, c], result.video_probs[:, c]) for c in range(5)]
    assert result.video_map == pytest.approx(np.mean(ap))
    assert result.video_labels.shape == (9, 5) and result.video_labels.sum(1).tolist() == [2.0] * 9

    capsys.readouterr()
    video = synth / "videos" / "left" / "left_0000.mp4"
    assert main(["predict", str(video), "--checkpoint", str(run), "--top", "5", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)["top"]
    probs = [t["probability"] for t in top]
    assert len(top) == 5 and all(0 < p < 1 for p in probs) and abs(sum(probs) - 1) > 1e-3  # sigmoid, not softmax

    # Features of multi-label data: one label a row (the video's lowest-numbered class)
    assert main(["extract", "--checkpoint", str(run), "--data", str(val_csv), "--clips", "1", "--workers", "0",
                 "--out", str(tmp_path / "f.npz"), "--quiet"]) == 0
    from videozoo.engine.features import Features

    feats = Features.load(tmp_path / "f.npz")
    assert feats.label.tolist() == [min(i.classes) for i in items]


def test_gradient_blending_on_multilabel_data(av, tmp_path, capsys):
    """A G-Blend run (frames + sound) on a multi-label list, as the paper's mini-AudioSet: binary cross-entropy
    per head, mAP per head in place of top-1 on T′, V and the validation set; `videozoo eval` of the run gives each
    head's video mAP, equal to the run's own on the same views."""
    first = (av / "classes.txt").read_text().split()[0]
    for name in ("train", "val"):  # each class, and a second label for the first class's videos
        multilabel_list(av, name, tmp_path, lambda label: f"{label};loud" if label == first else label)
    cfg = load_config(None, [f"data.train={tmp_path / 'train.csv'}", f"data.val={tmp_path / 'val.csv'}",
                             f"out={tmp_path / 'run'}", "blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}",
                             *MULTIMODAL_SMALL, "train.epochs=2", "train.precision=fp32", "blend.metric=accuracy"])
    from videozoo.engine.multimodal import train_multimodal

    result = train_multimodal(cfg)
    last = result["metrics"][-1]
    for head in ("rgb", "audio", "fused"):
        assert 0 <= last[f"{head}_holdout_map"] <= 1 and f"{head}_holdout_top1" not in last
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--data", str(tmp_path / "val.csv"), "--workers",
                 "0", "--clips", "1", "--crops", "1", "--precision", "fp32", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for head, m in metrics["heads"].items():
        assert m["video_map"] == pytest.approx(last[f"{head}_val_map"]), head


MULTIMODAL_SMALL = ["blend.backbone_overrides={rgb: {base_width: 8}, audio: {base_width: 8}}",
                    "blend.fusion_hidden=32", "blend.holdout=0.25", "data.num_frames=4", "data.crop=32",
                    "data.num_workers=0", "train.batch_size=4", "train.progress=false"]
