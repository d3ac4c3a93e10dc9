"""Fixtures for the PKI, signer and C2PA tests: real keys, a real H.264/AAC MP4, a real claim."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from provenance.c2pa import GenerationClaim, InputRef, SignedManifest, sign_mp4
from provenance.pki import PkiPaths, init_dev_pki
from provenance.signing import FileKeySigner

C2PA_WATERMARK_ID = 0x0123456789ABCDEF
C2PA_WATERMARK_ALG = "com.likeness.watermark.dwtdctsvd.v1"


def c2pa_make_mp4(
    path: Path, *, frames: int = 48, size: int = 256, fps: int = 24, sample_rate: int = 48_000
) -> Path:
    """A short real H.264 + AAC MP4: a moving colour pattern and a 440 Hz tone."""
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "28", "preset": "ultrafast"}
        audio = container.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        yy, xx = np.mgrid[0:size, 0:size]
        for i in range(frames):
            rgb = np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, ((xx + yy) // 2 + 3 * i) % 256], -1)
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        count = sample_rate * frames // fps
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(count) / sample_rate)).astype(np.float32)[None, :]
        for start in range(0, count, 1024):
            frame = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="flt", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def pki_paths(tmp_path_factory: pytest.TempPathFactory) -> PkiPaths:
    return init_dev_pki(tmp_path_factory.mktemp("pki") / "keys")


@pytest.fixture(scope="session")
def pki_other_paths(tmp_path_factory: pytest.TempPathFactory) -> PkiPaths:
    """A second, independent development PKI (different root)."""
    return init_dev_pki(tmp_path_factory.mktemp("pki-other") / "keys")


@pytest.fixture(scope="session")
def pki_root_pem(pki_paths: PkiPaths) -> bytes:
    return pki_paths.root_cert.read_bytes()


@pytest.fixture(scope="session")
def c2pa_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return c2pa_make_mp4(tmp_path_factory.mktemp("clip") / "unsigned.mp4")


@pytest.fixture(scope="session")
def c2pa_inputs() -> dict[str, bytes]:
    """Stand-ins for the portrait and audio bytes: distinctive, so their absence is checkable."""
    rng = np.random.default_rng(7)
    return {
        "portrait": b"\xff\xd8\xff\xe0PORTRAIT" + rng.bytes(4096),
        "audio": b"RIFF\x00\x00\x00\x00WAVEAUDIO" + rng.bytes(4096),
    }


@pytest.fixture(scope="session")
def c2pa_claim(c2pa_inputs: dict[str, bytes]) -> GenerationClaim:
    return GenerationClaim(
        generation_id=f"gen_{C2PA_WATERMARK_ID:016x}",
        watermark_id=C2PA_WATERMARK_ID,
        watermark_alg=C2PA_WATERMARK_ALG,
        policy_version="test-policy-1",
        consent_ref_sha256=hashlib.sha256(b"consent record 42").hexdigest(),
        consent_self_attested=True,
        inputs=[
            InputRef(role="portrait", sha256=_sha256(c2pa_inputs["portrait"]), mime="image/jpeg"),
            InputRef(role="audio", sha256=_sha256(c2pa_inputs["audio"]), mime="audio/wav"),
        ],
        generator_name="likeness-test",
        generator_version="0.0.1",
        title="test clip",
    )


@pytest.fixture(scope="session")
def c2pa_signer(pki_paths: PkiPaths) -> FileKeySigner:
    return FileKeySigner.from_files(pki_paths.signing_key, chain_path=pki_paths.chain)


@pytest.fixture(scope="session")
def c2pa_signed(
    tmp_path_factory: pytest.TempPathFactory,
    c2pa_clip: Path,
    c2pa_claim: GenerationClaim,
    c2pa_signer: FileKeySigner,
) -> SignedManifest:
    """The clip signed once with the test PKI (copy it before altering it)."""
    dest = tmp_path_factory.mktemp("signed") / "signed.mp4"
    return sign_mp4(c2pa_clip, dest=dest, claim=c2pa_claim, signer=c2pa_signer)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def c2pa_copy(c2pa_signed: SignedManifest, tmp_path: Path) -> Path:
    """A private copy of the signed clip, free to tamper with."""
    return Path(shutil.copyfile(c2pa_signed.path, tmp_path / "copy.mp4"))
