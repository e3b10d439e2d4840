"""probe and check-data from the command line."""

import json

from tests.videos import barcodes
from videozoo.cli import main
from videozoo.data import write_video


def test_probe(tmp_path, capsys):
    path = write_video(tmp_path / "a.avi", barcodes(30), fps=10)
    assert main(["probe", str(path)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["num_frames"] == 30 and meta["fps"] == 10 and meta["has_audio"] is False
    assert main(["probe", str(tmp_path / "none.mp4")]) == 2
    assert "video not found" in capsys.readouterr().err


def test_check_data_lists_what_is_unreadable(tmp_path, capsys):
    write_video(tmp_path / "ok.mp4", barcodes(20))
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("hello")
    (tmp_path / "list.csv").write_text("ok.mp4,a\nzero.mp4,a\ntext.mp4,b\nmissing.mp4,b\n")
    assert main(["check-data", str(tmp_path / "list.csv"), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "empty (0 bytes)" in out and "missing.mp4" in out and "text.mp4" in out
    assert "1 of 4 videos readable" in out
    (tmp_path / "good.csv").write_text("ok.mp4,a\n")
    assert main(["check-data", str(tmp_path / "good.csv"), "--quiet", "--full"]) == 0


def test_check_data_bad_list(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("ok.mp4,-3\n")
    assert main(["check-data", str(tmp_path / "bad.csv")]) == 2
    assert "negative" in capsys.readouterr().err
