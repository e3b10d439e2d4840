"""Videos stored as folders of extracted frames (``img_00001.jpg`` …), behind the reader interface."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .reader import FrameReader, VideoError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


class FrameFolderReader(FrameReader):
    """A folder of frame images, read like a :class:`~videozoo.data.decode.VideoReader`.

    Frames are the images in name order; ``fps`` is what the caller says (folders carry no timing).
    """

    def __init__(self, path: str | os.PathLike, fps: float = 30.0) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise VideoError(f"frame folder not found: {self.path}")
        self._files = frame_files(self.path)
        if not self._files:
            raise VideoError(f"{self.path} holds no frame images ({', '.join(IMAGE_SUFFIXES)})")
        self.num_frames = len(self._files)
        self.fps = fps
        self.duration = self.num_frames / fps
        first = self._read_image(0)
        self.height, self.width = first.shape[:2]
        self.has_audio = False

    def _read_image(self, index: int) -> torch.Tensor:
        path = self._files[index]
        try:
            with Image.open(path) as image:
                return torch.from_numpy(np.asarray(image.convert("RGB")).copy())  # (H, W, 3)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise VideoError(f"cannot read frame {path}: {' '.join(str(e).split())}") from None

    def _read(self, wanted: Sequence[int]) -> torch.Tensor:
        frames = [self._read_image(i) for i in wanted]
        if len({f.shape for f in frames}) > 1:
            raise VideoError(f"{self.path} mixes frame sizes")
        return torch.stack(frames)
