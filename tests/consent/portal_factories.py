"""Helpers for the portal tests: a real uvicorn server in a thread, real photos, and statement media.

The person is a real one: frames of one clip of ``../shared/data/clips`` (frames of one clip show
the same person). The statement is espeak-ng reading the challenge the portal showed, and the
project's default generator animating one frame of that clip with the speech; for the browser,
the same media is written as a Y4M video and a WAV file that chromium plays as its fake camera
and microphone.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from live_server import serve_in_thread
from PIL import Image
from statement_factories import FPS, padded, speak, talking_frames, turning_frames, write_mp4

from consent import Cue
from media import Audio, iter_frames

CLIP = "lp_d12"  # a real person, facing the camera, mouth closed in frames 55 and 100
PORTRAIT_FRAME = 55  # the frame the generator animates (mouth closed: the person is silent at rest)
REFERENCE_FRAMES = (15, 100, 145)  # the reference photos: other frames of the same clip
OTHER_CLIP = "lp_d10"  # another person
LEAD_S, TAIL_S = 0.6, 1.2  # silence before and after the statement (a person waits, speaks, stops)


def clip_frames(shared_data: Path, clip: str, indices: tuple[int, ...]) -> list[np.ndarray]:
    """Frames ``indices`` of ``clips/<clip>.mp4`` (RGB)."""
    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    for index, frame in enumerate(iter_frames(shared_data / "clips" / f"{clip}.mp4")):
        if index in wanted:
            found[index] = frame
        if len(found) == len(wanted):
            break
    return [found[i] for i in indices]


def jpeg(rgb: np.ndarray, *, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class StatementMedia:
    """One spoken statement: the MP4 (for uploads) and, when asked, the Y4M + WAV for chromium's fake devices."""

    text: str
    mp4: Path
    y4m: Path | None
    wav: Path | None
    seconds: float
    made_ms: float


def padded_speech(text: str, *, folder: Path) -> Audio:
    """espeak-ng saying ``text``, with :data:`LEAD_S` of silence before and :data:`TAIL_S` after (16 kHz mono)."""
    speech = speak(text, path=folder / "espeak.wav")
    rate = speech.sample_rate
    samples = speech.to_mono().samples[0]
    padded = np.concatenate([np.zeros(round(LEAD_S * rate), np.float32), samples,
                             np.zeros(round(TAIL_S * rate), np.float32)])
    return Audio(padded, rate)


def make_statement(text: str, *, portrait: np.ndarray, folder: Path, fake_devices: bool = False,
                   y4m: Path | None = None, wav: Path | None = None, cues: tuple[Cue, ...] = (),
                   cue_lag_s: float = 0.8) -> StatementMedia:
    """``portrait`` saying ``text``: an H.264/AAC MP4, plus chromium's fake-capture files when ``fake_devices``.

    With ``cues``, the head turns the cued way ``cue_lag_s`` after each (as a person following the page's
    cues does), and the recording lasts until the page has shown them all.
    """
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    audio = padded_speech(text, folder=folder)
    if cues:
        audio = padded(audio, seconds=max(c.at_s for c in cues) + 3.5)
        frames = turning_frames(portrait, audio, transcript=text, cues=cues, lag_s=cue_lag_s)
    else:
        frames = talking_frames(portrait, audio, transcript=text)
    mp4 = write_mp4(folder / "statement.mp4", frames, audio=audio)
    if fake_devices:
        y4m = y4m or folder / "camera.y4m"
        wav = wav or folder / "microphone.wav"
        write_fake_devices(frames, audio, y4m=y4m, wav=wav)
    return StatementMedia(text=text, mp4=mp4, y4m=y4m if fake_devices else None, wav=wav if fake_devices else None,
                          seconds=len(frames) / FPS, made_ms=1000 * (time.perf_counter() - started))


def write_fake_devices(frames: list[np.ndarray], audio: Audio, *, y4m: Path, wav: Path) -> None:
    """Frames as a 25 fps Y4M and the sound as 48 kHz mono 16-bit WAV, of the same length (ffmpeg).

    Written to a temporary name and renamed, so chromium never opens a half-written file.
    """
    height, width = frames[0].shape[:2]
    tmp_video, tmp_audio = y4m.with_suffix(".tmp.y4m"), wav.with_suffix(".tmp.wav")
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                    f"{width}x{height}", "-r", str(FPS), "-i", "-", "-pix_fmt", "yuv420p", str(tmp_video)],
                   input=np.ascontiguousarray(np.stack(frames)).tobytes(), check=True, capture_output=True)
    pcm = np.clip(audio.to_mono().samples[0] * 32767, -32768, 32767).astype("<i2").tobytes()
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "s16le", "-ar", str(audio.sample_rate), "-ac", "1",
                    "-i", "-", "-t", f"{len(frames) / FPS:.3f}", "-af", "apad", "-ar", "48000", "-ac", "1",
                    "-c:a", "pcm_s16le", str(tmp_audio)], input=pcm, check=True, capture_output=True)
    tmp_video.replace(y4m)
    tmp_audio.replace(wav)


def serve(app: FastAPI) -> AbstractContextManager[str]:
    """``app`` under uvicorn on 127.0.0.1 in a thread (shut down within 2 s); yields its base URL."""
    return serve_in_thread(app, name="portal-uvicorn", timeout_graceful_shutdown=2)


class Events:
    """Collects what the portal reports through ``on_event``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []
        self._lock = threading.Lock()

    def __call__(self, kind: str, details: dict[str, object]) -> None:
        with self._lock:
            self.seen.append((kind, dict(details)))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.seen]


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# ------------------------------------------------------------------------------------------- an HTTP client


class PortalClient:
    """A person's browser, minus the browser: an httpx client with cookies that fills in the portal's forms."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=120)
        self.page = ""

    def close(self) -> None:
        self.http.close()

    def get(self, path: str):  # type: ignore[no-untyped-def]
        response = self.http.get(path)
        self.page = response.text
        return response

    def csrf(self) -> str:
        import re

        found = re.search(r'name="csrf" value="([^"]+)"', self.page)
        assert found, "no CSRF field on the page"
        return found.group(1)

    def post(self, path: str, *, data: dict[str, object] | None = None, files: list | None = None):  # type: ignore[no-untyped-def,type-arg]
        response = self.http.post(path, data={"csrf": self.csrf(), **(data or {})}, files=files)
        if response.headers.get("content-type", "").startswith("text/html"):
            self.page = response.text
        return response

    def error(self) -> str:
        """The text of the page's alert (what the person is told)."""
        import html
        import re

        found = re.search(r'id="error-text">(.*?)</p>', self.page, flags=re.S)
        return html.unescape(found.group(1)) if found else ""

    def work(self) -> dict[str, str]:
        """The start form's proof-of-work, solved as portal.js solves it: {pow_challenge, pow_solution}."""
        import re

        from consent.portal._pow import solve

        challenge = re.search(r'data-pow-challenge="([^"]+)"', self.page)
        bits = re.search(r'data-pow-bits="(\d+)"', self.page)
        assert challenge and bits, "no proof-of-work challenge on the page"
        return {"pow_challenge": challenge.group(1), "pow_solution": solve(challenge.group(1), bits=int(bits.group(1)))}

    def start(self) -> None:
        self.get("/consent")
        assert self.post("/consent/start", data=self.work()).status_code == 303
        self.get("/consent/photos")

    def photos(self, *images: bytes):  # type: ignore[no-untyped-def]
        return self.post("/consent/photos", files=[("photos", (f"photo{i}.jpg", data, "image/jpeg"))
                                                   for i, data in enumerate(images, 1)])

    def scope(self, **fields: object):  # type: ignore[no-untyped-def]
        self.get("/consent/scope")
        data = {"partners_mode": "named", "partners": "acme", "purposes_mode": "listed", "purposes": ["education"],
                "duration": "1y", **fields}
        return self.post("/consent/scope", data=data)

    def statement_text(self) -> str:
        import html
        import re

        self.get("/consent/statement")
        found = re.search(r'id="statement-text">(.*?)</blockquote>', self.page, flags=re.S)
        assert found
        return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()

    def upload_statement(self, data: bytes, *, name: str = "statement.mp4", mime: str = "video/mp4"):  # type: ignore[no-untyped-def]
        return self.post("/consent/statement", files=[("statement", (name, data, mime))])
