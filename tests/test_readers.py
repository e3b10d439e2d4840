"""One reader interface: every frame source is a ClipReader, answers the same calls with the same frames, and
refuses bad arguments with the same one-line messages (the checks live once, in FrameReader)."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.videos import barcodes, read_barcode
from videozoo.data import ClipReader, FrameReader, VideoError, open_reader, write_video
from videozoo.data.flow import FlowReader, dequantize, write_flow
from videozoo.data.torchcodec_backend import available as torchcodec_available

N = 20
STEP = 8  # flow frame i has x-flow quantized to STEP * i, so its rank reads back from the picture


def flow_rank(frame: np.ndarray) -> int:
    return int(round(frame[..., 0].astype(float).mean() / STEP))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("readers")
    frames = barcodes(N)
    video = write_video(root / "a.mp4", frames, fps=25)
    folder = root / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"img_{i + 1:05d}.png")
    flow = np.zeros((N - 1, 48, 64, 2), np.float32)
    flow[..., 0] = dequantize(STEP * np.arange(N - 1, dtype=np.float32))[:, None, None]
    flow_file = write_flow(root / "a.flow.mp4", flow, fps=25)
    return {"pyav": video, "frames": folder, "flow": flow_file, "torchcodec": video}


def make_reader(kind, sources):
    if kind == "flow":
        return FlowReader(sources["flow"])
    return open_reader(sources[kind], backend="torchcodec" if kind == "torchcodec" else "pyav")


KINDS = ["pyav", "frames", "flow",
         pytest.param("torchcodec", marks=pytest.mark.skipif(not torchcodec_available(),
                                                             reason="torchcodec (and system FFmpeg) not installed"))]


@pytest.mark.parametrize("kind", KINDS)
def test_every_reader_answers_the_same_calls(sources, kind):
    with make_reader(kind, sources) as reader:
        assert isinstance(reader, ClipReader) and isinstance(reader, FrameReader)
        assert (reader.num_frames, reader.width, reader.height) == (N, 64, 48)
        channels = 2 if kind == "flow" else 3
        rank = flow_rank if kind == "flow" else read_barcode
        expected = (lambda i: min(i, N - 2)) if kind == "flow" else (lambda i: i)  # flow repeats its last frame
        order = [12, 3, 3, 17, 0]
        got = reader.get_frames(order)
        assert got.shape == (5, 48, 64, channels) and got.dtype == torch.uint8
        assert [rank(f) for f in got.numpy()] == [expected(i) for i in order]
        clip = reader.get_clip(2, 4, stride=3)
        assert [rank(f) for f in clip.numpy()] == [expected(i) for i in (2, 5, 8, 11)]
        assert torch.equal(clip, reader.get_frames([2, 5, 8, 11]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("call", "message"), [
    (lambda r: r.get_clip(0, 0), "num_frames and stride must be positive, got 0 and 1"),
    (lambda r: r.get_clip(0, 4, stride=0), "num_frames and stride must be positive, got 4 and 0"),
    (lambda r: r.get_frames([]), "no frames asked for"),
    (lambda r: r.get_frames([3, N]), f"has {N} frames \\(0…{N - 1}\\); asked for frame {N}$"),
    (lambda r: r.get_frames([-1]), "asked for frame -1$"),
    (lambda r: r.get_clip(N - 3, 4), f"asked for frame {N}$"),
])
def test_every_reader_refuses_bad_arguments_alike(sources, kind, call, message):
    with make_reader(kind, sources) as reader, pytest.raises(VideoError, match=message):
        call(reader)


def test_a_new_source_implements_one_method():
    """A reader of one's own subclasses FrameReader and writes ``_read``; checks and reordering come with it."""

    class TensorReader(FrameReader):
        def __init__(self, frames: torch.Tensor) -> None:
            self.path, self.frames = "memory", frames
            self.num_frames, self.height, self.width = frames.shape[:3]
            self.fps, self.duration = 10.0, frames.shape[0] / 10.0
            self.calls = []

        def _read(self, wanted):
            self.calls.append(list(wanted))
            return self.frames[list(wanted)]

    frames = torch.from_numpy(barcodes(6))
    with TensorReader(frames) as reader:
        assert isinstance(reader, ClipReader)
        assert [read_barcode(f) for f in reader.get_frames([5, 1, 1]).numpy()] == [5, 1, 1]
        assert reader.calls == [[1, 5]]  # distinct frames, sorted, read once
        with pytest.raises(VideoError, match="has 6 frames"):
            reader.get_clip(4, 3)
        assert "TensorReader('memory', 6 frames" in repr(reader)
