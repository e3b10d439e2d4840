"""`videozoo serve`: the JSON endpoint answers as the evaluation path does, refuses bad uploads with a clear message
and keeps serving, and the page shows the answer in a real browser (headless Chromium)."""

import base64
import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.tiny import tiny_checkpoint
from tests.videos import barcodes
from videozoo.data import write_video
from videozoo.engine.evaluate import load_for_inference
from videozoo.engine.localize import LocalizeConfig, score_windows
from videozoo.engine.predictor import Predictor
from videozoo.serve import VideoService, create_app, timeline_stride

pytest.importorskip("fastapi")
CLASSES = ["jump", "run", "swim", "walk"]
FAVOURED = 2  # the head's bias makes "swim" the top class of any clip


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    video = write_video(root / "clip.mp4", barcodes(20), fps=10)  # 2 s; clips of 4 frames span 0.4 s
    model, classes, settings = load_for_inference(tiny_checkpoint(root / "m.safetensors", CLASSES))
    with torch.no_grad():
        model.head.fc.bias[FAVOURED] += 4.0
    return root, VideoService(model, classes, settings, name="tiny"), video


@pytest.fixture(scope="module")
def client(setup):
    from fastapi.testclient import TestClient

    return TestClient(create_app(setup[1], max_mb=0.5))


def _post(client, path: Path, name: str | None = None):
    return client.post("/api/predict", files={"file": (name or path.name, path.read_bytes(), "video/mp4")})


def test_the_endpoint_answers_as_the_evaluation_path(setup, client):
    _, service, video = setup
    response = _post(client, video)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["video"] == "clip.mp4" and body["duration"] == pytest.approx(2.0, abs=0.01)
    # clips back to back: 0.4 s each over 2 s
    assert [c["start"] for c in body["timeline"]] == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6])
    assert all(len(c["top"]) == 5 - 1 for c in body["timeline"])  # top-5 of 4 classes: all 4
    direct = score_windows(Predictor(service.model), video, CLASSES, service.settings,
                           LocalizeConfig(stride=0.4, num_workers=0))
    mean = direct.probs.mean(axis=0)
    assert body["top"][0]["class"] == CLASSES[FAVOURED] == CLASSES[int(mean.argmax())]
    got = {t["class"]: t["probability"] for t in body["top"]}
    assert [got[c] for c in CLASSES] == pytest.approx(mean.tolist(), abs=1e-5)
    for cell, probs in zip(body["timeline"], direct.probs, strict=True):
        assert cell["top"][0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)
    cam = body["cam"]
    assert cam["class"] == CLASSES[FAVOURED] and cam["layer"] == "layer4" and cam["method"] == "gradcam"
    gif = Image.open(io.BytesIO(base64.b64decode(cam["gif"].split(",", 1)[1])))
    assert gif.format == "GIF" and gif.size == (32, 32) and gif.n_frames == 4


def test_the_service_shows_guided_grad_cam_when_asked(setup):
    _, service, video = setup
    guided = VideoService(service.model, service.classes, service.settings, cam_method="guided")
    cam = guided.analyse(video)["cam"]
    assert cam["method"] == "guided" and cam["class"] == CLASSES[FAVOURED] and cam["gif"].startswith("data:image/gif")
    with pytest.raises(ValueError, match="cam_method 'smooth' is not one of gradcam, guided"):
        VideoService(service.model, service.classes, service.settings, cam_method="smooth")


def test_bad_uploads_are_refused_in_one_line_and_the_server_keeps_serving(setup, client, monkeypatch):
    root, service, video = setup
    big = root / "big.mp4"
    big.write_bytes(os.urandom(600_000))  # over the 0.5 MB limit
    response = _post(client, big)
    assert response.status_code == 413 and "over the 0.5 MB" in response.json()["error"]
    text = root / "notes.mp4"
    text.write_text("these are not frames\n" * 50)
    response = _post(client, text)
    assert response.status_code == 415
    assert response.json()["error"].startswith("notes.mp4 is not a video this server can read")
    empty = root / "empty.webm"
    empty.write_bytes(b"")
    assert _post(client, empty).status_code == 415 and "empty" in _post(client, empty).json()["error"]
    assert _post(client, video).status_code == 200  # still serving

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    with monkeypatch.context() as patch:
        patch.setattr(service, "analyse", broken)
        response = _post(client, video)
    assert response.status_code == 500 and response.json()["error"] == "clip.mp4: analysis failed (RuntimeError: a bug)"
    assert _post(client, video).status_code == 200  # and after a failure too


def test_the_page_and_the_model(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and 'id="top-class"' in page.text
    info = client.get("/api/model").json()
    assert info["classes"] == CLASSES and info["clip"] == {"frames": 4, "crop": 32} and info["grad_cam"]


def test_timeline_stride():
    assert timeline_stride(10.0, 0.5, 32) == 0.5  # 20 clips back to back
    assert timeline_stride(100.0, 0.5, 32) == pytest.approx(99.5 / 31)  # 32 clips from start to end
    assert timeline_stride(0.2, 0.5, 32) == 0.5
    with pytest.raises(ValueError, match="max_clips"):
        timeline_stride(100.0, 0.5, 1)


def test_serve_binds_to_this_machine_by_default():
    from videozoo.cli import build_parser

    args = build_parser().parse_args(["serve", "--checkpoint", "x"])
    assert args.host == "127.0.0.1" and args.max_mb == 200 and args.cam_method == "gradcam"


CHROMIUM, DRIVER = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("VIDEOZOO_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no headless browser: apt-get install chromium "
                    "chromium-driver (.ci/run does)")
def test_the_page_in_a_real_browser_shows_the_top_class(setup, tmp_path):
    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, service, video = setup
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "file").send_keys(str(video))
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "top-class").text.strip())
        assert driver.find_element(By.ID, "top-class").text == CLASSES[FAVOURED]
        assert len(driver.find_elements(By.CSS_SELECTOR, "#top5 tr")) == 4
        assert len(driver.find_elements(By.CSS_SELECTOR, "#timeline div")) == 5
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("const i = document.getElementById('cam-img'); return i.complete && "
                                       "i.naturalWidth > 0"))
        assert "tiny" in driver.find_element(By.ID, "model").text
        # a file that is no video: the message on the page, then a good one still answers
        bad = tmp_path / "notes.avi"
        bad.write_text("not a video\n" * 40)
        driver.find_element(By.ID, "file").send_keys(str(bad))
        WebDriverWait(driver, 60).until(lambda d: "not a video" in d.find_element(By.ID, "status").text)
        driver.find_element(By.ID, "file").send_keys(str(video))
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "top-class").text == CLASSES[FAVOURED])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "serve.png"))
        shot = np.asarray(Image.open(ARTIFACTS / "serve.png"))
        assert shot.shape[0] > 100 and shot.std() > 0
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(timeout=10)
