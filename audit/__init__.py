"""Audit: an append-only, tamper-evident log of every decision, consent change and admin action.

>>> from sqlmodel import SQLModel, create_engine
>>> from audit import AuditKey, AuditKind, AuditLog, verify_consistency
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> key = AuditKey.generate()                       # the app loads <data dir>/keys/audit-signing.key
>>> log = AuditLog(engine, signing_key=key)
>>> first = log.append(AuditKind.PARTNER_CREATED, actor="operator:ops", partner="acme", data={"use_case": "edu"})
>>> old = log.checkpoint()
>>> _ = log.append(AuditKind.PARTNER_SUSPENDED, actor="operator:ops", partner="acme", data={"reason": "abuse"})
>>> new = log.checkpoint()
>>> proof = log.consistency_proof(old.tree_size, new_size=new.tree_size)
>>> old.verifies(key.public_key_raw), new.verifies(key.public_key_raw), proof.verifies()
(True, True, True)
>>> AuditLog(engine, public_keys=[key.public_key_raw]).verify().summary().startswith("audit log intact: 2 entries")
True

RFC 6962 hashing (leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right)); each entry
is canonical JSON and carries the Ed25519-signed tree head of the log right after it, so verify
names the first entry that was changed, deleted or moved, even with its hashes recomputed.
Checkpoints (signed tree heads) handed to reviewers also reveal a truncated tail. Raw biometrics
are refused (:class:`RawBiometricsError`): hashes and scores only. See docs/audit.md.
"""

from audit import errors, schemas
from audit._merkle import leaf_hash, node_hash, verify_consistency, verify_inclusion
from audit.errors import *  # noqa: F403  (the names of audit.errors.__all__, listed there once)
from audit.keys import AuditKey, init_audit_key, key_id, public_key_from_text, public_key_text
from audit.schemas import *  # noqa: F403  (the names of audit.schemas.__all__, listed there once)
from audit.service import AuditLog, verify_export
from audit.sink import AuditSink

__all__ = [
    "AuditKey",
    "AuditLog",
    "AuditSink",
    "init_audit_key",
    "key_id",
    "leaf_hash",
    "node_hash",
    "public_key_from_text",
    "public_key_text",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
]
__all__ += errors.__all__ + schemas.__all__
