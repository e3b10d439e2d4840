"""Spatio-temporal action detection: box formats, clips around key frames, the RoI head, frame-mAP and video-mAP
against hand-computed values, tube linking, the commands, and an end-to-end run on the synthetic actors."""

import pickle

import numpy as np
import pytest
import torch
from tiny import TINY_RUN, tiny_checkpoint

import videozoo
from videozoo.cli import main
from videozoo.data.box_clips import BoxClipDataset, collate_boxes, key_frame_indices, label_proposals, prepare_clip
from videozoo.data.boxes import BoxedVideo, Tube, box_format_of, load_box_annotations, read_proposals
from videozoo.data.datasets import DataError
from videozoo.engine.box_metrics import FrameDetections, PredictedTube, detection_map, frame_ap, tube_overlap, video_ap
from videozoo.engine.detection import DetectOptions, link_tubes, read_detections, write_detections
from videozoo.models.detection import ActionDetector


def _video(name, *tubes):
    return BoxedVideo(name, name, [Tube(label, np.array(frames), np.array(boxes, np.float32))
                                   for label, frames, boxes in tubes])


# -- metrics ----------------------------------------------------------------------------------------------------

TRUTH = {"a": _video("a", (0, [0, 1], [[0, 0, 10, 10], [0, 0, 10, 10]]), (1, [0], [[20, 20, 30, 30]])),
         "b": _video("b", (0, [0], [[0, 0, 10, 10]]))}


def _det(frame, boxes, scores):
    return FrameDetections(frame, np.array(boxes, np.float32), np.array(scores, np.float32))


def test_frame_ap_hand_computed():
    """Class 0 has three annotated boxes (a:0, a:1, b:0). Ranked by class-0 score: a:0 exact box 0.9 TP; a:0 a
    second box on the same actor 0.8 FP; b:0 a box IoU 25/175 < 0.5 0.7 FP; a:1 box IoU 81/100 0.6 TP.
    Precision 1, ½, ⅓, ½ at recall ⅓, ⅓, ⅓, ⅔ → AP ⅓·1 + ⅓·½. Class 1: a:0's box on the class-1 actor scores
    0.3 for class 1 and is the only class-1 detection there: AP 1."""
    detections = {"a": [_det(0, [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [[0.9, 0.1], [0.8, 0.1],
                                                                                        [0.05, 0.3]]),
                        _det(1, [[1, 1, 10, 10]], [[0.6, 0.0]])],
                  "b": [_det(0, [[5, 5, 15, 15]], [[0.7, 0.0]])]}
    assert frame_ap(detections, TRUTH, 0) == pytest.approx(1 / 3 + 1 / 6)
    # a:0's [20,20,30,30] box also ranks for class 0 (score 0.05), last: a false positive that changes nothing
    assert frame_ap(detections, TRUTH, 1) == pytest.approx(1.0)
    # at IoU 0.1, b:0's box overlaps enough: precision 1, ½, ⅔, ¾ at recall ⅓, ⅓, ⅔, 1 → ⅓ + ⅓·¾ + ⅓·¾
    assert frame_ap(detections, TRUTH, 0, iou=0.1) == pytest.approx(1 / 3 + 1 / 4 + 1 / 4)


def test_frame_ap_counts_frames_without_detections_as_missed():
    only_a0 = {"a": [_det(0, [[0, 0, 10, 10]], [[1.0, 0.0]])]}
    assert frame_ap(only_a0, TRUTH, 0) == pytest.approx(1 / 3)  # one of three boxes found, at precision 1


def test_tube_overlap_hand_computed():
    frames_a, boxes_a = np.arange(0, 10), np.tile([0, 0, 10, 10], (10, 1))
    frames_b, boxes_b = np.arange(5, 15), np.tile([0, 0, 10, 5], (10, 1))
    # temporal IoU 5/15, box IoU 0.5 on each of the 5 shared frames
    assert tube_overlap(frames_a, boxes_a, frames_b, boxes_b) == pytest.approx(5 / 15 * 0.5)
    assert tube_overlap(frames_a, boxes_a, np.arange(20, 25), boxes_b[:5]) == 0.0


def test_video_ap_and_detection_map():
    truth = {"a": _video("a", (0, list(range(10)), [[0, 0, 10, 10]] * 10)),
             "b": _video("b", (0, list(range(10)), [[0, 0, 10, 10]] * 10))}
    full = PredictedTube(0, 0.9, np.arange(10), np.tile([0, 0, 10, 10], (10, 1)))
    half = PredictedTube(0, 0.8, np.arange(5), np.tile([0, 0, 10, 10], (5, 1)))  # ST-IoU 0.5
    tubes = {"a": [full], "b": [half]}
    assert video_ap(tubes, truth, 0, 0.2) == pytest.approx(1.0)
    assert video_ap(tubes, truth, 0, 0.6) == pytest.approx(0.5)  # b's half tube misses: recall ½ at precision 1
    detections = {v: [_det(f, [[0, 0, 10, 10]], [[1.0]]) for f in range(10)] for v in truth}
    result = detection_map(detections, tubes, truth, ["x"], video_thresholds=(0.2, 0.6))
    assert result.frame_map == pytest.approx(1.0)
    assert result.video_map == pytest.approx([1.0, 0.5])
    assert result.as_dict()["per_class"]["x"]["video_AP"] == {"0.2": 1.0, "0.6": 0.5}


def test_link_tubes_follows_two_actors():
    """Two actors moving apart, one box each per frame: two tubes, each with its own boxes in order; a frame
    with no box for one actor (gap of one) does not split its tube."""
    frames = []
    for f in range(6):
        boxes = [[f, 0, f + 10, 10], [50 - f, 0, 60 - f, 10]]
        scores = [[0.9], [0.7]]
        if f == 3:
            boxes, scores = boxes[:1], scores[:1]
        frames.append(_det(f, boxes, scores))
    tubes = sorted(link_tubes(frames, 0, DetectOptions()), key=lambda t: -t.score)
    assert len(tubes) == 2
    assert tubes[0].frames.tolist() == list(range(6)) and tubes[0].score == pytest.approx(0.9)
    assert tubes[1].frames.tolist() == [0, 1, 2, 4, 5] and tubes[1].boxes[-1].tolist() == [45, 0, 55, 10]
    # a gap longer than max_gap ends a tube: two tubes for the second actor
    assert len(link_tubes(frames, 0, DetectOptions(max_gap=1))) == 3
    # detecting every other frame, two frames apart is the next detected frame: one tube per actor
    sparse = [d for d in frames if d.frame % 2 == 0]
    assert len(link_tubes(sparse, 0, DetectOptions(max_gap=1, every=2))) == 2


def test_detections_round_trip(tmp_path):
    dets = {"v": [_det(3, [[1, 2, 3, 4]], [[0.25, 0.75]])]}
    tubes = {"v": [PredictedTube(1, 0.75, np.array([3]), np.array([[1, 2, 3, 4]], np.float32))]}
    path = write_detections(tmp_path / "d.json", ["x", "y"], dets, tubes)
    classes, dets2, tubes2 = read_detections(path)
    assert classes == ["x", "y"] and dets2["v"][0].frame == 3
    assert dets2["v"][0].scores.tolist() == [[0.25, 0.75]] and tubes2["v"][0].label == 1
    (tmp_path / "bad.json").write_text('{"videos": {}}')
    with pytest.raises(DataError, match="not a detections file"):
        read_detections(tmp_path / "bad.json")


# -- formats ----------------------------------------------------------------------------------------------------

def test_box_csv_and_proposals(tmp_path):
    (tmp_path / "v1.mp4").write_bytes(b"")
    (tmp_path / "boxes.csv").write_text("video,frame,x1,y1,x2,y2,label,tube\nv1,0,1,2,11,22,run,0\nv1,1,2,2,12,22,"
                                        "run,0\nv1,0,30,2,40,22,jump,1\n")
    assert box_format_of(tmp_path / "boxes.csv") == "boxes" and box_format_of(tmp_path / "x.pkl") == "act"
    items, classes = load_box_annotations(tmp_path / "boxes.csv")
    assert classes == ["jump", "run"] and items[0].path == str(tmp_path / "v1.mp4")  # the suffix is found
    assert items[0].frames == [0, 1]
    boxes, labels = items[0].boxes_at(0)
    assert sorted(labels.tolist()) == [0, 1] and boxes.shape == (2, 4)
    (tmp_path / "p.csv").write_text("video,frame,x1,y1,x2,y2,score\nv1,0,1,2,11,22,0.9\nv1,0,50,50,60,60,0.4\n")
    found = read_proposals(tmp_path / "p.csv")
    assert found["v1"][0][0].shape == (2, 4) and found["v1"][0][1].tolist() == pytest.approx([0.9, 0.4])


@pytest.mark.parametrize("content, match", [
    ("video,frame,x1,y1,x2,y2\nv1,0,1,2,3,4\n", "missing label"),
    ("video,frame,x1,y1,x2,y2,label\nv1,0,5,2,3,4,run\n", r"boxes.csv:2: box .* x2 > x1"),
    ("video,frame,x1,y1,x2,y2,label\nv1,-1,1,2,3,4,run\n", "frame -1 is negative"),
    ("video,frame,x1,y1,x2,y2,label\nv1,a,1,2,3,4,run\n", "frame must be an integer"),
    ("video,frame,x1,y1,x2,y2,label\nnowhere,0,1,2,3,4,run\n", "video 'nowhere' of the annotations is not under"),
])
def test_bad_box_files_say_what_was_expected(tmp_path, content, match):
    (tmp_path / "v1.mp4").write_bytes(b"")
    (tmp_path / "boxes.csv").write_text(content)
    with pytest.raises(DataError, match=match):
        load_box_annotations(tmp_path / "boxes.csv")


def _act_pickle(path):
    """An ACT annotation pickle as UCF101v2-GT.pkl lays it out (frames from 1), written by Python 2's protocol."""
    tube = np.array([[1, 10, 20, 50, 80], [2, 11, 20, 51, 80], [3, 12, 20, 52, 80]], np.float32)
    data = {"labels": ["Basketball", "Biking"], "gttubes": {"Biking/v_1": {1: [tube]}, "Basketball/v_2": {0: [tube]}},
            "nframes": {"Biking/v_1": 3, "Basketball/v_2": 3}, "resolution": {"Biking/v_1": (240, 320)},
            "train_videos": [["Biking/v_1"]], "test_videos": [["Basketball/v_2"]]}
    path.write_bytes(pickle.dumps(data, protocol=2))
    return path


def test_act_pickle_splits_and_frames_from_zero(tmp_path):
    for video in ("Biking/v_1", "Basketball/v_2"):
        (tmp_path / "rgb-images" / video).mkdir(parents=True)
    pkl = _act_pickle(tmp_path / "UCF101v2-GT.pkl")
    train, classes = load_box_annotations(pkl, fmt="act", root=tmp_path / "rgb-images")
    test, _ = load_box_annotations(pkl, fmt="act", root=tmp_path / "rgb-images", subset="test")
    assert classes == ["Basketball", "Biking"]
    assert [v.video for v in train] == ["Biking/v_1"] and [v.video for v in test] == ["Basketball/v_2"]
    assert train[0].frames == [0, 1, 2] and train[0].tubes[0].label == 1
    assert train[0].boxes_at(1)[0].tolist() == [[11, 20, 51, 80]]
    with pytest.raises(DataError, match="split 2 does not exist"):
        load_box_annotations(pkl, fmt="act", root=tmp_path / "rgb-images", split=2)


def test_act_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"labels": [], "gttubes": Evil()}))
    with pytest.raises(DataError, match="refusing to build builtins.print"):
        load_box_annotations(tmp_path / "evil.pkl", fmt="act")


# -- clips and the model ----------------------------------------------------------------------------------------

def test_key_frame_indices_centre_and_clamp():
    assert key_frame_indices(10, 4, 2, 100) == [6, 8, 10, 12]
    assert key_frame_indices(1, 4, 2, 5) == [0, 0, 1, 3]
    assert key_frame_indices(4, 3, 1, 5) == [3, 4, 4]


def test_prepare_clip_scales_and_mirrors_boxes():
    frames = torch.zeros(2, 60, 80, 3, dtype=torch.uint8)
    clip, boxes = prepare_clip(frames, np.array([[0, 0, 20, 30]]), size=30, normalization="kinetics")
    assert clip.shape == (3, 2, 30, 40) and boxes.tolist() == [[0, 0, 10, 15]]
    _, flipped = prepare_clip(frames, np.array([[0, 0, 20, 30]]), size=30, normalization="kinetics", flip=True)
    assert flipped.tolist() == [[30, 0, 40, 15]]


def test_label_proposals_by_overlap():
    truth, labels = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32), np.array([2, 0])
    proposals = np.array([[1, 0, 10, 10], [21, 1, 31, 11], [50, 50, 60, 60]], np.float32)
    assert label_proposals(proposals, truth, labels, background=3).tolist() == [2, 0, 3]
    assert label_proposals(proposals, truth[:0], labels[:0], background=3).tolist() == [3, 3, 3]


def test_collate_pads_clips_and_numbers_boxes():
    items = [{"video": torch.ones(3, 2, 8, 10), "boxes": torch.tensor([[0., 0, 4, 4]]), "label": torch.tensor([1]),
              "index": 0},
             {"video": torch.ones(3, 2, 10, 8), "boxes": torch.tensor([[1., 1, 5, 5], [2, 2, 6, 6]]),
              "label": torch.tensor([0, 2]), "index": 1},
             {"skipped": True, "index": 2, "path": "x.mp4", "error": "broken"}]
    batch = collate_boxes(items)
    assert batch["video"].shape == (2, 3, 2, 10, 10) and batch["video"][0, 0, 0, 9].sum() == 0  # padded
    assert batch["boxes"][:, 0].tolist() == [0, 1, 1] and batch["label"].tolist() == [1, 0, 2]
    assert batch["skipped"] == [(2, "x.mp4", "broken")]


@pytest.mark.parametrize("name, overrides", [("r2plus1d_18", {"base_width": 8}), ("s3d_g", {}),
                                              ("c3d", {"base_width": 8})])
def test_detector_pools_each_box_from_its_own_place(name, overrides):
    """Every family's map feeds the head; a box's logits depend on where it is, not on the other boxes."""
    model = ActionDetector(videozoo.create_model(name, 0, **overrides), 3).eval()
    clip = torch.randn(1, 3, 16, 64, 96)
    rois = torch.tensor([[0, 0, 0, 30, 60], [0, 60, 0, 95, 63.]])
    with torch.no_grad():
        both = model(clip, rois)
        alone = model(clip, rois[1:])
    assert both.shape == (2, 3)
    assert torch.allclose(both[1], alone[0], atol=1e-5) and not torch.allclose(both[0], both[1])
    with pytest.raises(ValueError, match="boxes must be"):
        model(clip, rois[:, 1:])


def test_detector_checkpoint_round_trip(tmp_path):
    from videozoo.engine.checkpoint import DETECTION, load_model

    model = ActionDetector(videozoo.create_model("r2plus1d_18", 0, base_width=8), 3, roi_size=5, dropout=0.2).eval()
    path = videozoo.save_model(model, tmp_path / "d.safetensors", classes=["a", "b", "background"],
                               metadata={"task": DETECTION, "detection_head": '{"roi_size": 5, "dropout": 0.2}'})
    loaded = load_model(path).eval()
    clip, rois = torch.randn(1, 3, 4, 32, 32), torch.tensor([[0, 2, 2, 20, 30.]])
    assert isinstance(loaded, ActionDetector) and loaded.head.roi_size == 5 and loaded.classes[-1] == "background"
    with torch.no_grad():
        assert torch.equal(model(clip, rois), loaded(clip, rois))


# -- commands and training --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def actors(tmp_path_factory):
    data = tmp_path_factory.mktemp("actors")
    assert main(["synth", str(data), "--task", "detect", "--classes", "2", "--train-videos", "4", "--val-videos", "2",
                 "--frames", "8", "--size", "32"]) == 0
    return data


def test_synth_detect_writes_boxes_on_every_frame(actors):
    items, classes = load_box_annotations(actors / "train_boxes.csv")
    assert classes == ["bob", "sway"] and len(items) == 4
    assert all(item.frames == list(range(8)) for item in items)
    boxes = np.concatenate([item.boxes_at(f)[0] for item in items for f in item.frames])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 42).all() and (boxes[:, 3] <= 32).all()
    proposals = read_proposals(actors / "proposals.csv")
    # the detector finds every annotated actor and the still ones too
    assert all(len(proposals[item.video][f][0]) >= len(item.boxes_at(f)[0]) for item in items for f in item.frames)


def test_train_detect_and_evaluate_commands(actors, tmp_path, capsys):
    """A box CSV makes `train` train a detector (background added, the proposals used); its checkpoint drives
    `detect`, whose JSON `eval-detection` scores; eval refuses the detector and detect a classifier."""
    run = tmp_path / "run"
    assert main(["train", "--model", "r2plus1d_18", "--data", str(actors / "train_boxes.csv"), "--val",
                 str(actors / "val_boxes.csv"), "--proposals", str(actors / "proposals.csv"), "--epochs", "1",
                 "--out", str(run), *TINY_RUN]) == 0
    assert (run / "classes.txt").read_text().split() == ["bob", "sway", "background"]
    assert "format: boxes" in (run / "config.yaml").read_text()
    out = tmp_path / "det.json"
    capsys.readouterr()
    assert main(["detect", "--checkpoint", str(run), "--proposals", str(actors / "proposals.csv"), "--videos",
                 "videos/val_0000", "videos/val_0001", "--out", str(out)]) == 0
    assert "videos/val_0000: 8 frames" in capsys.readouterr().out
    classes, dets, tubes = read_detections(out)
    assert classes == ["bob", "sway"] and set(dets) == {"videos/val_0000", "videos/val_0001"}
    scores = np.concatenate([d.scores for d in dets["videos/val_0000"]])
    assert scores.shape[1] == 2 and (scores >= 0).all() and (scores.sum(1) < 1).all()  # background takes the rest
    assert all(t.frames.min() >= 0 for ts in tubes.values() for t in ts)
    assert main(["eval-detection", "--annotations", str(actors / "val_boxes.csv"), "--detections", str(out),
                 "--json"]) == 0
    result = __import__("json").loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= result["frame_mAP"] <= 1 and set(result["video_mAP"]) == {"0.2", "0.5"}
    # resume continues the detection run
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "train.progress=false"]) == 0
    assert "2 epochs" in capsys.readouterr().out
    assert main(["eval", "--data", str(actors / "val_boxes.csv"), "--checkpoint", str(run)]) == 2
    assert "is an action detector: use it with `videozoo detect`" in capsys.readouterr().err
    classifier = tiny_checkpoint(tmp_path / "c.safetensors", ["bob", "sway"])
    assert main(["detect", "--checkpoint", str(classifier), "--proposals", str(actors / "proposals.csv")]) == 2
    assert "is a video classifier, not an action detector" in capsys.readouterr().err


def test_detection_dataset_skips_an_unreadable_video(actors, tmp_path):
    items, classes = load_box_annotations(actors / "val_boxes.csv")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    items[0].path = str(broken)
    dataset = BoxClipDataset(items, classes, num_frames=4, size=32, train=False)
    assert dataset[0]["skipped"] and "broken.mp4" in dataset[0]["path"]
    item = dataset[1]
    assert item["video"].shape[:2] == (3, 4) and len(item["boxes"]) == len(item["label"]) >= 1


DETECT_MIN, DETECT_MARGIN = 0.3, 0.1  # frame-mAP at IoU 0.5; measured: docs/transfer.md


@pytest.mark.slow
def test_detect_actors_end_to_end(tmp_path):
    """UCF101-24's protocol on the synthetic actors: a detector trained briefly from scratch on their boxes (and
    a person detector's, which teach the still bystanders as background) scores frame-mAP well above the same
    network untrained, at the same boxes."""
    from videozoo.data.actors import ActorsConfig, make_actors_dataset
    from videozoo.engine.box_metrics import detection_map
    from videozoo.engine.detection import detect_actions, proposal_boxes
    from videozoo.engine.evaluate import load_for_inference
    from videozoo.engine.predictor import Predictor

    data = tmp_path / "d"
    make_actors_dataset(data, ActorsConfig(train_videos=96, val_videos=16, height=64, width=84))
    run = tmp_path / "run"
    overrides = "model.overrides={base_width: 32, spatial_strides: [1, 2, 2, 1]}"
    assert main(["train", "--model", "r2plus1d_18", "--data", str(data / "train_boxes.csv"), "--val",
                 str(data / "val_boxes.csv"), "--proposals", str(data / "proposals.csv"), "--epochs", "10",
                 "--out", str(run), "--no-progress", "data.flip=true",
                 overrides]) == 0
    truth, _ = load_box_annotations(data / "val_boxes.csv")
    videos = {item.video: item.path for item in truth}
    boxes = proposal_boxes(data / "proposals.csv")
    model, classes, settings = load_for_inference(run, detector=True)
    actions = classes[:-1]

    def score(net) -> float:
        detections, tubes = detect_actions(Predictor(net), videos, boxes, actions, settings)
        return detection_map(detections, tubes, {item.video: item for item in truth}, actions)

    trained = score(model)
    untrained = score(ActionDetector(videozoo.create_model("r2plus1d_18", 0, base_width=32,
                                                           spatial_strides=(1, 2, 2, 1)), len(classes)))
    print("frame-mAP trained", round(trained.frame_map, 3), "untrained", round(untrained.frame_map, 3),
          "video-mAP", [round(m, 3) for m in trained.video_map], [round(m, 3) for m in untrained.video_map])
    assert trained.frame_map >= DETECT_MIN, trained.as_dict()
    assert trained.frame_map >= untrained.frame_map + DETECT_MARGIN, (trained.frame_map, untrained.frame_map)
