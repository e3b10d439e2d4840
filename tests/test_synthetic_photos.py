"""`videozoo synth --source photos`: real photographs filmed by a moving camera, as real H.264 files."""

import csv

import cv2
import numpy as np
import pytest

from videozoo.cli import main
from videozoo.data import VideoReader
from videozoo.data.photos import CAMERA_MOTIONS, load_photos, render_camera_motion


@pytest.fixture(scope="module")
def photos():
    return load_photos()


def frame_motion(video: np.ndarray) -> np.ndarray:
    """Mean (x shift, y shift, divergence, curl) per frame of the picture, from an affine fit to dense optical
    flow (OpenCV's Farneback) between consecutive frames; image coordinates, y down."""
    h, w = video.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w].astype(float)
    design = np.stack([np.ones(h * w), (xs - w / 2).ravel(), (ys - h / 2).ravel()], 1)
    fits = []
    for a, b in zip(video[:-1], video[1:], strict=True):
        flow = cv2.calcOpticalFlowFarneback(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY),
                                            None, 0.5, 3, 15, 3, 5, 1.2, 0)
        u = np.linalg.lstsq(design, flow[..., 0].ravel(), rcond=None)[0]
        v = np.linalg.lstsq(design, flow[..., 1].ravel(), rcond=None)[0]
        fits.append([u[0], v[0], u[1] + v[2], v[1] - u[2]])
    return np.mean(fits, axis=0)


# the picture moves against the camera: (component of frame_motion, its sign)
EXPECTED = {"pan_left": (0, +1), "pan_right": (0, -1), "tilt_up": (1, +1), "tilt_down": (1, -1),
            "zoom_in": (2, +1), "zoom_out": (2, -1),
            # a camera rolling clockwise turns the picture counter-clockwise: negative curl with y down
            "roll_clockwise": (3, -1), "roll_counterclockwise": (3, +1)}


@pytest.mark.parametrize("motion", list(CAMERA_MOTIONS))
def test_each_camera_motion_moves_the_picture_its_way(photos, motion):
    component, sign = EXPECTED[motion]
    for k in range(3):
        video = render_camera_motion(motion, photos, 12, 64, 12, np.random.default_rng([k]))
        assert video.shape == (12, 64, 64, 3) and video.dtype == np.uint8
        measured = frame_motion(video)
        # the class's component is clearly signed and the largest (pans: pixels; zoom, roll: per pixel × 20)
        scaled = np.abs(measured) * [1, 1, 20, 20]
        assert sign * measured[component] > 0 and scaled[component] == scaled.max(), (motion, measured)
        # the same frames in reverse order move the other way
        assert sign * frame_motion(video[::-1])[component] < 0


def test_opposite_motions_show_alike_frames(photos):
    """Every motion is centred on the middle of the video: reversed, a zoom in is a zoom out of the same kind."""
    def sharpness(motion, seed):  # a frame-level statistic: mean gradient energy per frame, in order
        video = render_camera_motion(motion, photos, 12, 64, 12, np.random.default_rng([seed]))
        return np.array([np.abs(np.diff(f.astype(float).mean(-1), axis=1)).mean() for f in video])

    for a, b in [("zoom_in", "zoom_out"), ("pan_left", "pan_right")]:
        ma = np.stack([sharpness(a, s) for s in range(24)]).mean(0)
        mb = np.stack([sharpness(b, s + 100) for s in range(24)]).mean(0)
        # averaged over videos, the frames at each place in time look alike (no drift a frame could tell)
        assert abs(ma.mean() - mb.mean()) < 0.15 * ma.mean()


def test_synth_photos_writes_a_data_set(tmp_path):
    assert main(["synth", str(tmp_path), "--source", "photos", "--classes", "4", "--per-class", "2",
                 "--val-per-class", "1", "--frames", "12", "--size", "48"]) == 0
    rows = list(csv.reader((tmp_path / "train.csv").open()))
    assert len(rows) == 1 + 4 * 2
    assert (tmp_path / "classes.txt").read_text().split() == list(CAMERA_MOTIONS)[:4]
    with VideoReader(tmp_path / rows[1][0]) as video:
        assert video.num_frames == 12 and (video.width, video.height) == (48, 48) and video.has_audio
        assert video.fps == pytest.approx(12)  # the photos' defaults: 12 fps


def test_a_folder_of_images(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):  # two "photographs": smooth random colour fields
        picture = cv2.resize(rng.uniform(0, 255, (8, 10, 3)).astype(np.uint8), (200, 160))
        cv2.imwrite(str(images / f"p{k}.png"), picture)
    (images / "notes.txt").write_text("not an image")
    assert len(load_photos(images)) == 2
    assert main(["synth", str(tmp_path / "d"), "--images", str(images), "--classes", "2", "--per-class", "1",
                 "--val-per-class", "0", "--frames", "8", "--size", "32"]) == 0
    assert (tmp_path / "d" / "classes.txt").read_text().split() == ["pan_left", "pan_right"]


def test_refusals(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no readable image"):
        main(["synth", str(tmp_path / "d"), "--images", str(tmp_path / "empty")])
    with pytest.raises(SystemExit, match="expected a folder of images"):
        main(["synth", str(tmp_path / "d"), "--images", str(tmp_path / "missing")])
    with pytest.raises(SystemExit, match=r"classes must be 2…8 for source 'photos'"):
        main(["synth", str(tmp_path / "d"), "--source", "photos", "--classes", "9"])


def _write_wav(path, wave, rate=16000):
    import wave as wavfile

    with wavfile.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes())


def test_real_sound_a_stretch_of_its_own_per_video(tmp_path):
    """With --sounds every video's sound is a different stretch of the recordings; with --audio 1 the class
    tone is mixed in."""
    from videozoo.data import read_audio
    from videozoo.data.sounds import LEVEL, load_soundtrack

    sounds = tmp_path / "sounds"
    sounds.mkdir()
    rng = np.random.default_rng(0)
    # two "recordings": noise shaped by a slow random envelope, so every stretch differs
    for k in range(2):
        envelope = np.repeat(rng.uniform(0.1, 1.0, 40), 800)
        _write_wav(sounds / f"r{k}.wav", 0.3 * envelope * rng.normal(0, 1, envelope.size))
    (sounds / "readme.txt").write_text("no sound")
    track = load_soundtrack(sounds)
    assert track.size == 2 * 40 * 800 and np.sqrt(np.mean(track[:32000] ** 2)) == pytest.approx(LEVEL, rel=0.05)
    assert main(["synth", str(tmp_path / "d"), "--source", "photos", "--classes", "2", "--per-class", "3",
                 "--val-per-class", "0", "--frames", "12", "--size", "32", "--sounds", str(sounds)]) == 0
    rows = list(csv.reader((tmp_path / "d" / "train.csv").open()))[1:]
    waves = [read_audio(tmp_path / "d" / path).numpy() for path, _ in rows]
    n = min(len(w) for w in waves)
    # each video's sound is found in the soundtrack at its own place (AAC keeps the waveform close)
    places = set()
    for w in waves:
        w = w[2000:n - 2000]
        scores = np.correlate(track, w, mode="valid") / (np.linalg.norm(w) * np.sqrt(np.convolve(
            track ** 2, np.ones(len(w)), mode="valid")) + 1e-9)
        assert scores.max() > 0.9
        places.add(int(np.argmax(scores)) // 400)
    assert len(places) == len(waves)  # six different stretches

    assert main(["synth", str(tmp_path / "t"), "--classes", "2", "--per-class", "1", "--val-per-class", "0",
                 "--frames", "16", "--size", "32", "--sounds", str(sounds), "--audio", "1"]) == 0
    rows = list(csv.reader((tmp_path / "t" / "train.csv").open()))[1:]
    for (path, label), pitch in zip(rows, [300.0, 300.0 * 2 ** 1.5], strict=True):  # the class tones of 2 classes
        w = read_audio(tmp_path / "t" / path).numpy()
        spectrum = np.abs(np.fft.rfft(w))
        freqs = np.fft.rfftfreq(len(w), 1 / 16000)
        assert abs(freqs[np.argmax(spectrum)] - pitch) < 10, label


def test_the_packaged_music():
    """`--sounds music`: the two instrumental tracks of the arcade package (a dev dependency), about 6.5 min."""
    from videozoo.data.sounds import load_soundtrack

    track = load_soundtrack("music", sample_rate=8000)
    assert 6 * 60 < track.size / 8000 < 7 * 60


def test_sound_refusals(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no readable sound file"):
        main(["synth", str(tmp_path / "d"), "--sounds", str(tmp_path / "empty")])
    with pytest.raises(SystemExit, match="use one or the other"):
        main(["synth", str(tmp_path / "d"), "--sounds", "music", "--audio", "av"])
