"""The synthetic motion data: real files, and classes only the order of frames tells apart."""

import csv

import numpy as np
import pytest

from videozoo.cli import main
from videozoo.data import SynthConfig, VideoReader, make_synthetic_dataset, read_audio, synthetic
from videozoo.data.synthetic import MOTIONS, render_motion


def horizontal_motion(frames: np.ndarray) -> float:
    """Mean horizontal shift between consecutive frames (pixels; + is rightwards), by best circular shift."""
    x = frames.astype(float).mean(-1)
    x = x - np.median(x, axis=0)  # the background is static
    shifts = []
    for a, b in zip(x[:-1], x[1:], strict=True):
        scores = [(np.roll(a, s, axis=1) * b).sum() for s in range(-10, 11)]
        shifts.append(int(np.argmax(scores)) - 10)
    return float(np.mean(shifts))


def test_direction_is_in_the_order_of_frames_only():
    rng = np.random.default_rng
    for k in range(8):
        right = render_motion("right", 16, 64, rng([1, k]))
        left = render_motion("left", 16, 64, rng([2, k]))
        assert horizontal_motion(right) > 1 and horizontal_motion(left) < -1
        # The same frames in reverse order move the other way: a bag of frames cannot tell the classes apart.
        assert horizontal_motion(right[::-1]) < -1


@pytest.mark.parametrize("a,b", [("right", "left"), ("clockwise", "counterclockwise"), ("grow", "shrink")])
def test_single_frames_look_alike_across_classes(a, b):
    """Object coverage per frame has the same distribution in paired classes (a frame-level cue would differ)."""
    def coverage(motion, seed):
        video = render_motion(motion, 24, 64, np.random.default_rng([seed]))
        bg = np.median(video.astype(float), axis=0)
        return (np.abs(video - bg).max(-1) > 40).mean(axis=(1, 2))

    ca = np.concatenate([coverage(a, s) for s in range(20)])
    cb = np.concatenate([coverage(b, s + 100) for s in range(20)])
    assert abs(ca.mean() - cb.mean()) < 0.25 * ca.std() + 0.01


def test_synth_cli_writes_mp4_with_audio_and_csvs(tmp_path):
    assert main(["synth", str(tmp_path), "--classes", "3", "--per-class", "2", "--val-per-class", "1",
                 "--frames", "12", "--size", "32"]) == 0
    rows = list(csv.reader((tmp_path / "train.csv").open()))
    assert rows[0] == ["path", "label"] and len(rows) == 1 + 3 * 2
    assert (tmp_path / "classes.txt").read_text().split() == ["right", "left", "down"]
    with VideoReader(tmp_path / rows[1][0]) as video:
        assert video.num_frames == 12 and video.has_audio and (video.width, video.height) == (32, 32)
    assert read_audio(tmp_path / rows[1][0]).numel() > 10000


def test_informative_audio_carries_the_class(tmp_path):
    paths = make_synthetic_dataset(tmp_path, SynthConfig(classes=2, per_class=2, val_per_class=0, frames=16,
                                                          size=32, audio_informative=1.0))
    peaks = {}
    for path, label in list(csv.reader(paths["train"].open()))[1:]:
        wave = read_audio(tmp_path / path).numpy()
        spectrum = np.abs(np.fft.rfft(wave))
        peaks.setdefault(label, set()).add(int(np.argmax(spectrum) * 16000 / len(wave) / 50))
    assert all(len(v) == 1 for v in peaks.values()) and peaks["right"] != peaks["left"]


def test_audio_visual_set_pairs_motion_with_pitch(tmp_path):
    """--audio av: classes are (motion, low/high tone); every video's sound also has its own random chord."""
    config = SynthConfig(classes=4, per_class=2, val_per_class=0, frames=16, size=32, audio_visual=True)
    paths = make_synthetic_dataset(tmp_path, config)
    assert paths["classes"].read_text().split() == ["right_low", "right_high", "left_low", "left_high"]
    assert [config.motion_of(k) for k in range(4)] == ["right", "right", "left", "left"]
    spectra = {}
    for path, label in list(csv.reader(paths["train"].open()))[1:]:
        wave = read_audio(tmp_path / path).numpy()
        spectrum = np.abs(np.fft.rfft(wave))
        hz = np.fft.rfftfreq(len(wave), 1 / 16000)
        low, high = (spectrum[(hz > f - 20) & (hz < f + 20)].max() for f in (400, 1600))
        assert label.endswith("low" if low > high else "high"), (label, low, high)
        spectra[path] = set(np.argsort(spectrum)[-12:] // 50)  # the strongest components, in 50-bin groups
    assert len({frozenset(v) for v in spectra.values()}) == len(spectra)  # each video's chord is its own
    with pytest.raises(ValueError, match="even number"):
        SynthConfig(classes=3, audio_visual=True)


def test_partly_informative_motion(tmp_path, monkeypatch):
    """motion_informative=Q: a share Q of the videos move their class's way, the rest a random class's; the
    rendered video is the drawn motion's, and the rest of the set (other videos, the sound) stays as it was."""
    config = SynthConfig(classes=4, motion_informative=0.5)
    draws = [config.video_motion(label, k) for label in range(4) for k in range(200)]
    own = sum(m == config.motion_of(k // 200) for k, m in enumerate(draws)) / len(draws)
    assert own == pytest.approx(0.5 + 0.5 / 4, abs=0.05) and set(draws) == set(list(MOTIONS)[:4])
    assert all(SynthConfig(classes=4).video_motion(label, k) == config.motion_of(label) for label in range(4)
               for k in range(20))
    # What the set renders (a changed motion changes more than the picture's bytes: compare what is rendered).
    small = dict(classes=2, per_class=3, val_per_class=0, frames=8, size=32, audio_informative=0.5)
    mixed, plain = SynthConfig(**small, motion_informative=0.0), SynthConfig(**small)
    rendered, render_motion_, render_audio_ = {}, synthetic.render_motion, synthetic.render_audio
    for name, config in (("mixed", mixed), ("plain", plain)):
        calls = rendered[name] = []

        def spy(motion, *args, real=render_motion_, calls=calls, **kwargs):
            frames = real(motion, *args, **kwargs)
            calls.append((motion, frames.tobytes()))
            return frames

        def spy_audio(*args, real=render_audio_, calls=calls, **kwargs):
            wave = real(*args, **kwargs)
            calls.append(("audio", wave.tobytes()))
            return wave

        monkeypatch.setattr(synthetic, "render_motion", spy)
        monkeypatch.setattr(synthetic, "render_audio", spy_audio)
        make_synthetic_dataset(tmp_path / name, config)
    videos = [(label, k) for label in range(2) for k in range(3)]
    assert [m for m, _ in rendered["mixed"][::2]] == [mixed.video_motion(label, k) for label, k in videos]
    assert len({m for m, _ in rendered["mixed"][::2]}) == 2
    for (motion_a, a), (motion_b, b) in zip(rendered["mixed"][::2], rendered["plain"][::2], strict=True):
        assert (a == b) == (motion_a == motion_b)  # a video's picture changes only with its motion
    assert rendered["mixed"][1::2] == rendered["plain"][1::2]  # the sounds do not change


def test_still_videos():
    """still=S: a share S of the videos stand still (only the sensor noise changes between frames); the others
    keep the motion they had without it, so the moving part of the set is the one a fully informative set has."""
    config, plain = SynthConfig(classes=4, still=0.3), SynthConfig(classes=4)
    draws = {(label, k): config.video_motion(label, k) for label in range(4) for k in range(200)}
    share = sum(m == "still" for m in draws.values()) / len(draws)
    assert share == pytest.approx(0.3, abs=0.05)
    assert all(m == plain.video_motion(label, k) for (label, k), m in draws.items() if m != "still")
    frames = synthetic.render_motion("still", 6, 32, np.random.default_rng(0)).astype(np.float32)
    moving = synthetic.render_motion("right", 6, 32, np.random.default_rng(0)).astype(np.float32)
    assert np.abs(np.diff(frames, axis=0)).mean() < 7.0  # noise only: E|N(0, 6√2)| = 6.77
    assert np.abs(np.diff(moving, axis=0)).mean() > 1.8 * np.abs(np.diff(frames, axis=0)).mean()
    with pytest.raises(ValueError, match="still"):
        SynthConfig(still=-0.1)


def test_still_bystanders():
    """still_objects=N: N more striped objects stand still behind the moving ones; without them the video is the
    one it always was."""
    plain = synthetic.render_motion("right", 6, 32, np.random.default_rng(0))
    assert np.array_equal(synthetic.render_motion("right", 6, 32, np.random.default_rng(0), still_objects=0), plain)
    only_still = synthetic.render_motion("right", 6, 32, np.random.default_rng(1), objects=0,
                                         still_objects=3).astype(np.float32)
    assert np.abs(np.diff(only_still, axis=0)).mean() < 7.0  # noise only
    assert only_still.std(axis=(0, 3)).mean() > 20  # but there are stripes to see
    one = synthetic.render_motion("right", 8, 64, np.random.default_rng(2), objects=1, still_objects=2)
    changed = (np.abs(one.astype(int) - one[:1].astype(int)).max(-1) > 40).any(0)
    assert 0.02 < changed.mean() < 0.5  # one object's path moves; the rest of the frame does not
    with pytest.raises(ValueError, match="still_objects"):
        SynthConfig(still_objects=-1)
    with pytest.raises(ValueError, match="still_objects"):
        SynthConfig(source="photos", still_objects=1)


def test_the_same_seed_writes_the_same_files(tmp_path):
    config = SynthConfig(classes=2, per_class=2, val_per_class=1, audio_informative=0.5)
    make_synthetic_dataset(tmp_path / "a", config)
    make_synthetic_dataset(tmp_path / "b", config)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 2 * 3 + 3
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_bad_config():
    with pytest.raises(ValueError, match="classes"):
        SynthConfig(classes=11)
    with pytest.raises(ValueError, match="motion_informative"):
        SynthConfig(motion_informative=1.5)
