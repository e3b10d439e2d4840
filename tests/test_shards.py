"""Sharded data sets (`videozoo shard`, data.format=shards) and the cached, parallel index of a data list."""

import json
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from tests.test_distributed import run
from tests.tiny import TINY_RUN as TINY
from tests.videos import barcodes, tone
from videozoo.cli import main
from videozoo.data import DataError, VideoDataset, load_items, write_video
from videozoo.data import index as index_mod
from videozoo.data.index import build_index, index_path, read_index
from videozoo.data.sampling import ClipSampling
from videozoo.data.shards import open_member, parse_size, write_shards
from videozoo.data.transforms import Compose, TransformConfig

RAW = Compose([lambda clip, rng: clip])  # decoded uint8 frames, to compare


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """16 short videos of two classes (one with sound, one a webm), one broken file and one missing in the list."""
    root = tmp_path_factory.mktemp("vids")
    lines = ["path,label"]
    for k in range(16):
        cls = ("jump", "run")[k % 2]
        name = f"{cls}/{k:02d}.{'webm' if k == 3 else 'mp4'}"
        write_video(root / name, barcodes(12 + k), fps=10, audio=tone(2) if k == 0 else None)
        lines.append(f"{name},{cls}")
    (root / "broken.mp4").write_bytes(b"no video here")
    lines += ["broken.mp4,jump", "missing.mp4,run"]
    (root / "list.csv").write_text("\n".join(lines) + "\n")
    return root


def test_shards_hold_the_files_bytes_and_read_like_them(videos, tmp_path, capsys):
    out = tmp_path / "shards"
    assert main(["shard", str(videos / "list.csv"), str(out), "--shard-size", "20KB", "--workers", "2",
                 "--quiet"]) == 0
    assert "packed 16 videos" in capsys.readouterr().out
    desc = json.loads((out / "shards.json").read_text())
    assert sum(s["nsamples"] for s in desc["shardlist"]) == 16 and len(desc["shardlist"]) > 1
    assert "broken.mp4" in (out / "failed.csv").read_text() and "missing.mp4" in (out / "failed.csv").read_text()
    with tarfile.open(out / desc["shardlist"][0]["url"]) as tar:  # a WebDataset tar: <key>.<ext> members
        names = tar.getnames()
    assert sorted(names[:2]) == ["000000000.json", "000000000.mp4"]

    items, classes = load_items(out)  # auto: a folder holding shards.json
    source, _ = load_items(videos / "list.csv")
    assert classes == ["jump", "run"] and len(items) == 16
    assert [i.label for i in items] == [i.label for i in source[:16]]
    for k in (0, 3, 15):  # no re-encode: the bytes are the file's; and it decodes to the same frames
        data, ext = open_member(items[k].path)
        assert data.getvalue() == Path(source[k].path).read_bytes() and ext == ("webm" if k == 3 else "mp4")
        a = VideoDataset(items, classes, ClipSampling(4), RAW, train=False, num_clips=2)[k]["video"]
        b = VideoDataset(source, classes, ClipSampling(4), RAW, train=False, num_clips=2)[k]["video"]
        assert torch.equal(a, b)
    from videozoo.data.audio import read_audio

    assert torch.equal(read_audio(items[0].path), read_audio(source[0].path))  # the sound travels too


def test_bad_shards_fail_in_one_line_or_skip(videos, tmp_path):
    out = tmp_path / "s"
    items, classes = load_items(videos / "list.csv")
    write_shards(items[:4], classes, out, shard_size=parse_size("1MB"))
    with pytest.raises(DataError, match="not a videozoo shard descriptor"):
        (tmp_path / "other.json").write_text('{"a": 1}')
        load_items(tmp_path / "other.json", fmt="shards")
    with pytest.raises(DataError, match="its classes"):
        load_items(out, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="expected a number of bytes with a unit"):
        parse_size("lots")
    shard = out / "shard-000000.tar"
    shard.write_bytes(shard.read_bytes()[:3000])  # cut short: the dataset skips what it cannot read
    sharded, _ = load_items(out)
    item = VideoDataset(sharded, classes, ClipSampling(4), TransformConfig(crop=32))[3]
    assert item["skipped"] and "shards.json::3" in item["path"]


def test_index_is_cached_and_refreshes_changed_files(videos, tmp_path, monkeypatch):
    paths = [str(videos / f"{('jump', 'run')[k % 2]}/{k:02d}.mp4") for k in (0, 1, 2, 4, 5)]
    paths.append(str(videos / "broken.mp4"))
    cache = tmp_path / "list.csv.index.jsonl"
    first = build_index(paths, cache, workers=2)
    assert all(first[p].readable for p in paths[:-1]) and first[str(videos / "broken.mp4")].error
    assert first[paths[1]].metadata["num_frames"] > 0
    assert first == build_index(paths, None, workers=0)  # processes or not, the same answers
    calls = []
    original = index_mod.probe_entry
    monkeypatch.setattr(index_mod, "probe_entry", lambda p: calls.append(p) or original(p))
    assert build_index(paths, cache) == first and calls == []  # all from the cache
    changed = tmp_path / "changed.mp4"
    write_video(changed, barcodes(8), fps=10)
    build_index([*paths, str(changed)], cache)
    write_video(changed, barcodes(20), fps=10)  # the file changes: only it is read again
    calls.clear()
    again = build_index([*paths, str(changed)], cache)
    assert calls == [str(changed)] and again[str(changed)].metadata["num_frames"] == 20
    with cache.open("a") as f:
        f.write('{"path": "cut sh')  # a line torn by a killed run is ignored
    assert set(read_index(cache)) == {*paths, str(changed)}
    assert index_path(videos / "list.csv") == videos / "list.csv.index.jsonl"


def test_check_data_reads_in_parallel_through_the_index(videos, capsys):
    assert main(["check-data", str(videos / "list.csv"), "--workers", "2", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "16 of 18 videos readable" in out and "broken.mp4" in out and "missing.mp4" in out
    assert len(read_index(index_path(videos / "list.csv"))) == 17  # the missing file is not cached


def test_two_processes_read_every_sample_once_per_epoch(videos, tmp_path):
    """torchrun, 2 processes × 2 loader workers over shards: each epoch every sample once, split between the
    processes, in an order that changes with the epoch."""
    out = tmp_path / "shards"
    items, classes = load_items(videos / "list.csv")
    write_shards(items[:16], classes, out, shard_size=parse_size("30KB"))
    seen_file = tmp_path / "seen.json"
    run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29523",
         "tests/shard_check.py", str(out), str(seen_file)])
    seen = json.loads(seen_file.read_text())
    orders = []
    for epoch in seen:
        rank0, rank1 = epoch[0]["indices"], epoch[1]["indices"]
        assert len(rank0) == len(rank1) == 8 and sorted(rank0 + rank1) == list(range(16))
        assert epoch[0]["skipped"] == epoch[1]["skipped"] == 0
        orders.append(rank0 + rank1)
    assert orders[0] != orders[1]


def test_a_killed_run_on_shards_resumes_exactly(videos, tmp_path, monkeypatch):
    """Training from shards: killed after epoch 1 of 2 and resumed, the weights equal an uninterrupted run's."""
    from videozoo.engine import trainer as trainer_mod
    from videozoo.engine.checkpoint import read_checkpoint
    from videozoo.engine.config import load_config
    from videozoo.engine.trainer import train

    out = tmp_path / "shards"
    items, classes = load_items(videos / "list.csv")
    write_shards(items[:16], classes, out)

    def config(run):
        return load_config(None, [f"data.train={out}", f"out={run}", "model.name=r2plus1d_18", "train.epochs=2",
                                  *TINY, "data.num_workers=2", "train.precision=fp32"])

    train(config(tmp_path / "whole"))
    original = trainer_mod.Trainer.end_epoch

    def end_epoch_then_die(self, epoch, row):
        original(self, epoch, row)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod.Trainer, "end_epoch", end_epoch_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path / "killed"))
    monkeypatch.setattr(trainer_mod.Trainer, "end_epoch", original)
    assert train(config(tmp_path / "killed"), resume=True).epochs_done == 2
    a, _ = read_checkpoint(tmp_path / "whole" / "last.safetensors")
    b, _ = read_checkpoint(tmp_path / "killed" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))
