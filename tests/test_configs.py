"""Every recipe in configs/ is a valid config naming a zoo model (its data paths are the user's to fill)."""

from pathlib import Path

import pytest

from videozoo.engine.config import ConfigError, check_config, load_config
from videozoo.models import get_entry

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_paper_recipes():
    names = {p.stem for p in CONFIGS}
    assert {"c3d_ucf101", "r2plus1d_18_kinetics_8f", "r2plus1d_18_kinetics_32f", "r2plus1d_34_kinetics_8f",
            "r2plus1d_34_kinetics_32f", "ir_csn_152_kinetics", "ip_csn_152_kinetics", "s3d_g_kinetics",
            "r2plus1d_18_synth", "gblend_rgb_audio_synth", "ip_csn_152_audio_kinetics_fixed"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_is_valid(path):
    cfg = load_config(path)
    if cfg.blend.modalities:  # a multi-modal recipe names a backbone per modality
        assert all(get_entry(name) for name in cfg.blend.modalities.values())
    else:
        get_entry(cfg.model.name)
        assert cfg.model.name.replace("_", "") in path.stem.replace("_", "")
    # Only the data files (which a user brings) may be missing.
    try:
        check_config(cfg)
    except ConfigError as e:
        assert "file not found" in str(e), e


def test_paper_clip_settings():
    assert load_config(CONFIGS[0].parent / "r2plus1d_18_kinetics_8f.yaml").data.num_frames == 8
    assert load_config(CONFIGS[0].parent / "r2plus1d_18_kinetics_32f.yaml").data.num_frames == 32
    csn = load_config(CONFIGS[0].parent / "ir_csn_152_kinetics.yaml")
    assert (csn.data.num_frames, csn.data.crop, csn.eval.clips, csn.eval.crops) == (32, 224, 10, 3)
    c3d = load_config(CONFIGS[0].parent / "c3d_ucf101.yaml")
    assert (c3d.data.num_frames, list(c3d.data.resize_hw), c3d.data.crop) == (16, [128, 171], 112)
