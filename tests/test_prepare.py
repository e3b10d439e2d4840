"""`videozoo prepare`: a data set re-encoded for training (short side, fixed keyframe spacing, AAC audio), in
parallel, resumable, the unreadable files listed and left out of the new list."""

import csv
import os

import av
import numpy as np
import pytest

from tests.videos import barcodes, tone
from videozoo.cli import main
from videozoo.data import load_items, write_video
from videozoo.data.decode import probe
from videozoo.data.prepare import PrepareOptions, output_size, prepare_video


def keyframes(path) -> list[int]:
    """Display indices of the keyframes."""
    with av.open(str(path)) as c:
        frames = sorted((f.pts, f.key_frame) for f in c.decode(video=0))
    return [i for i, (_, key) in enumerate(frames) if key]


@pytest.fixture
def source(tmp_path):
    """Three 48×64 videos at 20 fps (one with sound), an unreadable one, and a CSV with a segment."""
    root = tmp_path / "src"
    for name, n, sound in (("jump/a.mp4", 40, True), ("jump/b.avi", 30, False), ("run/c.mkv", 36, False)):
        write_video(root / name, barcodes(n), fps=20, audio=tone(n / 20) if sound else None)
    (root / "run" / "broken.mp4").write_bytes(b"not a video")
    (root / "list.csv").write_text("path,label,start,end\njump/a.mp4,jump,0.5,1.5\njump/b.avi,jump,,\n"
                                   "run/c.mkv,run,,\nrun/broken.mp4,run,,\n")
    return root


def test_prepare_writes_small_seekable_copies_and_the_new_list(source, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["prepare", str(source / "list.csv"), str(out), "--short-side", "32", "--gop", "4", "--workers", "2",
                 "--quiet"]) == 0
    assert "prepared 3 videos (0 already done), 1 unreadable" in capsys.readouterr().out
    items, classes = load_items(out / "list.csv")
    assert [os.path.relpath(i.path, out) for i in items] == ["jump/a.mp4", "jump/b.mp4", "run/c.mp4"]
    assert classes == ["jump", "run"] and [i.label for i in items] == [0, 0, 1]
    assert (items[0].start, items[0].end, items[1].start) == (0.5, 1.5, None)  # segments travel
    assert (out / "classes.txt").read_text().split() == classes
    (failed,) = list(csv.DictReader((out / "failed.csv").read_text().splitlines()))
    assert failed["path"].endswith("broken.mp4") and failed["reason"]
    for item, n, sound in zip(items, (40, 30, 36), (True, False, False), strict=True):
        meta = probe(item.path)
        assert (meta.width, meta.height) == (42, 32)  # 64×48 → short side 32, even sizes
        assert meta.num_frames == n and meta.fps == 20 and meta.has_audio == sound
        assert keyframes(item.path) == list(range(0, n, 4))  # exactly every --gop frames
    assert not list(out.rglob(".prepare-*"))


def test_prepare_resumes_without_redoing_finished_files(source, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["prepare", str(source / "list.csv"), str(out), "--short-side", "32", "--workers", "1", "--quiet"]
    assert main(args) == 0
    done = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    (out / "run" / "c.mp4").unlink()  # as if the run was killed before this file
    (out / "run" / ".prepare-999-c.mp4").write_bytes(b"half a file")
    capsys.readouterr()
    assert main(args) == 0
    assert "prepared 1 videos (2 already done), 1 unreadable" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns == t for p, t in done.items() if p.name != "c.mp4")
    assert probe(out / "run" / "c.mp4").num_frames == 36 and not list(out.rglob(".prepare-*"))


def test_prepare_resamples_the_frame_rate_and_never_upscales(tmp_path):
    src = write_video(tmp_path / "v.mp4", barcodes(40, 24, 40), fps=20)
    meta = probe(prepare_video(src, tmp_path / "o.mp4", PrepareOptions(short_side=64, fps=10)))
    assert (meta.width, meta.height) == (40, 24)  # smaller than 64 already: kept
    assert meta.fps == 10 and meta.num_frames == 20  # 2 s at 10 fps
    assert output_size(1920, 1080, 256) == (456, 256) and output_size(100, 300, None) == (100, 300)
    with pytest.raises(ValueError, match="gop must be at least 1"):
        PrepareOptions(gop=0)
    assert np.isfinite(meta.duration) and abs(meta.duration - 2.0) < 0.15
