"""Claim signers: what signs a C2PA claim, with the private key kept outside the native library.

Every signer hands c2pa-python a *callback* (``c2pa.Signer.from_callback``), so the key never
enters c2pa-rs: a file key, a KMS or an HSM all look the same to it. The callback receives the
bytes to sign and returns an ECDSA P-256 / SHA-256 signature; DER (what ``cryptography`` and
cloud KMSs return) is accepted by c2pa-rs 0.91 and converted to COSE's raw form there.

>>> import tempfile; from pathlib import Path
>>> from provenance.pki import init_dev_pki
>>> from provenance.signing import FileKeySigner
>>> paths = init_dev_pki(Path(tempfile.mkdtemp()) / "keys")
>>> signer = FileKeySigner.from_files(paths.signing_key, chain_path=paths.chain)
>>> signer.alg, len(signer.sign(b"claim")) > 60
('es256', True)

For a KMS or HSM, wrap its sign call: ``CallbackSigner(kms_sign, certificate_chain_pem=chain)``.
Without ``tsa_url`` no RFC 3161 time-stamp is requested and signed files turn Invalid once
the signing certificate expires (see :mod:`provenance.pki`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from likeness.files import read_secret
from provenance.errors import KeyMaterialError, SigningError

logger = logging.getLogger(__name__)

ES256 = "es256"

ErrorSink = Callable[[Exception], None]


class ClaimSigner(ABC):
    """Signs C2PA claims with ES256 for one certificate chain (end-entity first, no root)."""

    alg: str = ES256

    def __init__(self, *, certificate_chain_pem: bytes, tsa_url: str | None = None) -> None:
        self.certificate_chain_pem = bytes(certificate_chain_pem)
        self.tsa_url = tsa_url
        self._leaf = _check_chain(self.certificate_chain_pem)
        if tsa_url is not None and not tsa_url.startswith(("http://", "https://")):
            raise KeyMaterialError(f"time-stamp authority URL must be http(s)://…, got {tsa_url!r}")

    @property
    def certificate(self) -> x509.Certificate:
        """The end-entity (signing) certificate."""
        return self._leaf

    @abstractmethod
    def sign(self, data: bytes) -> bytes:
        """An ECDSA P-256 SHA-256 signature of ``data`` (DER or raw r‖s)."""

    def to_c2pa_signer(self, *, on_error: ErrorSink | None = None) -> c2pa.Signer:
        """A ``c2pa.Signer`` that calls :meth:`sign`; the key never enters the native library.

        An exception raised by :meth:`sign` is handed to ``on_error`` (not to c2pa-python, whose
        wrapper would log its message) and the signature is reported as failed.
        """

        def callback(data: bytes) -> bytes:
            try:
                signature = self.sign(data)
                if not isinstance(signature, bytes | bytearray) or not signature:
                    raise SigningError("the signing callback returned no signature bytes")
                return bytes(signature)
            except Exception as exc:  # any failure of a KMS/HSM/file key; reported via on_error
                if on_error is not None:
                    on_error(exc)
                return b""  # c2pa-python turns an empty signature into a native signing error

        try:
            return c2pa.Signer.from_callback(
                callback, c2pa.C2paSigningAlg.ES256, self.certificate_chain_pem.decode("ascii"), self.tsa_url
            )
        except c2pa.C2paError as exc:
            raise SigningError(f"C2PA signer could not be created: {exc}") from None

    def __repr__(self) -> str:
        subject = self._leaf.subject.rfc4514_string()
        return f"{type(self).__name__}(alg={self.alg!r}, subject={subject!r}, tsa_url={self.tsa_url!r})"


class FileKeySigner(ClaimSigner):
    """Signs with an EC P-256 private key held in this process (loaded from a PKCS#8 PEM file)."""

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        certificate_chain_pem: bytes,
        tsa_url: str | None = None,
    ) -> None:
        super().__init__(certificate_chain_pem=certificate_chain_pem, tsa_url=tsa_url)
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise KeyMaterialError("the signing key must be an EC P-256 key for ES256")
        if _spki(private_key.public_key()) != _spki(self._leaf.public_key()):
            raise KeyMaterialError(
                "the signing key does not match the signing certificate (first certificate of the chain)"
            )
        self._key = private_key

    @classmethod
    def from_files(cls, key_path: Path, *, chain_path: Path, tsa_url: str | None = None) -> FileKeySigner:
        """Load an unencrypted PKCS#8 PEM key (mode 0600 or stricter) and its PEM chain."""
        key_path, chain_path = Path(key_path), Path(chain_path)
        key_pem = read_secret(key_path, what="signing key", setting="LIKENESS_SIGNING_KEY_FILE",
                              error=KeyMaterialError)
        try:
            chain_pem = chain_path.read_bytes()
        except OSError as exc:
            raise KeyMaterialError(
                f"cannot read the signing identity: {exc.strerror} ({exc.filename})"
            ) from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # never include the file's content or the parser's message: it may quote key bytes
            raise KeyMaterialError(
                f"{key_path} is not an unencrypted PKCS#8 PEM private key"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyMaterialError(f"{key_path} is not an EC key; ES256 needs EC P-256")
        try:
            return cls(key, certificate_chain_pem=chain_pem, tsa_url=tsa_url)
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"{exc.message} ({key_path}, {chain_path})") from None

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


class CallbackSigner(ClaimSigner):
    """Signs through a caller-supplied function, e.g. a KMS or HSM client: ``data -> signature``."""

    def __init__(
        self,
        callback: Callable[[bytes], bytes],
        *,
        certificate_chain_pem: bytes,
        tsa_url: str | None = None,
    ) -> None:
        super().__init__(certificate_chain_pem=certificate_chain_pem, tsa_url=tsa_url)
        if not callable(callback):
            raise TypeError("callback must be callable: data -> signature")
        self._callback = callback

    def sign(self, data: bytes) -> bytes:
        return self._callback(data)


def _check_chain(chain_pem: bytes) -> x509.Certificate:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise KeyMaterialError("the certificate chain is not PEM certificates (end-entity first)") from None
    leaf = certs[0]
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyMaterialError("the signing certificate's key is not EC P-256, as ES256 requires")
    return leaf


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
