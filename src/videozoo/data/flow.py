"""Optical flow, precomputed with OpenCV and stored as videos the data path reads like any other.

``videozoo flow DATA OUT`` computes dense flow between consecutive frames
(Farneback by default; TV-L1 where OpenCV's contrib module is installed),
clips it to ±``BOUND`` pixels (20, as mmaction2 and the two-stream
literature do), quantises it to 8 bits and writes it as an H.264 video with
x in the red and y in the green channel (4:4:4, near lossless), one flow
frame per video frame (the last one repeated), so frame ``i`` of the flow
lines up with frame ``i`` of the video. :class:`FlowReader` gives back uint8
``(T, H, W, 2)``; the ``flow`` normalisation maps it to [-1, 1] (±20 px).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .decode import VideoError, VideoReader
from .encode import write_video
from .reader import ClipReader, FrameReader

BOUND = 20.0
FLOW_SUFFIX = ".flow.mp4"


def _cv2():
    try:
        import cv2
    except ImportError:
        raise VideoError("optical flow needs OpenCV: pip install opencv-python-headless") from None
    return cv2


# OpenCV's Farneback parameters (pyramid scale, levels, window, iterations, poly_n, poly_sigma, Gaussian window):
# OpenCV's sample's, and caffe2/video's optical_flow.cc's (what VMZ's flow networks were trained on).
FARNEBACK = {"farneback": (0.5, 3, 15, 3, 5, 1.2, False), "farneback_vmz": (math.sqrt(2) / 2, 5, 10, 2, 7, 1.5, True)}


def flow_methods() -> list[str]:
    cv2 = _cv2()
    return [*FARNEBACK] + (["tvl1"] if hasattr(cv2, "optflow") else [])


def compute_flow(frames: np.ndarray, method: str = "farneback") -> np.ndarray:
    """float32 ``(T - 1, H, W, 2)`` flow (pixels, x then y) between consecutive uint8 ``(T, H, W, 3)`` frames."""
    cv2 = _cv2()
    if method not in flow_methods():
        raise ValueError(f"flow method {method!r} is not available here; choose one of {', '.join(flow_methods())}")
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create() if method == "tvl1" else None
    out = []
    for a, b in zip(grey[:-1], grey[1:], strict=True):
        if tvl1 is not None:
            out.append(tvl1.calc(a, b, None))
        else:
            *params, gaussian = FARNEBACK[method]
            out.append(cv2.calcOpticalFlowFarneback(a, b, None, *params,
                                                    cv2.OPTFLOW_FARNEBACK_GAUSSIAN if gaussian else 0))
    return np.stack(out).astype(np.float32)


def quantize(flow: np.ndarray) -> np.ndarray:
    """±BOUND px → 0…255 (127.5 is no motion)."""
    return np.round((np.clip(flow, -BOUND, BOUND) + BOUND) * (255 / (2 * BOUND))).astype(np.uint8)


def dequantize(q: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(q, np.float32) * (2 * BOUND / 255) - BOUND


def write_flow(path: str | os.PathLike, flow: np.ndarray, fps: float) -> Path:
    """Store ``(T - 1, H, W, 2)`` flow of a T-frame video as a T-frame flow video (last frame repeated)."""
    q = quantize(flow)
    q = np.concatenate([q, q[-1:]])
    rgb = np.concatenate([q, np.full(q.shape[:-1] + (1,), 128, np.uint8)], axis=-1)
    h, w = rgb.shape[1:3]
    rgb = np.pad(rgb, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")  # H.264 wants even sizes
    return write_video(path, rgb, fps, codec="libx264", pix_fmt="yuv444p", options={"crf": "4"})


class FlowReader(FrameReader):
    """A flow video, read like :class:`VideoReader`; frames are uint8 ``(T, H, W, 2)`` (x, y)."""

    def __init__(self, path: str | os.PathLike, threads: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"flow file not found: {self.path} (compute it with `videozoo flow`)")
        self._video = VideoReader(self.path, threads=threads)
        self.num_frames, self.fps, self.duration = self._video.num_frames, self._video.fps, self._video.duration
        self.width, self.height = self._video.width, self._video.height
        self.has_audio = False

    def _read(self, wanted: Sequence[int]) -> torch.Tensor:
        return self._video.get_frames(wanted)[..., :2].contiguous()

    def close(self) -> None:
        self._video.close()


def flow_path(video: str | os.PathLike, data_root: str | os.PathLike, flow_root: str | os.PathLike) -> Path:
    """Where the flow of ``video`` lives: its path relative to ``data_root``, under ``flow_root``."""
    video, data_root = Path(video), Path(data_root)
    try:
        rel = video.relative_to(data_root)
    except ValueError:
        rel = Path(video.name)
    return Path(flow_root) / rel.with_name(rel.name + FLOW_SUFFIX)


def check_flow_matches(video: ClipReader, flow: FlowReader) -> None:
    """One line when a flow file was computed from another video (frame count or size)."""
    if flow.num_frames != video.num_frames or (flow.height - video.height) not in (0, 1) or \
            (flow.width - video.width) not in (0, 1):
        raise VideoError(f"{flow.path} does not match its video {video.path}: flow {flow.num_frames} frames "
                         f"{flow.width}×{flow.height}, video {video.num_frames} frames {video.width}×{video.height}")


def make_flows(videos: Sequence[str], data_root: str | os.PathLike, out_root: str | os.PathLike,
               method: str = "farneback", progress: Callable[[int, int], None] | None = None
               ) -> tuple[int, dict[str, str]]:
    """Compute and store the flow of every video (skipping those already done); returns (written, failures)."""
    written, failures = 0, {}
    rows = []
    for k, path in enumerate(videos):
        target = flow_path(path, data_root, out_root)
        if not target.is_file():
            try:
                with VideoReader(path) as video:
                    frames = video.get_frames(range(video.num_frames)).numpy()
                    fps = video.fps
                if len(frames) < 2:
                    raise VideoError(f"{path} has fewer than 2 frames: no flow")
                write_flow(target, compute_flow(frames, method), fps)
                written += 1
            except VideoError as e:
                failures[str(path)] = str(e)
        if str(path) not in failures:
            rows.append((str(path), str(target)))
        if progress:
            progress(k + 1, len(videos))
    index = Path(out_root) / "flows.csv"
    index.parent.mkdir(parents=True, exist_ok=True)
    with index.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "flow"])
        writer.writerows(rows)
    return written, failures
