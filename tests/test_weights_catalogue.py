"""Every row of the weights catalogue fits the zoo: a synthetic file in the source's layout (full size, on the
meta device: shapes only) converts into the row's model with the row's classes, clip and normalisation."""

import re

import pytest
import torch
import torchvision.models.video as tvv

from tests.weight_sources import Caffe2Net, KyleminS3D, PytorchI3D, mmaction2_model, vmz_port
from videozoo.data.transforms import NORMALIZATION
from videozoo.engine.inputs import check_model_accepts
from videozoo.weights import CATALOGUE, SOURCES, get_weights, list_weights
from videozoo.weights.convert import convert_state_dict
from videozoo.weights.hub import class_names, input_settings

# What each source's models take (shared/reference/weights.md): VMZ's mean/std on 0-255 equal torchvision's;
# mmaction2's C3D takes Caffe's C3D mean, and its ports of VMZ's weights (fine-tuned or backbones) VMZ's mean and
# std (as its configs set).
SOURCE_NORMALIZATION = {"torchvision": "kinetics", "vmz": "kinetics", "vmz-caffe2": "kinetics",
                        "pytorchvideo": "pytorchvideo", "mmaction2": "imagenet", "s3d": "inception_tf",
                        "pytorch-i3d": "inception_tf"}
CAFFE2_MODELS = {"r2plus1d": "r2plus1d", "r3d": "r3d", "ir_csn": "ir-csn", "ip_csn": "ip-csn", "c3d": "c3d",
                 "r2d": "r2d", "f_r2d": "r2df", **{f"{m}{x}": f"{m}{x}" for m in ("mc", "rmc") for x in (2, 3, 4, 5)}}


def synthetic_source(row) -> dict[str, torch.Tensor]:
    """The row's file as its source lays it out, with the row's class count, on the meta device."""
    name, n = row.source_name, row.num_classes
    if row.source == "vmz-caffe2" and name.startswith("av_ip_csn_"):  # G-Blend's audio-visual nets
        net = Caffe2Net("ip-csn", int(name.rsplit("_", 1)[1]), n, meta=True)
        net.audio_visual(torch.empty(1, 3, *row.clip, device="meta"), torch.empty(1, 1, 100, 40, device="meta"))
        return net.blobs
    if row.source == "vmz-caffe2":
        channels = 2 if name.endswith("_flow") else 3  # the flow stream's first conv takes (x, y)
        family, depth = re.fullmatch(r"(\w+?)_?(\d*)(?:_\d+f)?", name.removesuffix("_flow")).groups()
        net = Caffe2Net(CAFFE2_MODELS[family], int(depth or 0), n, meta=True, clip_length=row.clip[0])
        net(torch.empty(1, channels, *row.clip, device="meta"))
        return net.blobs
    with torch.device("meta"):
        if row.source == "torchvision":
            return getattr(tvv, name)(num_classes=n).state_dict()
        if row.source == "vmz":
            return vmz_port(name, n).state_dict()
        if row.source == "s3d":
            return KyleminS3D(n).state_dict()
        if row.source == "pytorch-i3d":
            return PytorchI3D(n).state_dict()
        if row.source == "mmaction2":
            if n == 0:  # a backbone file: ResNet3dCSN's own keys, loaded into the backbone (no cls_head)
                return mmaction2_model(name, 1).backbone.state_dict()
            return {"meta": {}, "state_dict": mmaction2_model(name, n).state_dict()}
        if row.source == "pytorchvideo":
            from pytorchvideo.models import hub

            return {"model_state": getattr(hub, name)(model_num_class=n).state_dict()}  # the hub's own builder
    raise AssertionError(f"no synthetic layout for source {row.source}")


@pytest.mark.parametrize("row", CATALOGUE, ids=lambda r: r.tag)
def test_every_catalogue_row_fits_its_model(row):
    with torch.device("meta"):
        model = convert_state_dict(row.source, row.source_name, synthetic_source(row))
    assert model.arch == row.model, "the tag names the zoo model the weights load into"
    assert model.num_classes == row.num_classes
    names = class_names(row)
    assert (names is not None) == (row.num_classes > 0 and row.classes in ("kinetics400", "sports1m", "ucf101"))
    assert names is None or len(names) == row.num_classes
    expected = ("c3d" if (row.source, row.source_name) == ("mmaction2", "c3d") else
                "vmz_flow" if row.source_name.endswith("_flow") else
                "kinetics" if ".mmaction2_vmz_" in row.tag or row.tag.endswith("_backbone")
                else SOURCE_NORMALIZATION[row.source])
    assert row.normalization == expected and row.normalization in NORMALIZATION
    settings = input_settings(row)
    check_model_accepts(model, settings)  # the clip it was trained at fits the network
    settings.transform(3)  # the preprocessing builds


def test_catalogue_hashes_urls_and_tags():
    tags = [r.tag for r in CATALOGUE]
    assert len(tags) == len(set(tags))
    for row in CATALOGUE:
        assert row.url.startswith("https://") and row.licence
        assert (row.source, row.source_name) in {(s, n) for s, recipes in SOURCES.items() for n in recipes}
        if any(host in row.url for host in ("download.pytorch.org", "ig65m-pytorch", "openmmlab.com")):
            assert re.fullmatch(r"[0-9a-f]{8}", row.sha256_prefix), row.tag  # torch.hub's "-<hash>." names
        else:
            assert row.sha256_prefix is None, row.tag
        if row.source == "vmz-caffe2":
            assert row.download_url.endswith("?dl=1") and row.filename.endswith(".pkl")
    assert get_weights("ig65m_kinetics_32f", "r2plus1d_34").tag == "r2plus1d_34.ig65m_kinetics_32f"
    assert {r.tag for r in list_weights("s3d")} == {"s3d.kinetics400", "s3d.kylemin_kinetics400"}
    with pytest.raises(ValueError, match="no published weights 'kinetics' for r2plus1d_34; known: r2plus1d_34.ig65m"):
        get_weights("kinetics", "r2plus1d_34")


def test_the_weights_catalogue_in_the_docs_is_generated():
    from pathlib import Path

    from videozoo.weights.catalogue import markdown_table

    docs = (Path(__file__).resolve().parents[1] / "docs" / "weights.md").read_text()
    assert markdown_table(CATALOGUE) in docs, "docs/weights.md's catalogue is stale: run `make weights-table`"
