"""The root of the project's error tree.

Every error a user can act on derives from :class:`LikenessError`; each package defines
its own subclasses in its ``errors.py``. Third-party errors (PyAV, c2pa, SQLAlchemy, CUDA)
are translated at the package boundary so that callers only ever see this tree.

The tree (packages add leaves)::

    LikenessError
    ├── media.MediaError            bad, hostile, oversize or unsupported input files
    ├── speech.SpeechError          the audio front-end (speech synthesis)
    ├── faces.FaceError, consent.ConsentError, policy.PolicyError, audit.AuditError, generator.GeneratorError
    ├── provenance.ProvenanceError  signing identity, watermark, C2PA, release path
    ├── detector.DetectorError      the forensic tool could not analyse the input
    ├── partners.PartnerError       credentials, partners, admin tokens and sessions
    ├── generations.GenerationError the gate's refusals, the job store, queue and storage
    └── gateway.errors.GatewayError settings, the database, the demo

``exit_code`` is what a CLI returns for it (2: the input was refused or unreadable);
``http_status`` is what the gateway answers with.
"""

from __future__ import annotations


class LikenessError(Exception):
    """An error with a message a user can act on."""

    exit_code: int = 2
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
