"""Several processes through ``torchrun``: process group, ranks, and BatchNorm over the global batch.

``torchrun --nproc-per-node 2 -m videozoo.cli train …`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` joins the group (gloo on
CPU, NCCL on CUDA). Multi-node runs add torchrun's rendezvous flags
(``--nnodes 2 --node-rank 0 --rdzv-backend c10d --rdzv-endpoint HOST:29500``).

PyTorch's :class:`~torch.nn.SyncBatchNorm` runs on GPUs only; on a CPU
:class:`GlobalBatchNorm3d` gives the same result (batch statistics over every
process's batch) with the differentiable all-reduce of
``torch.distributed.nn``, so a 2-process CPU run equals a 1-process run of
the same global batch.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        _init_group(backend, info)
    return info


def _init_group(backend: str, info: DistInfo) -> None:
    """``init_process_group``; after a torchrun restart, on keys of this attempt only. torchrun's agent keeps one
    store for every attempt of a static rendezvous, so without a prefix a restarted worker can read the address
    its killed peer published (gloo: "connectFullMesh failed … Connection refused")."""
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if restart is None or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        dist.init_process_group(backend)
        return
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), info.world_size,
                          is_master=False, timeout=timedelta(minutes=30))
    dist.init_process_group(backend, store=dist.PrefixStore(f"videozoo/attempt_{restart}", store), rank=info.rank,
                            world_size=info.world_size)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum plain numbers over processes (metrics)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def gather_rows(rows: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Every process's ``rows`` ``(n_i, …)`` (CPU tensors, n_i may differ) concatenated in rank order (metrics
    such as mAP that need all scores, not a sum)."""
    if not info.enabled:
        return rows
    parts: list = [None] * info.world_size
    dist.all_gather_object(parts, rows.cpu())
    return torch.cat(parts)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


class GlobalBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose training statistics cover the batches of every process (works on CPU)."""

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        with warnings.catch_warnings():  # deprecated in favour of a private module without autograd; still right
            warnings.simplefilter("ignore", FutureWarning)
            from torch.distributed.nn.functional import all_reduce

        dims = (0, 2, 3, 4)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            stats = all_reduce(stats)  # differentiable: gradients flow back to every process
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked + 1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(var.detach() * n / (n - 1), alpha=momentum)
                self.num_batches_tracked.add_(1)
        shape = (1, c, 1, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(model: nn.Module, device_type: str) -> nn.Module:
    """Make every BatchNorm3d compute statistics over the global batch: torch's SyncBatchNorm on CUDA,
    :class:`GlobalBatchNorm3d` on a CPU."""
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm3d:
            new = GlobalBatchNorm3d(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
            new.load_state_dict(child.state_dict())
            setattr(model, name, new)
        else:
            convert_sync_batchnorm(child, device_type)
    return model
