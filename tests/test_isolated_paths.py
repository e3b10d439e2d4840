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
