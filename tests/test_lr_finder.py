"""The learning-rate range test: the suggestion rule on known curves, and `videozoo train --find-lr` end to end."""

import csv
import math

import pytest

from tests.tiny import TINY_RUN
from videozoo.cli import main
from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.engine.config import ConfigError, load_config
from videozoo.engine.lr_finder import find_lr, suggest_lr

TINY = ["--model", "r2plus1d_18", *TINY_RUN]


def test_the_suggestion_is_the_middle_of_the_longest_fall():
    lrs = [10 ** (-6 + k / 4) for k in range(25)]
    # flat at first, falling from index 8 to 16 (with one bump that does not end the fall), then blowing up
    losses = [2.0] * 8 + [1.9, 1.7, 1.5, 1.55, 1.2, 1.0, 0.8, 0.7, 0.65] + [0.9, 1.5, 3.0, 6.0, 9.0, 12.0, 15.0, 20.0]
    # the longest decreasing subsequence starts at the last of the flat points (index 7) and ends at index 16
    assert suggest_lr(lrs, losses) == lrs[(7 + 16) // 2]


def test_no_suggestion_when_the_loss_never_falls():
    lrs = [10 ** (-6 + k) for k in range(6)]
    assert suggest_lr(lrs, [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]) is None
    assert suggest_lr(lrs, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) is None
    # noise around a flat loss: a long decreasing run, but it lowers the loss by under 5%
    assert suggest_lr(lrs, [2.08, 2.09, 2.075, 2.07, 2.065, 2.06]) is None


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    make_synthetic_dataset(root, SynthConfig(classes=3, per_class=4, val_per_class=0, frames=12, size=32))
    return root


def test_find_lr_writes_the_curve_and_suggests(synth, tmp_path, capsys):
    out = tmp_path / "lr"
    assert main(["train", "--data", str(synth / "train.csv"), "--out", str(out), "--find-lr", "12", *TINY]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader((out / "lr_find.csv").open()))
    assert 5 <= len(rows) <= 12  # 12 steps, or fewer when the loss blew up first
    lrs = [float(r["lr"]) for r in rows]
    # the lr rises geometrically from 1e-7 towards 10: each step multiplies it by (1e8)^(1/11)
    assert lrs[0] == pytest.approx(1e-7, rel=1e-4)
    ratios = [b / a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert all(r == pytest.approx(1e8 ** (1 / 11), rel=1e-3) for r in ratios)
    assert all(math.isfinite(float(r["smoothed_loss"])) for r in rows)
    assert (out / "lr_find.png").stat().st_size > 1000
    assert "suggested lr" in printed or "did not fall" in printed
    assert not (out / "last.safetensors").exists()  # a range test writes no checkpoint


def test_the_range_test_runs_the_training_step(synth, tmp_path):
    """The lr the optimizer sees is the test's, every group in its run's proportion (backbone_lr_scale)."""
    cfg = load_config(None, [f"data.train={synth / 'train.csv'}", f"out={tmp_path / 'lr'}", "model.name=r2plus1d_18",
                             *TINY_RUN, "optim.backbone_lr_scale=0.1"])
    result = find_lr(cfg, start_lr=1e-4, end_lr=1e-2, steps=6)
    assert len(result.lrs) == 6 and result.lrs[-1] == pytest.approx(1e-2, rel=1e-6)


def test_refusals(synth, tmp_path):
    cfg = load_config(None, [f"data.train={synth / 'train.csv'}", f"out={tmp_path}"])
    with pytest.raises(ConfigError, match="at least 5 steps"):
        find_lr(cfg, steps=2)
    with pytest.raises(ConfigError, match="start_lr < end_lr"):
        find_lr(cfg, start_lr=1.0, end_lr=0.1)
