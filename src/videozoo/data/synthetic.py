"""A synthetic action data set whose classes only motion tells apart.

Each video shows a few striped, randomly coloured rectangles over a random
smooth background. The class is how they all move: its direction, its speed,
its sense of rotation, whether it grows or shrinks. Every motion wraps
around (the frame is a torus, the scale a sawtooth), and the starting
position, angle and scale are uniform, so any single frame, and the set of
frames of a clip taken as a bag, looks the same in every class: a network
that ignores the order of frames cannot beat chance; one that models time
can reach 100%.

Each file is a real mp4 (H.264) with a mono AAC audio track. By default the
audio is class-independent (a random tone in noise); ``audio_informative``
makes that share of the videos carry their class as the tone's pitch.
``motion_informative`` below 1 makes the rest of the videos move the way of a
class drawn at random (the picture says nothing of their class): with both,
each modality names the class in some videos only and together they name it
in more, as audio and RGB do in Kinetics. ``still`` makes a share of the
videos show their objects standing still instead: the picture says nothing
of their class either, but it does not show another class's motion, so the
moving videos teach motion as cleanly as in a fully informative set.

``audio_visual=True`` builds the Gradient-Blending set instead: each class is
a pair (motion, pitch), ``classes / 2`` motions times a low and a high tone,
so motion alone and sound alone each tell apart at most half of the classes
and only the two together can name every class. The sound also carries a
fingerprint unique to each video (a chord of three random tones): it says
nothing about the class, but an audio network memorises it within a few
epochs, while all videos share one look (background and colours), so the
picture offers little to memorise: audio is learned and overfitted far
faster than motion, the situation Gradient-Blending is for (Wang et al.,
CVPR 2020).

``source="photos"`` films real photographs instead (``data.photos``): a
virtual camera pans, tilts, zooms or rolls over a photograph at a speed drawn
per video, so the set has what the striped shapes lack: texture, clutter and
slow motion, as in real footage. The class is the camera's motion; the
photograph and the place in it are drawn at random and each motion is
centred on the middle of the video, so a single frame does not tell a motion
from its opposite.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encode import write_video
from .photos import CAMERA_MOTIONS, load_photos, render_camera_motion
from .sounds import load_soundtrack, stretch_offsets

# name: (vx, vy in frame widths per frame, angular velocity in rad per frame, log-scale change per frame)
MOTIONS: dict[str, tuple[float, float, float, float]] = {
    "right": (0.06, 0, 0, 0),
    "left": (-0.06, 0, 0, 0),
    "down": (0, 0.06, 0, 0),
    "up": (0, -0.06, 0, 0),
    "clockwise": (0, 0, 0.2, 0),
    "counterclockwise": (0, 0, -0.2, 0),
    "grow": (0, 0, 0, 0.08),
    "shrink": (0, 0, 0, -0.08),
    "right_fast": (0.15, 0, 0, 0),
    "left_fast": (-0.15, 0, 0, 0),
}
SCALE_RANGE = (0.6, 1.5)  # the sawtooth of grow / shrink wraps within this range
STILL = (0.0, 0.0, 0.0, 0.0)  # the motion of a video in the ``still`` share: none
PITCHES = {"low": 400.0, "high": 1600.0}  # Hz; the audio-visual set's class tones, two octaves apart
# x264's macroblock-tree rate control (and its threads) made the encoded pictures differ from run to run when the
# file also has a sound track (measured: 13 different files in 20 encodes of one 64x64 clip); without them the
# same seed writes the same bytes.
REPRODUCIBLE_X264 = {"threads": "1", "mbtree": "0"}
# Fingerprint tones are drawn from these bands, clear of the class tones by more than a mel band.
FINGERPRINT_BANDS = ((150.0, 320.0), (500.0, 1250.0), (2000.0, 3800.0))


SOURCES = ("shapes", "photos")
# What `videozoo synth --source photos` writes when not told otherwise: the size of the set in issue 17's trial
# (8 camera motions, 240 training videos of 96×96, 24 frames at 12 fps: two seconds each).
PHOTO_DEFAULTS = {"classes": 8, "per_class": 30, "val_per_class": 10, "frames": 24, "size": 96, "fps": 12}


@dataclass(frozen=True)
class SynthConfig:
    classes: int = 6
    per_class: int = 24
    val_per_class: int = 8
    frames: int = 32
    size: int = 64
    fps: int = 16
    sample_rate: int = 16000
    audio_informative: float = 0.0
    motion_informative: float = 1.0  # the share of videos that move their class's way (the rest: a random class's)
    still: float = 0.0  # the share of videos whose objects stand still (drawn before motion_informative)
    still_objects: int = 0  # source shapes: striped bystanders standing still behind the moving objects
    audio_visual: bool = False  # classes: (motion, pitch) pairs; audio with per-video fingerprints
    seed: int = 0
    source: str = "shapes"  # shapes: striped objects moving; photos: a camera moving over photographs
    images: str | None = None  # source photos: a folder of images (default: the photographs scikit-image ships)
    sounds: str | None = None  # real sound: a folder of recordings, or "music" (data.sounds); None: tones in noise

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.still_objects < 0 or (self.still_objects and self.source != "shapes"):
            raise ValueError(f"still_objects is a count of still shapes beside the moving ones (source 'shapes'), "
                             f"got {self.still_objects}")
        if self.images is not None and self.source != "photos":
            raise ValueError("images is a folder of photographs for source 'photos'")
        if not 2 <= self.classes <= len(self.motions):
            raise ValueError(f"classes must be 2…{len(self.motions)} for source {self.source!r}, got {self.classes}")
        if self.per_class < 1 or self.val_per_class < 0 or self.frames < 2:
            raise ValueError("per_class must be ≥ 1, val_per_class ≥ 0 and frames ≥ 2")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be even and at least 16, got {self.size}")
        for name in ("audio_informative", "motion_informative", "still"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.sounds is not None and self.audio_visual:
            raise ValueError("sounds gives each video a stretch of real recordings; the audio-visual set ('av') "
                             "makes its own sound: use one or the other")
        if self.audio_visual and self.classes % 2:
            raise ValueError(f"audio_visual needs an even number of classes (motion × low/high pitch), "
                             f"got {self.classes}")

    @property
    def motions(self) -> dict:
        """The source's motions, in class order: ``MOTIONS`` (shapes) or ``CAMERA_MOTIONS`` (photos)."""
        return CAMERA_MOTIONS if self.source == "photos" else MOTIONS

    @property
    def class_names(self) -> list[str]:
        if self.audio_visual:
            return [f"{motion}_{pitch}" for motion in list(self.motions)[: self.classes // 2] for pitch in PITCHES]
        return list(self.motions)[: self.classes]

    def motion_of(self, label: int) -> str:
        return list(self.motions)[label // 2 if self.audio_visual else label]

    def video_motion(self, label: int, k: int) -> str:
        """The motion of video ``k`` of class ``label``: ``"still"`` in a share ``still`` of the videos; else the
        class's, or in a share 1 − ``motion_informative`` that of a class drawn at random (draws of its own:
        other videos and the sound do not change)."""
        if self.still > 0 and np.random.default_rng([self.seed, label, k, 3]).random() < self.still:
            return "still"
        if self.motion_informative >= 1.0:
            return self.motion_of(label)
        draw = np.random.default_rng([self.seed, label, k, 2])
        if draw.random() < self.motion_informative:
            return self.motion_of(label)
        return self.motion_of(int(draw.integers(self.classes)))


def smooth_background(rng: np.random.Generator, height: int, width: int | None = None) -> np.ndarray:
    """Smooth random colour field ``(height, width, 3)`` (square by default): bilinear upsampling of a 4×4 grid
    of colours."""
    grid = rng.uniform(30, 200, (4, 4, 3))

    def axis(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.linspace(0, 3, n)
        i = np.clip(x.astype(int), 0, 2)
        return i, x - i

    i, f = axis(height)
    j, g = axis(width or height)
    rows = grid[i] * (1 - f)[:, None, None] + grid[i + 1] * f[:, None, None]  # (height, 4, 3)
    return rows[:, j] * (1 - g)[None, :, None] + rows[:, j + 1] * g[None, :, None]


def paint_shape(frame: np.ndarray, dx: np.ndarray, dy: np.ndarray, theta: float, scale: float, shape: dict
                ) -> np.ndarray:
    """``frame`` ``(H, W, 3)`` with a striped rectangle painted on it: ``dx``, ``dy`` each pixel's offset from
    the shape's centre, ``theta`` its angle, ``scale`` its size factor; ``shape`` holds ``half`` (half width and
    height), ``stripe`` (band width) and ``colors`` (its two colours)."""
    u = (math.cos(theta) * dx + math.sin(theta) * dy) / scale
    v = (-math.sin(theta) * dx + math.cos(theta) * dy) / scale
    half_w, half_h = shape["half"]
    inside = (np.abs(u) < half_w) & (np.abs(v) < half_h)
    band = (np.floor((u + half_w) / shape["stripe"]).astype(int) % 2)[..., None]
    stripes = np.where(band == 0, shape["colors"][0], shape["colors"][1])
    return np.where(inside[..., None], stripes, frame)


def render_motion(motion: str, frames: int, size: int, rng: np.random.Generator, objects: int = 3,
                  look: np.random.Generator | None = None, still_objects: int = 0) -> np.ndarray:
    """uint8 ``(frames, size, size, 3)`` of one video of class ``motion``: ``objects`` striped rectangles,
    each placed, turned, sized and coloured at random, all moving the class's way (``"still"``: not at all),
    in front of ``still_objects`` more that stand still (bystanders: what moves tells the class, not what
    is there). ``look``, when given, draws the background and the colours instead of ``rng`` (one look shared
    by many videos)."""
    motion_of = STILL if motion == "still" else MOTIONS[motion]
    speed = rng.uniform(0.8, 1.2)
    background = smooth_background(look or rng, size)
    shared_colors = look.uniform(0, 255, (objects + still_objects, 2, 3)) if look is not None else None
    lo, hi = np.log(SCALE_RANGE[0]), np.log(SCALE_RANGE[1])
    shapes = [
        {"colors": shared_colors[k] if look is not None else rng.uniform(0, 255, (2, 3)),
         "half": size * rng.uniform((0.1, 0.06), (0.16, 0.1)),
         "stripe": size * rng.uniform(0.04, 0.06), "centre": rng.uniform(0, size, 2),
         "angle": rng.uniform(0, 2 * math.pi), "log_scale": rng.uniform(lo, hi), "moves": k < objects}
        for k in range(objects + still_objects)
    ]
    shapes = shapes[objects:] + shapes[:objects]  # the bystanders behind
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        frame = background.copy()
        for shape in shapes:
            vx, vy, spin, growth = motion_of if shape["moves"] else STILL
            x0 = (shape["centre"][0] + t * vx * speed * size) % size
            y0 = (shape["centre"][1] + t * vy * speed * size) % size
            theta = shape["angle"] + t * spin * speed
            scale = math.exp(lo + (shape["log_scale"] - lo + t * growth * speed) % (hi - lo))
            dx = (xs - x0 + size / 2) % size - size / 2  # distances on the torus
            dy = (ys - y0 + size / 2) % size - size / 2
            frame = paint_shape(frame, dx, dy, theta, scale, shape)
        frame = frame + rng.normal(0, 6, frame.shape)
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def render_audio(label: int, num_classes: int, seconds: float, sample_rate: int, informative: bool,
                 rng: np.random.Generator) -> np.ndarray:
    """A tone in noise; its pitch is the class's when ``informative``, else random."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    # Informative pitches spread the classes over three octaves, 300 Hz – 2.4 kHz.
    freq = 300.0 * 2 ** (label * 3 / max(num_classes, 1)) if informative else rng.uniform(300.0, 2400.0)
    wave = 0.3 * np.sin(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
    return (wave + rng.normal(0, 0.05, t.shape)).astype(np.float32)


def render_audio_visual(label: int, seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The audio-visual set's sound: the class's pitch (``label % 2``: low or high) and a chord of three
    tones drawn at random, one per fingerprint band, unique to the video and useless for the class."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = list(PITCHES.values())[label % 2]
    wave = 0.3 * np.sin(2 * math.pi * pitch * t + rng.uniform(0, 2 * math.pi))
    for lo, hi in FINGERPRINT_BANDS:
        freq = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        wave += rng.uniform(0.15, 0.3) * np.sin(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
    return (wave + rng.normal(0, 0.03, t.shape)).astype(np.float32)


def make_synthetic_dataset(out: str | os.PathLike, config: SynthConfig = SynthConfig()) -> dict[str, Path]:
    """Write videos, ``train.csv``, ``val.csv`` (``path,label`` with class names) and ``classes.txt``."""
    out = Path(out)
    rng = np.random.default_rng(config.seed)
    names = config.class_names
    photos = load_photos(config.images) if config.source == "photos" else None
    seconds = config.frames / config.fps
    if config.sounds is not None:
        track = load_soundtrack(config.sounds, config.sample_rate)
        samples = int(seconds * config.sample_rate)
        offsets = iter(stretch_offsets(len(track), samples, len(names) * (config.per_class + config.val_per_class),
                                       config.seed))
    rows = {"train": [], "val": []}
    for label, name in enumerate(names):
        for k in range(config.per_class + config.val_per_class):
            split = "train" if k < config.per_class else "val"
            video_rng = np.random.default_rng([config.seed, label, k])
            # The audio-visual set shares one look (background, colours) among all videos: what tells one
            # video from another is its sound's chord, so audio, not the picture, is what a network memorises.
            look = np.random.default_rng([config.seed, 1 << 20]) if config.audio_visual else None
            motion = config.video_motion(label, k)
            if photos is not None:
                frames = render_camera_motion(motion, photos, config.frames, config.size, config.fps, video_rng)
            else:
                frames = render_motion(motion, config.frames, config.size, video_rng, look=look,
                                       still_objects=config.still_objects)
            if config.audio_visual:
                audio = render_audio_visual(label, seconds, config.sample_rate, video_rng)
            else:
                informative = bool(rng.random() < config.audio_informative)
                audio = render_audio(label, len(names), seconds, config.sample_rate, informative, video_rng)
                if config.sounds is not None:  # a stretch of its own of the recordings, the class tone in some
                    start = next(offsets)
                    audio = track[start:start + samples] + (audio if informative else 0.0)
            rel = Path("videos") / name / f"{name}_{k:04d}.mp4"
            write_video(out / rel, frames, config.fps, audio=audio, sample_rate=config.sample_rate,
                        options=REPRODUCIBLE_X264)
            rows[split].append((rel.as_posix(), name))
    paths = {}
    for split, entries in rows.items():
        paths[split] = out / f"{split}.csv"
        with paths[split].open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label"])
            writer.writerows(entries)
    paths["classes"] = out / "classes.txt"
    paths["classes"].write_text("".join(f"{n}\n" for n in names))
    return paths
