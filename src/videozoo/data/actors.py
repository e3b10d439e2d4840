"""A synthetic set for spatio-temporal action detection: actors with known boxes, each doing one action.

Each video shows two *actors* (striped rectangles, taller than wide, as people are) over a smooth random
background, one in each half of the frame, doing the video's action, each at its own pace (in UCF101-24 the
actors of a video share its action). An action is how an actor moves about its place:

- ``sway``: side to side; ``bob``: up and down; ``spin``: turning; ``pulse``: growing and shrinking;

at a period and phase drawn per actor, and every actor's angle and size are drawn at random, so a single
frame says little of the action: its motion tells it. Colours and backgrounds come from a few shared looks
(``LOOKS``), so a network cannot learn the training actors by their look instead of their motion. In a
share ``distractor`` of the videos the second actor is a bystander standing still: no action, not
annotated, but a person detector finds it, so it teaches the detector's ``background`` class, and a box
must be told from its neighbour.

Written: ``videos/{train,val}_NNNN.mp4``; the actors' boxes on every frame in ``train_boxes.csv`` and
``val_boxes.csv`` (``video,frame,x1,y1,x2,y2,label,tube``: :mod:`videozoo.data.boxes`' CSV); what a person
detector would give in ``proposals.csv`` (every actor's box, the still ones too, a little off and scored);
``classes.txt``.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .boxes import write_box_csv
from .encode import write_video
from .synthetic import REPRODUCIBLE_X264, paint_shape, smooth_background

ACTIONS = ("sway", "bob", "spin", "pulse")
# Actors wear one of a few colour pairs and stand on one of a few backgrounds, whatever their action: what
# tells one training actor from another is its motion (and place and size), not a look a network memorises.
LOOKS = 4


@dataclass(frozen=True)
class ActorsConfig:
    classes: int = 4
    train_videos: int = 128
    val_videos: int = 32
    frames: int = 24
    height: int = 64
    width: int = 84
    fps: int = 12
    distractor: float = 0.5  # share of videos whose second actor stands still (not annotated)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.classes <= len(ACTIONS):
            raise ValueError(f"classes must be 2…{len(ACTIONS)}, got {self.classes}")
        if self.train_videos < 1 or self.val_videos < 1 or self.frames < 2:
            raise ValueError("train_videos and val_videos must be ≥ 1, frames ≥ 2")
        if min(self.height, self.width) < 32 or self.height % 2 or self.width % 2:
            raise ValueError(f"height and width must be even and at least 32, got {self.height}×{self.width}")
        if not 0 <= self.distractor <= 1:
            raise ValueError(f"distractor must be in [0, 1], got {self.distractor}")

    @property
    def class_names(self) -> list[str]:
        return list(ACTIONS[: self.classes])


def _actor(rng: np.random.Generator, action: str, side: int, config: ActorsConfig) -> dict:
    """An actor's look and motion, placed in the left (``side`` 0) or right half."""
    h, w = config.height, config.width
    palette = np.random.default_rng([config.seed, 1 << 20]).uniform(0, 255, (LOOKS, 2, 3))
    return {"action": action, "colors": palette[int(rng.integers(LOOKS))],
            "half": (w * rng.uniform(0.06, 0.08), h * rng.uniform(0.18, 0.24)), "stripe": h * rng.uniform(0.05, 0.07),
            "centre": (w * (0.25 + 0.5 * side) + rng.uniform(-0.05, 0.05) * w, h * rng.uniform(0.4, 0.6)),
            "angle": rng.uniform(0, math.pi), "scale": rng.uniform(0.7, 1.4),
            "period": rng.uniform(4, 7), "phase": rng.uniform(0, 2 * math.pi),
            "turn": rng.choice([-1.0, 1.0]) * rng.uniform(0.35, 0.5)}


def _pose(actor: dict, t: int, config: ActorsConfig) -> tuple[float, float, float, float]:
    """Centre x, y, angle and scale of ``actor`` at frame ``t``."""
    x, y = actor["centre"]
    wave = math.sin(2 * math.pi * t / actor["period"] + actor["phase"])
    theta, scale = actor["angle"], actor["scale"]
    if actor["action"] == "sway":
        x += 0.1 * config.width * wave
    elif actor["action"] == "bob":
        y += 0.14 * config.height * wave
    elif actor["action"] == "spin":
        theta += actor["turn"] * t
    elif actor["action"] == "pulse":
        scale *= math.exp(0.4 * wave)
    return x, y, theta, scale


def _box(actor: dict, pose: tuple[float, float, float, float], config: ActorsConfig) -> tuple[float, ...]:
    """The axis-aligned box of the turned, scaled rectangle, inside the frame."""
    x, y, theta, scale = pose
    hw, hh = actor["half"][0] * scale, actor["half"][1] * scale
    ex = abs(math.cos(theta)) * hw + abs(math.sin(theta)) * hh
    ey = abs(math.sin(theta)) * hw + abs(math.cos(theta)) * hh
    return (max(x - ex, 0.0), max(y - ey, 0.0), min(x + ex, config.width), min(y + ey, config.height))


def render_actors(actors: list[dict], config: ActorsConfig, rng: np.random.Generator
                  ) -> tuple[np.ndarray, list[list[tuple[float, ...]]]]:
    """uint8 frames ``(T, H, W, 3)`` and each actor's box per frame."""
    background = smooth_background(np.random.default_rng([config.seed, 2 << 20, int(rng.integers(LOOKS))]),
                                   config.height, config.width)
    ys, xs = np.mgrid[0:config.height, 0:config.width].astype(np.float64) + 0.5
    frames = np.empty((config.frames, config.height, config.width, 3), np.uint8)
    boxes: list[list[tuple[float, ...]]] = [[] for _ in actors]
    for t in range(config.frames):
        frame = background.copy()
        for k, actor in enumerate(actors):
            pose = _pose(actor, t, config)
            frame = paint_shape(frame, xs - pose[0], ys - pose[1], pose[2], pose[3], actor)
            boxes[k].append(_box(actor, pose, config))
        frames[t] = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)
    return frames, boxes


def make_actors_dataset(out: str | os.PathLike, config: ActorsConfig = ActorsConfig()) -> dict[str, Path]:
    """Write the videos, ``train_boxes.csv``, ``val_boxes.csv``, ``proposals.csv`` and ``classes.txt`` (see the
    module docstring); returns their paths."""
    out = Path(out)
    names = config.class_names
    rows: dict[str, list[tuple]] = {"train": [], "val": []}
    proposals = []
    for split, count in (("train", config.train_videos), ("val", config.val_videos)):
        for n in range(count):
            rng = np.random.default_rng([config.seed, split == "val", n])
            still = bool(rng.random() < config.distractor)
            action = names[int(rng.integers(config.classes))]
            actions = [action, "still" if still else action]  # a video's actors share its action (UCF101-24's)
            sides = rng.permutation(2)
            actors = [_actor(rng, a, int(side), config) for a, side in zip(actions, sides, strict=True)]
            frames, boxes = render_actors(actors, config, rng)
            video = f"videos/{split}_{n:04d}"
            write_video(out / f"{video}.mp4", frames, config.fps, options=REPRODUCIBLE_X264)
            for tube, (actor, track) in enumerate(zip(actors, boxes, strict=True)):
                for t, box in enumerate(track):
                    if actor["action"] != "still":
                        rows[split].append((video, t, *box, actor["action"], tube))
                    # a detector's box: off by a few per cent of the actor's size, scored below 1
                    size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
                    noisy = np.asarray(box) + rng.normal(0, 0.04, 4) * size
                    proposals.append((video, t, *noisy.round(1), round(float(rng.uniform(0.7, 1.0)), 3)))
    paths = {f"{split}_boxes": write_box_csv(out / f"{split}_boxes.csv", entries) for split, entries in rows.items()}
    paths["proposals"] = out / "proposals.csv"
    with paths["proposals"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "frame", "x1", "y1", "x2", "y2", "score"])
        writer.writerows(proposals)
    paths["classes"] = out / "classes.txt"
    paths["classes"].write_text("".join(f"{n}\n" for n in names))
    return paths
