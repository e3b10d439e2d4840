"""The optional TorchCodec backend gives the same frames as PyAV (runs where torchcodec is installed)."""

import numpy as np
import pytest

from tests.videos import barcodes, read_barcode
from videozoo.data import VideoError, write_video
from videozoo.data.datasets import DataError, open_reader
from videozoo.data.torchcodec_backend import available

needs_torchcodec = pytest.mark.skipif(not available(), reason="torchcodec (and system FFmpeg) not installed")


@needs_torchcodec
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_same_frames_as_pyav(tmp_path, suffix):
    path = write_video(tmp_path / f"a{suffix}", barcodes(60), fps=20)
    with open_reader(path, backend="pyav") as a, open_reader(path, backend="torchcodec") as b:
        assert (a.num_frames, a.width, a.height) == (b.num_frames, b.width, b.height)
        assert b.fps == pytest.approx(a.fps)
        for indices in ([0, 1, 2], [50, 10, 10, 59]):
            fa, fb = a.get_frames(indices).numpy(), b.get_frames(indices).numpy()
            assert np.array_equal(fa, fb)
            assert [read_barcode(f) for f in fb] == indices


@needs_torchcodec
def test_torchcodec_errors(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"nope")
    with pytest.raises(VideoError):
        open_reader(bad, backend="torchcodec")
    path = write_video(tmp_path / "a.mp4", barcodes(10))
    with open_reader(path, backend="torchcodec") as video, pytest.raises(VideoError, match="has 10 frames"):
        video.get_frames([10])


def test_unknown_backend(tmp_path):
    path = write_video(tmp_path / "a.mp4", barcodes(4))
    with pytest.raises(DataError, match="unknown video backend"):
        open_reader(path, backend="decord")
