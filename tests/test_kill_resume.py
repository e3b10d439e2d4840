"""Kill a training run (single-stream or joint) by SIGKILL inside a step, while a checkpoint is half written, and
during validation: each time `--resume` finishes it with the weights of an uninterrupted run (benchmarks/kill_soak.py
does it at 20 points)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.tiny import TINY_RUN as TINY
from videozoo.cli import main
from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.engine.checkpoint import read_checkpoint

KILL_AT = Path(__file__).resolve().parents[1] / "benchmarks" / "kill_at.py"


def single_args(data: Path, out: Path) -> list[str]:
    return ["train", "--model", "r2plus1d_18", "--data", str(data / "train.csv"), "--val", str(data / "val.csv"),
            "--epochs", "3", "--out", str(out), "--no-progress", *TINY]


def killed_at(point: str, n: int, args: list[str]) -> int:
    return subprocess.run([sys.executable, str(KILL_AT), point, str(n), *args], capture_output=True).returncode


def model_weights(run: Path) -> dict[str, torch.Tensor]:
    tensors, _ = read_checkpoint(run / "last.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


JOINT = ["blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}", "blend.weighting=online",
         "blend.warmup_epochs=1", "blend.super_epoch=1", "blend.holdout=0.25", "blend.fusion_hidden=16",
         "blend.backbone_overrides={rgb: {base_width: 8}, audio: {base_width: 8}}"]


@pytest.mark.slow
@pytest.mark.parametrize("joint", [False, True], ids=["single", "g-blend"])
def test_sigkill_anywhere_then_resume_gives_the_same_weights(tmp_path, joint):
    """Single-stream, and a joint run with online G-Blend (estimates after epochs 1 and 2, held-out measurements)."""
    data = tmp_path / "data"
    make_synthetic_dataset(data, SynthConfig(classes=3, per_class=4, val_per_class=2, frames=12, size=32,
                                             audio_informative=1.0 if joint else 0.0))

    def run_args(data: Path, out: Path) -> list[str]:
        return single_args(data, out) + (JOINT if joint else [])

    assert main(run_args(data, tmp_path / "whole")) == 0
    whole = model_weights(tmp_path / "whole")
    # Single: 3 steps, 2 checkpoint files (last, best) and a validation per epoch: each point is in epoch 2. Joint:
    # 2 steps and 1 file per epoch; T′, V and the validation list measured 6 times in epoch 1 (the start too), 3 after.
    for point, n in (("step", 5), ("write", 3), ("validate", 8 if joint else 2)):
        out = tmp_path / point
        assert killed_at(point, n, run_args(data, out)) == -9, point
        assert main([*run_args(data, out), "--resume"]) == 0, point
        got = model_weights(out)
        assert got.keys() == whole.keys() and all(torch.equal(got[k], whole[k]) for k in whole), point
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], point


@pytest.mark.slow
def test_a_worker_killed_under_torchrun_restarts_from_the_last_checkpoint(tmp_path):
    """torchrun --max-restarts 1, two processes, rank 1 SIGKILLed inside an epoch-2 step: torchrun restarts both,
    they continue from the epoch-1 checkpoint (keys of the new attempt only: with the killed attempt's, gloo could
    dial the dead peer), and the weights equal an uninterrupted two-process run's."""
    import os

    data = tmp_path / "data"
    make_synthetic_dataset(data, SynthConfig(classes=2, per_class=8, val_per_class=0, frames=8, size=32))
    common = ["--model", "r2plus1d_18", "--data", str(data / "train.csv"), "--epochs", "3", "--batch-size", "4",
              "--no-progress", *TINY, "optim.name=sgd", "optim.lr=0.01"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_RANK": "1"}

    def torchrun(*args, port):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--max-restarts", "1",
               "--master-port", str(port), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result

    torchrun("-m", "videozoo.cli", "train", *common, "--out", str(tmp_path / "whole"), port=29531)
    # 16 videos over 2 processes in batches of 4: 2 steps per epoch each; the 3rd step is epoch 2's first.
    result = torchrun(str(KILL_AT), "step", "3", "train", *common, "--out", str(tmp_path / "killed"), port=29532)
    assert "resuming" in result.stdout + result.stderr  # the restarted workers continued the checkpoint
    whole, killed = model_weights(tmp_path / "whole"), model_weights(tmp_path / "killed")
    assert killed.keys() == whole.keys() and all(torch.equal(killed[k], whole[k]) for k in whole)
