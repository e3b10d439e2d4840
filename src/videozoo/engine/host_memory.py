"""Keep freed activation memory in the process instead of faulting fresh pages in on every forward pass.

glibc's malloc serves every block over its mmap threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it on
``free``; a video network's activations are tens to hundreds of MB each, so every forward pass on a CPU
allocates them anew and page-faults every page in (zeroed by the kernel): measured 100,000–340,000 faults per
call (R3D-18, ir-CSN-152 at batch 8). Serving them from the heap and keeping freed memory there for the next call
removes the faults: ir-CSN-152 at batch 8 went from 2002 to 1213 ms per batch, R(2+1)D-18 at batch 8 from 1955
to 1298, S3D at batch 1 from 544 to 391 (2-core AMD EPYC; benchmarks/host_memory.py, docs/speed.md). The price:
the process keeps its peak heap (resident memory does not fall back after a large batch; up to +0.2 GB at peak).

This is process-wide (``mallopt``), set once, by the first CPU :class:`~videozoo.engine.predictor.Predictor`;
``VIDEOZOO_KEEP_FREED_MEMORY=0`` leaves malloc as it is. Only glibc (Linux) has these knobs; elsewhere nothing
changes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc serve large blocks from the heap and keep what is freed for reuse; True when it took effect."""
    if os.environ.get("VIDEOZOO_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, …)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Heap blocks only (no mmap: glibc still maps when the heap cannot grow), and no trimming below 2 GB.
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
