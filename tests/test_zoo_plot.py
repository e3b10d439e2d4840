"""`videozoo zoo-plot`: the zoo's cost against Kinetics-400 accuracy, published points from the catalogue and
measured points from local checkpoints."""

from PIL import Image

from tests.tiny import tiny_checkpoint
from videozoo.cli import main
from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.models.cards import measure
from videozoo.weights.catalogue import CATALOGUE, get_weights
from videozoo.zoo_plot import published_points


def test_published_points_are_each_models_best_kinetics_row():
    points = {p.model: p for p in published_points()}
    assert {"r2plus1d_18", "ir_csn_152", "s3d", "c3d_bn", "slow_r50"} <= set(points)
    assert not any(m.startswith("av_") for m in points)  # audio-visual nets take two inputs: not on this axis
    for p in points.values():
        row = get_weights(p.label)
        assert row.model == p.model and row.accuracy.top1 == p.top1 and row.clip == p.clip
        rivals = [r.accuracy.top1 for r in CATALOGUE if r.model == p.model and r.accuracy and r.num_classes == 400
                  and r.accuracy.dataset == "Kinetics-400" and r.normalization != "vmz_flow"]
        assert p.top1 == max(rivals)
        assert p.gmacs == measure(row.recipe.arch, row.clip, **row.recipe.overrides)[2] / 1e9
    assert points["r2plus1d_18"].top1 == 68.5 and points["r2plus1d_18"].clip == (16, 112, 112)  # VMZ's 16-frame


def test_zoo_plot_adds_local_checkpoints_at_their_measured_accuracy(tmp_path, capsys):
    make_synthetic_dataset(tmp_path / "d", SynthConfig(classes=2, per_class=1, val_per_class=2, frames=8, size=32))
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", ["left", "right"])
    out = tmp_path / "zoo.png"
    assert main(["zoo-plot", "--out", str(out), "--checkpoints", str(ckpt), "--data", str(tmp_path / "d" / "val.csv"),
                 "--clips", "1"]) == 0
    printed = capsys.readouterr().out
    line = next(row for row in printed.splitlines() if str(ckpt) in row)
    assert "r2plus1d_18" in line and "4×32×32" in line and "(measured)" in line
    assert Image.open(out).size[0] > 500
    assert main(["zoo-plot", "--out", str(out), "--checkpoints", str(ckpt)]) != 0  # needs --data
