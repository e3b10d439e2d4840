"""Run by tests/test_distributed.py under torchrun (2 processes) and alone: one training step on a fixed
global batch, then save the gradients and the updated weights for comparison."""

import sys

import torch
import torch.distributed as dist

import videozoo
from videozoo.engine import distributed as vz_dist


def main(out: str) -> None:
    info = vz_dist.setup("cpu")
    torch.manual_seed(0)
    model = videozoo.create_model("r2plus1d_18", num_classes=5, base_width=8)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 4, 32, 32, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    if info.enabled:
        model = vz_dist.convert_sync_batchnorm(model, "cpu")
        net = torch.nn.parallel.DistributedDataParallel(model)
        x, y = x[info.rank::info.world_size], y[info.rank::info.world_size]
    else:
        net = model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    opt.step()
    if info.is_main:
        torch.save({"grads": grads, "weights": {k: v.clone() for k, v in model.state_dict().items()}}, out)
    if info.enabled:
        dist.barrier()
    vz_dist.teardown()


if __name__ == "__main__":
    main(sys.argv[1])
