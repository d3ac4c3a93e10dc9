"""Tables of the audit log.

::

    audit_entries       one row per leaf, append-only: the signed body, its leaf hash, the subtree
                        hash that keeps roots and proofs O(log n), and the signed tree head after it
    audit_checkpoints   signed tree heads published by ``likeness audit checkpoint`` / export

``body`` is the entry's canonical JSON: the leaf is SHA-256(0x00 ‖ body as UTF-8). ``kind``,
``created_at``, ``actor``, ``partner``, ``consent_id`` and ``generation_id`` repeat fields of the
body so that the log can be searched; verify checks that they agree with it. Each row also holds
the root of the tree of size ``leaf_index + 1`` and an Ed25519 signature over that tree head, so
that a change to any row, even with every hash recomputed, is named at that row. The migration
installs triggers that refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL) on both tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class AuditEntry(SQLModel, table=True):
    """One leaf of the log. Append-only."""

    __tablename__ = "audit_entries"
    # a consent's own entries (its grant, revocations) found without reading its generation decisions
    __table_args__ = (Index("ix_audit_entries_consent_kind", "consent_id", "kind"),)

    leaf_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False},
                            description="0, 1, 2, … without gaps: the leaf's position in the tree")
    kind: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=_now, index=True)
    actor: str = Field(max_length=200, description="who did it: partner:<id>, subject, operator:<name>, system")
    partner: str | None = Field(default=None, index=True, max_length=100)
    consent_id: str | None = Field(default=None, index=True, max_length=64)
    generation_id: str | None = Field(default=None, index=True, max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False), description="canonical JSON: what the leaf hashes")
    leaf_hash: str = Field(max_length=64, description="hex SHA-256(0x00 ‖ body)")
    subtree_hash: str = Field(max_length=64, description="hex hash of the perfect subtree of size lowbit(index+1) "
                                                         "that ends at this leaf")
    root_hash: str = Field(max_length=64, description="hex root of the tree of size leaf_index + 1")
    key_id: str = Field(max_length=16, description="the audit key that signed the tree head")
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False), description="Ed25519 over the tree head")


class AuditCheckpoint(SQLModel, table=True):
    """A signed tree head published at some moment (to export, to hand to a reviewer). Append-only."""

    __tablename__ = "audit_checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(index=True)
    root_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=_now)
    key_id: str = Field(max_length=16)
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
