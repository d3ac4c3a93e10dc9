"""C2PA on real MP4s: what the manifest says, how tampering reads, bad input, and no key leaks."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provenance._bmff import read_layout
from provenance.c2pa import (
    GenerationClaim,
    SignedManifest,
    manifest_json_from_bytes,
    sign_mp4,
    summarize_manifest_bytes,
    verify_mp4,
)
from provenance.errors import KeyMaterialError, SigningError, VerificationError
from provenance.pki import PkiPaths
from provenance.signing import CallbackSigner, FileKeySigner

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
FFMPEG = shutil.which("ffmpeg")


def _flip(path: Path, offset: int, count: int = 16) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        data = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in data))


def _box(path: Path, kind: str):  # type: ignore[no-untyped-def]
    return next(b for b in read_layout(path).boxes if b.type == kind)


# --- signing and what the manifest says ------------------------------------------------------


def test_signed_clip_is_trusted_with_our_claim(c2pa_signed: SignedManifest, pki_root_pem: bytes, c2pa_claim):
    report = verify_mp4(c2pa_signed.path, trust_anchors_pem=pki_root_pem)
    assert report.state == "trusted", report.status_codes
    assert report.status_codes == []
    assert "signingCredential.trusted" in report.success_codes
    assert "assertion.bmffHash.match" in report.success_codes
    assert report.manifest_id == c2pa_signed.manifest_id
    assert report.manifest_id.startswith("urn:c2pa:")
    assert report.digital_source_type == TRAINED
    assert report.generation_id == c2pa_claim.generation_id
    assert report.watermark_id == f"{c2pa_claim.watermark_id:016x}"
    assert report.watermark_alg == c2pa_claim.watermark_alg
    assert report.policy_version == "test-policy-1"
    assert report.consent_self_attested is True
    assert report.consent_ref_sha256 == c2pa_claim.consent_ref_sha256
    assert report.signer == "Likeness development signing"
    assert report.claim_generator == "likeness-test 0.0.1"
    assert report.title == "test clip"
    assert report.signed_at is None  # no time-stamp authority in tests
    assert report.hidden_boxes == []
    assert report.unknown_boxes == []
    json.dumps(report.to_dict())  # JSON-ready


def test_created_action_first_then_watermarked_bound(c2pa_signed: SignedManifest, pki_root_pem: bytes):
    report = verify_mp4(c2pa_signed.path, trust_anchors_pem=pki_root_pem)
    names = [a["action"] for a in report.actions]
    assert names == ["c2pa.created", "c2pa.watermarked.bound"]
    created = report.actions[0]
    assert created["digital_source_type"] == TRAINED
    assert created["software_agent"] == "likeness-test 0.0.1"


def test_soft_binding_carries_the_watermark_id(c2pa_signed: SignedManifest, c2pa_claim: GenerationClaim):
    store = manifest_json_from_bytes(c2pa_signed.manifest_bytes)
    manifest = store["manifests"][store["active_manifest"]]
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    binding = assertions["c2pa.soft-binding"]
    assert binding["alg"] == c2pa_claim.watermark_alg
    (block,) = binding["blocks"]
    assert base64.b64decode(block["value"]) == c2pa_claim.watermark_id.to_bytes(8, "big")
    assert block["scope"] == {"timespan": {"start": 0, "end": 2000}}  # 48 frames at 24 fps
    generation = assertions["com.likeness.generation"]
    assert generation == {
        "generation_id": c2pa_claim.generation_id,
        "watermark_id": "0123456789abcdef",
        "watermark_alg": c2pa_claim.watermark_alg,
        "policy_version": "test-policy-1",
        "consent_ref_sha256": c2pa_claim.consent_ref_sha256,
        "consent_self_attested": True,
        "inputs": [{"role": r.role, "sha256": r.sha256, "mime": r.mime} for r in c2pa_claim.inputs],
    }


def test_inputs_are_ingredients_by_hash_only(
    c2pa_signed: SignedManifest,
    pki_root_pem: bytes,
    c2pa_inputs: dict[str, bytes],
    c2pa_claim: GenerationClaim,
):
    data = c2pa_signed.path.read_bytes()
    for role, content in c2pa_inputs.items():
        digest = hashlib.sha256(content).hexdigest()
        assert digest.encode() in data, role
        assert content[:64] not in data, f"{role} bytes leaked into the file"
        assert content[-64:] not in data, f"{role} bytes leaked into the file"
    report = verify_mp4(c2pa_signed.path, trust_anchors_pem=pki_root_pem)
    assert [(i["format"], i["relationship"], i["sha256"]) for i in report.ingredients] == [
        ("image/jpeg", "inputTo", c2pa_claim.inputs[0].sha256),
        ("audio/wav", "inputTo", c2pa_claim.inputs[1].sha256),
    ]
    store = manifest_json_from_bytes(c2pa_signed.manifest_bytes)
    assertions = store["manifests"][store["active_manifest"]]["assertions"]
    created = next(a for a in assertions if a["label"] == "c2pa.actions.v2")["data"]["actions"][0]
    linked = [ref["url"] for ref in created["parameters"]["ingredients"]]
    assert linked == [
        "self#jumbf=c2pa.assertions/c2pa.ingredient.v3",
        "self#jumbf=c2pa.assertions/c2pa.ingredient.v3__1",
    ]


def test_callback_signer_gives_a_trusted_file(
    tmp_path: Path, pki_paths: PkiPaths, pki_root_pem: bytes, c2pa_clip: Path, c2pa_claim: GenerationClaim
):
    key = serialization.load_pem_private_key(pki_paths.signing_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    calls: list[int] = []

    def kms(data: bytes) -> bytes:
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    signer = CallbackSigner(kms, certificate_chain_pem=pki_paths.chain.read_bytes())
    signed = sign_mp4(c2pa_clip, dest=tmp_path / "kms.mp4", claim=c2pa_claim, signer=signer)
    assert calls, "the callback was never used"
    report = verify_mp4(signed.path, trust_anchors_pem=pki_root_pem)
    assert report.state == "trusted"
    assert report.generation_id == c2pa_claim.generation_id


def test_stored_manifest_reads_without_the_video(c2pa_signed: SignedManifest, pki_root_pem: bytes):
    assert c2pa_signed.manifest_bytes in c2pa_signed.path.read_bytes()  # the embedded JUMBF store
    store = manifest_json_from_bytes(c2pa_signed.manifest_bytes, trust_anchors_pem=pki_root_pem)
    assert store["active_manifest"] == c2pa_signed.manifest_id
    assert store["signature_status_codes"] == []
    assert "not checked" in store["asset_binding"]
    json.dumps(store)
    summary = summarize_manifest_bytes(c2pa_signed.manifest_bytes, trust_anchors_pem=pki_root_pem)
    assert summary.state == "trusted"
    assert summary.generation_id == "gen_0123456789abcdef"
    assert summarize_manifest_bytes(c2pa_signed.manifest_bytes).state == "untrusted"
    with pytest.raises(VerificationError, match="stored manifest could not be read"):
        manifest_json_from_bytes(b"not a manifest store")


def test_signing_leaves_the_source_untouched_and_keeps_fast_start(
    c2pa_clip: Path, c2pa_signed: SignedManifest
):
    before = read_layout(c2pa_clip)
    after = read_layout(c2pa_signed.path)
    assert [b.type for b in after.boxes] == ["ftyp", "uuid", *[b.type for b in before.boxes][1:]]
    assert after.boxes[1].is_c2pa_manifest
    assert not before.has_c2pa_box
    assert c2pa_signed.size == c2pa_signed.path.stat().st_size


# --- tampering, trust and stripping -------------------------------------------------------------


@pytest.mark.parametrize("box_type", ["mdat", "moov"])
def test_flipped_box_bytes_are_invalid(c2pa_copy: Path, pki_root_pem: bytes, box_type: str):
    box = _box(c2pa_copy, box_type)
    _flip(c2pa_copy, box.offset + box.size // 2)
    report = verify_mp4(c2pa_copy, trust_anchors_pem=pki_root_pem)
    assert report.state == "invalid"
    assert "assertion.bmffHash.mismatch" in report.status_codes
    assert "assertion.bmffHash.mismatch" in (report.reason or "")


def test_edited_or_corrupted_claim_is_invalid(c2pa_copy: Path, pki_root_pem: bytes):
    data = c2pa_copy.read_bytes()
    name_at = data.index(b"likeness-test", data.index(b"c2pa.claim.v2\x00"))  # the claim generator's name
    with c2pa_copy.open("r+b") as handle:
        handle.seek(name_at)
        handle.write(b"forgedness-te")  # same length, still valid CBOR
    report = verify_mp4(c2pa_copy, trust_anchors_pem=pki_root_pem)
    assert report.state == "invalid"
    assert "claimSignature.mismatch" in report.status_codes

    _flip(c2pa_copy, name_at, 8)  # now not even UTF-8: the library cannot parse the claim
    report = verify_mp4(c2pa_copy, trust_anchors_pem=pki_root_pem)
    assert report.state == "invalid"
    assert report.manifest_id is None
    assert "could not be parsed" in (report.reason or "")


def test_data_written_into_the_signature_padding_is_reported(c2pa_copy: Path, pki_root_pem: bytes):
    """c2pa-rs pads the COSE signature with ~10 kB of unsigned zeros: rewriting them stays Trusted."""
    manifest = _box(c2pa_copy, "uuid")
    data = c2pa_copy.read_bytes()
    pad_at = data.index(b"\x63pad", manifest.offset) + 4 + 3  # key "pad", bstr header 0x59 + 2 length bytes
    assert data[pad_at:pad_at + 1024] == bytes(1024)
    with c2pa_copy.open("r+b") as handle:
        handle.seek(pad_at + 100)
        handle.write(b"smuggled payload " * 32)
    report = verify_mp4(c2pa_copy, trust_anchors_pem=pki_root_pem)
    assert report.state == "trusted"  # the library does not notice
    (pad,) = report.hidden_boxes
    assert pad["type"] == "c2pa.signature/pad"
    assert pad["offset"] == pad_at
    assert pad["size"] > 8000


def test_a_foreign_pki_is_untrusted(
    tmp_path: Path,
    pki_other_paths: PkiPaths,
    pki_root_pem: bytes,
    c2pa_clip: Path,
    c2pa_claim: GenerationClaim,
):
    foreign = FileKeySigner.from_files(pki_other_paths.signing_key, chain_path=pki_other_paths.chain)
    signed = sign_mp4(c2pa_clip, dest=tmp_path / "foreign.mp4", claim=c2pa_claim, signer=foreign)
    report = verify_mp4(signed.path, trust_anchors_pem=pki_root_pem)
    assert report.state == "untrusted"
    assert report.status_codes == ["signingCredential.untrusted"]
    assert report.generation_id == c2pa_claim.generation_id  # claimed, not vouched for
    other_root = pki_other_paths.root_cert.read_bytes()
    assert verify_mp4(signed.path, trust_anchors_pem=other_root).state == "trusted"


def test_without_anchors_a_good_file_is_untrusted(c2pa_signed: SignedManifest):
    report = verify_mp4(c2pa_signed.path, trust_anchors_pem=None)
    assert report.state == "untrusted"
    assert "signingCredential.untrusted" in report.status_codes
    assert report.trust_anchors_configured is False


@pytest.mark.skipif(FFMPEG is None, reason="the ffmpeg CLI is not installed")
def test_stream_copy_remux_strips_the_manifest(
    c2pa_signed: SignedManifest, tmp_path: Path, pki_root_pem: bytes
):
    out = tmp_path / "remux.mp4"
    subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(c2pa_signed.path), "-c", "copy", str(out)], check=True, timeout=60
    )
    report = verify_mp4(out, trust_anchors_pem=pki_root_pem)
    assert report.state == "absent"
    assert report.manifest_id is None
    assert report.generation_id is None


def test_unsigned_clip_is_absent(c2pa_clip: Path, pki_root_pem: bytes):
    assert verify_mp4(c2pa_clip, trust_anchors_pem=pki_root_pem).state == "absent"


def test_data_hidden_in_a_skip_box_is_reported(c2pa_copy: Path, pki_root_pem: bytes):
    payload = os.urandom(1 << 20)
    with c2pa_copy.open("ab") as handle:
        handle.write((8 + len(payload)).to_bytes(4, "big") + b"skip" + payload)
    report = verify_mp4(c2pa_copy, trust_anchors_pem=pki_root_pem)
    assert report.state == "trusted"  # skip boxes are outside the C2PA hash by design
    (box,) = report.hidden_boxes
    assert box["type"] == "skip"
    assert box["size"] == 8 + (1 << 20)
    assert box["payload_bytes"] == 1 << 20


def test_an_appended_unknown_box_is_invalid_and_listed(c2pa_copy: Path, pki_root_pem: bytes):
    with c2pa_copy.open("ab") as handle:
        handle.write((8 + 32).to_bytes(4, "big") + b"junk" + b"\x01" * 32)
    report = verify_mp4(c2pa_copy, trust_anchors_pem=pki_root_pem)
    assert report.state == "invalid"
    assert "assertion.bmffHash.mismatch" in report.status_codes
    assert [b["type"] for b in report.unknown_boxes] == ["junk"]


# --- bad input -----------------------------------------------------------------------------------


def test_unreadable_files_raise_precise_verification_errors(tmp_path: Path, c2pa_signed: SignedManifest):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VerificationError, match="empty"):
        verify_mp4(empty, trust_anchors_pem=None)

    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(4096).replace(b"\x00", b"\x01")[:4096])
    noise.write_bytes(b"\x00\x00\x10\x00\xff\xfe\xfd\xfc" + noise.read_bytes()[8:])
    with pytest.raises(VerificationError, match="not an MP4"):
        verify_mp4(noise, trust_anchors_pem=None)

    truncated = tmp_path / "truncated.mp4"
    data = c2pa_signed.path.read_bytes()
    truncated.write_bytes(data[: len(data) - 1000])
    with pytest.raises(VerificationError, match=r"truncated: the 'moov' box .* needs \d+ bytes"):
        verify_mp4(truncated, trust_anchors_pem=None)

    with pytest.raises(VerificationError, match="cannot read"):
        verify_mp4(tmp_path / "missing.mp4", trust_anchors_pem=None)

    text = tmp_path / "notes.mp4"
    text.write_text("hello, this is plainly not a video file at all\n")
    with pytest.raises(VerificationError, match="not an MP4"):
        verify_mp4(text, trust_anchors_pem=None)


def test_random_bytes_of_any_seed_are_refused(tmp_path: Path):
    for seed in range(20):
        path = tmp_path / f"r{seed}.mp4"
        path.write_bytes(hashlib.sha256(bytes([seed])).digest() * 64)
        with pytest.raises(VerificationError):
            verify_mp4(path, trust_anchors_pem=None)


def test_sign_refuses_bad_source_existing_dest_and_bad_claims(
    tmp_path: Path, c2pa_clip: Path, c2pa_claim: GenerationClaim, c2pa_signer: FileKeySigner,
):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(SigningError, match=r"cannot sign junk\.mp4"):
        sign_mp4(junk, dest=tmp_path / "a.mp4", claim=c2pa_claim, signer=c2pa_signer)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(SigningError, match="refusing to overwrite"):
        sign_mp4(c2pa_clip, dest=existing, claim=c2pa_claim, signer=c2pa_signer)
    assert existing.read_bytes() == b"keep me"
    for change, message in [
        ({"watermark_alg": ""}, "watermark_alg is empty"),
        ({"watermark_id": 42}, "does not match generation_id"),
        ({"generation_id": "gen_xyz"}, "not gen_"),
        ({"consent_ref_sha256": "abc"}, "consent_ref_sha256"),
    ]:
        bad = dataclasses.replace(c2pa_claim, **change)
        with pytest.raises(SigningError, match=message):
            sign_mp4(c2pa_clip, dest=tmp_path / "b.mp4", claim=bad, signer=c2pa_signer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.mp4", "junk.mp4"]


def test_a_failing_callback_leaves_nothing_and_leaks_nothing(
    tmp_path: Path, pki_paths: PkiPaths, c2pa_clip: Path, c2pa_claim: GenerationClaim,
    caplog: pytest.LogCaptureFixture,
):
    """Even a KMS error that quotes the key must not reach messages or logs."""
    key_pem = pki_paths.signing_key.read_text()
    body = "".join(key_pem.strip().splitlines()[1:-1])
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []

    def leaky(data: bytes) -> bytes:
        raise RuntimeError(f"HSM offline; key was {key_pem}")

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(SigningError, match=r"failed to sign the C2PA claim \(RuntimeError\)") as info:
        sign_mp4(
            c2pa_clip, dest=out_dir / "clip.mp4", claim=c2pa_claim,
            signer=CallbackSigner(leaky, certificate_chain_pem=pki_paths.chain.read_bytes()),
        )
    messages.append(str(info.value))
    assert list(out_dir.iterdir()) == []

    def wrong_bytes(data: bytes) -> bytes:
        return b"\x30\x06\x02\x01\x01\x02\x01\x01"  # a valid DER shape, a wrong signature

    with pytest.raises(SigningError) as info:
        sign_mp4(
            c2pa_clip, dest=out_dir / "clip.mp4", claim=c2pa_claim,
            signer=CallbackSigner(wrong_bytes, certificate_chain_pem=pki_paths.chain.read_bytes()),
        )
    messages.append(str(info.value))
    assert list(out_dir.iterdir()) == []

    loose = tmp_path / "loose.key"
    shutil.copyfile(pki_paths.signing_key, loose)
    os.chmod(loose, 0o644)
    with pytest.raises(KeyMaterialError) as key_info:
        FileKeySigner.from_files(loose, chain_path=pki_paths.chain)
    messages.append(str(key_info.value))

    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for text in [*messages, logged]:
        assert body[:24] not in text
        assert body[-24:] not in text
        assert "PRIVATE KEY" not in text
    assert "HSM offline" not in logged
