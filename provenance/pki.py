"""The development PKI: root CA → issuing CA → ES256 C2PA claim-signing certificate.

``likeness keys init`` calls :func:`init_dev_pki`; production points the settings at the
operator's own chain instead, and refuses certificates that :func:`is_development_certificate`
recognises.

>>> import tempfile; from pathlib import Path
>>> from provenance.pki import init_dev_pki, load_pki, describe_certificate
>>> keys = Path(tempfile.mkdtemp()) / "keys"
>>> paths = init_dev_pki(keys)
>>> load_pki(keys) == paths
True
>>> describe_certificate(paths.chain.read_bytes())["development"]
True

Validity: root 10 years, issuing CA 5 years, signing certificate 1 year. **Without an RFC 3161
time-stamp** (``tsa_url``) a signed file turns *Invalid* (``signingCredential.expired``) once the
signing certificate expires — measured with c2pa-python 0.38.1 — so production must use a TSA.

Files (all under ``keys_dir``, which is mode 0700): ``root.pem``, ``issuing.pem``, ``signing.pem``
(the end-entity certificate), ``chain.pem`` (signing + issuing, no root: what the signer embeds),
and the PKCS#8 PEM keys ``root.key``, ``issuing.key``, ``signing.key`` (mode 0600 from creation).
A new PKI is staged in a private folder and committed by one rename, so a crash never leaves a
partial set: an interrupted commit is rolled forward by the next call, an unfinished stage dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from likeness.files import check_secret, fsync_dir
from provenance.errors import KeyMaterialError

logger = logging.getLogger(__name__)

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
DEVELOPMENT_MARKER = "Likeness development PKI - not for production"

ROOT_VALIDITY = dt.timedelta(days=3652)
ISSUING_VALIDITY = dt.timedelta(days=1826)
SIGNING_VALIDITY = dt.timedelta(days=365)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock skew between signer and verifier

_STAGE = ".pki-stage"
_COMMIT = ".pki-commit"


@dataclass(frozen=True)
class PkiPaths:
    """Where the files of one PKI live."""

    keys_dir: Path
    root_cert: Path
    root_key: Path
    issuing_cert: Path
    issuing_key: Path
    signing_cert: Path
    signing_key: Path
    chain: Path

    @classmethod
    def in_dir(cls, keys_dir: Path) -> PkiPaths:
        keys_dir = Path(keys_dir)
        return cls(
            keys_dir=keys_dir,
            root_cert=keys_dir / "root.pem",
            root_key=keys_dir / "root.key",
            issuing_cert=keys_dir / "issuing.pem",
            issuing_key=keys_dir / "issuing.key",
            signing_cert=keys_dir / "signing.pem",
            signing_key=keys_dir / "signing.key",
            chain=keys_dir / "chain.pem",
        )

    def files(self) -> list[Path]:
        return [getattr(self, f.name) for f in fields(self) if f.name != "keys_dir"]

    def key_files(self) -> list[Path]:
        return [self.root_key, self.issuing_key, self.signing_key]


def init_dev_pki(
    keys_dir: Path, *, organisation: str = "Likeness development", overwrite: bool = False
) -> PkiPaths:
    """Create the development PKI under ``keys_dir`` unless it is already there (idempotent).

    A complete PKI is left untouched; a partial one is refused (``KeyMaterialError``) rather than
    half-overwritten, unless ``overwrite`` is true, which replaces every file.
    """
    paths = PkiPaths.in_dir(keys_dir)
    _private_dir(paths.keys_dir)
    _recover(paths)
    present = [p for p in paths.files() if p.exists()]
    if len(present) == len(paths.files()) and not overwrite:
        return load_pki(paths.keys_dir)
    if present and not overwrite:
        missing = sorted(p.name for p in paths.files() if not p.exists())
        raise KeyMaterialError(
            f"partial signing identity in {paths.keys_dir}: {', '.join(missing)} missing. Restore the "
            "missing files, or move the folder aside and run `likeness keys init` for a new identity"
        )
    _commit(paths, _generate(organisation))
    logger.info("created development PKI in %s", paths.keys_dir)
    return paths


def load_pki(keys_dir: Path) -> PkiPaths:
    """Check and return the PKI under ``keys_dir``: files present, keys private, chain consistent."""
    paths = PkiPaths.in_dir(keys_dir)
    for path in paths.files():
        if not path.is_file():
            raise KeyMaterialError(
                f"signing identity incomplete: {path} is missing; run `likeness keys init`"
            )
    for path in paths.key_files():
        check_secret(path, what="signing key file", setting="LIKENESS_SIGNING_KEY_FILE", error=KeyMaterialError)
    root = _load_certs(paths.root_cert)[0]
    issuing = _load_certs(paths.issuing_cert)[0]
    leaf = _load_certs(paths.signing_cert)[0]
    chain = _load_certs(paths.chain)
    if chain != [leaf, issuing]:
        raise KeyMaterialError(f"{paths.chain} is not signing.pem followed by issuing.pem; recreate it")
    try:
        leaf.verify_directly_issued_by(issuing)
        issuing.verify_directly_issued_by(root)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise KeyMaterialError(
            f"the certificates in {paths.keys_dir} do not chain to root.pem ({type(exc).__name__})"
        ) from None
    remaining = leaf.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if remaining < dt.timedelta(days=30):
        logger.warning("signing certificate %s expires in %s", paths.signing_cert, remaining)
    return paths


def is_development_certificate(cert: x509.Certificate) -> bool:
    """True for certificates made by :func:`init_dev_pki` (or issued by its CAs)."""
    for name in (cert.subject, cert.issuer):
        units = name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if any(attr.value == DEVELOPMENT_MARKER for attr in units):
            return True
    return False


def describe_certificate(pem: bytes) -> dict[str, Any]:
    """Describe the first certificate of ``pem`` (a chain's end-entity) — public facts only."""
    certs = x509.load_pem_x509_certificates(pem)
    cert = certs[0]
    now = dt.datetime.now(dt.UTC)
    return {
        "subject": cert.subject.rfc4514_string(),
        "subject_cn": _common_name(cert.subject),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_cn": _common_name(cert.issuer),
        "serial": f"{cert.serial_number:x}",
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "expired": now > cert.not_valid_after_utc,
        "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
        "chain_length": len(certs),
        "development": is_development_certificate(cert),
    }


# ---------------------------------------------------------------------------------------------
# generation


def _generate(organisation: str) -> dict[str, bytes]:
    now = dt.datetime.now(dt.UTC) - _BACKDATE
    root_key = ec.generate_private_key(ec.SECP256R1())
    issuing_key = ec.generate_private_key(ec.SECP256R1())
    signing_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(organisation, "Likeness development root CA")
    issuing_name = _name(organisation, "Likeness development issuing CA")
    ca_usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )
    root = (
        _base(root_name, root_name, root_key.public_key(), now, ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(ca_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    issuing = (
        _base(issuing_name, root_name, issuing_key.public_key(), now, ISSUING_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(issuing_key.public_key()), critical=False)
        .add_extension(_aki(root), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        _base(_name(organisation, "Likeness development signing"), issuing_name, signing_key.public_key(),
              now, SIGNING_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            # emailProtection must be present: c2pa-rs 0.91 rejects documentSigning-only and
            # claimSigning-only leaves unless every verifier configures trust_config.
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING, C2PA_CLAIM_SIGNING]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signing_key.public_key()), critical=False)
        .add_extension(_aki(issuing), critical=False)
        .sign(issuing_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "root.pem": root.public_bytes(pem),
        "issuing.pem": issuing.public_bytes(pem),
        "signing.pem": leaf.public_bytes(pem),
        "chain.pem": leaf.public_bytes(pem) + issuing.public_bytes(pem),
        "root.key": _pkcs8(root_key),
        "issuing.key": _pkcs8(issuing_key),
        "signing.key": _pkcs8(signing_key),
    }


def _name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEVELOPMENT_MARKER),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _base(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
    start: dt.datetime, validity: dt.timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
    )


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _common_name(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError:
        raise KeyMaterialError(f"{path} holds no readable PEM certificate") from None
    return certs


# ---------------------------------------------------------------------------------------------
# crash-safe writing: stage everything, commit with one directory rename, then move into place


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)


def _commit(paths: PkiPaths, contents: dict[str, bytes]) -> None:
    stage = paths.keys_dir / _STAGE
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(mode=0o700)
    for name, data in contents.items():
        _write_new(stage / name, data, mode=0o600 if name.endswith(".key") else 0o644)
    fsync_dir(stage)
    os.replace(stage, paths.keys_dir / _COMMIT)  # the commit point
    fsync_dir(paths.keys_dir)
    _recover(paths)


def _recover(paths: PkiPaths) -> None:
    """Roll a committed set forward into place; drop an uncommitted stage."""
    shutil.rmtree(paths.keys_dir / _STAGE, ignore_errors=True)
    committed = paths.keys_dir / _COMMIT
    if not committed.is_dir():
        return
    for staged in committed.iterdir():
        os.replace(staged, paths.keys_dir / staged.name)
    fsync_dir(paths.keys_dir)
    committed.rmdir()


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte (O_EXCL: never an existing file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
