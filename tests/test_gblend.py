"""Gradient-Blending: the weight estimate, the OGR and the schedule, against hand-computed values."""

import math

import pytest

from videozoo.engine.gblend import BlendSchedule, HeadStats, blend_weights, deltas, normalised, ogr


def test_deltas_and_ogr_by_hand():
    before = {"rgb": HeadStats(train=1.0, holdout=1.2), "audio": HeadStats(train=1.0, holdout=1.1)}
    after = {"rgb": HeadStats(train=0.6, holdout=0.9), "audio": HeadStats(train=0.2, holdout=1.0)}
    gain, over = deltas(before, after)
    # rgb: ΔG = 1.2 - 0.9 = 0.3; O goes 0.2 → 0.3, ΔO = 0.1.  audio: ΔG = 0.1; O goes 0.1 → 0.8, ΔO = 0.7.
    assert gain == pytest.approx({"rgb": 0.3, "audio": 0.1})
    assert over == pytest.approx({"rgb": 0.1, "audio": 0.7})
    assert ogr(over["rgb"], gain["rgb"]) == pytest.approx(1 / 3)
    assert ogr(over["audio"], gain["audio"]) == pytest.approx(7.0)
    assert ogr(0.5, 0.0) == math.inf


def test_weights_by_hand_sum_to_one():
    w = blend_weights({"rgb": 0.3, "audio": 0.1, "fused": 0.2}, {"rgb": 0.1, "audio": 0.7, "fused": 0.2})
    raw = {"rgb": 0.3 / 0.01, "audio": 0.1 / 0.49, "fused": 0.2 / 0.04}
    z = sum(raw.values())
    assert w == pytest.approx({h: v / z for h, v in raw.items()})
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["audio"] < w["fused"] < w["rgb"]  # the head that overfits most counts least


def test_head_that_does_not_overfit_is_finite_and_largest():
    w = blend_weights({"rgb": 0.2, "audio": 0.2}, {"rgb": 0.0, "audio": 0.3})
    assert all(math.isfinite(v) for v in w.values()) and sum(w.values()) == pytest.approx(1.0)
    assert w["rgb"] > 0.99


def test_no_generalisation_gives_zero_or_uniform_weights():
    w = blend_weights({"rgb": 0.2, "audio": -0.1}, {"rgb": 0.1, "audio": 0.1})
    assert w == {"rgb": 1.0, "audio": 0.0}
    assert blend_weights({"rgb": -0.1, "audio": 0.0}, {"rgb": 0.1, "audio": 0.1}) == {"rgb": 0.5, "audio": 0.5}


def test_gain_below_the_noise_floor_counts_as_none():
    """A head that has stopped learning (its weight ~0): ΔG and ΔO are measurement noise, not a huge weight."""
    gain, over = {"rgb": 0.2, "audio": 0.001}, {"rgb": 0.05, "audio": 0.0}
    assert blend_weights(gain, over)["audio"] > 0.9  # without a floor the noise wins
    assert blend_weights(gain, over, min_gain=0.01) == {"rgb": 1.0, "audio": 0.0}


def test_accuracy_metric():
    before = {"a": HeadStats(train=0.5, holdout=0.5)}
    after = {"a": HeadStats(train=0.9, holdout=0.6)}
    gain, over = deltas(before, after, metric="accuracy")
    assert gain == pytest.approx({"a": 0.1}) and over == pytest.approx({"a": 0.3})


def test_online_schedule_is_algorithm_1():
    s = BlendSchedule("online", warmup=10, super_epoch=5)
    estimates = [e + 1 for e in range(30) if s.estimate_after(e)]
    assert estimates == [10, 15, 20, 25, 30]
    assert s.window_start(9) == 0 and s.window_start(14) == 10 and s.window_start(29) == 25
    offline = BlendSchedule("offline", warmup=4, super_epoch=5)
    assert [e + 1 for e in range(12) if offline.estimate_after(e)] == [4]
    assert not any(BlendSchedule("naive").estimate_after(e) for e in range(20))
    with pytest.raises(ValueError, match="weighting must be"):
        BlendSchedule("magic")


def test_fixed_weights_normalised():
    assert normalised({"visual": 0.485, "audio": 0.009, "fused": 0.506}, ["visual", "audio", "fused"]) == \
        pytest.approx({"visual": 0.485, "audio": 0.009, "fused": 0.506})
    assert normalised({"fused": 2.0}, ["rgb", "fused"]) == {"rgb": 0.0, "fused": 1.0}
    with pytest.raises(ValueError, match="unknown heads"):
        normalised({"depth": 1.0}, ["rgb", "fused"])
