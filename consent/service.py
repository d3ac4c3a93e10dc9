"""The consent registry: register, look up, check scope, score a portrait, revoke, erase.

>>> import tempfile; from pathlib import Path; from datetime import datetime, UTC
>>> from sqlmodel import SQLModel, create_engine
>>> from consent import ConsentKeys, ConsentScope, ConsentService, init_consent_keys
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> paths = init_consent_keys(Path(tempfile.mkdtemp()) / "keys")
>>> registry = ConsentService(engine, keys=ConsentKeys.from_files(signing_key_file=paths.signing_key,
...                                                               master_key_file=paths.master_key))
>>> scope = ConsentScope(partners=["acme"], purposes=["education"], valid_until=datetime(2100, 1, 1, tzinfo=UTC))
>>> consent, token = registry.register(scope)        # the token is shown to the subject once, stored hashed
>>> registry.check_scope(consent.id, partner="acme", purpose="education").covered
True
>>> registry.check_scope(consent.id, partner="acme", purpose="advertising").reasons
["purpose 'advertising' is not among the purposes the consent names"]
>>> registry.revoke(consent.id, token=token, reason="changed my mind").status
<ConsentStatus.REVOKED: 'revoked'>
>>> [(r.revision, r.kind.value) for r in registry.get(consent.id).history]
[(1, 'granted'), (2, 'revoked')]

The gateway calls :meth:`~ConsentService.get`, :meth:`~ConsentService.check_scope`,
:meth:`~ConsentService.score_portrait`, :meth:`~ConsentService.record_generation` and
:meth:`~ConsentService.record_outputs_deleted`; the
portal calls the rest on the subject's behalf, with the subject's management token. Every
load verifies the consent's signatures and hash chain first (a changed row raises
:class:`~consent.errors.ConsentTamperedError`). Reference embeddings are decrypted in memory
only, for one comparison, and are never logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import delete, text, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from consent import _chain
from consent._crypto import (
    KEY_BYTES,
    SealError,
    hash_token,
    new_token,
    open_sealed,
    seal,
    token_prefix,
    tokens_match,
    utc_text,
)
from consent._scope import evaluate, status_at
from consent.errors import (
    ConsentAuthError,
    ConsentConflictError,
    ConsentErasedError,
    ConsentError,
    ConsentExpiredError,
    ConsentInactiveError,
    ConsentInputError,
    ConsentKeyError,
    ConsentNotYetValidError,
    ConsentRevokedError,
    ConsentStoreError,
    ConsentTamperedError,
    ReferenceUnavailableError,
    UnknownConsentError,
)
from consent.keys import ConsentKeys
from consent.models import (
    Consent,
    ConsentEvidence,
    ConsentGeneration,
    ConsentOutputDeletion,
    ConsentRevision,
    ReferenceEmbedding,
    Subject,
    SubjectDataKey,
)
from consent.schemas import (
    ConsentPublic,
    ConsentScope,
    ConsentStatus,
    ErasureReceipt,
    EvidenceCreate,
    EvidencePublic,
    GenerationPublic,
    PortraitMatch,
    RevisionKind,
    RevisionPublic,
    ScopeDecision,
)
from faces import Embedding, IdentityBackend, embed_face, match, normalised, require_calibration
from likeness.db import store_session

logger = logging.getLogger(__name__)

_CONSENT_ID = re.compile(r"^cns_[0-9a-f]{32}$")
_GENERATION_ID = re.compile(r"^gen_[0-9a-f]{16}$")
_WATERMARK_ID = re.compile(r"^[0-9a-f]{16}$")
_PARTNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_BAD_TOKEN = "the consent id or the management token is not valid"  # noqa: S105 (a message, not a secret)
_UNMATCHABLE = hash_token("likeness/consent: no such consent")  # compared against when the id is unknown
MAX_REFERENCES = 32


@dataclass
class _Loaded:
    consent: Consent
    revisions: list[ConsentRevision]
    evidence: list[ConsentEvidence]

    @property
    def current(self) -> ConsentRevision:
        return self.revisions[-1]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def _aware(at: datetime | None, clock: Callable[[], datetime]) -> datetime:
    if at is None:
        return clock()
    if at.utcoffset() is None:
        raise ConsentInputError("a time must carry its time zone (e.g. datetime.now(UTC))")
    return at.astimezone(UTC)


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ConsentInputError("give a reason (a few words are enough)")
    reason = " ".join(reason.split())
    if len(reason) > 500:
        raise ConsentInputError(f"the reason is {len(reason)} characters long; at most 500 are kept")
    return reason


def _dek_aad(subject_id: str) -> bytes:
    return f"likeness/consent-data-key/v1|{subject_id}".encode()


def _embedding_aad(row: ReferenceEmbedding) -> bytes:
    return f"likeness/consent-embedding/v1|{row.id}|{row.subject_id}|{row.model_version}|{row.dim}".encode()


def _inactive(status: ConsentStatus, rev: ConsentRevision, consent_id: str) -> ConsentInactiveError:
    if status == ConsentStatus.ERASED:
        return ConsentErasedError(f"consent {consent_id}: the subject erased their data; nothing can be done with it")
    if status == ConsentStatus.REVOKED:
        return ConsentRevokedError(f"consent {consent_id} was revoked by its subject on {utc_text(rev.created_at)}")
    if status == ConsentStatus.NOT_YET_VALID:
        return ConsentNotYetValidError(f"consent {consent_id} is valid only from {utc_text(rev.valid_from)}")
    return ConsentExpiredError(f"consent {consent_id} expired on {utc_text(rev.valid_until)}")


class ConsentService:
    """The consent registry over one SQLAlchemy engine (migrated to head), with the registry's keys.

    ``identity`` is the face identity backend (``faces.get_identity_backend``) that
    :meth:`score_portrait` and the portal's enrolment use; ``clock`` returns the current time
    (tests pass their own).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        keys: ConsentKeys,
        identity: IdentityBackend | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self._keys = keys
        self._identity = identity
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"ConsentService({self._engine.url.render_as_string(hide_password=True)!r}, keys={self._keys!r})"

    # ---------------------------------------------------------------- sessions and loading

    def _session(self) -> AbstractContextManager[Session]:
        return store_session(self._engine, error=ConsentStoreError, what="the consent registry",
                             conflict=lambda _: ConsentConflictError(
                                 "the consent changed while this request was changing it; try again"))

    def _load(self, session: Session, consent_id: str, *, for_update: bool = False) -> _Loaded:
        consent = self._consent_row(session, consent_id, for_update=for_update)
        if consent is None:
            raise UnknownConsentError(f"no consent has the id {consent_id!r}")
        return self._history(session, consent)

    def _consent_row(self, session: Session, consent_id: object, *, for_update: bool) -> Consent | None:
        if not isinstance(consent_id, str) or not _CONSENT_ID.match(consent_id):
            return None
        statement = select(Consent).where(Consent.id == consent_id)
        if for_update:
            statement = statement.with_for_update()
        return session.exec(statement).first()

    def _history(self, session: Session, consent: Consent) -> _Loaded:
        try:
            revisions = list(session.exec(
                select(ConsentRevision).where(ConsentRevision.consent_id == consent.id).order_by(
                    col(ConsentRevision.revision))
            ))
            evidence = list(session.exec(
                select(ConsentEvidence).where(ConsentEvidence.consent_id == consent.id).order_by(
                    col(ConsentEvidence.id))
            ))
        except (ValueError, TypeError):  # a JSON column that no longer parses, a date that is not one
            raise ConsentTamperedError(f"consent {consent.id} holds a value that no consent can hold (it was "
                                       "changed outside Likeness)") from None
        return _Loaded(consent, revisions, evidence)

    def _verified(self, session: Session, consent_id: str, *, for_update: bool = False) -> _Loaded:
        loaded = self._load(session, consent_id, for_update=for_update)
        _chain.verify_history(loaded.consent, loaded.revisions, loaded.evidence, self._keys)
        return loaded

    def _authenticate(self, session: Session, consent_id: str, token: str, *, for_update: bool) -> Consent:
        """The consent, if ``token`` is its management token; one error, same work, for every failure."""
        consent = self._consent_row(session, consent_id, for_update=for_update)
        ok = tokens_match(token, consent.token_hash if consent is not None else _UNMATCHABLE)
        if consent is None or not ok:
            raise ConsentAuthError(_BAD_TOKEN)
        return consent

    # ---------------------------------------------------------------- keys and embeddings

    def _data_key(self, session: Session, subject_id: str) -> bytes:
        row = session.get(SubjectDataKey, subject_id)
        if row is None:
            subject = session.get(Subject, subject_id)
            if subject is not None and subject.erased_at is None:
                raise ConsentTamperedError("a subject's data key is missing though the subject never erased their "
                                           "data: it was deleted outside Likeness")
            raise ConsentErasedError("the subject erased their data: their reference embeddings cannot be decrypted")
        if row.master_key_id != self._keys.master_key_id:
            raise ConsentKeyError(
                f"the subject's data key is wrapped by master key {row.master_key_id}, but the configured consent "
                f"master key is {self._keys.master_key_id}: point LIKENESS_CONSENT_MASTER_KEY_FILE at the right key"
            )
        try:
            key = open_sealed(self._keys.master_key, blob=bytes(row.wrapped_key), aad=_dek_aad(subject_id))
        except SealError:
            raise ConsentTamperedError(
                "a subject's wrapped data key does not authenticate under the master key: it was changed outside "
                "Likeness"
            ) from None
        if len(key) != KEY_BYTES:
            raise ConsentTamperedError("a subject's data key has the wrong length: it was changed outside Likeness")
        return key

    def _seal_embeddings(self, subject_id: str, data_key: bytes, embeddings: Sequence[Embedding]) -> list[
            ReferenceEmbedding]:
        rows = []
        for item in embeddings:
            if not isinstance(item, Embedding):
                raise ConsentInputError("reference embeddings must be faces.Embedding values (from faces.embed_face)")
            if not 0 < len(item.model_version) <= 200 or not 2 <= item.dim <= 4096:
                raise ConsentInputError("a reference embedding needs a model version (at most 200 characters) and "
                                        "2 to 4096 dimensions")
            row = ReferenceEmbedding(id=_new_id("ref"), subject_id=subject_id, model_version=item.model_version,
                                     dim=item.dim, created_at=self._clock())
            plaintext = np.ascontiguousarray(item.vector, dtype="<f4").tobytes()
            row.ciphertext = seal(data_key, plaintext=plaintext, aad=_embedding_aad(row))
            rows.append(row)
        return rows

    def _decrypt(self, rows: Sequence[ReferenceEmbedding], data_key: bytes) -> list[np.ndarray]:
        vectors = []
        for row in rows:
            if row.ciphertext is None:
                continue
            try:
                plain = open_sealed(data_key, blob=bytes(row.ciphertext), aad=_embedding_aad(row))
            except SealError:
                raise ConsentTamperedError(
                    f"reference embedding {row.id} does not authenticate under its subject's data key: it was "
                    "changed or moved outside Likeness"
                ) from None
            vector = np.frombuffer(plain, dtype="<f4")
            if vector.shape != (row.dim,):
                raise ConsentTamperedError(f"reference embedding {row.id} has the wrong length")
            vectors.append(normalised(vector))
        return vectors

    # ---------------------------------------------------------------- public shapes

    def _public(self, session: Session, loaded: _Loaded, at: datetime) -> ConsentPublic:
        consent, current = loaded.consent, loaded.current
        usable = 0
        if session.get(SubjectDataKey, consent.subject_id) is not None:
            usable = session.exec(
                select(func.count()).select_from(ReferenceEmbedding).where(
                    ReferenceEmbedding.subject_id == consent.subject_id,
                    col(ReferenceEmbedding.ciphertext).is_not(None),
                )
            ).one()
        return ConsentPublic(
            id=consent.id,
            status=status_at(current, at),
            revision=current.revision,
            scope=_scope_of(current),
            created_at=consent.created_at,
            updated_at=current.created_at,
            head_hash=consent.head_hash,
            token_prefix=consent.token_prefix,
            reference_embeddings=usable,
            history=[RevisionPublic(revision=r.revision, kind=RevisionKind(r.kind), scope=_scope_of(r),
                                    created_at=r.created_at, reason=r.reason, content_hash=r.content_hash)
                     for r in loaded.revisions],
            evidence=[EvidencePublic(kind=e.kind, media_sha256=e.media_sha256, challenge_sha256=e.challenge_sha256,
                                     scores=e.scores, model_versions=e.model_versions, revision=e.revision,
                                     created_at=e.created_at, content_hash=e.content_hash)
                      for e in loaded.evidence],
        )

    # ---------------------------------------------------------------- the subject's side

    def register(
        self,
        scope: ConsentScope,
        *,
        evidence: Sequence[EvidenceCreate] = (),
        reference_embeddings: Sequence[Embedding] = (),
        reason: str = "consent given by the subject",
    ) -> tuple[ConsentPublic, str]:
        """Record a new subject and their consent (revision 1, signed); return it and the management token.

        Everything is stored in one transaction: the subject, their wrapped data key, the encrypted
        reference embeddings, the evidence and the signed revision — or nothing. The token is
        returned once and only its hash is kept.
        """
        now = self._clock()
        reason = _reason(reason)
        valid_from = scope.valid_from or now
        if scope.valid_until is not None and scope.valid_until <= max(valid_from, now):
            raise ConsentInputError("valid_until must lie in the future and after valid_from")
        if len(reference_embeddings) > MAX_REFERENCES:
            raise ConsentInputError(f"at most {MAX_REFERENCES} reference embeddings per subject")
        subject = Subject(id=_new_id("sub"), created_at=now)
        data_key = secrets.token_bytes(KEY_BYTES)
        wrapped = SubjectDataKey(subject_id=subject.id, master_key_id=self._keys.master_key_id, created_at=now,
                                 wrapped_key=seal(self._keys.master_key, plaintext=data_key, aad=_dek_aad(subject.id)))
        token = new_token()
        consent = Consent(id=_new_id("cns"), subject_id=subject.id, current_revision=1, head_hash="",
                          token_prefix=token_prefix(token), token_hash=hash_token(token), created_at=now,
                          signing_key_id="", head_signature=b"")
        evidence_rows = []
        for item in evidence:
            if not isinstance(item, EvidenceCreate):
                raise ConsentInputError("evidence must be EvidenceCreate values")
            row = ConsentEvidence(consent_id=consent.id, revision=1, created_at=now, **item.model_dump())
            row.content_hash = _chain.evidence_hash(row)
            evidence_rows.append(row)
        revision = ConsentRevision(
            consent_id=consent.id, revision=1, kind=RevisionKind.GRANTED.value, subject_id=subject.id,
            partners=scope.partners, purposes=scope.purposes, prohibited_purposes=list(scope.prohibited_purposes),
            languages=scope.languages, territories=scope.territories, valid_from=valid_from,
            valid_until=scope.valid_until, created_at=now, reason=reason,
            evidence_hashes=sorted(row.content_hash for row in evidence_rows), prev_hash=None, content_hash="",
            signing_key_id="", signature=b"",
        )
        _chain.sign_revision(revision, self._keys)
        consent.head_hash = revision.content_hash
        _chain.sign_head(consent, self._keys)
        embedding_rows = self._seal_embeddings(subject.id, data_key, reference_embeddings)
        with self._session() as session:
            session.add(subject)
            session.flush()
            session.add(wrapped)
            session.add(consent)
            session.flush()
            session.add(revision)
            session.add_all(evidence_rows)
            session.add_all(embedding_rows)
            session.commit()
            public = self._public(session, self._verified(session, consent.id), now)
        logger.info("consent %s registered (revision 1, %d reference embeddings)", consent.id, len(embedding_rows))
        return public, token

    def view(self, consent_id: str, *, token: str, at: datetime | None = None) -> ConsentPublic:
        """The subject's management view: the consent, its history and evidence (token required)."""
        moment = _aware(at, self._clock)
        with self._session() as session:
            self._authenticate(session, consent_id, token, for_update=False)
            return self._public(session, self._verified(session, consent_id), moment)

    def revoke(self, consent_id: str, *, token: str, reason: str) -> ConsentPublic:
        """Append a signed ``revoked`` revision (history is kept). Revoking a revoked consent changes nothing.

        A revocation is never blocked: it is recorded even when the stored history fails its
        integrity check, and the :class:`ConsentTamperedError` that follows says it was recorded.
        """
        reason = _reason(reason)
        now = self._clock()
        with self._session() as session:
            consent = self._authenticate(session, consent_id, token, for_update=True)
            current = session.get(ConsentRevision, (consent.id, consent.current_revision))
            if current is None:
                raise ConsentTamperedError(f"consent {consent_id} has lost its current revision: it was changed "
                                           "outside Likeness")
            if current.kind == RevisionKind.ERASED:
                raise ConsentErasedError(f"consent {consent_id} was erased; there is nothing left to revoke")
            number = current.revision
            if current.kind != RevisionKind.REVOKED:
                number = self._append(session, consent, current, kind=RevisionKind.REVOKED, reason=reason, at=now)
                session.commit()
                logger.info("consent %s revoked (revision %d)", consent_id, number)
            try:
                return self._public(session, self._verified(session, consent_id), now)
            except ConsentTamperedError as exc:
                raise ConsentTamperedError(f"the revocation was recorded as revision {number}, but {exc}") from None

    def _append(
        self, session: Session, consent: Consent, previous: ConsentRevision, *, kind: RevisionKind, reason: str,
        at: datetime,
    ) -> int:
        """Add the next revision (the previous scope, a new kind) and move the signed head onto it."""
        rev = ConsentRevision(
            consent_id=consent.id, revision=previous.revision + 1, kind=kind.value, subject_id=consent.subject_id,
            partners=previous.partners, purposes=previous.purposes,
            prohibited_purposes=list(previous.prohibited_purposes), languages=previous.languages,
            territories=previous.territories, valid_from=previous.valid_from, valid_until=previous.valid_until,
            created_at=at, reason=reason, evidence_hashes=[], prev_hash=previous.content_hash, content_hash="",
            signing_key_id="", signature=b"",
        )
        _chain.sign_revision(rev, self._keys)
        session.add(rev)
        session.flush()
        consent.current_revision = rev.revision
        consent.head_hash = rev.content_hash
        _chain.sign_head(consent, self._keys)
        session.add(consent)
        session.flush()
        return rev.revision

    def erase(self, consent_id: str, *, token: str, reason: str = "erased at the subject's request") -> ErasureReceipt:
        """Erase the subject of this consent: destroy their data key, wipe their embeddings, close every consent.

        Deleting the wrapped data key crypto-shreds every embedding of the subject, including any
        copy of its ciphertext (a replica, a backup taken after this); the ciphertext is wiped too.
        Each of the subject's consents gets a signed ``erased`` revision; the history, the evidence
        hashes and the list of generations stay (they hold no biometric data and account for what
        was done while consent stood). Erasing twice changes nothing. On SQLite the freed pages are
        zeroed (``secure_delete``) and the WAL is truncated, so no deleted key is left in the files.
        """
        reason = _reason(reason)
        now = self._clock()
        with self._session() as session:
            consent = self._authenticate(session, consent_id, token, for_update=True)
            subject = session.get(Subject, consent.subject_id, with_for_update=True)
            if subject is None:
                raise ConsentTamperedError(f"consent {consent_id} names a subject that does not exist")
            if subject.erased_at is not None:
                ids = list(session.exec(select(Consent.id).where(Consent.subject_id == subject.id)))
                return ErasureReceipt(subject_erased_at=subject.erased_at, consent_ids=sorted(ids),
                                      embeddings_shredded=0)
            sqlite = session.get_bind().dialect.name == "sqlite"
            if sqlite:
                session.execute(text("PRAGMA secure_delete = ON"))
            session.execute(delete(SubjectDataKey).where(col(SubjectDataKey.subject_id) == subject.id))
            shredded = cast(CursorResult[Any], session.execute(
                update(ReferenceEmbedding)
                .where(col(ReferenceEmbedding.subject_id) == subject.id,
                       col(ReferenceEmbedding.ciphertext).is_not(None))
                .values(ciphertext=None)
            )).rowcount
            subject.erased_at = now
            session.add(subject)
            closed = []
            consents = session.exec(select(Consent).where(Consent.subject_id == subject.id).with_for_update()).all()
            for row in consents:
                current = session.get(ConsentRevision, (row.id, row.current_revision))
                if current is not None and current.kind != RevisionKind.ERASED:
                    self._append(session, row, current, kind=RevisionKind.ERASED, reason=reason, at=now)
                closed.append(row.id)
            session.commit()
        if sqlite:
            self._truncate_wal()
        logger.info("subject of consent %s erased (%d consents closed, %d embeddings shredded)", consent_id,
                    len(closed), shredded)
        return ErasureReceipt(subject_erased_at=now, consent_ids=sorted(closed), embeddings_shredded=shredded)

    def _truncate_wal(self) -> None:
        try:
            with self._engine.connect() as conn:
                busy = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
        except SQLAlchemyError as exc:
            logger.warning("after an erasure, the SQLite WAL could not be checkpointed: %s", type(exc).__name__)
            return
        if busy is not None and busy[0]:
            logger.warning("after an erasure, the SQLite WAL is still in use by a reader; it is truncated at the "
                           "next checkpoint")

    def add_reference_embeddings(self, consent_id: str, *, token: str, embeddings: Sequence[Embedding]) -> int:
        """Encrypt and store more reference embeddings for the consent's subject; returns how many are usable now."""
        with self._session() as session:
            consent = self._authenticate(session, consent_id, token, for_update=True)
            loaded = self._verified(session, consent_id)
            status = status_at(loaded.current, self._clock())
            if status in (ConsentStatus.ERASED, ConsentStatus.REVOKED):
                raise _inactive(status, loaded.current, consent_id)
            existing = session.exec(select(func.count()).select_from(ReferenceEmbedding).where(
                ReferenceEmbedding.subject_id == consent.subject_id)).one()
            if existing + len(embeddings) > MAX_REFERENCES:
                raise ConsentInputError(f"at most {MAX_REFERENCES} reference embeddings per subject "
                                        f"({existing} stored already)")
            rows = self._seal_embeddings(consent.subject_id, self._data_key(session, consent.subject_id), embeddings)
            session.add_all(rows)
            session.commit()
            return self._public(session, loaded, self._clock()).reference_embeddings

    def generations_for(self, consent_id: str, *, token: str) -> list[GenerationPublic]:
        """Every recorded generation of the subject's likeness under this consent, newest first (token required)."""
        with self._session() as session:
            self._authenticate(session, consent_id, token, for_update=False)
            rows = session.exec(select(ConsentGeneration).where(ConsentGeneration.consent_id == consent_id).order_by(
                col(ConsentGeneration.created_at).desc(), col(ConsentGeneration.id).desc())).all()
            deleted = {d.generation_id: d for d in session.exec(select(ConsentOutputDeletion).where(
                ConsentOutputDeletion.consent_id == consent_id))}
            return [GenerationPublic(generation_id=r.generation_id, watermark_id=r.watermark_id, partner=r.partner,
                                     purpose=r.purpose, created_at=r.created_at, kind=r.kind,
                                     output_deleted_at=_deleted_at(deleted.get(r.generation_id)),
                                     output_deleted_reason=_deleted_reason(deleted.get(r.generation_id)))
                    for r in rows]

    # ---------------------------------------------------------------- the gateway's side

    def get(self, consent_id: str, *, at: datetime | None = None) -> ConsentPublic:
        """The consent, verified against its signatures; ``status`` as of ``at`` (default: now)."""
        moment = _aware(at, self._clock)
        with self._session() as session:
            return self._public(session, self._verified(session, consent_id), moment)

    def consent_ids(self) -> list[str]:
        """The id of every consent in the database, oldest first (for ``likeness audit check-consents``)."""
        with self._session() as session:
            return list(session.exec(select(Consent.id).order_by(col(Consent.created_at), col(Consent.id))))

    def check_scope(
        self,
        consent_id: str,
        *,
        partner: str,
        purpose: str,
        at: datetime | None = None,
        language: str | None = None,
        territory: str | None = None,
    ) -> ScopeDecision:
        """Does the consent cover ``partner`` using the likeness for ``purpose`` at ``at`` (default: now)?

        A decision, not an exception: ``covered`` and the reasons. An unknown consent raises
        :class:`UnknownConsentError` and a changed one :class:`ConsentTamperedError`.
        """
        moment = _aware(at, self._clock)
        with self._session() as session:
            loaded = self._verified(session, consent_id)
        result = evaluate(loaded.current, partner=partner, purpose=purpose, at=moment, language=language,
                          territory=territory)
        pairs = result.reasons()
        return ScopeDecision(covered=result.covered, reasons=[words for _, words in pairs],
                             codes=[code for code, _ in pairs], consent_id=consent_id,
                             revision=loaded.current.revision, head_hash=loaded.consent.head_hash,
                             status=result.status, at=moment)

    def score_portrait(self, consent_id: str, *, portrait_rgb: np.ndarray, at: datetime | None = None) -> PortraitMatch:
        """Score the face in ``portrait_rgb`` against the consent's reference embeddings, with the calibrated decision.

        The consent must be in force at ``at``: a revoked, expired or erased consent's biometric
        data is not processed (:class:`ConsentInactiveError`). The decision is
        :func:`faces.match`: the best similarity to the subject's references must reach the
        backend's calibrated threshold and beat every other enrolled person by its margin.
        Other people's references are decrypted for that comparison only, in memory.
        """
        if self._identity is None:
            raise ConsentError("no identity backend is configured for the consent registry (LIKENESS_IDENTITY_BACKEND)")
        backend = self._identity
        calibration = require_calibration(backend)
        started = time.perf_counter()
        moment = _aware(at, self._clock)
        with self._session() as session:
            loaded = self._verified(session, consent_id)
        status = status_at(loaded.current, moment)
        if status != ConsentStatus.ACTIVE:
            raise _inactive(status, loaded.current, consent_id)
        probe = embed_face(portrait_rgb, backend=backend)
        subject_id = loaded.consent.subject_id
        with self._session() as session:
            rows = session.exec(select(ReferenceEmbedding).where(ReferenceEmbedding.subject_id == subject_id)).all()
            same_model = [r for r in rows if r.model_version == backend.model_version and r.ciphertext is not None]
            if not same_model:
                made_with = sorted({r.model_version for r in rows if r.ciphertext is not None})
                raise ReferenceUnavailableError(
                    f"consent {consent_id} has no reference embedding made by the identity model in use "
                    f"({backend.model_version})" + (f"; its references were made by {', '.join(made_with)}"
                                                     if made_with else "") +
                    ": the subject must enrol reference photos again"
                )
            references = self._decrypt(same_model, self._data_key(session, subject_id))
            others = self._other_people(session, subject_id, backend.model_version)
        result = match(probe, reference=references, others=others, calibration=calibration)
        elapsed = 1000 * (time.perf_counter() - started)
        return PortraitMatch(consent_id=consent_id, similarity=result.similarity, threshold=result.threshold,
                             same_person=result.same_person, margin=result.margin, ambiguous=result.ambiguous,
                             reason=result.reason, model_version=backend.model_version, references=len(references),
                             others_compared=len(others), elapsed_ms=elapsed)

    def _other_people(self, session: Session, subject_id: str, model_version: str) -> list[list[np.ndarray]]:
        """The references of every other subject whose consent stands (not revoked, not erased), one list each.

        Not signature-checked row by row: another person's references can only make the decision
        stricter (an ambiguity), never let a face through. A person whose data key cannot be
        opened is left out with an error in the log.
        """
        live = (
            select(Consent.subject_id)
            .join(ConsentRevision, (col(ConsentRevision.consent_id) == col(Consent.id))
                  & (col(ConsentRevision.revision) == col(Consent.current_revision)))
            .where(ConsentRevision.kind == RevisionKind.GRANTED.value)
        )
        rows = session.exec(
            select(ReferenceEmbedding).join(Subject, col(Subject.id) == col(ReferenceEmbedding.subject_id)).where(
                ReferenceEmbedding.subject_id != subject_id,
                ReferenceEmbedding.model_version == model_version,
                col(ReferenceEmbedding.ciphertext).is_not(None),
                col(Subject.erased_at).is_(None),
                col(ReferenceEmbedding.subject_id).in_(live),
            )
        ).all()
        by_subject: dict[str, list[ReferenceEmbedding]] = {}
        for row in rows:
            by_subject.setdefault(row.subject_id, []).append(row)
        people = []
        for other, their_rows in by_subject.items():
            try:
                people.append(self._decrypt(their_rows, self._data_key(session, other)))
            except ConsentError as exc:
                logger.error("references of subject %s left out of an identity comparison: %s", other,
                             type(exc).__name__)
        return [person for person in people if person]

    def record_generation(
        self,
        consent_id: str,
        *,
        generation_id: str,
        partner: str,
        purpose: str,
        watermark_id: str | None = None,
        kind: Literal["video", "live"] = "video",
        at: datetime | None = None,
    ) -> GenerationPublic:
        """Record a use of the subject's likeness for their management page: a released video, or a live session
        that streamed (``kind="live"``, recorded at its close whether or not its recording was kept)."""
        moment = _aware(at, self._clock)
        if not isinstance(generation_id, str) or not _GENERATION_ID.match(generation_id):
            raise ConsentInputError(f"not a generation id: {generation_id!r} (expected gen_ + 16 hex digits)")
        if watermark_id is not None and not _WATERMARK_ID.match(watermark_id):
            raise ConsentInputError(f"not a watermark id: {watermark_id!r} (expected 16 hex digits)")
        if not _PARTNER.match(partner) or not _PURPOSE.match(purpose):
            raise ConsentInputError("partner and purpose must be ids (letters, digits, . _ -)")
        with self._session() as session:
            if self._consent_row(session, consent_id, for_update=False) is None:
                raise UnknownConsentError(f"no consent has the id {consent_id!r}")
            known = session.exec(select(ConsentGeneration).where(ConsentGeneration.generation_id == generation_id))
            if known.first() is not None:
                raise ConsentConflictError(f"generation {generation_id} is already recorded")
            row = ConsentGeneration(consent_id=consent_id, generation_id=generation_id, watermark_id=watermark_id,
                                    partner=partner, purpose=purpose, kind=kind, created_at=moment)
            session.add(row)
            session.commit()
        return GenerationPublic(generation_id=generation_id, watermark_id=watermark_id, partner=partner,
                                purpose=purpose, created_at=moment, kind=kind)

    def withdrawn_among(self, consent_ids: Sequence[str]) -> dict[str, ConsentStatus]:
        """Which of ``consent_ids`` are revoked or erased now (``revoked`` / ``erased``), signatures verified.

        For a sweep over many consents: one query finds the candidates by their current revision,
        and only those are loaded and verified.
        """
        ids = sorted({c for c in consent_ids if isinstance(c, str) and _CONSENT_ID.match(c)})
        found: dict[str, ConsentStatus] = {}
        with self._session() as session:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                candidates = session.exec(
                    select(Consent.id).join(ConsentRevision, (col(ConsentRevision.consent_id) == col(Consent.id))
                                            & (col(ConsentRevision.revision) == col(Consent.current_revision)))
                    .where(col(Consent.id).in_(chunk),
                           col(ConsentRevision.kind).in_([RevisionKind.REVOKED.value, RevisionKind.ERASED.value]))
                ).all()
                for consent_id in candidates:
                    loaded = self._verified(session, consent_id)
                    status = status_at(loaded.current, self._clock())
                    if status in (ConsentStatus.REVOKED, ConsentStatus.ERASED):
                        found[consent_id] = status
        return found

    def record_outputs_deleted(self, consent_id: str, *, generation_ids: Sequence[str], reason: str,
                               at: datetime | None = None) -> int:
        """Record that the released videos ``generation_ids`` of this consent were deleted from storage.

        The subject's management page shows it beside each video. Append-only; a generation
        already recorded as deleted is skipped. Returns how many were recorded now.
        """
        moment = _aware(at, self._clock)
        reason = _reason(reason)[:200]
        ids = sorted(set(generation_ids))
        if any(not isinstance(g, str) or not _GENERATION_ID.match(g) for g in ids):
            raise ConsentInputError("generation ids are gen_ + 16 hex digits")
        if not ids:
            return 0
        with self._session() as session:
            if self._consent_row(session, consent_id, for_update=False) is None:
                raise UnknownConsentError(f"no consent has the id {consent_id!r}")
            known = set(session.exec(select(ConsentOutputDeletion.generation_id).where(
                col(ConsentOutputDeletion.generation_id).in_(ids))))
            fresh = [g for g in ids if g not in known]
            session.add_all(ConsentOutputDeletion(consent_id=consent_id, generation_id=g, reason=reason,
                                                  deleted_at=moment) for g in fresh)
            session.commit()
        return len(fresh)


def _deleted_at(row: ConsentOutputDeletion | None) -> datetime | None:
    return None if row is None else row.deleted_at


def _deleted_reason(row: ConsentOutputDeletion | None) -> str | None:
    return None if row is None else row.reason


def _scope_of(rev: ConsentRevision) -> ConsentScope:
    return ConsentScope(partners=rev.partners, purposes=rev.purposes, prohibited_purposes=rev.prohibited_purposes,
                        languages=rev.languages, territories=rev.territories, valid_from=rev.valid_from,
                        valid_until=rev.valid_until)
