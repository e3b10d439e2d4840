"""The Inception zoo (I2D, I3D, S3D, S3D-G, bottom- and top-heavy) and C3D as rows of data."""

from __future__ import annotations

from .c3d import C3D, C3DSpec
from .inception import Inception3D, InceptionSpec
from .registry import ModelEntry, Reported

ROWS: list[ModelEntry] = []  # the table, in the zoo's order; models/__init__ registers it

CLIP_S3D = (64, 224, 224)
CALC_F = "papers.md F, computed from a faithful rebuild"
TV = "torchvision 0.29.1 model card"


def build_inception(spec: InceptionSpec, num_classes: int, name: str) -> Inception3D:
    return Inception3D(spec, num_classes, name)


def build_c3d(spec: C3DSpec, num_classes: int, name: str) -> C3D:
    return C3D(spec, num_classes, name)


def inception(name: str, spec: InceptionSpec, summary: str, *reported: Reported) -> None:
    baseline = None if name == "i3d" else "i3d"
    ROWS.append(ModelEntry(name, "inception", spec, build_inception, CLIP_S3D, "s3d", summary, reported, baseline))


inception("i2d", InceptionSpec(conv="2d"), "I2D: the Inception trunk with 2D convs only (its max-pools stay 3D)")
inception("i3d", InceptionSpec(conv="3d"), "I3D: Inception-v1 inflated, full 3D convs",
          Reported("params", 12.70, CALC_F, decimals=2), Reported("gmacs", 111.15, CALC_F, decimals=2, clip=CLIP_S3D))
inception("s3d", InceptionSpec(conv="sep"), "S3D: every 3D conv separable (1×k×k then k×1×1)",
          Reported("params", 8_320_048, TV, exact=True),
          Reported("gmacs", 17.979, TV, decimals=3, clip=(16, 224, 224)),
          Reported("gmacs", 71.91, CALC_F, decimals=2, clip=CLIP_S3D))
inception("s3d_g", InceptionSpec(conv="sep", gating=True), "S3D-G: S3D with self-gating on every branch",
          Reported("params", 9.55, CALC_F, decimals=2))
for conv, family in (("3d", "i3d"), ("sep", "s3d")):
    for layout, where in (("bottom", "3D below Mixed_4b, 2D above"), ("top", "2D below Mixed_4b, 3D above")):
        what = "separable " if conv == "sep" else ""
        inception(f"{family}_{layout}_heavy", InceptionSpec(conv=conv, layout=layout),
                  f"{family.upper()} {layout}-heavy: {what}{where} (override boundary to move the line)")

C3D_SUMMARY = "C3D: eight 3×3×3 convs, fc6/fc7 4096"
ROWS.append(ModelEntry(
    "c3d", "c3d", C3DSpec(), build_c3d, (16, 112, 112), "c3d", f"{C3D_SUMMARY}, Caffe's ceil-mode pool5 (fc6 in 8192)",
    (Reported("params", 79_991_015, "papers.md A, computed", exact=True, num_classes=487),
     Reported("params", 78_409_573, "papers.md A, computed", exact=True, num_classes=101),
     Reported("gmacs", 38.5, "VMZ model zoo / papers.md A", clip=(16, 112, 112)))))
ROWS.append(ModelEntry(
    "c3d_bn", "c3d", C3DSpec(batch_norm=True, pool5_ceil=False), build_c3d, (16, 112, 112), "c3d",
    f"{C3D_SUMMARY}, VMZ's variant: BN after every conv, floor pool5 (fc6 in 4608)",
    (Reported("params", 64.9, "VMZ model zoo"),
     Reported("params", 64_960_016, "papers.md A, computed", exact=True),
     Reported("gmacs", 38.5, "VMZ model zoo", clip=(16, 112, 112)))))
