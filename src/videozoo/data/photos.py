"""Real photographs filmed by a virtual camera: the picture side of ``videozoo synth --source photos``.

A video is a camera looking at part of one photograph and moving over it::

    photograph (any size)              frame t (size × size)
    ┌──────────────────────────┐
    │      ┌─────┐ → pan       │       the view, resampled: centre c(t),
    │      │view │             │  ──▶  width w·exp(z(t)), angle θ(t)
    │      └─────┘             │
    └──────────────────────────┘

Each class is one motion of the camera: pan (left/right), tilt (up/down),
zoom (in/out) or roll (clockwise/counter-clockwise), at a speed drawn per
video over a fourfold range, with a slight hand-held shake. The photograph,
the view's place and size are drawn at random, and each motion is centred
on the middle of the video, where the view is about upright: opposite
motions (left and right, in and out, clockwise and counter-clockwise) show
alike frames, in reverse order, so only the order of frames tells them apart.

The photographs are those scikit-image ships (``skimage.data``: astronaut,
coffee, rocket, the Hubble deep field, …; public domain or CC0 and the like,
see its README) or any folder of images a user names.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

# name: (x, y speed in view widths per second, zoom in log-scale per second, roll in radians per second) at
# speed 1; a video's speed is drawn from SPEED_RANGE. The camera moves; the picture moves the other way.
CAMERA_MOTIONS: dict[str, tuple[float, float, float, float]] = {
    "pan_left": (-0.25, 0, 0, 0),
    "pan_right": (0.25, 0, 0, 0),
    "tilt_up": (0, -0.25, 0, 0),
    "tilt_down": (0, 0.25, 0, 0),
    "zoom_in": (0, 0, -0.3, 0),  # the view shrinks: the picture grows
    "zoom_out": (0, 0, 0.3, 0),
    "roll_clockwise": (0, 0, 0, 0.35),
    "roll_counterclockwise": (0, 0, 0, -0.35),
}
SPEED_RANGE = (0.5, 2.0)  # drawn log-uniformly: slow (a pixel a frame at 96² and 12 fps) to fast
VIEW_RANGE = (0.3, 0.55)  # the view's width at the start, as a share of the photograph's short side
SHAKE = 0.006  # hand-held shake: the standard deviation of the view's wander, in view widths
TILT = 0.15  # radians: how far from upright the view is in the middle of a video

# The photographs of scikit-image's data module that ship in its wheel (no download), colour and grey.
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "coffee", "coins", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
MIN_SIDE = 64  # smaller images leave too little to move over


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def load_photos(folder: str | os.PathLike | None = None) -> list[np.ndarray]:
    """uint8 ``(H, W, 3)`` photographs: every image in ``folder`` (sorted by name), or scikit-image's."""
    if folder is None:
        try:
            from skimage import data
        except ImportError:  # pragma: no cover - a core dependency
            raise RuntimeError("the default photographs come from scikit-image: pip install scikit-image, "
                               "or name a folder of images") from None
        return [_as_rgb(getattr(data, name)()) for name in SKIMAGE_PHOTOS]
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"expected a folder of images (jpg, png, …), got {folder}")
    photos = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None and min(image.shape[:2]) >= MIN_SIDE:
            photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if not photos:
        raise ValueError(f"{folder} holds no readable image of at least {MIN_SIDE}×{MIN_SIDE} pixels "
                         f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    return photos


def _shake(rng: np.random.Generator, frames: int) -> np.ndarray:
    """A smooth random wander ``(frames, 2)`` in view widths: noise low-passed over about five frames."""
    noise = rng.normal(0, 1, (frames + 8, 2))
    kernel = np.hanning(9)
    smooth = np.stack([np.convolve(noise[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    return SHAKE * smooth / (kernel.sum() / math.sqrt(len(kernel)))


def render_camera_motion(motion: str, photos: list[np.ndarray], frames: int, size: int, fps: float,
                         rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(frames, size, size, 3)``: one of ``photos`` filmed by a camera moving the way ``motion``
    names (a key of ``CAMERA_MOTIONS``, or ``"still"``) at a speed drawn from ``SPEED_RANGE``."""
    vx, vy, zoom, roll = (0.0, 0.0, 0.0, 0.0) if motion == "still" else CAMERA_MOTIONS[motion]
    speed = math.exp(rng.uniform(math.log(SPEED_RANGE[0]), math.log(SPEED_RANGE[1])))
    photo = photos[int(rng.integers(len(photos)))]
    short = min(photo.shape[:2])
    view = short * rng.uniform(*VIEW_RANGE)  # the view's width in the photograph's pixels, at the start
    # Shrink the photograph first (area averaging) so that the view is about 1.5 frames wide: the warp then
    # samples without aliasing.
    shrink = min(1.0, 1.5 * size / view)
    if shrink < 1.0:
        photo = cv2.resize(photo, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        view *= shrink
    height, width = photo.shape[:2]
    # Every motion is centred on the middle of the video, where the view is upright give or take TILT: opposite
    # motions (left / right, in / out, clockwise / counter-clockwise) then show alike frames in reverse order.
    seconds = (np.arange(frames) - (frames - 1) / 2) / fps
    widths = view * np.exp(zoom * speed * seconds)
    middle_angle = rng.uniform(-TILT, TILT)
    angles = middle_angle + roll * speed * seconds
    # The path of the centre in pixels; placed so the whole path, with a view's margin, stays on the photograph
    # where it can (what cannot fit is mirrored at the border).
    # the camera moves along the view's own axes: a pan moves the picture sideways in the frame
    cos, sin = math.cos(middle_angle), math.sin(middle_angle)
    along = np.array([cos * vx - sin * vy, sin * vx + cos * vy])
    path = np.outer(speed * seconds * view, along)
    path += _shake(rng, frames) * view
    reach = widths.max() * math.sqrt(2) / 2  # a rotated view's half-diagonal
    lo = reach - path.min(axis=0)
    hi = np.array([width, height]) - reach - path.max(axis=0)
    start = np.where(lo < hi, rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi)),
                     (np.array([width, height]) - path.min(axis=0) - path.max(axis=0)) / 2)
    centres = start + path
    noise = rng.normal(0, 3, (frames, size, size, 3))
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        scale = widths[t] / size
        cos, sin = math.cos(angles[t]) * scale, math.sin(angles[t]) * scale
        linear = np.array([[cos, -sin], [sin, cos]])  # frame pixel offsets → photograph pixel offsets
        offset = centres[t] - linear @ np.array([size / 2, size / 2])
        matrix = np.concatenate([linear, offset[:, None]], axis=1)
        frame = cv2.warpAffine(photo, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT_101)
        out[t] = np.clip(frame + noise[t], 0, 255).astype(np.uint8)
    return out
