"""The audit log: append, checkpoint, prove, verify, search, export.

>>> from sqlmodel import SQLModel, create_engine
>>> from audit import AuditKey, AuditKind, AuditLog
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> log = AuditLog(engine, signing_key=AuditKey.generate())
>>> entry = log.append(AuditKind.CONSENT_GRANTED, actor="subject", consent_id="cns_1", data={"revision": 1})
>>> _ = log.append(AuditKind.GENERATION_DECIDED, actor="partner:acme", partner="acme", consent_id="cns_1",
...                data={"decision": "allow", "reasons": ["policy0"], "portrait_sha256": "ab" * 32})
>>> checkpoint = log.checkpoint()
>>> checkpoint.tree_size, log.inclusion_proof(entry.index, tree_size=2).verifies(checkpoint.root_hash)
(2, True)
>>> log.verify().ok
True

Appends are serialised across threads and processes (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL:
a transaction-scoped advisory lock) and read O(log n) stored hashes to compute the new root.
:meth:`AuditLog.append` commits on its own connection. Nothing is ever updated or deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from audit import _merkle
from audit._canonical import canonical_json, clean_data, parse_utc, utc_text
from audit._verify import Row, StreamVerifier, decode_signature
from audit.errors import (
    AuditError,
    AuditInputError,
    AuditIntegrityError,
    AuditKeyError,
    AuditNotFoundError,
    AuditStoreError,
)
from audit.keys import AuditKey, key_id, public_key_text
from audit.models import AuditCheckpoint, AuditEntry
from audit.schemas import (
    AuditEntryPublic,
    AuditKind,
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    VerifyReport,
    tree_head_message,
)

logger = logging.getLogger(__name__)

# SQLModel makes __table__ on table classes but its stubs do not declare it (ignores below)
ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]
CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]
EXPORT_FORMAT = "likeness-audit-export/1"
# pg_advisory_xact_lock key: the first 8 bytes of SHA-256("likeness.audit.append"), as a signed bigint.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"likeness.audit.append").digest()[:8], "big", signed=True)
MAX_PAGE = 1000


class AuditLog:
    """The append-only Merkle log over ``engine``.

    ``signing_key`` signs tree heads (needed to append and to checkpoint); ``public_keys`` are
    further public keys (32 raw bytes each, e.g. retired ones) that verify accepts. A reviewer
    who holds only the public key builds ``AuditLog(engine, public_keys=[raw])`` and verifies.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        signing_key: AuditKey | None = None,
        public_keys: Iterable[bytes] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self._key = signing_key
        self._clock = clock or (lambda: datetime.now(UTC))
        self._public: dict[str, bytes] = {key_id(raw): raw for raw in public_keys}
        if signing_key is not None:
            self._public[signing_key.key_id] = signing_key.public_key_raw

    @property
    def key_id(self) -> str | None:
        """The id of the signing key (None for a verify-only log)."""
        return self._key.key_id if self._key else None

    @property
    def public_keys(self) -> dict[str, bytes]:
        """The public keys verify accepts: key id → 32 raw bytes."""
        return dict(self._public)

    def __repr__(self) -> str:
        return f"AuditLog(url={self._engine.url.render_as_string(hide_password=True)!r}, " \
               f"key_id={self._key.key_id if self._key else None!r})"

    # --- writing ------------------------------------------------------------------------------

    def append(
        self,
        kind: AuditKind | str,
        *,
        actor: str,
        data: Mapping[str, Any] | None = None,
        partner: str | None = None,
        consent_id: str | None = None,
        generation_id: str | None = None,
    ) -> AuditEntryPublic:
        """Log one entry and sign the new tree head; the entry as stored.

        ``data`` holds JSON values only (no raw biometrics: :class:`RawBiometricsError`);
        ``partner``, ``consent_id`` and ``generation_id`` are logged in the body and indexed for search.
        """
        kind = _kind(kind)
        actor = _text(actor, "actor", 200)
        fields = {"partner": _name(partner, "partner", 100), "consent_id": _name(consent_id, "consent_id", 64),
                  "generation_id": _name(generation_id, "generation_id", 64)}
        cleaned = clean_data(data or {})
        key = self._require_key("append to")
        with self._store("write"), self._locked() as conn:
            last = conn.execute(select(func.max(ENTRIES.c.leaf_index))).scalar()
            index = 0 if last is None else last + 1
            self._refuse_if_cut(conn, index, "nothing was appended")
            ends = _merkle.compact_ends(index + 1)
            needed = {index - (1 << b) for b in range(_merkle.lowbit(index + 1).bit_length() - 1)} | set(ends[:-1])
            stored = self._subtrees(conn, needed)
            time_text = utc_text(self._clock())
            body = canonical_json({"v": 1, "index": index, "kind": kind.value, "time": time_text, "actor": actor,
                                   **fields, "data": cleaned})
            leaf = _merkle.leaf_hash(body.encode())
            subtree = _merkle.subtree_from_stored(index, leaf, stored.__getitem__)
            root = _merkle.fold([stored[e] for e in ends[:-1]] + [subtree])
            signature = key.sign(tree_head_message(index + 1, root_hash=root.hex(), time_text=time_text))
            row = {"leaf_index": index, "kind": kind.value, "created_at": parse_utc(time_text), "actor": actor,
                   **fields, "body": body, "leaf_hash": leaf.hex(), "subtree_hash": subtree.hex(),
                   "root_hash": root.hex(), "key_id": key.key_id, "signature": signature}
            conn.execute(insert(ENTRIES).values(**row))
        logger.info("audit entry %d: %s", index, kind.value)
        return _public(row)

    def checkpoint(self) -> Checkpoint:
        """Sign and store a checkpoint of the log as it is now (the tree head of its last entry, re-dated)."""
        key = self._require_key("checkpoint")
        with self._store("write"), self._engine.begin() as conn:
            last = conn.execute(select(ENTRIES).order_by(ENTRIES.c.leaf_index.desc()).limit(1)).mappings().first()
            if last is None:
                size, root = 0, _merkle.EMPTY_ROOT.hex()
            else:
                size, root = last["leaf_index"] + 1, last["root_hash"]
            self._refuse_if_cut(conn, size, "no checkpoint was signed")
            if last is not None:
                head = _public(dict(last)).tree_head()
                public = self._public.get(head.key_id)
                if public is None or not head.verifies(public):
                    raise AuditIntegrityError(f"the tree head of entry {size - 1} does not verify: "
                                              "run `likeness audit verify`; no checkpoint was signed")
            created = parse_utc(utc_text(self._clock()))
            signature = key.sign(tree_head_message(size, root_hash=root, time_text=utc_text(created)))
            conn.execute(insert(CHECKPOINTS).values(tree_size=size, root_hash=root, created_at=created,
                                                    key_id=key.key_id, signature=signature))
        return Checkpoint(tree_size=size, root_hash=root, created_at=created, key_id=key.key_id,
                          signature=base64.b64encode(signature).decode())

    # --- reading ------------------------------------------------------------------------------

    def size(self) -> int:
        """The number of entries."""
        with self._store("read"), self._engine.connect() as conn:
            last = conn.execute(select(func.max(ENTRIES.c.leaf_index))).scalar()
        return 0 if last is None else last + 1

    def get(self, index: int) -> AuditEntryPublic:
        """Entry ``index`` as stored (:meth:`verify` checks it; this does not)."""
        with self._store("read"), self._engine.connect() as conn:
            row = conn.execute(select(ENTRIES).where(ENTRIES.c.leaf_index == index)).mappings().first()
        if row is None:
            raise AuditNotFoundError(f"no audit entry {index}")
        return _public(dict(row))

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint stored last, if any."""
        with self._store("read"), self._engine.connect() as conn:
            row = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else _checkpoint(dict(row))

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        with self._store("read"), self._engine.connect() as conn:
            rows = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id)).mappings().all()
        return [_checkpoint(dict(r)) for r in rows]

    def search(
        self,
        *,
        kind: AuditKind | str | None = None,
        partner: str | None = None,
        consent_id: str | None = None,
        generation_id: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[AuditEntryPublic]:
        """Entries matching every filter given (``since`` inclusive, ``until`` exclusive), in index order."""
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise AuditInputError(f"limit must be 1 to {MAX_PAGE} and offset at least 0")
        query = select(ENTRIES)
        for column, value in (("kind", None if kind is None else _kind(kind).value), ("partner", partner),
                              ("consent_id", consent_id), ("generation_id", generation_id), ("actor", actor)):
            if value is not None:
                query = query.where(ENTRIES.c[column] == value)
        for bound, op in ((since, "ge"), (until, "lt")):
            if bound is not None:
                if bound.utcoffset() is None:
                    raise AuditInputError("since and until need a time zone")
                column = ENTRIES.c.created_at
                query = query.where(column >= bound if op == "ge" else column < bound)
        order = ENTRIES.c.leaf_index.desc() if newest_first else ENTRIES.c.leaf_index
        query = query.order_by(order).limit(limit).offset(offset)
        with self._store("read"), self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_public(dict(r)) for r in rows]

    # --- proofs -------------------------------------------------------------------------------

    def tree_head(self, tree_size: int | None = None) -> Checkpoint:
        """The tree head signed when the log reached ``tree_size`` entries (default: now)."""
        size = self.size() if tree_size is None else tree_size
        if size == 0:
            raise AuditNotFoundError("the audit log is empty: no tree head yet")
        return self.get(size - 1).tree_head()

    def inclusion_proof(self, index: int, *, tree_size: int | None = None) -> InclusionProof:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``tree_size`` entries (default: all)."""
        with self._store("read"), self._engine.connect() as conn:
            size = self._checked_size(conn, tree_size)
            if not 0 <= index < size:
                raise AuditNotFoundError(f"entry {index} is not in a tree of {size} entries")
            hashes = _Hashes(conn)
            root = self._checked_root(hashes, size)
            path = _merkle.inclusion_path(index, size=size, mth=hashes.mth)
            return InclusionProof(index=index, tree_size=size, leaf_hash=hashes.leaf(index).hex(),
                                  path=[p.hex() for p in path], root_hash=root)

    def consistency_proof(self, old_size: int, *, new_size: int | None = None) -> ConsistencyProof:
        """RFC 9162 consistency proof that the tree of ``old_size`` is a prefix of the tree of ``new_size``."""
        with self._store("read"), self._engine.connect() as conn:
            size = self._checked_size(conn, new_size)
            if not 0 <= old_size <= size:
                raise AuditNotFoundError(f"a tree of {old_size} entries is not a prefix of one of {size}")
            hashes = _Hashes(conn)
            old_root = self._checked_root(hashes, old_size) if old_size else _merkle.EMPTY_ROOT.hex()
            new_root = self._checked_root(hashes, size) if size else _merkle.EMPTY_ROOT.hex()
            path = _merkle.consistency_path(old_size, new_size=size, mth=hashes.mth)
            return ConsistencyProof(old_size=old_size, new_size=size, old_root=old_root, new_root=new_root,
                                    path=[p.hex() for p in path])

    def _checked_size(self, conn: Connection, tree_size: int | None) -> int:
        last = conn.execute(select(func.max(ENTRIES.c.leaf_index))).scalar()
        current = 0 if last is None else last + 1
        if tree_size is None:
            return current
        if not 0 <= tree_size <= current:
            raise AuditNotFoundError(f"the audit log has {current} entries, not {tree_size}")
        return tree_size

    @staticmethod
    def _checked_root(hashes: _Hashes, size: int) -> str:
        """The root from the stored hashes, which must equal the root signed with entry size - 1."""
        root = hashes.mth(0, size).hex()
        if root != hashes.signed_root(size - 1):
            raise AuditIntegrityError(f"the stored hashes do not add up to the root signed at size {size}: "
                                      "run `likeness audit verify`")
        return root

    # --- verification and export ---------------------------------------------------------------

    def verify(self, *, checkpoints: Sequence[Checkpoint] = ()) -> VerifyReport:
        """Recompute the whole log from its bodies and check every signature and checkpoint: O(n) rows read once.

        ``checkpoints``: tree heads published elsewhere (a reviewer's copy); only they reveal a tail
        truncation when the stored checkpoints were deleted with it.
        """
        if not self._public:
            raise AuditKeyError("no audit public key to verify with: give the signing key or public_keys")
        with self._store("read"), self._engine.connect() as conn:
            stored = [_checkpoint(dict(r)) for r in conn.execute(select(CHECKPOINTS)).mappings()]
            verifier = StreamVerifier(public_keys=self._public, checkpoints=[*stored, *checkpoints])
            result = conn.execution_options(yield_per=1000).execute(select(ENTRIES).order_by(ENTRIES.c.leaf_index))
            for row in result.mappings():
                columns = {name: row[name] for name in ("kind", "actor", "partner", "consent_id", "generation_id",
                                                        "created_at")}
                if not verifier.feed(Row(index=row["leaf_index"], body=row["body"], leaf_hash=row["leaf_hash"],
                                         subtree_hash=row["subtree_hash"], root_hash=row["root_hash"],
                                         key_id=row["key_id"], signature=bytes(row["signature"]), columns=columns)):
                    break
            result.close()
        return verifier.finish()

    def export(self, stream: TextIO) -> Checkpoint:
        """Write the log as JSON Lines (header, stored checkpoints, a fresh checkpoint, entries); returns the fresh one.

        A reviewer re-verifies the file offline with :func:`verify_export` and the public key.
        """
        latest = self.checkpoint() if self._key is not None else self.latest_checkpoint()
        if latest is None:
            raise AuditKeyError("no checkpoint to export with: give the signing key to sign one")
        stream.write(json.dumps({"type": "header", "format": EXPORT_FORMAT, "hash": "sha256 (RFC 6962)",
                                 "tree_size": latest.tree_size,
                                 "public_keys": sorted(public_key_text(raw) for raw in self._public.values())}) + "\n")
        for cp in self.checkpoints():  # before the entries, so that a verifier can stream them
            if cp.tree_size <= latest.tree_size and cp != latest:
                stream.write(json.dumps({"type": "checkpoint", **cp.model_dump(mode="json")}) + "\n")
        stream.write(json.dumps({"type": "checkpoint", **latest.model_dump(mode="json")}) + "\n")
        with self._store("read"), self._engine.connect() as conn:
            query = select(ENTRIES).where(ENTRIES.c.leaf_index < latest.tree_size).order_by(ENTRIES.c.leaf_index)
            result = conn.execution_options(yield_per=1000).execute(query)
            for row in result.mappings():
                stream.write(json.dumps({
                    "type": "entry", "index": row["leaf_index"], "body": row["body"], "leaf_hash": row["leaf_hash"],
                    "subtree_hash": row["subtree_hash"], "root_hash": row["root_hash"], "key_id": row["key_id"],
                    "signature": base64.b64encode(bytes(row["signature"])).decode(),
                }, ensure_ascii=False) + "\n")
            result.close()
        return latest

    # --- plumbing -----------------------------------------------------------------------------

    def _require_key(self, what: str) -> AuditKey:
        if self._key is None:
            raise AuditKeyError(f"cannot {what} the audit log without its signing key "
                                "(LIKENESS_AUDIT_SIGNING_KEY_FILE; `likeness keys init` makes one)")
        return self._key

    @staticmethod
    def _refuse_if_cut(conn: Connection, size: int, consequence: str) -> None:
        """Fail closed when a stored checkpoint covers more entries than the log holds (its tail was deleted)."""
        covered = conn.execute(select(func.max(CHECKPOINTS.c.tree_size))).scalar()
        if covered is not None and covered > size:
            raise AuditIntegrityError(f"the audit log holds {size} entries but a checkpoint covers {covered}: "
                                      f"its tail was deleted; run `likeness audit verify`; {consequence}")

    @staticmethod
    def _subtrees(conn: Connection, indices: set[int]) -> dict[int, bytes]:
        if not indices:
            return {}
        rows = conn.execute(select(ENTRIES.c.leaf_index, ENTRIES.c.subtree_hash)
                            .where(ENTRIES.c.leaf_index.in_(sorted(indices)))).all()
        found = {i: bytes.fromhex(h) for i, h in rows}
        missing = sorted(indices - set(found))
        if missing:
            raise AuditIntegrityError(f"audit entry {missing[0]} is missing: run `likeness audit verify`; "
                                      "nothing was appended")
        return found

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A transaction that holds the log's append lock until it commits."""
        with self._engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            else:  # pragma: no cover - the two databases Likeness runs on
                raise AuditStoreError(f"the audit log does not support {conn.dialect.name}")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @contextmanager
    def _store(self, what: str) -> Iterator[None]:
        try:
            yield
        except AuditError:
            raise
        except SQLAlchemyError as exc:
            logger.warning("audit log %s failed: %s", what, type(exc).__name__)
            raise AuditStoreError(f"cannot {what} the audit log: {type(exc).__name__}: "
                                  f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}") from exc


class _Hashes:
    """Stored leaf and subtree hashes read on demand (with a cache), for roots and proofs."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._rows: dict[int, tuple[str, str, str]] = {}

    def _row(self, index: int) -> tuple[str, str, str]:
        if index not in self._rows:
            row = self._conn.execute(select(ENTRIES.c.leaf_hash, ENTRIES.c.subtree_hash, ENTRIES.c.root_hash)
                                     .where(ENTRIES.c.leaf_index == index)).first()
            if row is None:
                raise AuditIntegrityError(f"audit entry {index} is missing: run `likeness audit verify`")
            self._rows[index] = (row[0], row[1], row[2])
        return self._rows[index]

    def leaf(self, index: int) -> bytes:
        return bytes.fromhex(self._row(index)[0])

    def stored(self, index: int) -> bytes:
        return bytes.fromhex(self._row(index)[1])

    def signed_root(self, index: int) -> str:
        return self._row(index)[2]

    def mth(self, start: int, end: int) -> bytes:
        return _merkle.range_hash(start, end=end, leaf=self.leaf, stored=self.stored)


def verify_export(lines: Iterable[str], *, public_keys: Iterable[bytes],
                  checkpoints: Sequence[Checkpoint] = ()) -> VerifyReport:
    """Verify an export offline with only the public key(s): every entry, tree head and checkpoint.

    Streams the lines (O(log n) memory). The keys inside the file are not trusted: pass the public
    key obtained from the operator. ``checkpoints``: tree heads published elsewhere, to catch an
    export cut short.
    """
    keys = {key_id(raw): raw for raw in public_keys}
    if not keys:
        raise AuditKeyError("verifying an export needs the audit public key")
    found: list[Checkpoint] = []
    verifier: StreamVerifier | None = None
    header = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record["type"]
            if not header and kind != "header":
                raise AuditInputError(f"not a {EXPORT_FORMAT} file: line {number} comes before the header")
            if kind == "header":
                if header or record.get("format") != EXPORT_FORMAT:
                    raise AuditInputError(f"line {number}: not a {EXPORT_FORMAT} header")
                header = True
            elif kind == "checkpoint":
                if verifier is not None:
                    raise AuditInputError(f"line {number}: a checkpoint after the entries (they come first)")
                found.append(Checkpoint.model_validate({k: v for k, v in record.items() if k != "type"}))
            elif kind == "entry":
                row = Row(index=int(record["index"]), body=str(record["body"]), leaf_hash=str(record["leaf_hash"]),
                          subtree_hash=str(record["subtree_hash"]), root_hash=str(record["root_hash"]),
                          key_id=str(record["key_id"]), signature=decode_signature(str(record["signature"])))
                if verifier is None:
                    verifier = StreamVerifier(public_keys=keys, checkpoints=[*found, *checkpoints])
                if not verifier.feed(row):
                    break
            else:
                raise AuditInputError(f"line {number}: unknown record type {kind!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditInputError(f"line {number} of the export is not a valid record: {type(exc).__name__}") from None
    if not header:
        raise AuditInputError(f"not a {EXPORT_FORMAT} file: no header line")
    if verifier is None:
        verifier = StreamVerifier(public_keys=keys, checkpoints=[*found, *checkpoints])
    return verifier.finish()


def _kind(kind: AuditKind | str) -> AuditKind:
    try:
        return AuditKind(kind)
    except ValueError:
        raise AuditInputError(f"unknown audit entry kind {kind!r}; one of: "
                              f"{', '.join(k.value for k in AuditKind)}") from None


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit or any(c in value for c in "\r\n\0"):
        raise AuditInputError(f"{what} must be a non-empty single-line text of at most {limit} characters")
    return value


def _name(value: str | None, what: str, limit: int) -> str | None:
    return None if value is None else _text(value, what, limit)


def _public(row: Mapping[str, Any]) -> AuditEntryPublic:
    try:
        body = json.loads(row["body"])
        time_text = body["time"]
        data = body["data"]
        created = parse_utc(time_text)
    except (ValueError, KeyError, TypeError):
        raise AuditIntegrityError(f"audit entry {row['leaf_index']} does not hold a readable body: "
                                  "run `likeness audit verify`") from None
    return AuditEntryPublic(
        index=row["leaf_index"], kind=row["kind"], created_at=created, actor=row["actor"],
        partner=row["partner"], consent_id=row["consent_id"], generation_id=row["generation_id"],
        data=data, body=row["body"], leaf_hash=row["leaf_hash"], root_hash=row["root_hash"],
        key_id=row["key_id"], signature=base64.b64encode(bytes(row["signature"])).decode(),
    )


def _checkpoint(row: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(tree_size=row["tree_size"], root_hash=row["root_hash"], created_at=row["created_at"],
                      key_id=row["key_id"], signature=base64.b64encode(bytes(row["signature"])).decode())

