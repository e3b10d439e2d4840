"""Benchmarked runtimes each in a process of their own (videozoo.isolated_paths)."""

import os

import pytest
import torch

from videozoo.isolated_paths import IsolatedPath, close_all


def _pid_path(n: int):
    """A path whose output tells which process computed it."""
    pid = os.getpid()
    return "pid", lambda: torch.full((n,), float(pid))


def _refusing_path():
    raise ValueError("this runtime is not\ninstalled")


def _failing_run():
    def run():
        raise RuntimeError("out of memory")

    return "fails", run


def test_a_path_runs_in_a_worker_of_its_own_until_closed():
    path = IsolatedPath(_pid_path, 3)
    try:
        first = path()
        assert path.label == "pid" and first.shape == (3,) and first.dtype == torch.float32
        assert first[0].item() != os.getpid()
        assert torch.equal(path(), first)  # the same worker, built once, each call
    finally:
        close_all({"pid": path, "local": lambda: None})
    assert not path._process.is_alive()


def test_a_worker_that_cannot_build_or_run_says_why_in_one_line():
    with pytest.raises(RuntimeError, match=r"^ValueError: this runtime is not installed$"):
        IsolatedPath(_refusing_path)
    path = IsolatedPath(_failing_run)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            path()
    finally:
        path.close()


def test_the_predictor_path_takes_the_predictors_options(tmp_path):
    """What benchmarks/fused_convs.py compares: the Predictor's default and one with an option changed, named."""
    import videozoo
    from videozoo.isolated_paths import predictor_path

    model = videozoo.create_model("r3d_18", num_classes=4, base_width=8).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    torch.save(x, tmp_path / "x.pt")
    default_label, default = predictor_path(model, str(tmp_path / "x.pt"), "fp32")
    label, unfused = predictor_path(model, str(tmp_path / "x.pt"), "fp32", {"fuse_convs": False})
    assert label == "videozoo Predictor fp32 (fp32, fuse_convs=False)" and default_label.endswith("(fp32)")
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(unfused(), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(default(), expected, rtol=1e-4, atol=1e-4)
