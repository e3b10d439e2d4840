"""Hostile checkpoints, configs and data lists: refused in one line, before anything they carry runs or grows."""

import pickle

import pytest
import torch
from safetensors.torch import save_file

import videozoo
from videozoo.data.datasets import DataError, hmdb51_items, kinetics_items, read_video_csv, ucf101_items
from videozoo.engine.checkpoint import CheckpointError, read_checkpoint
from videozoo.engine.config import ConfigError, load_config
from videozoo.weights.convert import convert_file


class Payload:
    """Unpickling this runs ``touch``: what a booby-trapped checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_checkpoint_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"state_dict": {"fc.weight": Payload(marker)}}, f)
    with pytest.raises(CheckpointError, match="evil.pth is not a readable PyTorch state dict"):
        convert_file("torchvision", "r3d_18", tmp_path / "evil.pth", tmp_path / "out.safetensors")
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("change", ["dtype", "shape"])
def test_a_safetensors_checkpoint_with_wrong_tensors_gets_one_line(tmp_path, change):
    model = videozoo.create_model("r3d_18", num_classes=3, base_width=4)
    tensors, meta = read_checkpoint(videozoo.save_model(model, tmp_path / "ok.safetensors"))
    key = "model.stem.conv.conv.weight"
    tensors[key] = tensors[key].to(torch.int32) if change == "dtype" else tensors[key][:1]
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    expected = ("1 of another kind of number, checkpoint vs model \\(stem.conv.conv.weight int32 vs float32\\)"
                if change == "dtype" else "1 of another shape")
    with pytest.raises(CheckpointError, match=expected):
        videozoo.load_model(tmp_path / "bad.safetensors")


def _billion_laughs(depth: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + f"\nmodel:\n  name: r3d_18\n  overrides:\n    x: *a{depth}\n"


@pytest.mark.parametrize(("text", "message"), [
    (_billion_laughs(), "YAML node expansion exceeds the configured limit"),  # 9^10 strings if expanded
    ('model:\n  name: !!python/object/apply:os.system ["touch ran"]\n', "could not determine a constructor"),
    ("model: !custom\n  name: r3d_18\n", "could not determine a constructor for the tag '!custom'"),
])
def test_a_hostile_config_is_refused(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        load_config(tmp_path / "run.yaml")
    assert "\n" not in str(error.value) and not (tmp_path / "ran").exists()


def test_a_video_that_declares_huge_frames_is_refused_before_decoding(tmp_path):
    """A YUV4MPEG header declaring 16000×16000 frames (a frame would be 384 MB of YUV, 768 MB of RGB)."""
    from videozoo.data import VideoError, probe
    from videozoo.data.datasets import open_reader

    path = tmp_path / "huge.y4m"
    path.write_bytes(b"YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(1000))
    for read in (probe, open_reader):
        with pytest.raises(VideoError, match="declares 16000×16000 frames, more than the 8192×8192 pixels"):
            read(path)


def test_data_list_paths_that_climb_out_of_their_root_are_reported(tmp_path):
    (tmp_path / "list.csv").write_text("path,label\nok/a.mp4,x\n../../etc/passwd,y\n")
    with pytest.raises(DataError, match=r"list.csv:3: ../../etc/passwd climbs out of the data root"):
        read_video_csv(tmp_path / "list.csv")
    (tmp_path / "abs.csv").write_text("path,label\n/data/videos/a.mp4,x\nsub/../b.mp4,y\n")
    items, _ = read_video_csv(tmp_path / "abs.csv")  # absolute paths and a `..` that stays inside are fine
    assert [i.path for i in items] == ["/data/videos/a.mp4", str(tmp_path / "sub/../b.mp4")]
    (tmp_path / "k.csv").write_text("label,youtube_id,time_start,time_end,split\n../../x,abc,0,10,train\n")
    with pytest.raises(DataError, match="k.csv:2: .* climbs out of the data root"):
        kinetics_items(tmp_path / "k.csv", tmp_path)
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Run\n")
    (splits / "trainlist01.txt").write_text("Run/../../../x.avi 1\n")
    with pytest.raises(DataError, match="trainlist01.txt:1: .* climbs out"):
        ucf101_items(tmp_path, splits)
    (splits / "run_test_split1.txt").write_text("../../../x.avi 1\n")
    with pytest.raises(DataError, match="climbs out"):
        hmdb51_items(tmp_path, splits)


def test_a_seeded_slice_of_hostile_videos_is_read_or_refused(tmp_path):
    """benchmarks/hostile_videos.py's generator (bit flips, truncation, lying headers, zero-size streams, huge
    frame sizes, absurd frame counts over MP4, AVI, MKV, WebM and YUV4MPEG): every file, through probe, check-data
    and a data set item, is read or refused in one line, within 10 s and 8 GB of address space, no worker dies.
    The benchmark runs 1,000."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "hostile_videos", Path(__file__).resolve().parents[1] / "benchmarks" / "hostile_videos.py")
    hostile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hostile)
    files = hostile.hostile_files(tmp_path, 120, seed=7)
    results = hostile.read_all([p for p, _ in files], time_limit=10)
    bad = [r for r in results.values() if r["outcome"] not in hostile.GOOD]
    assert len(results) == 120 and not bad, bad
    assert {kind for _, kind in files} == set(hostile.KINDS)
