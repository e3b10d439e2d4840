"""The residual zoo as a table: one row per network of the R(2+1)D, Res3D, CSN and P3D papers.

Columns: block, blocks per stage, stem, conv kind per stage (conv2_x … conv5_x).
Numbers attached to a row are what the papers, VMZ and torchvision publish
for it; ``tests/test_zoo_numbers.py`` checks every one of them. Sources are
cited as in ``docs/models.md``.
"""

from __future__ import annotations

from functools import partial

from .registry import ModelEntry, Reported
from .resnet import ResNetSpec, VideoResNet

ROWS: list[ModelEntry] = []  # the table, in the zoo's order; models/__init__ registers it

DEPTHS = {
    10: (1, 1, 1, 1), 16: (2, 2, 2, 1), 18: (2, 2, 2, 2), 26: (2, 3, 4, 3), 34: (3, 4, 6, 3),
    50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3),
}
CSN_DEPTHS = {**DEPTHS, 26: (2, 2, 2, 2)}  # CSN-26 is four stages of two bottlenecks
P3D_DEPTHS = {63: (3, 4, 6, 3), 131: (3, 4, 23, 3), 199: (3, 8, 36, 3)}

CLIP_R21D = (16, 112, 112)
CLIP_CSN = (8, 224, 224)  # the CSN paper's ablation clip; its final 32-frame recipes live in configs/
CLIP_CSN_FINAL = (32, 224, 224)
CLIP_P3D = (16, 160, 160)

POOL_1x3x3 = ((1, 3, 3), (1, 2, 2), (0, 1, 1))  # CSN stem: max-pool 1×3×3 stride 1×2×2
POOL_2x3x3 = ((2, 3, 3), (2, 2, 2), (0, 1, 1))  # P3D pool1
P3D_CYCLE = ("p3d-a", "p3d-b", "p3d-c")

TABLE2 = "R(2+1)D paper, Table 2 (as copied in VMZ)"
TV = "torchvision 0.29.1 model card"
CSN_CALC = "papers.md D, computed from a faithful rebuild"


def build_resnet(spec: ResNetSpec, num_classes: int, name: str) -> VideoResNet:
    return VideoResNet(spec, num_classes, name)


def add(name: str, spec: ResNetSpec, clip, paper: str, summary: str, *reported: Reported,
        baseline: str | None = None) -> None:
    ROWS.append(ModelEntry(name, "residual", spec, build_resnet, clip, paper, summary, reported, baseline))


def table2(params: float, gmacs8: float, gmacs16: float, **overrides) -> tuple[Reported, ...]:
    """A row of the R(2+1)D paper's Table 2: params (M, BN excluded) and GMACs at 8 and 16 frames."""
    o8 = overrides.pop("overrides8", {})
    return (
        Reported("params_no_bn", params, TABLE2, overrides={**o8, **overrides}),
        Reported("gmacs", gmacs8, TABLE2, clip=(8, 112, 112), overrides={**o8, **overrides}),
        Reported("gmacs", gmacs16, TABLE2, clip=(16, 112, 112), overrides=overrides),
    )


# --- R(2+1)D paper: R2D, f-R2D, R3D, MCx, rMCx, R(2+1)D (basic blocks, 112×112) ---------------------

basic18 = partial(ResNetSpec, "basic", DEPTHS[18])

add("r2d_18", basic18(("2d",) * 4, stem_temporal_kernel=16, stem_temporal_padding=0), CLIP_R21D, "r2plus1d",
    "R2D: the stem's L×7×7 conv collapses time at once; all stages 2D. "
    "Its stem is tied to the clip length (override stem_temporal_kernel)",
    *table2(11.4, 1.9, 2.2, overrides8={"stem_temporal_kernel": 8}), baseline="r3d_18")
add("f_r2d_18", basic18(("2d",) * 4, stem_kind="2d"), CLIP_R21D, "r2plus1d",
    "f-R2D: 2D ResNet-18 on every frame, temporal pooling at the end",
    *table2(11.4, 13.8, 27.6), baseline="r3d_18")
add("r3d_18", basic18(("3d",) * 4), CLIP_R21D, "r2plus1d",
    "R3D-18: 3×3×3 convs throughout",
    Reported("params", 33_371_472, TV, exact=True),
    Reported("gmacs", 40.697, TV, decimals=3, clip=(16, 112, 112)),
    *table2(33.4, 20.3, 40.7))
add("r3d_34", ResNetSpec("basic", DEPTHS[34], ("3d",) * 4), CLIP_R21D, "r2plus1d", "R3D-34: 3×3×3 convs throughout")
add("res3d_18", basic18(("3d",) * 4), (8, 112, 112), "res3d",
    "Res3D: R3D-18 on 8×112×112 clips (the ConvNet architecture search paper's net)",
    Reported("params", 33_416_103, "papers.md B, computed", exact=True, num_classes=487),
    Reported("params", 33_371_472, "papers.md B (= torchvision r3d_18)", exact=True),
    Reported("gmacs", 20.35, "papers.md B, computed", decimals=2, clip=(8, 112, 112)),
    Reported("gmacs", 20.3, "VMZ model zoo, R3D-18 8 frames", clip=(8, 112, 112)), baseline="c3d")

MC_TABLE2 = {2: (11.4, 14.3, 28.5), 3: (11.7, 21.7, 43.3), 4: (12.7, 20.0, 40.0), 5: (16.8, 20.0, 39.9)}
RMC_TABLE2 = {2: (33.3, 19.9, 39.8), 3: (33.0, 12.5, 25.0), 4: (32.0, 14.5, 29.1), 5: (27.9, 15.4, 30.8)}
for x in (2, 3, 4, 5):
    n3d = x - 2  # stages conv2_x … conv(x-1)_x
    extra = (Reported("params", 11_695_440, TV, exact=True),
             Reported("gmacs", 43.343, TV, decimals=3, clip=(16, 112, 112))) if x == 3 else ()
    add(f"mc{x}_18", basic18(("3d",) * n3d + ("2d",) * (4 - n3d)), CLIP_R21D, "r2plus1d",
        f"MC{x}: 3D convs up to conv{x - 1}_x, 2D from conv{x}_x", *extra, *table2(*MC_TABLE2[x]),
        baseline="r3d_18")
for x in (2, 3, 4, 5):
    n2d = x - 2
    add(f"rmc{x}_18", basic18(("2d",) * n2d + ("3d",) * (4 - n2d), stem_kind="2d"), CLIP_R21D, "r2plus1d",
        f"rMC{x}: 2D stem and convs below conv{x}_x, 3D from conv{x}_x", *table2(*RMC_TABLE2[x]),
        baseline="r3d_18")

R21D_PAPER = "R(2+1)D: every t×d×d conv factored into 1×d×d and t×1×1 with matched parameters"
for depth in (10, 16, 18, 26, 34, 50, 101, 152):
    block = "basic" if depth <= 34 else "bottleneck"
    reported: tuple[Reported, ...] = ()
    if depth == 18:
        reported = (
            *table2(33.3, 20.7, 41.5),
            Reported("params", 31_505_325, TV, exact=True, overrides={"mid_channels": "per_block"}),
            Reported("gmacs", 40.519, TV, decimals=3, clip=(16, 112, 112), overrides={"mid_channels": "per_block"}),
        )
    elif depth == 34:
        reported = (
            Reported("params_no_bn", 63.6, "VMZ model zoo (IG-65M head, 359 classes)", num_classes=359),
            Reported("gmacs", 49.8, "VMZ model zoo, 8×128×128", clip=(8, 128, 128)),
            Reported("gmacs", 199.0, "VMZ model zoo, 32×128×128", clip=(32, 128, 128)),
            Reported("gmacs", 38.09, "papers.md C, computed", decimals=2, clip=(8, 112, 112)),
            Reported("gmacs", 152.36, "papers.md C, computed", decimals=2, clip=(32, 112, 112)),
        )
    add(f"r2plus1d_{depth}", ResNetSpec(block, DEPTHS[depth], ("2+1d",) * 4, stem_kind="2+1d"), CLIP_R21D,
        "r2plus1d", f"{R21D_PAPER} ({block} blocks)", *reported,
        baseline={18: "r3d_18", 34: "r3d_34"}.get(depth))

# --- CSN paper: ir-CSN, ip-CSN and their R3D baselines (bottlenecks, 224×224, stem max-pool) -------

CSN_NUMBERS = {  # params with BN (M), GMACs at 8×224²; papers.md D
    ("ir", 26): (8.57, 7.93), ("ip", 26): (9.27, 8.95), ("3d", 26): (27.32, 18.22),
    ("ir", 50): (13.13, 10.58), ("ip", 50): (14.40, 11.91), ("3d", 50): (46.98, 29.46),
    ("ir", 101): (22.21, 14.12), ("ip", 101): (24.60, 15.89), ("3d", 101): (86.03, 44.75),
    ("ir", 152): (29.70, 18.51), ("ip", 152): (33.02, 20.82), ("3d", 152): (118.19, 63.63),
}
CSN_FINAL_GMACS = {"ir": 74.05, "ip": 83.29}  # at 32×224², papers.md D
CSN_PUBLISHED = {"ir": (29.6, 96.7), "ip": (32.8, 108.8)}  # paper / VMZ: params without BN (M), GFLOPs 32×256²
CSN_SUMMARY = {
    "ir": "ir-CSN: each 3×3×3 of the bottleneck is depthwise",
    "ip": "ip-CSN: each 3×3×3 becomes 1×1×1 then a depthwise 3×3×3",
    "3d": "R3D bottleneck baseline of the CSN paper (3×3×3 in every bottleneck)",
}
for depth in (26, 50, 101, 152):
    for kind in ("ir", "ip", "3d"):
        if kind == "3d" and depth == 26:
            continue  # the zoo's r3d names follow torchvision/VMZ: r3d_18/34 basic, 50+ bottleneck
        params, gmacs = CSN_NUMBERS[(kind, depth)]
        reported = [
            Reported("params", params, CSN_CALC, decimals=2),
            Reported("gmacs", gmacs, CSN_CALC, decimals=2, clip=CLIP_CSN),
        ]
        if depth == 152 and kind in CSN_PUBLISHED:
            p, g = CSN_PUBLISHED[kind]
            reported += [Reported("gmacs", CSN_FINAL_GMACS[kind], CSN_CALC, decimals=2, clip=CLIP_CSN_FINAL),
                         Reported("params_no_bn", p, "CSN paper / VMZ"),
                         Reported("gmacs", g, "CSN paper / VMZ, 32×256×256", clip=(32, 256, 256))]
        name = f"r3d_{depth}" if kind == "3d" else f"{kind}_csn_{depth}"
        eps = 1e-5 if kind == "3d" else 1e-3  # VMZ trained CSNs with Caffe2's BN eps
        add(name, ResNetSpec("bottleneck", CSN_DEPTHS[depth], (kind,) * 4, stem_pool=POOL_1x3x3, bn_eps=eps),
            CLIP_CSN, "csn", f"{CSN_SUMMARY[kind]}, {depth} layers", *reported,
            baseline=f"r3d_{depth}" if kind != "3d" and depth != 26 else None)

# --- P3D: bottlenecks with pseudo-3D units, 160×160, temporal max-pool between stages --------------

for depth, layers in P3D_DEPTHS.items():
    for kinds, label in ((P3D_CYCLE, ""), (("p3d-a",), "a_"), (("p3d-b",), "b_"), (("p3d-c",), "c_")):
        if label and depth != 63:
            continue
        reported = ()
        if depth == 199 and not label:
            reported = (
                Reported("params", 66_670_503, "papers.md E, computed from the official prototxt", exact=True,
                         num_classes=487),
                Reported("gmacs", 18.4, "papers.md E, computed", clip=CLIP_P3D),
            )
        what = "P3D-A, B, C blocks cycling" if not label else f"P3D-{label[0].upper()} blocks only"
        add(f"p3d_{label}{depth}",
            ResNetSpec("bottleneck", layers, (kinds, kinds, kinds, "2d"), stem_kind="2d", stem_pool=POOL_2x3x3,
                       temporal_strides=(1, 1, 1, 1), stride_on="conv1", temporal_pool_after=(0, 1, 2),
                       dropout=0.5),
            CLIP_P3D, "p3d", f"P3D-{depth}: {what} in res2–res4, 2D res5", *reported)

# --- ResNet-50 baselines that pytorchvideo and PySlowFast publish weights for: 2D 1×3×3 convs in every bottleneck,
# time only in the stem and in "inflated" 3×1×1 first convs; no temporal striding ----------------------------

PTV_COUNT = "pytorchvideo 0.1.5's hub builder, counted"
R50_8x224 = (8, 224, 224)
r50 = partial(ResNetSpec, "bottleneck", DEPTHS[50], ("2d",) * 4, stem_pool=POOL_1x3x3, temporal_strides=(1, 1, 1, 1))
add("c2d_r50", r50(stem_kind="2d", temporal_pool_after=(0,)), R50_8x224, "nonlocal",
    "C2D ResNet-50: a 2D ResNet-50 on every frame, a 2×1×1 max-pool after res2",
    Reported("params", 24_327_632, PTV_COUNT, exact=True))
add("i3d_r50", r50(stem_temporal_kernel=5, temporal_pool_after=(0,), conv1_temporal=(3, (3, 1), (3, 1), (1, 3))),
    R50_8x224, "nonlocal", "I3D ResNet-50: 5×7×7 stem, 3×1×1 first convs in alternate bottlenecks",
    Reported("params", 28_043_472, PTV_COUNT, exact=True))
add("slow_r50", r50(stem_kind="2d", conv1_temporal=(1, 1, 3, 3)), R50_8x224, "slowfast",
    "Slow ResNet-50 (SlowFast's slow pathway alone): 3×1×1 first convs in res4 and res5 only",
    Reported("params", 32_454_096, PTV_COUNT, exact=True))

add("r2plus1d_r50", ResNetSpec("bottleneck", DEPTHS[50], ("t+2d",) * 4, stem_kind="2d", spatial_strides=(2, 2, 2, 2),
                               temporal_strides=(1, 1, 2, 2), dropout=0.5),
    (16, 224, 224), "r2plus1d",
    "pytorchvideo's R(2+1)D-R50, not the paper's: each 3×3×3 becomes 3×1×1 then 1×3×3 at full width, "
    "1×7×7 stem without pooling, res2 strides in space",
    Reported("params", 28_107_600, PTV_COUNT, exact=True))

# --- Audio: 2D ResNets over log-Mel spectrograms (G-Blend's audio backbones) --------------------------

def build_audio(spec: ResNetSpec, num_classes: int, name: str):
    from .audio import AudioResNet

    return AudioResNet(spec, num_classes, name)


POOL_2D = ((1, 3, 3), (1, 2, 2), (0, 1, 1))  # ResNet's 3×3 max-pool, stride 2
for depth, block in ((18, "basic"), (50, "bottleneck")):
    ROWS.append(ModelEntry(
        f"audio_resnet_{depth}", "audio",
        ResNetSpec(block, DEPTHS[depth], ("2d",) * 4, stem_kind="2d", stem_pool=POOL_2D, in_channels=1,
                   stride_on="conv2"),
        build_audio, (1, 100, 40), "gblend",
        f"Audio ResNet-{depth}: a 2D ResNet over 100×40 log-Mel spectrograms (input (B, 1, 100, 40))"))

# VMZ's audio nets (G-Blend's audio-visual models, c2/lib/models/audio_visual_model.py): a 3×3 conv with a bias
# (no BatchNorm, no ReLU) to 16, three basic blocks at 32 (the first striding 2), then bottleneck stages whose
# first blocks all stride 2, and a max-pool head (100×40 → 4×2 → 1×1). BatchNorm eps is Caffe2's.
for depth in (50, 101, 152):
    ROWS.append(ModelEntry(
        f"vmz_audio_resnet_{depth}", "audio",
        ResNetSpec("bottleneck", DEPTHS[depth], ("2d",) * 4, stem_kind="2d", stem_kernel=3, stem_width=16,
                   stem_norm=False, stem_spatial_stride=1, stem_blocks=(3, 32), spatial_strides=(2, 2, 2, 2),
                   in_channels=1, bn_eps=1e-3, feature_pool="max"),
        build_audio, (1, 100, 40), "gblend",
        f"VMZ's audio ResNet-{depth} (G-Blend's audio-visual nets): 3×3 stem, three basic blocks, max-pooled "
        "features (input (B, 1, 100, 40))"))

