"""Run by tests/test_shards.py under torchrun (2 processes): two epochs of the training loader over a sharded data
set, with loader workers; rank 0 writes every rank's sample indices per epoch (JSON) for the test to check."""

import json
import sys
from pathlib import Path

import torch.distributed as dist

import videozoo
from videozoo.data import VideoDataset, load_items
from videozoo.data.sampling import ClipSampling
from videozoo.data.transforms import TransformConfig
from videozoo.engine.config import load_config
from videozoo.engine.core import TrainingCore


def main(shards: str, out: str) -> None:
    cfg = load_config(None, [f"data.train={shards}", "data.num_workers=2", "train.batch_size=2", "train.device=cpu",
                             "train.precision=fp32", "train.progress=false"])
    items, classes = load_items(shards)
    dataset = VideoDataset(items, classes, ClipSampling(2), TransformConfig(crop=16))
    core = TrainingCore(cfg, videozoo.create_model("r2plus1d_18", len(classes), base_width=8), Path(out).parent)
    loader = core.train_loader(dataset)
    seen = []
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        indices, skipped = [], 0
        for batch in loader:
            indices += batch["index"].tolist()
            skipped += len(batch["skipped"])
        everyone = [None] * core.dist.world_size
        dist.all_gather_object(everyone, {"indices": indices, "skipped": skipped})
        seen.append(everyone)
    if core.dist.is_main:
        Path(out).write_text(json.dumps(seen))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
