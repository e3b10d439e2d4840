"""torchvision weights through `videozoo convert` reproduce torchvision's outputs (random weights, no download)."""

import pytest
import torch
import torchvision.models.video as tvv

import videozoo
from videozoo.cli import main
from videozoo.engine.checkpoint import CheckpointError
from videozoo.models.layers import randomize_batch_norm


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_convert_reproduces_torchvision(name, tmp_path):
    reference = getattr(tvv, name)(num_classes=400)
    randomize_batch_norm(reference, torch.Generator().manual_seed(1))  # fresh BN would hide misplaced stats
    src, dst = tmp_path / f"{name}.pth", tmp_path / f"{name}.safetensors"
    torch.save(reference.state_dict(), src)
    assert main(["convert", "torchvision", name, str(src), str(dst)]) == 0
    ours = videozoo.load_model(dst).eval()
    reference.eval()
    x = torch.randn(2, 3, 8, 112, 112)
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    pooled = {}
    reference.avgpool.register_forward_hook(lambda m, i, o: pooled.update(x=o.flatten(1)))
    with torch.no_grad():
        reference(x)
        torch.testing.assert_close(ours.forward_features(x), pooled["x"], rtol=1e-5, atol=1e-5)


def test_convert_keeps_a_fine_tuned_head(tmp_path):
    reference = tvv.r3d_18(num_classes=101)
    src, dst = tmp_path / "r3d.pth", tmp_path / "r3d.safetensors"
    torch.save({"state_dict": reference.state_dict()}, src)
    assert main(["convert", "torchvision", "r3d_18", str(src), str(dst)]) == 0
    assert videozoo.load_model(dst).num_classes == 101


def test_convert_refuses_the_wrong_network(tmp_path, capsys):
    src = tmp_path / "mc3.pth"
    torch.save(tvv.mc3_18().state_dict(), src)
    assert main(["convert", "torchvision", "r2plus1d_18", str(src), str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "does not fit r2plus1d_18" in err and "missing" in err
    assert not (tmp_path / "x.safetensors").exists()


def test_convert_bad_files(tmp_path):
    from videozoo.weights.convert import convert_file

    with pytest.raises(CheckpointError, match="not found"):
        convert_file("torchvision", "r3d_18", tmp_path / "none.pth", tmp_path / "o.safetensors")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch state dict"):
        convert_file("torchvision", "r3d_18", junk, tmp_path / "o.safetensors")
    with pytest.raises(ValueError, match="no torchvision converter for 'r3d_34'"):
        convert_file("torchvision", "r3d_34", junk, tmp_path / "o.safetensors")
