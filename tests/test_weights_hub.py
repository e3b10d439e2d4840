"""Downloading published weights, against a local HTTP server on 127.0.0.1: success, wrong hash, interrupted
transfer, server error, offline; then a weights tag end to end (download, convert, predict with its class names)."""

import dataclasses
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.models.video as tvv

import videozoo
from videozoo.cli import main
from videozoo.data.encode import write_video
from videozoo.weights import catalogue, hub
from videozoo.weights.hub import WeightsError


class Server:
    """Serves ``files`` (name → bytes); ``broken`` names are cut after half their declared length,
    ``failing`` names answer 500. Requests are counted."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.broken: set[str] = set()
        self.failing: set[str] = set()
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                name = self.path.lstrip("/").split("?")[0]
                if name in server.failing or name not in server.files:
                    self.send_error(500 if name in server.failing else 404)
                    return
                body = server.files[name]
                self.send_response(200)
                if name.endswith(".html"):
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if name in server.broken else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("VIDEOZOO_OFFLINE", raising=False)


def _r3d_bytes(tmp_path) -> bytes:
    path = tmp_path / "r3d.pth"
    torch.save(tvv.r3d_18().state_dict(), path)
    return path.read_bytes()


def _row(server: Server, name: str, tag: str = "r3d_18.kinetics400"):
    return dataclasses.replace(catalogue.get_weights(tag), url=f"{server.url}/{name}")


def _cache_is_clean() -> None:
    files = [p for p in hub.cache_dir().rglob("*") if p.is_file()] if hub.cache_dir().exists() else []
    assert files == [], f"left in the cache: {files}"


def test_download_checks_the_hash_in_the_name(server, tmp_path):
    body = _r3d_bytes(tmp_path)
    name = f"r3d-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    server.files[name] = body
    row = _row(server, name)
    path = hub.download(row, progress=False)
    assert path == Path(torch.hub.get_dir()) / "checkpoints" / name and path.read_bytes() == body
    hub.download(row, progress=False)
    assert server.requests == 1, "a cached file is not downloaded again"


def test_a_wrong_hash_keeps_nothing(server, tmp_path):
    server.files["r3d-00000000.pth"] = _r3d_bytes(tmp_path)
    with pytest.raises(WeightsError, match="SHA-256 .* does not start with 00000000, as its name says; nothing was"):
        hub.download(_row(server, "r3d-00000000.pth"), progress=False)
    _cache_is_clean()


def test_an_interrupted_transfer_keeps_nothing(server, tmp_path):
    server.files["r3d.pth"] = _r3d_bytes(tmp_path)
    server.broken.add("r3d.pth")
    with pytest.raises(WeightsError, match=r"the transfer stopped after [0-9,]+ of [0-9,]+ bytes; nothing was kept"):
        hub.download(_row(server, "r3d.pth"), progress=False)
    _cache_is_clean()


def test_a_web_page_instead_of_the_file_keeps_nothing(server):
    server.files["uc.html"] = b"<html>Google Drive can't scan this file for viruses</html>"
    with pytest.raises(WeightsError, match="sent a web page instead of the file"):
        hub.download(_row(server, "uc.html"), progress=False)
    _cache_is_clean()


def test_a_server_error_is_one_line(server):
    server.failing.add("r3d.pth")
    with pytest.raises(WeightsError) as e:
        hub.download(_row(server, "r3d.pth"), progress=False)
    assert "answered 500" in str(e.value) and "\n" not in str(e.value)
    _cache_is_clean()


def test_offline_names_the_url_and_where_to_place_the_file(server, monkeypatch):
    row = _row(server, "r3d.pth")
    server.close()  # nothing listens there any more
    with pytest.raises(WeightsError, match=rf"offline\? download {row.url} and place it at .*checkpoints/r3d.pth"):
        hub.download(row, progress=False)
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    with pytest.raises(WeightsError, match="not in the cache and VIDEOZOO_OFFLINE is set"):
        hub.download(row, progress=False)
    _cache_is_clean()


def test_a_file_placed_by_hand_is_used_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    row = catalogue.get_weights("r3d_18.kinetics400")
    hub.source_path(row).parent.mkdir(parents=True)
    hub.source_path(row).write_bytes(_r3d_bytes(tmp_path))
    model = videozoo.create_model("r3d_18", pretrained="kinetics400")
    assert model.num_classes == 400 and model.classes[0] == "abseiling"


def test_a_tag_end_to_end(server, tmp_path, monkeypatch, capsys):
    """Download, convert once (classes and preprocessing in the checkpoint), predict with Kinetics names."""
    reference = tvv.r3d_18().eval()
    torch.save(reference.state_dict(), tmp_path / "r3d.pth")
    body = (tmp_path / "r3d.pth").read_bytes()
    name = f"r3d_18-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    server.files[name] = body
    rows = tuple(_row(server, name) if r.tag == "r3d_18.kinetics400" else r for r in catalogue.CATALOGUE)
    monkeypatch.setattr(catalogue, "CATALOGUE", rows)
    catalogue._by_tag.cache_clear()
    try:
        model = videozoo.create_model("r3d_18", pretrained="kinetics400").eval()
        x = torch.randn(1, 3, 8, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)
        ckpt = hub.pretrained_checkpoint("r3d_18.kinetics400")
        settings = videozoo.engine.inputs.settings_from_metadata(videozoo.engine.checkpoint.read_checkpoint(ckpt)[1])
        assert (settings.num_frames, settings.crop, settings.resize_hw, settings.fps) == (16, 112, (128, 171), 15)
        assert settings.normalization == "kinetics"
        # A new head for fine-tuning keeps the backbone.
        assert videozoo.create_model("r3d_18", num_classes=5, pretrained="kinetics400").num_classes == 5
        video = write_video(tmp_path / "v.mp4", np.random.default_rng(0).integers(0, 255, (20, 64, 80, 3), np.uint8))
        assert main(["predict", str(video), "--model", "r3d_18", "--pretrained", "kinetics400", "--top", "3"]) == 0
        out = capsys.readouterr().out.splitlines()
        names = set(hub.class_names(catalogue.get_weights("r3d_18.kinetics400")))
        assert len(out) == 4 and all(line.split("%", 1)[1].strip() in names for line in out[1:])
        assert server.requests == 1
        assert main(["weights", "list", "r3d_18"]) == 0
        assert "cached" in capsys.readouterr().out
    finally:
        catalogue._by_tag.cache_clear()


def test_weights_cli_errors(capsys):
    assert main(["weights", "download", "r3d_18.imagenet"]) == 2
    assert "no published weights 'r3d_18.imagenet'" in capsys.readouterr().err
    assert main(["weights", "list", "r2plus1d18"]) == 2
    assert "did you mean r2plus1d_18" in capsys.readouterr().err
    assert main(["predict", "v.mp4", "--pretrained", "kinetics400"]) == 2
    assert "--pretrained TAG goes with --model NAME" in capsys.readouterr().err


def test_convert_with_a_tag_carries_the_rows_classes_and_preprocessing(tmp_path, capsys):
    from videozoo.engine.evaluate import load_for_inference

    (tmp_path / "r3d.pth").write_bytes(_r3d_bytes(tmp_path))
    assert main(["convert", "torchvision", "r3d_18", str(tmp_path / "r3d.pth"), str(tmp_path / "r3d.safetensors"),
                 "--tag", "r3d_18.kinetics400"]) == 0
    model, classes, settings = load_for_inference(tmp_path / "r3d.safetensors")
    assert classes[0] == "abseiling" and (settings.fps, settings.resize_hw) == (15, (128, 171))
    assert main(["convert", "torchvision", "mc3_18", str(tmp_path / "r3d.pth"), str(tmp_path / "x.safetensors"),
                 "--tag", "r3d_18.kinetics400"]) == 2
    assert "r3d_18.kinetics400 is torchvision r3d_18, not torchvision mc3_18" in capsys.readouterr().err
