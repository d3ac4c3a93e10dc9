"""The development PKI: private files, exact certificate profiles, a verifying chain, crash safety."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from provenance import pki
from provenance.errors import KeyMaterialError
from provenance.pki import (
    C2PA_CLAIM_SIGNING,
    DOCUMENT_SIGNING,
    PkiPaths,
    describe_certificate,
    init_dev_pki,
    is_development_certificate,
    load_pki,
)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _snapshot(keys: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(keys.iterdir())}


def test_files_exist_with_private_modes(pki_paths: PkiPaths):
    names = sorted(p.name for p in pki_paths.keys_dir.iterdir())
    assert names == [
        "chain.pem", "issuing.key", "issuing.pem", "root.key", "root.pem", "signing.key", "signing.pem",
    ]
    assert _mode(pki_paths.keys_dir) == 0o700
    for key in pki_paths.key_files():
        assert _mode(key) == 0o600, key
        assert b"-----BEGIN PRIVATE KEY-----" in key.read_bytes()  # PKCS#8, unencrypted
    for cert in (pki_paths.root_cert, pki_paths.issuing_cert, pki_paths.signing_cert, pki_paths.chain):
        assert _mode(cert) & 0o022 == 0, cert


def test_keys_are_private_from_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Opened O_CREAT|O_EXCL with 0600 (umask 0 shows the requested mode); never chmod'ed after."""
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy_open(path, flags, mode=0o777, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    chmodded: list[str] = []
    real_chmod = os.chmod
    monkeypatch.setattr(pki.os, "open", spy_open)
    def spy_chmod(path, mode, *args, **kwargs):  # type: ignore[no-untyped-def]
        chmodded.append(os.fspath(path))
        return real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(pki.os, "chmod", spy_chmod)
    old = os.umask(0)
    try:
        paths = init_dev_pki(tmp_path / "keys")
    finally:
        os.umask(old)
    key_opens = [(p, f, m) for p, f, m in opened if p.endswith(".key")]
    assert len(key_opens) == 3
    for _, flags, mode in key_opens:
        assert flags & os.O_CREAT
        assert flags & os.O_EXCL
        assert mode == 0o600
    assert not [p for p in chmodded if p.endswith(".key")]
    assert all(_mode(k) == 0o600 for k in paths.key_files())


def test_root_certificate_profile(pki_paths: PkiPaths):
    root = _cert(pki_paths.root_cert)
    assert root.subject == root.issuer
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(root.public_key().curve, ec.SECP256R1)
    assert root.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    _assert_ca(root, path_length=1)
    assert not root.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = root.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    _assert_validity(root, dt.timedelta(days=3652))


def test_issuing_certificate_profile(pki_paths: PkiPaths):
    root, issuing = _cert(pki_paths.root_cert), _cert(pki_paths.issuing_cert)
    assert issuing.issuer == root.subject
    _assert_ca(issuing, path_length=0)
    _assert_key_ids(issuing, issuer=root)
    _assert_validity(issuing, dt.timedelta(days=1826))


def test_signing_certificate_profile(pki_paths: PkiPaths):
    issuing, leaf = _cert(pki_paths.issuing_cert), _cert(pki_paths.signing_cert)
    assert leaf.issuer == issuing.subject
    assert isinstance(leaf.public_key().curve, ec.SECP256R1)  # ES256
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert not bc.value.ca
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not any((ku.value.key_cert_sign, ku.value.crl_sign, ku.value.key_encipherment,
                    ku.value.content_commitment, ku.value.data_encipherment, ku.value.key_agreement))
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING, C2PA_CLAIM_SIGNING]
    assert DOCUMENT_SIGNING.dotted_string == "1.3.6.1.5.5.7.3.36"
    assert C2PA_CLAIM_SIGNING.dotted_string == "1.3.6.1.4.1.62558.2.1"
    _assert_key_ids(leaf, issuer=issuing)
    _assert_validity(leaf, dt.timedelta(days=365))


def test_chain_verifies_and_excludes_the_root(pki_paths: PkiPaths):
    root = _cert(pki_paths.root_cert)
    issuing = _cert(pki_paths.issuing_cert)
    leaf = _cert(pki_paths.signing_cert)
    leaf.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    chain = x509.load_pem_x509_certificates(pki_paths.chain.read_bytes())
    assert chain == [leaf, issuing]
    with pytest.raises(ValueError, match="Issuer"):
        leaf.verify_directly_issued_by(root)


def test_init_is_idempotent_and_overwrite_replaces_everything(tmp_path: Path):
    keys = tmp_path / "keys"
    first = init_dev_pki(keys)
    before = _snapshot(keys)
    assert init_dev_pki(keys) == first
    assert _snapshot(keys) == before
    init_dev_pki(keys, overwrite=True)
    after = _snapshot(keys)
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    load_pki(keys)


def test_partial_pki_is_refused_not_half_overwritten(tmp_path: Path):
    keys = tmp_path / "keys"
    init_dev_pki(keys)
    (keys / "signing.key").unlink()
    before = _snapshot(keys)
    with pytest.raises(KeyMaterialError, match=r"signing\.key missing"):
        init_dev_pki(keys)
    assert _snapshot(keys) == before


def test_existing_directory_with_other_files_is_fine(tmp_path: Path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    (keys / "watermark.key").write_bytes(b"x" * 32)
    init_dev_pki(keys)
    assert _mode(keys) == 0o700
    assert (keys / "watermark.key").read_bytes() == b"x" * 32


def test_crash_while_staging_leaves_no_pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    keys = tmp_path / "keys"
    real_write = pki._write_new
    calls = []

    def crash_on_third(path: Path, data: bytes, *, mode: int) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real_write(path, data, mode=mode)

    monkeypatch.setattr(pki, "_write_new", crash_on_third)
    with pytest.raises(OSError, match="disk full"):
        init_dev_pki(keys)
    assert not any(p.exists() for p in PkiPaths.in_dir(keys).files())
    monkeypatch.undo()
    init_dev_pki(keys)
    load_pki(keys)
    assert sorted(p.name for p in keys.iterdir() if p.name.startswith(".")) == []


def test_crash_after_commit_is_rolled_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    keys = tmp_path / "keys"
    real_replace = os.replace
    moved = []

    def crash_mid_move(src, dst):  # type: ignore[no-untyped-def]
        if Path(src).parent.name == ".pki-commit" and len(moved) == 2:
            raise OSError("power lost")
        moved.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(pki.os, "replace", crash_mid_move)
    with pytest.raises(OSError, match="power lost"):
        init_dev_pki(keys)
    staged = {p.name: p.read_bytes() for p in (keys / ".pki-commit").iterdir()}
    monkeypatch.undo()
    paths = init_dev_pki(keys)  # completes the interrupted commit rather than refusing a partial set
    load_pki(keys)
    assert {name: (keys / name).read_bytes() for name in staged} == staged
    assert not (keys / ".pki-commit").exists()
    assert paths.keys_dir == keys


def test_load_refuses_a_key_readable_by_others(tmp_path: Path):
    keys = tmp_path / "keys"
    init_dev_pki(keys)
    os.chmod(keys / "signing.key", 0o644)
    with pytest.raises(KeyMaterialError, match=r"chmod 600") as info:
        load_pki(keys)
    assert "signing.key" in str(info.value)
    assert "0644" in str(info.value)
    with pytest.raises(KeyMaterialError, match=r"chmod 600"):
        init_dev_pki(keys)  # idempotent init checks too


def test_load_names_the_missing_file_and_the_fix(tmp_path: Path):
    keys = tmp_path / "keys"
    init_dev_pki(keys)
    (keys / "chain.pem").unlink()
    with pytest.raises(KeyMaterialError, match=r"chain\.pem is missing; run `likeness keys init`"):
        load_pki(keys)


def test_load_refuses_a_foreign_chain(tmp_path: Path, pki_other_paths: PkiPaths):
    keys = tmp_path / "keys"
    init_dev_pki(keys)
    (keys / "root.pem").write_bytes(pki_other_paths.root_cert.read_bytes())
    with pytest.raises(KeyMaterialError, match=r"do not chain to root\.pem"):
        load_pki(keys)


def test_describe_certificate_exposes_no_key(pki_paths: PkiPaths):
    info = describe_certificate(pki_paths.chain.read_bytes())
    leaf = _cert(pki_paths.signing_cert)
    assert info["subject_cn"] == "Likeness development signing"
    assert info["issuer_cn"] == "Likeness development issuing CA"
    assert info["sha256_fingerprint"] == leaf.fingerprint(hashes.SHA256()).hex()
    assert info["not_after"] == leaf.not_valid_after_utc.isoformat()
    assert info["development"] is True
    assert info["expired"] is False
    assert info["chain_length"] == 2
    key_body = "".join(pki_paths.signing_key.read_text().strip().splitlines()[1:-1])
    assert key_body[:32] not in repr(info)
    assert "PRIVATE" not in repr(info)


def test_development_certificates_are_recognisable(pki_paths: PkiPaths):
    for path in (pki_paths.root_cert, pki_paths.issuing_cert, pki_paths.signing_cert):
        assert is_development_certificate(_cert(path))
    leaf = _cert(pki_paths.signing_cert)
    assert "development" in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Broadcaster"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Example signing")])
    now = dt.datetime.now(dt.UTC)
    production = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert not is_development_certificate(production)


def _assert_ca(cert: x509.Certificate, *, path_length: int) -> None:
    """A CA: critical basic constraints (CA, this path length), critical key usage to sign certificates and CRLs."""
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == path_length
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.key_cert_sign
    assert ku.value.crl_sign


def _assert_key_ids(cert: x509.Certificate, *, issuer: x509.Certificate) -> None:
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski.value.digest == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest


def _assert_validity(cert: x509.Certificate, expected: dt.timedelta) -> None:
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == expected
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC)
