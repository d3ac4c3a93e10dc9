"""Claim signers: file keys and callbacks (KMS/HSM), key checks, the c2pa callback, no leaks."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from provenance.c2pa import GenerationClaim, sign_mp4, verify_mp4
from provenance.errors import KeyMaterialError
from provenance.pki import PkiPaths
from provenance.signing import CallbackSigner, ClaimSigner, FileKeySigner


def _key(paths: PkiPaths) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(paths.signing_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _key_body(paths: PkiPaths) -> str:
    return "".join(paths.signing_key.read_text().strip().splitlines()[1:-1])


def test_file_signer_signs_der_ecdsa_verifiable_with_the_leaf(
    c2pa_signer: FileKeySigner, pki_paths: PkiPaths
):
    assert isinstance(c2pa_signer, ClaimSigner)
    assert c2pa_signer.alg == "es256"
    assert c2pa_signer.tsa_url is None
    assert c2pa_signer.certificate_chain_pem == pki_paths.chain.read_bytes()
    signature = c2pa_signer.sign(b"claim bytes")
    decode_dss_signature(signature)  # DER-encoded (r, s)
    leaf = x509.load_pem_x509_certificate(pki_paths.signing_cert.read_bytes())
    leaf.public_key().verify(signature, b"claim bytes", ec.ECDSA(hashes.SHA256()))
    assert isinstance(c2pa_signer.to_c2pa_signer(), c2pa.Signer)


def test_repr_names_the_certificate_not_the_key(c2pa_signer: FileKeySigner, pki_paths: PkiPaths):
    text = repr(c2pa_signer)
    assert "Likeness development signing" in text
    assert _key_body(pki_paths)[:24] not in text
    assert "PRIVATE" not in text


def test_file_signer_refuses_a_key_readable_by_others(tmp_path: Path, pki_paths: PkiPaths):
    key = Path(shutil.copyfile(pki_paths.signing_key, tmp_path / "signing.key"))
    os.chmod(key, 0o644)
    with pytest.raises(KeyMaterialError, match=r"chmod 600") as info:
        FileKeySigner.from_files(key, chain_path=pki_paths.chain)
    assert _key_body(pki_paths)[:24] not in str(info.value)


def test_file_signer_refuses_a_key_that_does_not_match_the_leaf(
    pki_paths: PkiPaths, pki_other_paths: PkiPaths
):
    with pytest.raises(KeyMaterialError, match="does not match the signing certificate"):
        FileKeySigner.from_files(pki_other_paths.signing_key, chain_path=pki_paths.chain)


def test_file_signer_refuses_garbage_without_quoting_it(tmp_path: Path, pki_paths: PkiPaths):
    body = _key_body(pki_paths)
    broken = tmp_path / "broken.key"
    fd = os.open(broken, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"-----BEGIN PRIVATE KEY-----\n{body[: len(body) // 2]}\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyMaterialError, match="not an unencrypted PKCS#8 PEM private key") as info:
        FileKeySigner.from_files(broken, chain_path=pki_paths.chain)
    assert body[:24] not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is not None
    assert info.value.__suppress_context__


def test_missing_key_file_is_actionable(tmp_path: Path, pki_paths: PkiPaths):
    with pytest.raises(KeyMaterialError, match=r"not found at .*: run `likeness keys init`"):
        FileKeySigner.from_files(tmp_path / "absent.key", chain_path=pki_paths.chain)


def test_chain_must_be_pem_with_a_p256_leaf():
    with pytest.raises(KeyMaterialError, match="not PEM certificates"):
        CallbackSigner(lambda data: b"", certificate_chain_pem=b"not a certificate")


def test_tsa_url_is_validated_and_passed_to_c2pa(
    pki_paths: PkiPaths, monkeypatch: pytest.MonkeyPatch
):
    seen = {}
    real = c2pa.Signer.from_callback

    def spy(callback, alg, certs, tsa_url=None):  # type: ignore[no-untyped-def]
        seen.update(alg=alg, certs=certs, tsa_url=tsa_url)
        return real(callback, alg, certs, tsa_url)

    monkeypatch.setattr(c2pa.Signer, "from_callback", spy)
    signer = FileKeySigner.from_files(pki_paths.signing_key, chain_path=pki_paths.chain, tsa_url="http://tsa.example.test/rfc3161")
    signer.to_c2pa_signer().close()
    assert seen == {
        "alg": c2pa.C2paSigningAlg.ES256,
        "certs": pki_paths.chain.read_text(),
        "tsa_url": "http://tsa.example.test/rfc3161",
    }
    FileKeySigner.from_files(pki_paths.signing_key, chain_path=pki_paths.chain).to_c2pa_signer().close()
    assert seen["tsa_url"] is None
    with pytest.raises(KeyMaterialError, match="http"):
        FileKeySigner.from_files(pki_paths.signing_key, chain_path=pki_paths.chain, tsa_url="tsa.example.test")


def test_callback_errors_reach_on_error_not_c2pa(
    pki_paths: PkiPaths, c2pa_clip: Path, caplog: pytest.LogCaptureFixture
):
    """The wrapper keeps the exception from c2pa-python (which would log its message) and reports it."""
    errors: list[Exception] = []

    def refuse(data: bytes) -> bytes:
        raise RuntimeError("HSM offline")

    signer = CallbackSigner(refuse, certificate_chain_pem=pki_paths.chain.read_bytes())
    native = signer.to_c2pa_signer(on_error=errors.append)
    builder = c2pa.Builder({"claim_generator_info": [{"name": "t", "version": "1"}]})
    builder.set_intent(c2pa.C2paBuilderIntent.CREATE, c2pa.C2paDigitalSourceType.TRAINED_ALGORITHMIC_MEDIA)
    caplog.set_level("DEBUG")
    with pytest.raises(c2pa.C2paError), c2pa_clip.open("rb") as source:
        builder.sign(native, "video/mp4", source, io.BytesIO())
    native.close()
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "HSM offline" not in caplog.text


@pytest.mark.parametrize("encoding", ["der", "raw"])
def test_c2pa_accepts_der_and_raw_ecdsa_from_a_callback(
    encoding: str, tmp_path: Path, pki_paths: PkiPaths, pki_root_pem: bytes,
    c2pa_clip: Path, c2pa_claim: GenerationClaim,
):
    """What a KMS returns (DER) and what COSE stores (raw r‖s) both give a Trusted file."""
    key = _key(pki_paths)

    def kms_sign(data: bytes) -> bytes:
        der = key.sign(data, ec.ECDSA(hashes.SHA256()))
        if encoding == "der":
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    signer = CallbackSigner(kms_sign, certificate_chain_pem=pki_paths.chain.read_bytes())
    out = sign_mp4(c2pa_clip, dest=tmp_path / "out.mp4", claim=c2pa_claim, signer=signer)
    assert verify_mp4(out.path, trust_anchors_pem=pki_root_pem).state == "trusted"
