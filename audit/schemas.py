"""Shapes going in and out of the audit log: kinds, entries, signed tree heads, proofs, the verify report.

>>> from audit.schemas import AuditKind, tree_head_message
>>> AuditKind("consent.revoked") is AuditKind.CONSENT_REVOKED
True
>>> tree_head_message(3, root_hash="ab" * 32, time_text="2026-11-25T09:30:00.000000Z").decode().splitlines()[:2]
['likeness.audit.tree-head.v1', '3']

A tree head is signed over :func:`tree_head_message`: four lines of text (a fixed origin, the
tree size in decimal, the root in lowercase hex, the time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``),
each ending in a newline. Anyone with the public key can check one with a few lines of code.
"""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audit import _merkle
from audit._canonical import utc_text
from audit.keys import verifies

TREE_HEAD_ORIGIN = "likeness.audit.tree-head.v1"


def tree_head_message(tree_size: int, *, root_hash: str, time_text: str) -> bytes:
    """The bytes an audit tree head's Ed25519 signature covers."""
    return f"{TREE_HEAD_ORIGIN}\n{tree_size}\n{root_hash}\n{time_text}\n".encode()


class AuditKind(StrEnum):
    """What an entry records. The data each kind carries is listed in docs/audit.md."""

    GENERATION_DECIDED = "generation.decided"
    GENERATION_RELEASED = "generation.released"
    GENERATION_FAILED = "generation.failed"
    GENERATION_CANCELLED = "generation.cancelled"
    GENERATION_OUTPUT_DELETED = "generation.output_deleted"
    SESSION_OPENED = "session.opened"
    SESSION_CLOSED = "session.closed"
    CONSENT_GRANTED = "consent.granted"
    CONSENT_REVOKED = "consent.revoked"
    CONSENT_ERASED = "consent.erased"
    CONSENT_CHECKED = "consent.checked"
    PARTNER_CREATED = "partner.created"
    PARTNER_SUSPENDED = "partner.suspended"
    PARTNER_REINSTATED = "partner.reinstated"
    PARTNER_KEY_ROTATED = "partner.key_rotated"
    PARTNER_KEY_REVOKED = "partner.key_revoked"
    ADMIN_ACTION = "admin.action"
    DETECTOR_RUN = "detector.run"


class AuditEntryPublic(BaseModel):
    """An entry as stored and signed, with the tree head that was signed right after it."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="the leaf's position, from 0")
    kind: str
    created_at: datetime
    actor: str
    partner: str | None = None
    consent_id: str | None = None
    generation_id: str | None = None
    data: dict[str, Any]
    body: str = Field(description="the canonical JSON that the leaf hashes")
    leaf_hash: str
    root_hash: str = Field(description="root of the tree of size index + 1")
    key_id: str
    signature: str = Field(description="base64 Ed25519 signature over the tree head (index + 1, root, created_at)")

    @property
    def tree_size(self) -> int:
        return self.index + 1

    def tree_head(self) -> Checkpoint:
        """The signed tree head stored with this entry."""
        return Checkpoint(tree_size=self.index + 1, root_hash=self.root_hash, created_at=self.created_at,
                          key_id=self.key_id, signature=self.signature)


class Checkpoint(BaseModel):
    """A signed tree head: the log had ``tree_size`` entries with this root at this time."""

    model_config = ConfigDict(frozen=True)

    tree_size: int = Field(ge=0)
    root_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: datetime
    key_id: str
    signature: str = Field(description="base64 Ed25519 signature over tree_head_message(tree_size, root, time)")

    def message(self) -> bytes:
        return tree_head_message(self.tree_size, root_hash=self.root_hash, time_text=utc_text(self.created_at))

    def verifies(self, public_key: bytes) -> bool:
        """Does the signature verify under ``public_key`` (32 raw bytes)?"""
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except ValueError:
            return False
        return verifies(public_key, message=self.message(), signature=signature)


class InclusionProof(BaseModel):
    """RFC 9162 inclusion proof: entry ``index`` (leaf ``leaf_hash``) is in the tree of ``tree_size``."""

    model_config = ConfigDict(frozen=True)

    index: int
    tree_size: int
    leaf_hash: str
    path: list[str]
    root_hash: str

    def verifies(self, root_hash: str | None = None) -> bool:
        """Does the path lead from the leaf to ``root_hash`` (default: the proof's own, to be checked elsewhere)?"""
        return _merkle.verify_inclusion(bytes.fromhex(self.leaf_hash), index=self.index, size=self.tree_size,
                                        path=[bytes.fromhex(p) for p in self.path],
                                        root=bytes.fromhex(root_hash or self.root_hash))


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof: the tree of ``old_size`` is a prefix of the tree of ``new_size``."""

    model_config = ConfigDict(frozen=True)

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]

    def verifies(self) -> bool:
        return _merkle.verify_consistency(old_size=self.old_size, new_size=self.new_size,
                                          old_root=bytes.fromhex(self.old_root), new_root=bytes.fromhex(self.new_root),
                                          path=[bytes.fromhex(p) for p in self.path])


class VerifyReport(BaseModel):
    """What verify found: ``ok``, or the first bad entry (its index) and why."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    entries: int = Field(description="entries read")
    first_bad_index: int | None = None
    reason: str | None = None
    tree_size: int = Field(description="size of the intact prefix (every entry before the first bad one)")
    root_hash: str = Field(description="root of the intact prefix, recomputed from the bodies")
    checkpoints_checked: int = 0

    def summary(self) -> str:
        """One line for a terminal."""
        if self.ok:
            return (f"audit log intact: {self.entries} entries, root {self.root_hash}, "
                    f"{self.checkpoints_checked} checkpoint(s) consistent")
        if self.first_bad_index is None:
            return f"audit log damaged: {self.reason}"
        return f"audit log damaged: first bad entry {self.first_bad_index}: {self.reason}"


__all__ = [
    "AuditEntryPublic",
    "AuditKind",
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "VerifyReport",
    "tree_head_message",
]
