"""Temporal localisation: annotation formats, tIoU and mAP against hand-computed values, windows, grouping, NMS."""

import json

import numpy as np
import pytest

from videozoo.cli import main
from videozoo.data.datasets import DataError
from videozoo.data.segments import Segment, read_predictions, read_segments, write_predictions
from videozoo.engine.localize import LocalizeConfig, WindowScores, group_segments, temporal_nms, window_starts
from videozoo.engine.segment_metrics import class_ap, interpolated_ap, localization_map, tiou


def test_tiou_hand_computed():
    others = np.array([[5, 15], [0, 10], [10, 20], [2, 4]])
    assert tiou((0, 10), others) == pytest.approx([5 / 15, 1.0, 0.0, 0.2])


def test_interpolated_ap_makes_precision_monotone():
    # Precision 1, 0.5, 2/3 at recall 1/2, 1/2, 1: the dip at rank 2 is lifted to 2/3 → 1/2·1 + 1/2·2/3.
    assert interpolated_ap(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(0.5 + 1 / 3)


TRUTH = {"a": [Segment(0, 10, "x"), Segment(20, 30, "x")], "b": [Segment(0, 5, "x"), Segment(10, 20, "y")]}
PREDICTIONS = {"a": [Segment(0, 10, "x", 0.9), Segment(1, 10, "x", 0.8), Segment(40, 50, "x", 0.6),
                     Segment(20, 28, "x", 0.5)],
               "b": [Segment(0, 5, "x", 0.7)]}


def test_class_ap_hand_computed():
    """Ranked: a[0,10] TP; a[1,10] a second detection of it, FP; b[0,5] TP; a[40,50] FP; a[20,28] tIoU 0.8.
    At 0.5: precision 1, ½, ⅔, ½, ⅗ at recall ⅓, ⅓, ⅔, ⅔, 1 → ⅓·1 + ⅓·⅔ + ⅓·⅗. At 0.9 a[20,28] misses:
    ⅓·1 + ⅓·⅔."""
    preds = [(v, s) for v, segs in PREDICTIONS.items() for s in segs]
    truth = {v: np.array([(s.start, s.end) for s in segs if s.label == "x"]).reshape(-1, 2)
             for v, segs in TRUTH.items()}
    ap = class_ap(preds, truth, (0.5, 0.9))
    assert ap == pytest.approx([1 / 3 + 2 / 9 + 1 / 5, 1 / 3 + 2 / 9])


def test_localization_map_averages_classes_with_ground_truth():
    result = localization_map(PREDICTIONS, TRUTH, (0.5, 0.9))
    assert result.per_class["y"] == pytest.approx([0.0, 0.0])  # an instance nothing detected
    assert result.mAP == pytest.approx([(1 / 3 + 2 / 9 + 1 / 5) / 2, (1 / 3 + 2 / 9) / 2])
    assert result.average_mAP == pytest.approx(np.mean(result.mAP))
    assert (result.num_videos, result.num_instances, result.num_predictions) == (2, 4, 5)


def test_perfect_predictions_score_one_and_ids_match_activitynet_files():
    """ActivityNet's files are v_ID.mp4 for the database's ID: predictions keyed by file stem still match."""
    preds = {f"v_{v}": segs for v, segs in TRUTH.items()} | {"other": [Segment(0, 1, "x", 0.99)]}
    result = localization_map(preds, TRUTH)
    assert result.mAP == pytest.approx(np.ones(5))
    assert result.unmatched_videos == ["other"]


def test_prediction_in_a_video_without_the_class_is_a_false_positive():
    preds = {"a": [Segment(0, 10, "x", 0.5), Segment(20, 30, "x", 0.4)], "b": [Segment(0, 5, "x", 0.9)]}
    truth = {"a": [Segment(0, 10, "x"), Segment(20, 30, "x")], "b": []}
    # FP first: precision 0, ½, ⅔ at recall 0, ½, 1 → ½·½ + ½·⅔ (monotone from the right).
    assert localization_map(preds, truth, (0.5,)).mAP == pytest.approx([0.5 * 2 / 3 + 0.5 * 2 / 3])


def test_read_activitynet_thumos_csv(tmp_path):
    anet = tmp_path / "anet.json"
    anet.write_text(json.dumps({"database": {
        "abc": {"subset": "validation", "annotations": [{"segment": [1.5, 4.0], "label": "Long jump"}]},
        "def": {"subset": "training", "annotations": [{"segment": [0, 2], "label": "Shot put"}]}}}))
    assert read_segments(anet, "validation") == {"abc": [Segment(1.5, 4.0, "Long jump")]}
    assert set(read_segments(anet)) == {"abc", "def"}
    with pytest.raises(DataError, match="subset 'testing'.*training, validation"):
        read_segments(anet, "testing")

    thumos = tmp_path / "thumos"
    thumos.mkdir()
    (thumos / "Billiards_val.txt").write_text("video_validation_0000051 1.2 3.4\nvideo_validation_0000052 5 9\n")
    (thumos / "CliffDiving_val.txt").write_text("video_validation_0000051 10.0 12.5\n")
    (thumos / "Ambiguous_val.txt").write_text("video_validation_0000051 20 21\n")
    (thumos / "Billiards_test.txt").write_text("video_test_0000001 1 2\n")
    seg = read_segments(thumos, "val")
    assert seg["video_validation_0000051"] == [Segment(1.2, 3.4, "Billiards"), Segment(10.0, 12.5, "CliffDiving")]
    assert set(seg) == {"video_validation_0000051", "video_validation_0000052"}

    table = tmp_path / "segments.csv"
    table.write_text("video,label,start,end\nclip1,jump,0.5,2\nclip1,run,3,4\n")
    assert read_segments(table) == {"clip1": [Segment(0.5, 2.0, "jump"), Segment(3.0, 4.0, "run")]}


@pytest.mark.parametrize("content, match", [
    ('{"database": {"a": {"annotations": [{"segment": [3, 1], "label": "x"}]}}}', "0 ≤ start < end"),
    ('{"database": {"a": {"annotations": [{"segment": [1], "label": "x"}]}}}', r"expected \{\"segment\""),
    ('{"results": {}}', "ActivityNet's layout"),
    ("{not json", "not readable JSON"),
])
def test_bad_annotations_say_what_was_expected(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        read_segments(path)


def test_predictions_round_trip_and_bad_ones(tmp_path):
    path = write_predictions(tmp_path / "p.json", PREDICTIONS)
    assert read_predictions(path) == PREDICTIONS
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": {"a": [{"label": "x", "segment": [0, 1]}]}}')
    with pytest.raises(DataError, match="a prediction 0: expected"):
        read_predictions(bad)


def test_window_starts_cover_the_video():
    assert window_starts(10.0, 2.0, 1.0).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert window_starts(10.0, 2.0, 3.0).tolist() == [0, 3, 6, 8]  # the last ends at the end
    assert window_starts(1.5, 2.0, 1.0).tolist() == [0]  # shorter than a window


def _scores(p_action: list[float], stride: float = 1.0) -> WindowScores:
    p = np.array(p_action)
    starts = np.arange(len(p)) * stride
    return WindowScores(starts, length=stride, duration=len(p) * stride,
                        probs=np.stack([p, 1 - p], axis=1).astype(np.float32), classes=["jump", "background"])


def test_grouping_finds_the_action_and_ranks_the_whole_run_first():
    """Windows 3-6 are the action: the run cut at 0.5 covers it exactly; the 0.9 run inside it (flanks still
    high) and the 0.1 run spilling over (inside diluted) score lower; background is never reported."""
    scores = _scores([0.05, 0.05, 0.15, 0.8, 0.95, 0.95, 0.8, 0.15, 0.05, 0.05])
    segments = temporal_nms(group_segments(scores, LocalizeConfig()), iou=0.5)
    assert {s.label for s in segments} == {"jump"}
    best = segments[0]
    assert (best.start, best.end) == (3.0, 7.0)  # windows 3…6, each standing for a second
    inner = next(s for s in group_segments(scores) if (s.start, s.end) == (4.0, 6.0))
    assert best.score > inner.score


def test_temporal_nms_keeps_the_best_per_class():
    segs = [Segment(0, 10, "x", 0.9), Segment(1, 10, "x", 0.8), Segment(1, 10, "y", 0.7), Segment(20, 30, "x", 0.6)]
    assert temporal_nms(segs, 0.5) == [segs[0], segs[2], segs[3]]
    assert temporal_nms(segs, 0.5, top=2) == [segs[0], segs[2]]


def test_eval_localization_cli(tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("".join(f"{v},{s.label},{s.start},{s.end}\n" for v, segs in TRUTH.items() for s in segs))
    preds = write_predictions(tmp_path / "p.json", PREDICTIONS)
    out = tmp_path / "result.json"
    assert main(["eval-localization", "--annotations", str(truth), "--predictions", str(preds), "--tiou", "0.5",
                 "0.9", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 videos, 4 action instances of 2 classes, 5 predicted segments" in printed
    assert f"{(1 / 3 + 2 / 9 + 1 / 5) / 2:5.3f}" in printed
    assert json.loads(out.read_text())["mAP"]["0.9"] == pytest.approx((1 / 3 + 2 / 9) / 2)
    assert main(["eval-localization", "--annotations", str(tmp_path / "missing.json"), "--predictions",
                 str(preds)]) == 2
    assert "annotation file not found" in capsys.readouterr().err


def test_synth_localize_and_localize_cli(tmp_path, capsys):
    """`synth --task localize` writes the set; `localize` reads a folder, skips a broken file, writes the JSON
    that eval-localization reads."""
    from tiny import tiny_checkpoint

    data = tmp_path / "d"
    assert main(["synth", str(data), "--task", "localize", "--classes", "2", "--per-class", "2", "--val-videos",
                 "2", "--frames", "8", "--size", "32", "--seconds", "6"]) == 0
    assert "wrote 6 training clips (2 motions and background) and 2 untrimmed videos" in capsys.readouterr().out
    truth = read_segments(data / "annotations.json", "validation")
    assert set(truth) == {"video_0000", "video_0001"} and all(truth.values())
    assert (data / "classes.txt").read_text().split() == ["right", "left", "background"]
    rows = (data / "train.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 2 and rows[-1].endswith(",background")
    (data / "videos" / "broken.mp4").write_bytes(b"not a video")
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors", ["right", "left", "background"], frames=4, crop=32)
    out = tmp_path / "preds.json"
    assert main(["localize", "--checkpoint", str(ckpt), str(data / "videos"), "--out", str(out), "--stride",
                 "0.5", "--workers", "0"]) == 0
    captured = capsys.readouterr()
    assert "broken.mp4: skipped" in captured.err and "1 unreadable video(s) skipped" in captured.err
    # 4-frame clips at 16 fps span 0.25 s: windows every 0.5 s from 0, the last ending at 6 s
    assert "video_0000.mp4 (6.0 s, 13 windows of 0.25 s)" in captured.out
    predicted = read_predictions(out)
    assert set(predicted) == {"video_0000", "video_0001"}
    assert all(s.label != "background" and 0 <= s.start < s.end <= 6.0 for segs in predicted.values() for s in segs)
    assert main(["eval-localization", "--annotations", str(data / "annotations.json"), "--predictions", str(out),
                 "--subset", "validation"]) == 0
    capsys.readouterr()
    assert main(["synth", str(tmp_path / "x"), "--task", "localize", "--source", "photos", "--audio", "0.5"]) == 2
    assert "--source photos, --audio: for --task classify" in capsys.readouterr().err


LOCALIZE_MIN, LOCALIZE_MARGIN = 0.3, 0.2  # mAP at tIoU 0.5; measured: docs/transfer.md


@pytest.mark.slow
def test_localize_untrimmed_end_to_end(tmp_path, capsys):
    """THUMOS'14's pipeline on the synthetic set: a classifier trained on trimmed clips (three motions and
    still background) localises the actions of untrimmed videos far better than the same network untrained."""
    import videozoo
    from videozoo.data.untrimmed import UntrimmedConfig, make_untrimmed_dataset
    from videozoo.engine.evaluate import load_for_inference
    from videozoo.engine.localize import localize_video
    from videozoo.engine.predictor import Predictor

    data = tmp_path / "d"
    make_untrimmed_dataset(data, UntrimmedConfig(per_class=30, val_videos=6))
    run = tmp_path / "run"
    assert main(["train", "--model", "r2plus1d_18", "--data", str(data / "train.csv"), "--val", str(data / "val.csv"),
                 "--epochs", "10", "--batch-size", "4", "--out", str(run), "--no-progress",
                 "model.overrides={base_width: 16}", "data.num_frames=8", "data.stride=2"]) == 0
    predictions = tmp_path / "predictions.json"
    assert main(["localize", "--checkpoint", str(run), str(data / "videos"), "--out", str(predictions)]) == 0
    truth = read_segments(data / "annotations.json", "validation")
    trained = localization_map(read_predictions(predictions), truth)

    _, classes, settings = load_for_inference(run)
    untrained = Predictor(videozoo.create_model("r2plus1d_18", len(classes), base_width=16))
    baseline = localization_map({v: localize_video(untrained, data / "videos" / f"{v}.mp4", classes, settings)[0]
                                 for v in truth}, truth)
    print("mAP at 0.3…0.7, trained", trained.mAP.round(3), "untrained", baseline.mAP.round(3))
    at_half = list(trained.thresholds).index(0.5)
    assert trained.mAP[at_half] >= LOCALIZE_MIN, trained.as_dict()
    assert trained.mAP[at_half] >= baseline.mAP[at_half] + LOCALIZE_MARGIN, (trained.mAP, baseline.mAP)
