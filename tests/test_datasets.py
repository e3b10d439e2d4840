"""Datasets: every list format, labels, skipping broken videos, determinism across workers."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tests.videos import barcodes, read_barcode, tone
from videozoo.data import (
    AudioConfig,
    ClipSampling,
    DataError,
    SkipLog,
    TransformConfig,
    VideoDataset,
    collate_videos,
    load_items,
    log_mel,
    read_audio,
    read_video_csv,
    write_video,
)
from videozoo.data.datasets import open_reader
from videozoo.data.sampling import uniform_starts
from videozoo.data.transforms import Compose, frames_to_clip

RAW = Compose([lambda clip, rng: clip])  # keep decoded uint8 (T, C, H, W): frames stay readable


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    for cls in ("jump", "run"):
        for k in range(3):
            write_video(root / cls / f"{cls}{k}.mp4", barcodes(40 + 10 * k), fps=20,
                        audio=tone(3) if k == 0 else None)
    (root / "broken").mkdir()
    (root / "broken" / "broken.mp4").write_bytes(b"not a video at all")
    return root


def test_csv_with_names_header_and_segments(videos, tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text(f"path,label,start,end\n{videos}/jump/jump0.mp4,jump\n{videos}/run/run1.mp4,run,0.5,2.0\n")
    items, classes = read_video_csv(csv)
    assert classes == ["jump", "run"] and [i.label for i in items] == [0, 1]
    assert items[1].start == 0.5 and items[1].end == 2.0
    ds = VideoDataset(items, classes, ClipSampling(4), RAW, train=False, num_clips=1)
    frames = ds[1]["video"]
    # 1.0 s … 2.0 s at 20 fps is frames 10…39; the centre clip of 4 lies within.
    assert all(10 <= read_barcode(f.permute(1, 2, 0).numpy()) < 40 for f in frames)


def test_csv_integer_labels_relative_paths_and_space_separated(videos, tmp_path):
    (tmp_path / "a.csv").write_text(f"{videos}/jump/jump1.mp4,1\n{videos}/run/run0.mp4,0\n")
    items, classes = read_video_csv(tmp_path / "a.csv")
    assert classes == ["0", "1"] and [i.label for i in items] == [1, 0]
    (videos / "b.txt").write_text("jump/jump1.mp4 0\nrun/run0.mp4 1\n")
    items, _ = read_video_csv(videos / "b.txt")
    assert items[0].path == str(videos / "jump" / "jump1.mp4")


@pytest.mark.parametrize("text,match", [
    ("a.mp4,\n", "empty label"),
    ("a.mp4,-1\n", "negative"),
    ("a.mp4,1,2,1\n", "not after its start"),
    ("a.mp4\n", "expected path,label"),
    ("a.mp4,1,x\n", "time in seconds"),
])
def test_bad_lines_are_named(tmp_path, text, match):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DataError, match=rf"bad\.csv:1: .*{match}"):
        read_video_csv(tmp_path / "bad.csv")


def test_labels_checked_against_a_class_list(tmp_path):
    (tmp_path / "c.csv").write_text("a.mp4,walk\n")
    with pytest.raises(DataError, match="'walk' is not in the class list"):
        read_video_csv(tmp_path / "c.csv", classes=["jump", "run"])
    (tmp_path / "d.csv").write_text("a.mp4,5\n")
    with pytest.raises(DataError, match="label 5 is out of range for 2 classes"):
        read_video_csv(tmp_path / "d.csv", classes=["jump", "run"])
    with pytest.raises(DataError, match="not found"):
        read_video_csv(tmp_path / "none.csv")


def test_folder_per_class(videos):
    items, classes = load_items(videos)
    assert classes == ["broken", "jump", "run"]
    assert [sum(i.label == c for i in items) for c in range(3)] == [1, 3, 3]


def test_kinetics_format(tmp_path):
    csv = tmp_path / "kinetics_train.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,10,20,train\nyoga,xyz,0,10,train\n")
    items, classes = load_items(csv, root=tmp_path)
    assert classes == ["abseiling", "yoga"]
    assert items[0].path == str(tmp_path / "train/abseiling/abc_000010_000020.mp4")


def test_ucf101_and_hmdb51_split_files(tmp_path):
    ucf = tmp_path / "ucfTrainTestlist"
    ucf.mkdir()
    (ucf / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (ucf / "trainlist01.txt").write_text("Archery/v_Archery_g01_c01.avi 2\nApplyEyeMakeup/v_A_g01_c01.avi 1\n")
    (ucf / "testlist01.txt").write_text("Archery/v_Archery_g08_c01.avi\n")
    items, classes = load_items(tmp_path, fmt="ucf101", splits_dir=ucf)
    assert classes == ["ApplyEyeMakeup", "Archery"] and [i.label for i in items] == [1, 0]
    test_items, _ = load_items(tmp_path, fmt="ucf101", splits_dir=ucf, subset="test")
    assert test_items[0].path == str(tmp_path / "Archery/v_Archery_g08_c01.avi")
    hmdb = tmp_path / "hmdb_splits"
    hmdb.mkdir()
    (hmdb / "brush_hair_test_split1.txt").write_text("a.avi 1\nb.avi 2\nc.avi 0\n")
    (hmdb / "cartwheel_test_split1.txt").write_text("d.avi 1\n")
    items, classes = load_items(tmp_path, fmt="hmdb51", splits_dir=hmdb)
    assert classes == ["brush_hair", "cartwheel"] and len(items) == 2
    with pytest.raises(DataError, match="splits_dir"):
        load_items(tmp_path, fmt="hmdb51")


def test_something_something_v2_json(tmp_path):
    """SSv2's split JSON and label JSON (classes in the label file's order, the template without brackets);
    its webm videos read like any other."""
    import json

    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps(
        {"Pushing something from left to right": "1", "Approaching something with your camera": "0"}))
    (tmp_path / "something-something-v2-train.json").write_text(json.dumps([
        {"id": "78687", "label": "pushing a cup from left to right",
         "template": "Pushing [something] from left to right", "placeholders": ["a cup"]},
        {"id": "42326", "label": "approaching a box with your camera",
         "template": "Approaching [something] with your camera", "placeholders": ["a box"]}]))
    videos = tmp_path / "20bn-something-something-v2"
    write_video(videos / "78687.webm", barcodes(6), fps=12)
    items, classes = load_items(tmp_path / "something-something-v2-train.json", root=videos)
    assert classes == ["Approaching something with your camera", "Pushing something from left to right"]
    assert [i.label for i in items] == [1, 0] and items[0].path == str(videos / "78687.webm")
    ds = VideoDataset(items[:1], classes, ClipSampling(4), TransformConfig(crop=32))
    assert ds[0]["video"].shape == (3, 4, 32, 32)
    (tmp_path / "test.json").write_text(json.dumps([{"id": "1"}]))
    with pytest.raises(DataError, match="the test split has no labels"):
        load_items(tmp_path / "test.json", fmt="ssv2", root=videos)
    (tmp_path / "other.json").write_text(json.dumps([{"id": "2", "template": "Juggling [something]"}]))
    with pytest.raises(DataError, match="class 'Juggling something' is not in"):
        load_items(tmp_path / "other.json", root=videos)


def test_frame_folders(tmp_path):
    folder = tmp_path / "walk" / "clip0"
    folder.mkdir(parents=True)
    for i, frame in enumerate(barcodes(12)):
        Image.fromarray(frame).save(folder / f"img_{i + 1:05d}.png")
    items, classes = load_items(tmp_path)
    assert classes == ["walk"] and len(items) == 1
    ds = VideoDataset(items, classes, ClipSampling(4, stride=2), RAW, train=False)
    frames = ds[0]["video"]
    assert [read_barcode(f.permute(1, 2, 0).numpy()) for f in frames] == [3, 5, 7, 9]


def test_training_items_and_model_input(videos):
    items, classes = load_items(videos)
    ds = VideoDataset(items, classes, ClipSampling(8), TransformConfig(crop=32), seed=1)
    good = [i for i, item in enumerate(items) if "broken" not in item.path]
    sample = ds[good[0]]
    assert sample["video"].shape == (3, 8, 32, 32) and sample["video"].dtype == torch.float32
    evalset = VideoDataset(items, classes, ClipSampling(8), TransformConfig(crop=32, test_crops=3), train=False,
                           num_clips=4)
    assert evalset[good[0]]["video"].shape == (12, 3, 8, 32, 32)


def test_broken_videos_are_skipped_and_counted_once(videos, caplog):
    items, classes = load_items(videos)
    ds = VideoDataset(items, classes, ClipSampling(4), TransformConfig(crop=32))
    skips = SkipLog()
    seen = 0
    with caplog.at_level(logging.WARNING, logger="videozoo.data"):
        for epoch in range(2):
            ds.set_epoch(epoch)
            for batch in DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_videos):
                skips.record(batch["skipped"])
                seen += len(batch.get("label", []))
    assert seen == 2 * 6
    assert len(skips) == 1 and "broken.mp4" in next(iter(skips.errors))
    assert sum("broken.mp4" in r.message for r in caplog.records) == 1
    assert skips.summary() == "1 unreadable video(s) skipped"


def test_clips_do_not_depend_on_the_worker(videos):
    items, classes = load_items(videos)
    ds = VideoDataset(items, classes, ClipSampling(4), RAW, seed=7)

    def draw(workers, epoch=3):
        ds.set_epoch(epoch)
        out = {}
        for batch in DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate_videos):
            for index, clip in zip(batch.get("index", []), batch.get("video", []), strict=True):
                out[int(index)] = [read_barcode(f.permute(1, 2, 0).numpy()) for f in clip]
        return out

    single, parallel = draw(0), draw(2)
    assert single == parallel and len(single) == 6  # the broken video is skipped in both
    assert any(draw(0, epoch=4)[k] != single[k] for k in single)  # a new epoch draws new clips


def test_audio_or_zeros(videos):
    items, classes = load_items(videos)
    ds = VideoDataset(items, classes, ClipSampling(4), TransformConfig(crop=32), audio=AudioConfig(seconds=1.0))
    with_audio = next(i for i, item in enumerate(items) if item.path.endswith("jump0.mp4"))
    without = next(i for i, item in enumerate(items) if item.path.endswith("jump1.mp4"))
    a, b = ds[with_audio], ds[without]
    assert a["audio"].shape == b["audio"].shape == (1, 100, 40)
    assert a["has_audio"] and not b["has_audio"]
    assert a["audio"].std() > 0 and torch.count_nonzero(b["audio"]) == 0
    # Eval mode: each clip's own sound, (clips, 1, frames, mels), from the clip's first frame.
    ev = VideoDataset(items, classes, ClipSampling(4), TransformConfig(crop=32), train=False, num_clips=3,
                      audio=AudioConfig(seconds=0.2))
    sample = ev[with_audio]
    assert sample["audio"].shape == (3, 1, 20, 40) and sample["video"].shape[0] == 3
    with open_reader(items[with_audio].path) as video:
        fps, count = video.fps, video.num_frames
    starts = uniform_starts(count, ev.sampling, 3, fps)
    assert len(set(starts)) == 3
    for k, start in enumerate(starts):  # the track is decoded once; each clip's window is what read_audio cuts
        wave = read_audio(items[with_audio].path, ev.audio.sample_rate, start=start / fps, duration=0.2)
        mel = log_mel(wave, ev.audio.sample_rate, ev.audio.n_mels)[:20]
        assert torch.equal(sample["audio"][k, 0, : len(mel)], mel)


def test_frames_to_clip_layout():
    frames = torch.from_numpy(np.zeros((5, 6, 7, 3), np.uint8))
    assert frames_to_clip(frames).shape == (5, 3, 6, 7)
