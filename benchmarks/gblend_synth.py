"""Gradient-Blending on synthetic audio-visual data: single modalities, naive joint training, G-Blend.

Two data sets (``videozoo synth``):

- ``--set motion`` (default; ``--audio 0.5``): the class is a motion; in half the videos the tone's pitch
  names the class, in the other half it is a random pitch unique to the video, so the sound is partly
  informative and easy to memorise. RGB alone learns the motion; the paper's finding is that joint
  training latches onto the sound and does worse than RGB alone, while G-Blend does better than both;
  ``--motion-informative Q`` / ``--still S`` take the picture's class away in a share of the videos (a random
  class's motion / no motion), so that the two modalities together name more videos than either alone;
  docs/multimodal.md's three-seed table is ``--still 0.3 --val-per-class 24 --epochs 30 --warmup 15``;
- ``--set av`` (``--audio av``): the class is (motion, low or high tone), so neither modality alone can
  name more than half of the classes, and each sound carries a per-video chord to memorise.

With the same backbones, epochs and seed it trains:

- RGB only and audio only (fixed weights on that modality's head; its backbone alone learns);
- naive joint training (the fused head's loss only);
- offline and online G-Blend, with the weights estimated inside the joint run (``blend.estimate=joint``) and as
  Algorithm 1 does, from each head trained alone (``separate``).

It prints validation top-1 of the head that each setting is about and the final weights, as a Markdown
table (docs/multimodal.md quotes it). On 2 CPU cores it takes about 20 minutes with the defaults.

    python benchmarks/gblend_synth.py [--set motion|av] [--out scratch/gblend] [--epochs 20] [--seed 0]
        [--only "RGB only" ...]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from videozoo.data import SynthConfig, make_synthetic_dataset
from videozoo.engine.config import load_config
from videozoo.engine.multimodal import train_multimodal

SETTINGS = {  # name: (overrides, the head whose validation accuracy is the setting's result)
    "RGB only": (["blend.weighting=fixed", "blend.fixed_weights={rgb: 1}"], "rgb"),
    "audio only": (["blend.weighting=fixed", "blend.fixed_weights={audio: 1}"], "audio"),
    "naive (fused head only)": (["blend.weighting=naive"], "fused"),
    "offline G-Blend": (["blend.weighting=offline"], "fused"),
    "online G-Blend": (["blend.weighting=online"], "fused"),
    # Algorithm 1's estimate: each head trained alone from the checkpoint (k + 1 extra trainings per estimate).
    "offline G-Blend, separate": (["blend.weighting=offline", "blend.estimate=separate"], "fused"),
    "online G-Blend, separate": (["blend.weighting=online", "blend.estimate=separate"], "fused"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="scratch/gblend")
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10, help="the paper's 10 warm-up epochs")
    parser.add_argument("--super-epoch", type=int, default=5)
    parser.add_argument("--width", type=int, default=16, help="backbone base width")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the data set stays the same)")
    parser.add_argument("--only", nargs="*", help="run only these settings (by name)")
    parser.add_argument("--set", choices=["av", "motion"], default="motion",
                        help="av: classes = motion × pitch; motion: classes = motions, the tone names the class in "
                             "--audio-informative of the videos and is a random, memorisable pitch in the rest")
    parser.add_argument("--audio-informative", type=float, default=0.5)
    parser.add_argument("--motion-informative", type=float, default=1.0,
                        help="motion set: the share of videos that move their class's way (the rest: a random "
                             "class's), so that each modality names the class in some videos only")
    parser.add_argument("--still", type=float, default=0.0,
                        help="motion set: the share of videos whose objects stand still (the picture says nothing of "
                             "their class, without showing another class's motion)")
    parser.add_argument("--val-per-class", type=int, default=12)
    parser.add_argument("--normalization", help="data.normalization (default: the run's, per-clip from scratch; "
                                                "docs/multimodal.md's shapes tables were measured with kinetics)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    out = Path(args.out)
    data = out / "data"
    if not (data / "train.csv").exists():
        make_synthetic_dataset(data, SynthConfig(classes=args.classes, per_class=args.per_class,
                                                 val_per_class=args.val_per_class, audio_visual=args.set == "av",
                                                 audio_informative=args.audio_informative,
                                                 motion_informative=args.motion_informative, still=args.still))
    common = [f"data.train={data / 'train.csv'}", f"data.val={data / 'val.csv'}",
              "blend.modalities={rgb: r2plus1d_18, audio: audio_resnet_18}",
              f"blend.backbone_overrides={{rgb: {{base_width: {args.width}}}, audio: {{base_width: {args.width}}}}}",
              "blend.fusion_hidden=128", "blend.holdout=0.15", f"blend.warmup_epochs={args.warmup}",
              f"blend.super_epoch={args.super_epoch}", f"train.epochs={args.epochs}", f"train.seed={args.seed}",
              "train.progress=false", *([f"data.normalization={args.normalization}"] if args.normalization else [])]
    rows = []
    for name, (overrides, head) in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        slug = f"{name.split()[0].lower()}{'_separate' if 'separate' in name else ''}_seed{args.seed}"
        result = train_multimodal(load_config(None, [*common, *overrides, f"out={out / slug}"]))
        last = result["metrics"][-1]
        best = max(r[f"{head}_val_top1"] for r in result["metrics"] if r["phase"] == "main")
        weights = ", ".join(f"{h} {w:.2f}" for h, w in result["weights"].items())
        rows.append((name, head, last[f"{head}_val_top1"], best, weights, time.perf_counter() - start))
        print(f"{name}: {head} val top-1 {last[f'{head}_val_top1']:.3f} (best {best:.3f}); weights {weights}",
              flush=True)
    what = ("motion × pitch; either modality alone at most 0.50" if args.set == "av" else
            f"motions; the tone names the class in {args.audio_informative:.0%} of the videos, the motion in "
            f"{args.motion_informative:.0%}" + (f", {args.still:.0%} of the videos still" if args.still else ""))
    print(f"\n{args.classes} classes ({what}), {args.per_class} training videos each, {args.epochs} epochs, "
          f"width {args.width}, seed {args.seed}; chance {1 / args.classes:.2f}\n")
    print("| setting | head | val top-1 (last) | val top-1 (best) | final weights | minutes |")
    print("|---|---|---|---|---|---|")
    for name, head, last, best, weights, seconds in rows:
        print(f"| {name} | {head} | {last:.3f} | {best:.3f} | {weights} | {seconds / 60:.1f} |")


if __name__ == "__main__":
    main()
