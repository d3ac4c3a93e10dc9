"""Consent: the registry of who agreed to what, signed and revocable, with erasable reference faces.

>>> import tempfile; from pathlib import Path; from datetime import datetime, UTC
>>> from sqlmodel import SQLModel, create_engine
>>> from consent import ConsentKeys, ConsentScope, ConsentService, init_consent_keys
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> paths = init_consent_keys(Path(tempfile.mkdtemp()) / "keys")
>>> keys = ConsentKeys.from_files(signing_key_file=paths.signing_key, master_key_file=paths.master_key)
>>> registry = ConsentService(engine, keys=keys)
>>> consent, token = registry.register(ConsentScope(partners="any_vetted", purposes="any",
...                                                 prohibited_purposes=["political"]))
>>> decision = registry.check_scope(consent.id, partner="acme", purpose="political")
>>> decision.covered, decision.codes
(False, ['purpose.prohibited'])

A consent is a chain of signed revisions (granted → revoked / erased); its subject manages it
with a token shown once. Reference embeddings are encrypted under a per-subject data key,
which erasure destroys. See :mod:`consent.service` for the operations and :mod:`consent.keys`
for the key hierarchy, and :mod:`consent.statement` for the recorded consent statement
(:func:`issue_challenge`, :func:`verify_statement`).
"""

from consent import errors, schemas
from consent._cues import Cue, CueAnswer
from consent._forensics import Forensics, Off
from consent.errors import *  # noqa: F403  (the names of consent.errors.__all__, listed there once)
from consent.keys import ConsentKeyPaths, ConsentKeys, init_consent_keys
from consent.schemas import *  # noqa: F403  (the names of consent.schemas.__all__, listed there once)
from consent.service import ConsentService
from consent.statement import Challenge, Check, StatementVerdict, issue_challenge, verify_statement

__all__ = [
    "Challenge",
    "Check",
    "ConsentKeyPaths",
    "ConsentKeys",
    "ConsentService",
    "Cue",
    "CueAnswer",
    "Forensics",
    "Off",
    "StatementVerdict",
    "init_consent_keys",
    "issue_challenge",
    "verify_statement",
]
__all__ += errors.__all__ + schemas.__all__
