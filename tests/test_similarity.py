"""Action similarity (ASLAN's protocol) and cross-validated linear evaluation (YUPENN's) on feature files."""

import json

import numpy as np
import pytest

from videozoo.cli import main
from videozoo.data.datasets import DataError
from videozoo.engine.features import Features
from videozoo.engine.linear import linear_eval_cv
from videozoo.engine.similarity import DISTANCES, Pair, pair_distances, read_pairs, similarity_eval


def _features(classes: int = 4, per_class: int = 10, dims: int = 16, clips: int = 2, spread: float = 0.3,
              seed: int = 0) -> Features:
    """Rows of ``clips`` per video around one centre per class (non-negative, as pooled ReLU features are)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2, (classes, dims))
    rows, video, clip, label, path = [], [], [], [], []
    for c in range(classes):
        for k in range(per_class):
            v = c * per_class + k
            for j in range(clips):
                rows.append(np.abs(centres[c] + rng.normal(0, spread, dims)))
                video.append(v), clip.append(j), label.append(c), path.append(f"videos/c{c}/v{v:03d}.mp4")
    return Features(np.array(rows, np.float32), np.array(video), np.array(clip), np.array(label), np.array(path),
                    [f"c{c}" for c in range(classes)], {"layer": "pooled"})


def test_distances_hand_computed():
    d = dict(zip(DISTANCES, pair_distances(np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))[0], strict=True))
    assert d["l1"] == 2 and d["l2"] == pytest.approx(2 ** 0.5) and d["chebyshev"] == 1
    assert d["canberra"] == 2 and d["braycurtis"] == 1 and d["cosine"] == pytest.approx(1)
    # centred: (2/3, -1/3, -1/3)·(-1/3, 2/3, -1/3) = -1/3 over norms 2/3 → cos -1/2
    assert d["correlation"] == pytest.approx(1.5)
    assert d["chi2"] == pytest.approx(2) and d["hellinger"] == pytest.approx(1)
    assert d["jensenshannon"] == pytest.approx(np.sqrt(np.log(2)))
    same = pair_distances(np.array([[1.0, 2, 3]]), np.array([[1.0, 2, 3]]))
    assert np.allclose(same, 0, atol=1e-7)
    assert np.isfinite(pair_distances(np.ones((1, 3)), np.full((1, 3), 2.0))).all()  # constant: correlation 0/0


def test_read_pairs_formats_and_errors(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("a.mp4 b.mp4 1 0\nc.mp4 d.mp4 not-same 1\n")
    assert read_pairs(path) == [Pair("a.mp4", "b.mp4", True, 0), Pair("c.mp4", "d.mp4", False, 1)]
    path.write_text("video_a,video_b,same\na,b,same\nc,d,0\n")
    assert read_pairs(path) == [Pair("a", "b", True), Pair("c", "d", False)]
    for text, match in [("a b maybe\n", "SAME must be"), ("a b\n", "expected VIDEO_A VIDEO_B"),
                        ("a b 1 0\nc d 0\n", "on every line or on none"), ("a b 1 x\n", "FOLD must be")]:
        path.write_text(text)
        with pytest.raises(DataError, match=match):
            read_pairs(path)


def _pairs(features: Features, n: int, seed: int = 0, folds: int = 5) -> list[Pair]:
    """Half same-class, half different-class pairs of the videos, with folds."""
    rng = np.random.default_rng(seed)
    by_class = {c: sorted({p for p, y in zip(features.path, features.label, strict=True) if y == c})
                for c in range(len(features.classes))}
    pairs = []
    for k in range(n):
        c = int(rng.integers(len(by_class)))
        d = c if k % 2 == 0 else int((c + 1 + rng.integers(len(by_class) - 1)) % len(by_class))
        a, b = rng.choice(by_class[c]), rng.choice(by_class[d])
        pairs.append(Pair(str(a), str(b), c == d, k % folds))
    return pairs


def test_similarity_tells_same_from_different_and_not_from_noise():
    feats = _features()
    result = similarity_eval(_pairs(feats, 200), [feats])
    assert result.accuracy > 0.9 and result.auc > 0.95, result
    assert result.dims == len(DISTANCES) and len(result.fold_accuracy) == 5
    # The same pairs on features that say nothing of the class: near chance.
    noise = _features(seed=1)
    noise.features = np.random.default_rng(2).uniform(0, 1, noise.features.shape).astype(np.float32)
    assert similarity_eval(_pairs(feats, 200), [noise]).auc < 0.7
    # Two feature files (layers): their distances side by side; stems name videos too.
    stems = [Pair(p.a.split("/")[-1][:-4], p.b.split("/")[-1][:-4], p.same, p.fold) for p in _pairs(feats, 40)]
    assert similarity_eval(stems, [feats, feats]).dims == 2 * len(DISTANCES)


def test_similarity_refuses_missing_videos_and_one_kind_of_pair():
    feats = _features()
    with pytest.raises(DataError, match="no features in pooled file"):
        similarity_eval([Pair("nowhere.mp4", feats.path[0], True), Pair(feats.path[0], feats.path[2], False)],
                        [feats])
    with pytest.raises(DataError, match="both same and not-same"):
        similarity_eval([Pair(feats.path[0], feats.path[2], True)] * 4, [feats])


def test_linear_eval_cross_validated_over_videos():
    feats = _features(spread=0.2)
    loo = linear_eval_cv(feats, "loo")
    assert loo.folds == loo.num_videos == 40 and loo.video_top1 == pytest.approx(1.0)
    five = linear_eval_cv(feats, 5)
    assert five.folds == 5 and five.video_top1 > 0.9
    with pytest.raises(ValueError, match="folds must be 'loo' or an integer from 2 to the 40 videos"):
        linear_eval_cv(feats, 41)


def test_similarity_and_cv_commands(tmp_path, capsys):
    feats = _features()
    feats.save(tmp_path / "f.npz")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("".join(f"{p.a} {p.b} {int(p.same)} {p.fold}\n" for p in _pairs(feats, 100)))
    assert main(["similarity", str(pairs), str(tmp_path / "f.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.9
    assert main(["linear-eval", str(tmp_path / "f.npz"), "--cv", "loo"]) == 0
    assert "40 folds over 40 videos" in capsys.readouterr().out
    assert main(["linear-eval", str(tmp_path / "f.npz"), "--cv", "two"]) == 2
    assert "--cv takes loo or a number of folds" in capsys.readouterr().err
    assert main(["linear-eval", str(tmp_path / "f.npz")]) == 2
    assert "give a test feature file, or --cv" in capsys.readouterr().err
