"""The release path: every output is marked and signed, and failures leave nothing behind."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from bmff_boxes import top_level_boxes

from media import iter_frames, probe_video
from media.samples import card_frames, card_tone
from provenance import (
    CallbackSigner,
    ManifestRepository,
    ProvenanceError,
    ProvenanceIdentity,
    ReleaseError,
    WatermarkCodec,
    WatermarkError,
    init_identity,
    load_identity,
    release,
    verify_mp4,
)
from provenance.errors import SigningError
from provenance.samples import selftest_claim

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "likeness", "media", "faces", "policy", "consent", "audit", "generator", "provenance", "detector", "gateway",
    "partners", "generations", "speech", "training",
]


def _release(identity: ProvenanceIdentity, repository: ManifestRepository, dest: Path, *, seconds: float = 2.0,
             frames=None, claim=None):  # type: ignore[no-untyped-def]
    return release(
        card_frames(seconds=seconds) if frames is None else frames,
        fps=25, audio=card_tone(seconds=seconds), claim=claim or selftest_claim(),
        identity=identity, repository=repository, dest=dest,
    )


def test_release_writes_a_marked_signed_recorded_mp4(identity, repository, tmp_path):
    claim = selftest_claim()
    out = _release(identity, repository, tmp_path / "out" / "clip.mp4", claim=claim)

    assert out.path == tmp_path / "out" / "clip.mp4" and out.path.exists()
    assert out.frames == 50 and out.generation_id == claim.generation_id
    assert hashlib.sha256(out.path.read_bytes()).hexdigest() == out.sha256
    assert sorted(p.name for p in out.path.parent.iterdir()) == ["clip.mp4"]  # no temp files left

    info = probe_video(out.path)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (512, 512, "h264", "aac")
    boxes = top_level_boxes(out.path.read_bytes())
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # fast start survives signing

    report = verify_mp4(out.path, trust_anchors_pem=identity.trust_anchors_pem)
    assert report.state == "trusted"
    assert report.generation_id == claim.generation_id
    assert report.digital_source_type.endswith("trainedAlgorithmicMedia")

    reader = WatermarkCodec(identity.watermark_key).reader()
    for frame in iter_frames(out.path):
        reader.add_frame(frame)
    found = reader.result()
    assert found.found and found.watermark_id == claim.watermark_id
    assert found.frames_read == 50

    record = repository.by_watermark_id(claim.watermark_id)
    assert record is not None
    assert record.generation_id == claim.generation_id
    assert record.output_sha256 == out.sha256
    assert record.manifest_id == report.manifest_id


def test_every_frame_is_marked(identity, repository, tmp_path):
    """Each decoded frame on its own carries the watermark (not only the clip as a whole)."""
    claim = selftest_claim()
    out = _release(identity, repository, tmp_path / "clip.mp4", seconds=1.0, claim=claim)
    codec = WatermarkCodec(identity.watermark_key)
    for index, frame in enumerate(iter_frames(out.path)):
        reader = codec.reader()
        reader.add_frame(frame)
        result = reader.result()
        assert result.found and result.watermark_id == claim.watermark_id, f"frame {index} unmarked"


def _assert_nothing_released(directory: Path, repository: ManifestRepository) -> None:
    assert list(directory.iterdir()) == [], list(directory.iterdir())
    assert repository.count() == 0


def test_failed_signing_leaves_nothing(identity, repository, tmp_path):
    def refuse(_data: bytes) -> bytes:
        raise RuntimeError("HSM offline")

    broken = dataclasses.replace(
        identity, signer=CallbackSigner(refuse, certificate_chain_pem=identity.signer.certificate_chain_pem)
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(SigningError):
        _release(broken, repository, out_dir / "clip.mp4")
    _assert_nothing_released(out_dir, repository)


def test_frames_too_small_to_mark_are_refused(identity, repository, tmp_path):
    frames = (np.full((128, 128, 3), 90, np.uint8) for _ in range(10))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(WatermarkError):
        _release(identity, repository, out_dir / "clip.mp4", frames=frames)
    _assert_nothing_released(out_dir, repository)


def test_bad_frames_are_refused(identity, repository, tmp_path):
    def frames():  # type: ignore[no-untyped-def]
        yield from card_frames(seconds=0.4)
        yield np.zeros((256, 256, 3), np.uint8)

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ReleaseError, match="shape"):
        _release(identity, repository, out_dir / "a.mp4", frames=frames())
    with pytest.raises(ReleaseError, match="no frames"):
        _release(identity, repository, out_dir / "b.mp4", frames=iter([]))
    with pytest.raises(ReleaseError, match="RGB uint8"):
        _release(identity, repository, out_dir / "c.mp4", frames=[np.zeros((512, 512), np.float32)])
    _assert_nothing_released(out_dir, repository)


def test_untrusted_signer_fails_the_self_check(identity, repository, tmp_path):
    """Signed by a chain that our anchors do not trust: the output is never released."""
    other = tmp_path / "other"
    init_identity(other)
    foreign = load_identity(keys_dir=other)
    mixed = dataclasses.replace(foreign, trust_anchors_pem=identity.trust_anchors_pem)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ReleaseError, match="self-check"):
        _release(mixed, repository, out_dir / "clip.mp4")
    _assert_nothing_released(out_dir, repository)


def test_existing_destination_and_reused_id_are_refused(identity, repository, tmp_path):
    claim = selftest_claim()
    tmp_path = tmp_path / "out"  # the database lives beside it
    first = _release(identity, repository, tmp_path / "first.mp4", claim=claim, seconds=0.4)
    before = first.path.read_bytes()
    with pytest.raises(ReleaseError, match="overwrite"):
        _release(identity, repository, first.path, seconds=0.4)
    assert first.path.read_bytes() == before
    with pytest.raises(ProvenanceError):
        _release(identity, repository, tmp_path / "second.mp4", claim=claim, seconds=0.4)
    assert not (tmp_path / "second.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.mp4"]
    assert repository.count() == 1


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _writes_video(tree: ast.AST) -> bool:
    """av.open(..., "w"/mode="w"), cv2.VideoWriter, imageio writers, or an ffmpeg subprocess."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        args = [ast.unparse(a) for a in node.args] + [ast.unparse(k.value) for k in node.keywords]
        if func.endswith("av.open") and any(a.strip("'\"").startswith("w") for a in args[1:]):
            return True
        if "VideoWriter" in func or "get_writer" in func or "mimwrite" in func:
            return True
        if any("ffmpeg" in a for a in args) and ("subprocess" in func or "Popen" in func or func.endswith("run")):
            return True
    return False


def test_the_release_path_is_the_only_writer_of_video():
    writers, importers = [], []
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            rel = path.relative_to(REPO_ROOT).as_posix()
            if _writes_video(tree):
                writers.append(rel)
            if any(name.startswith("media._mp4writer") for name in _imports(tree)):
                importers.append(rel)
    assert writers == ["media/_mp4writer.py"]
    # The release path is two modules: whole files (release) and live segments (live), whose
    # recording is released through release() as well.
    assert sorted(importers) == ["provenance/live.py", "provenance/release.py"]
    public = (REPO_ROOT / "media" / "__init__.py").read_text()
    assert "_mp4writer" not in public and "Mp4Writer" not in public
