"""Real sound for synthetic videos: each video's sound a stretch of real recordings of its own.

``videozoo synth --sounds DIR`` (or ``--sounds music``) joins the recordings into one soundtrack and gives
every video a stretch of it starting at a different place, in an order shuffled by the seed, so the sound
says nothing of the class and is unique to each video: an audio network can memorise it, as it memorises
real sound tracks (the overfitting Gradient-Blending is for). With ``--audio P`` a share ``P`` of the
videos also carry a tone whose pitch names the class.

``music`` takes the two instrumental tracks the ``arcade`` package ships in its wheel (about six and a half
minutes; its ``resources/assets/music``), found without importing arcade.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from .audio import read_audio
from .decode import VideoError

SOUND_SUFFIXES = {".wav", ".mp3", ".ogg", ".flac", ".m4a", ".aac", ".opus", ".webm", ".mp4", ".mkv"}
PACKAGED = {"music": ("arcade", "resources/assets/music")}  # name: (package, folder inside it)
LEVEL = 0.1  # each stretch's RMS


def sound_folder(source: str) -> Path:
    """The folder of a packaged source (``music``) or ``source`` itself."""
    if source in PACKAGED:
        package, inside = PACKAGED[source]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"--sounds {source} reads the recordings the {package!r} package ships: "
                                    f"pip install {package}, or name a folder of sound files")
        return Path(next(iter(spec.submodule_search_locations))) / inside
    return Path(source)


def load_soundtrack(source: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Every recording in ``source`` (a folder, or a name of ``PACKAGED``), mono at ``sample_rate``, each
    scaled to the same loudness, joined in name order: float32 ``(num_samples,)``."""
    folder = sound_folder(str(source))
    if not folder.is_dir():
        raise FileNotFoundError(f"expected a folder of sound files (wav, mp3, ogg, …), got {folder}")
    parts = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SOUND_SUFFIXES):
        try:
            wave = read_audio(path, sample_rate).numpy()
        except VideoError:
            continue  # not a sound file after all, or no audio track
        rms = float(np.sqrt(np.mean(wave ** 2))) if wave.size else 0.0
        if rms > 1e-4:
            parts.append(wave * (LEVEL / rms))
    if not parts:
        raise ValueError(f"{folder} holds no readable sound file ({', '.join(sorted(SOUND_SUFFIXES))})")
    return np.concatenate(parts).astype(np.float32)


def stretch_offsets(track_samples: int, stretch_samples: int, count: int, seed: int) -> np.ndarray:
    """``count`` start samples, evenly spread over the soundtrack and shuffled by ``seed``: each video's
    stretch starts somewhere else, and where says nothing of the video's place in the list (its class)."""
    if track_samples < stretch_samples:
        raise ValueError(f"the recordings last {track_samples} samples, shorter than one video's "
                         f"{stretch_samples}: give more or longer sound files")
    offsets = np.linspace(0, track_samples - stretch_samples, count).astype(np.int64)
    return np.random.default_rng([seed, 5]).permutation(offsets)
