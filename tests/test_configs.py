"""Every recipe shipped with the package is a valid config naming a zoo model, whole once its data paths point at
files; recipes are addressable by name, listed, and in the wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from videozoo.cli import main
from videozoo.engine.config import RECIPES, ConfigError, check_config, list_recipes, load_config
from videozoo.models import get_entry

CONFIGS = sorted(RECIPES.glob("*.yaml"))
ROOT = Path(__file__).resolve().parents[1]


def test_there_are_paper_recipes():
    names = {p.stem for p in CONFIGS}
    assert {"c3d_ucf101", "r2plus1d_18_kinetics_8f", "r2plus1d_18_kinetics_32f", "r2plus1d_34_kinetics_8f",
            "r2plus1d_34_kinetics_32f", "ir_csn_152_kinetics", "ip_csn_152_kinetics", "s3d_g_kinetics",
            "r2plus1d_18_synth", "gblend_rgb_audio_synth", "ip_csn_152_audio_kinetics_fixed"} <= names
    # configs/ at the top of the repository is the same folder
    assert sorted(p.name for p in (ROOT / "configs").glob("*.yaml")) == [p.name for p in CONFIGS]


def with_test_files(path: Path, tmp_path: Path) -> list[str]:
    """Overrides pointing every file and folder a recipe names at ones that exist."""
    cfg = load_config(path)
    (tmp_path / "list.csv").write_text("path,label\n")
    (tmp_path / "folder").mkdir(exist_ok=True)
    files = {"data.train": cfg.data.train or "x", "data.val": cfg.data.val, "data.classes": cfg.data.classes,
             "train.finetune": cfg.train.finetune if cfg.train.finetune and "/" in cfg.train.finetune else None}
    folders = {"data.splits_dir": cfg.data.splits_dir, "data.flow_root": cfg.data.flow_root,
               "blend.flow_root": cfg.blend.flow_root}
    return ([f"{k}={tmp_path / 'list.csv'}" for k, v in files.items() if v]
            + [f"{k}={tmp_path / 'folder'}" for k, v in folders.items() if v])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_recipe_is_whole(path, tmp_path):
    """Choices, values and files: with its data paths at existing files, a recipe passes the whole check."""
    cfg = load_config(path, with_test_files(path, tmp_path))
    if cfg.blend.modalities:  # a multi-modal recipe names a backbone per modality
        assert all(get_entry(name) for name in cfg.blend.modalities.values())
    else:
        assert cfg.model.name.replace("_", "") in path.stem.replace("_", "")
    check_config(cfg)


def test_choices_are_checked_before_files(tmp_path):
    """A bad choice is named even where the data files are missing (a recipe's usual state)."""
    with pytest.raises(ConfigError, match="'optim.schedule': 'cosin' is not one of"):
        check_config(load_config(None, ["data.train=/nowhere.csv", "optim.schedule=cosin"]))
    with pytest.raises(ConfigError, match="'blend.weighting'"):
        check_config(load_config(None, ["data.train=/nowhere.csv", "blend.modalities={rgb: r2plus1d_18}",
                                        "blend.weighting=best"]))


def test_paper_clip_settings():
    assert load_config("r2plus1d_18_kinetics_8f").data.num_frames == 8
    assert load_config(RECIPES / "r2plus1d_18_kinetics_32f.yaml").data.num_frames == 32
    csn = load_config("ir_csn_152_kinetics.yaml")
    assert (csn.data.num_frames, csn.data.crop, csn.eval.clips, csn.eval.crops) == (32, 224, 10, 3)
    c3d = load_config("configs/c3d_ucf101.yaml" if Path("configs").is_dir() else "c3d_ucf101")
    assert (c3d.data.num_frames, list(c3d.data.resize_hw), c3d.data.crop) == (16, [128, 171], 112)


def test_recipes_by_name_and_listed(capsys, tmp_path):
    assert set(list_recipes()) == {p.stem for p in CONFIGS}
    assert all(list_recipes().values())  # each has a description line
    assert main(["configs"]) == 0
    listing = capsys.readouterr().out
    assert "r2plus1d_34_kinetics_32f" in listing and "R(2+1)D-34" in listing
    assert main(["configs", "c3d_ucf101"]) == 0
    assert "resize_hw" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="nor a shipped recipe"):
        load_config("r2plus1d_99_kinetics")
    # `videozoo train NAME …` takes a recipe by name (here refused for its missing data, after reading it)
    assert main(["train", "r2plus1d_18_kinetics_8f", f"out={tmp_path}"]) != 0
    assert "data.train" in capsys.readouterr().err


@pytest.mark.slow
def test_the_wheel_ships_the_recipes_and_the_type_marker(tmp_path):
    """A wheel built from the tree holds every recipe, the published heads' class lists and py.typed, and building
    it warns of nothing about the licence (an SPDX expression)."""
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                             str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "license" not in (result.stdout + result.stderr).lower().replace("license_files", "")
    (wheel,) = tmp_path.glob("videozoo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"videozoo/configs/{p.name}" for p in CONFIGS} <= names
    assert "videozoo/py.typed" in names
    assert {"videozoo/weights/classes/sports1m.txt", "videozoo/weights/classes/ucf101.txt"} <= names
