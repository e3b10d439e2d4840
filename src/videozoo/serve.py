"""`videozoo serve`: a local web page and a JSON endpoint over one model.

::

    browser ── POST /api/predict (a video file) ──► size check ──► temporary file
                                                         │
        timeline: one clip every span seconds (≤ max_clips) ─► class probabilities per clip (top-5 each)
        video-level answer: their mean ─► top-5
        Grad-CAM of the centre clip for the top class (RGB models) ─► an animated GIF, base64
                                                         │
    browser ◄── JSON {top, timeline, cam} ◄──────────────┘

FastAPI (with uvicorn) rather than Gradio: the page is one small file of HTML and script whose elements the
browser test can find by id, the JSON endpoint is the same function the page calls, and nothing is fetched
from the network (Gradio's front end loads fonts and scripts from CDNs by default). The server binds to
127.0.0.1 unless told otherwise: it runs a model on files anyone who can reach it sends.
"""

import base64
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from torch import nn

from .data.datasets import AudioConfig, open_reader
from .data.decode import VideoError
from .engine.config import ConfigError
from .engine.inputs import InputSettings
from .engine.localize import LocalizeConfig, score_windows
from .engine.predictor import Predictor

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def _top(probs: np.ndarray, classes: list[str], k: int) -> list[dict]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"class": classes[i], "probability": round(float(probs[i]), 6)} for i in order]


def timeline_stride(duration: float, span: float, max_clips: int) -> float:
    """Seconds between clip starts: back to back (``span``), or spread so that at most ``max_clips`` cover a
    long video from its start to its end."""
    if max_clips < 2:
        raise ValueError(f"max_clips must be at least 2 (the first and the last clip), got {max_clips}")
    if duration <= span * max_clips:
        return span
    return (duration - span) / (max_clips - 1)


@dataclass
class VideoService:
    """One model answering for whole videos: what the page and the JSON endpoint return.

    ``model``, ``classes``, ``settings`` (and ``audio`` for a late-fusion model) as
    :func:`~videozoo.engine.evaluate.load_for_inference` gives them.
    """

    model: nn.Module
    classes: list[str]
    settings: InputSettings
    audio: AudioConfig | None = None
    precision: str = "auto"
    top: int = 5
    max_clips: int = 32
    cam: bool = True
    cam_method: str = "gradcam"  # or "guided": see engine.explain.CAM_METHODS
    name: str = ""

    def __post_init__(self) -> None:
        timeline_stride(1.0, 1.0, self.max_clips)  # refuses a max_clips that cannot hold a timeline
        from .engine.explain import CAM_METHODS

        if self.cam_method not in CAM_METHODS:
            raise ValueError(f"cam_method {self.cam_method!r} is not one of {', '.join(CAM_METHODS)}")
        self.predictor = Predictor(self.model, precision=self.precision)
        self._lock = threading.Lock()  # one video at a time: the model uses every core already

    @property
    def explains(self) -> bool:
        return self.cam and not getattr(self.model, "modalities", ()) and self.settings.channels == 3

    def info(self) -> dict:
        s = self.settings
        return {"model": self.name or getattr(self.model, "arch", type(self.model).__name__),
                "classes": self.classes, "clip": {"frames": s.num_frames, "crop": s.crop},
                "grad_cam": self.explains}

    def analyse(self, path: str | os.PathLike, filename: str | None = None) -> dict:
        """The top classes of the video at ``path`` (mean over its clips), each clip's along the timeline, and
        the Grad-CAM of its centre clip for the video's top class. Raises :class:`VideoError` for a file that is
        no readable video."""
        with open_reader(path) as video:
            if not video.fps or not video.num_frames:
                raise VideoError("no frames with a frame rate")
            duration = video.num_frames / video.fps
            span = self.settings.sampling.span(video.fps) / video.fps
        stride = timeline_stride(duration, span, self.max_clips)
        with self._lock:
            scores = score_windows(self.predictor, path, self.classes, self.settings,
                                   LocalizeConfig(stride=stride, num_workers=0), self.audio)
            readable = ~np.isnan(scores.probs).any(axis=1)
            mean = scores.probs[readable].mean(axis=0)
            cam = self._cam(path, int(mean.argmax())) if self.explains else None
        timeline = [{"start": round(float(s), 3), "end": round(float(min(s + scores.length, duration)), 3),
                     "top": _top(p, self.classes, self.top) if ok else [], "readable": bool(ok)}
                    for s, p, ok in zip(scores.starts, scores.probs, readable, strict=True)]
        return {"video": filename or Path(path).name, "duration": round(duration, 3),
                "clip_seconds": round(scores.length, 3), "top": _top(mean, self.classes, self.top),
                "timeline": timeline, "cam": cam}

    def _cam(self, path: str | os.PathLike, target: int) -> dict:
        """Grad-CAM (``cam_method``) of the centre clip for ``target`` (the video's answer), as a GIF."""
        from .engine.explain import explain_clip, gif_bytes

        result, frames = explain_clip(self.model, self.classes, self.settings, path, target, method=self.cam_method)
        return {"class": result.name, "probability": round(result.probability, 6), "layer": result.layer,
                "method": result.method,
                "gif": "data:image/gif;base64," + base64.b64encode(gif_bytes(frames)).decode()}


def page() -> str:
    """The HTML of the page (one file, script inline, nothing fetched from elsewhere)."""
    return resources.files("videozoo").joinpath("serve_page.html").read_text(encoding="utf-8")


def create_app(service: VideoService, max_mb: float = 200.0):
    """The FastAPI app: ``GET /`` the page, ``GET /api/model`` the model, ``POST /api/predict`` (multipart field
    ``file``) the analysis as JSON; a refused upload gets ``{"error": "..."}`` with 413 (too large) or 415 (not a
    video), and the server goes on serving."""
    from fastapi import FastAPI, Request, UploadFile
    from fastapi.responses import HTMLResponse, JSONResponse

    limit = int(max_mb * (1 << 20))
    app = FastAPI(title="videozoo", docs_url=None, redoc_url=None)

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page()

    @app.get("/api/model")
    def model_info() -> dict:
        return service.info()

    @app.post("/api/predict")
    def predict(request: Request, file: UploadFile) -> JSONResponse:
        name = Path(file.filename or "upload").name
        too_large = f"{name} is over the {max_mb:g} MB this server accepts (videozoo serve --max-mb)"
        if int(request.headers.get("content-length") or 0) > limit + (1 << 16):  # multipart adds a little
            return refuse(413, too_large)
        with tempfile.TemporaryDirectory(prefix="videozoo-serve-") as tmp:
            path = Path(tmp) / ("upload" + Path(name).suffix.lower()[:8])
            size = 0
            with path.open("wb") as out:
                while chunk := file.file.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        return refuse(413, too_large)
                    out.write(chunk)
            if size == 0:
                return refuse(415, f"{name} is empty: send a video file (mp4, avi, mkv, webm, …)")
            try:
                return JSONResponse(service.analyse(path, name))
            except VideoError as e:
                return refuse(415, f"{name} is not a video this server can read ({e})")
            except (ConfigError, ValueError) as e:
                return refuse(422, f"{name}: {e}")
            except Exception as e:  # a bug must not take the server down with it
                log.exception("analysing %s failed", name)
                return refuse(500, f"{name}: analysis failed ({type(e).__name__}: {e})")

    return app


def serve(service: VideoService, host: str = "127.0.0.1", port: int = 8000, max_mb: float = 200.0) -> None:
    """Serve the page until interrupted."""
    import uvicorn

    uvicorn.run(create_app(service, max_mb), host=host, port=port, log_level="warning")
