"""Run the ``videozoo`` command line and SIGKILL this process at a chosen point: a crash where a real run crashes.

    python benchmarks/kill_at.py POINT N videozoo-arguments…

POINT is where, N which call (1-based) dies:

- ``step``: before the N-th optimizer step (inside an epoch; SGD or AdamW, the engine's two);
- ``write``: during the N-th checkpoint write, half a file on disk (the temporary file the rename would publish);
- ``validate``: at the start of the N-th validation.

The process ends by SIGKILL (exit status -9): no ``finally``, no atexit, no flushed buffers. tests/test_kill_resume.py
and benchmarks/kill_soak.py then resume the run and compare its weights with an uninterrupted run's. Under torchrun,
``KILL_RANK=R`` kills only rank R, and only on the first attempt (a restarted worker runs to the end).
"""

from __future__ import annotations

import os
import signal
import sys


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, n: int) -> None:
    """Wrap the function of ``point`` so that its ``n``-th call kills the process."""
    import torch

    from videozoo.engine import checkpoint, core

    targets = {"step": [(torch.optim.SGD, "step"), (torch.optim.AdamW, "step")],
               "write": [(checkpoint, "save_file")], "validate": [(core.TrainingCore, "evaluate")]}[point]
    calls = [0]

    def wrap(original):
        def wrapped(*args, **kwargs):
            calls[0] += 1
            if calls[0] == n:
                if point == "write":  # half a file in the temporary path, as a crash mid-write leaves it
                    with open(args[1], "wb") as f:
                        f.write(b"\0" * 4096)
                die()
            return original(*args, **kwargs)
        return wrapped

    for owner, name in targets:
        setattr(owner, name, wrap(getattr(owner, name)))


if __name__ == "__main__":
    point, n, *argv = sys.argv[1:]
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if first_attempt and os.environ.get("KILL_RANK", os.environ.get("RANK", "0")) == os.environ.get("RANK", "0"):
        arm(point, int(n))
    from videozoo.cli import main

    sys.exit(main(argv))
