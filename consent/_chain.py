"""Signed, hash-chained consent history (private): what is signed, and the check that finds a changed row.

Each revision is signed (Ed25519) over the canonical JSON of its whole content — consent id,
subject id, revision number, kind, scope, times, reason, the hashes of its evidence, the
previous revision's hash and the signing key's id — so the revisions of one consent form a hash
chain. The consent row's head (current revision, head hash, subject, token hash) is signed
too, so pointing a consent at an older revision, another subject or another token is found.

What this cannot find alone: a database writer who *replays* an older, validly signed head and
deletes the newer revisions (the triggers refuse that DELETE; a superuser can bypass them).
Anchoring each head hash in the append-only audit log closes that gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consent._crypto import canonical_json, sha256_hex, utc_text
from consent.errors import ConsentTamperedError
from consent.keys import ConsentKeys
from consent.models import Consent, ConsentEvidence, ConsentRevision

REVISION_FORMAT = "likeness/consent-revision/v1"
HEAD_FORMAT = "likeness/consent-head/v1"
EVIDENCE_FORMAT = "likeness/consent-evidence/v1"


def scope_content(rev: ConsentRevision) -> dict[str, Any]:
    return {
        "partners": rev.partners,
        "purposes": rev.purposes,
        "prohibited_purposes": rev.prohibited_purposes,
        "languages": rev.languages,
        "territories": rev.territories,
        "valid_from": utc_text(rev.valid_from),
        "valid_until": utc_text(rev.valid_until),
    }


def revision_content(rev: ConsentRevision) -> bytes:
    return canonical_json({
        "format": REVISION_FORMAT,
        "consent_id": rev.consent_id,
        "subject_id": rev.subject_id,
        "revision": rev.revision,
        "kind": rev.kind,
        "scope": scope_content(rev),
        "created_at": utc_text(rev.created_at),
        "reason": rev.reason,
        "evidence": rev.evidence_hashes,
        "prev": rev.prev_hash,
        "key_id": rev.signing_key_id,
    })


def head_content(consent: Consent) -> bytes:
    return canonical_json({
        "format": HEAD_FORMAT,
        "consent_id": consent.id,
        "subject_id": consent.subject_id,
        "revision": consent.current_revision,
        "head": consent.head_hash,
        "token_prefix": consent.token_prefix,
        "token_hash": consent.token_hash,
        "created_at": utc_text(consent.created_at),
        "key_id": consent.signing_key_id,
    })


def evidence_hash(ev: ConsentEvidence) -> str:
    return sha256_hex(canonical_json({
        "format": EVIDENCE_FORMAT,
        "consent_id": ev.consent_id,
        "revision": ev.revision,
        "kind": ev.kind,
        "media_sha256": ev.media_sha256,
        "challenge_sha256": ev.challenge_sha256,
        "scores": ev.scores,
        "model_versions": ev.model_versions,
        "created_at": utc_text(ev.created_at),
    }))


def sign_revision(rev: ConsentRevision, keys: ConsentKeys) -> None:
    """Fill in the revision's key id, content hash and signature."""
    rev.signing_key_id = keys.signing_key_id
    content = revision_content(rev)
    rev.content_hash = sha256_hex(content)
    rev.signature = keys.sign(content)


def sign_head(consent: Consent, keys: ConsentKeys) -> None:
    consent.signing_key_id = keys.signing_key_id
    consent.head_signature = keys.sign(head_content(consent))


def verify_history(
    consent: Consent,
    revisions: Sequence[ConsentRevision],
    evidence: Sequence[ConsentEvidence],
    keys: ConsentKeys,
) -> None:
    """Raise :class:`ConsentTamperedError`, naming the first bad row, unless every signature, hash and link holds."""
    cid = consent.id
    outside = "it was changed outside Likeness"
    if not revisions:
        raise ConsentTamperedError(f"consent {cid} has no revisions: its history was deleted ({outside})")
    by_revision: dict[int, list[ConsentEvidence]] = {}
    for ev in evidence:
        by_revision.setdefault(ev.revision, []).append(ev)
    previous: ConsentRevision | None = None
    for expected_number, rev in enumerate(revisions, start=1):
        where = f"revision {rev.revision} of consent {cid}"
        if rev.revision != expected_number:
            raise ConsentTamperedError(
                f"revision {expected_number} of consent {cid} is missing: its history was cut ({outside})"
            )
        try:
            content = revision_content(rev)
        except (TypeError, ValueError):
            raise ConsentTamperedError(f"{where} holds values no revision can hold ({outside})") from None
        if sha256_hex(content) != rev.content_hash:
            raise ConsentTamperedError(f"{where} was modified after it was signed: its content no longer matches "
                                       f"its hash ({outside})")
        valid = keys.verifies(content, signature=bytes(rev.signature), signed_by=rev.signing_key_id)
        if valid is None:
            raise ConsentTamperedError(f"{where} claims a signing key ({rev.signing_key_id}) this platform does not "
                                       "know: it was forged, or a retired key's public half is not configured")
        if not valid:
            raise ConsentTamperedError(f"{where} does not match its signature ({outside})")
        expected_prev = previous.content_hash if previous is not None else None
        if rev.prev_hash != expected_prev:
            raise ConsentTamperedError(f"{where} does not follow revision {rev.revision - 1}: the hash chain is "
                                       f"broken ({outside})")
        if rev.subject_id != consent.subject_id:
            raise ConsentTamperedError(f"consent {cid} names a different subject than its signed {where} "
                                       f"({outside})")
        found = sorted(evidence_hash(ev) for ev in by_revision.pop(rev.revision, []))
        if found != sorted(rev.evidence_hashes):
            missing = set(rev.evidence_hashes) - set(found)
            detail = "is missing" if missing and len(found) < len(rev.evidence_hashes) else "was modified or added"
            raise ConsentTamperedError(f"evidence signed with {where} {detail} ({outside})")
        previous = rev
    if by_revision:
        raise ConsentTamperedError(f"consent {cid} has evidence for revision(s) {sorted(by_revision)} that no signed "
                                   f"revision lists ({outside})")
    last = revisions[-1]
    if consent.current_revision != last.revision:
        raise ConsentTamperedError(f"consent {cid} says its current revision is {consent.current_revision}, but its "
                                   f"signed history ends at revision {last.revision} ({outside})")
    if consent.head_hash != last.content_hash:
        raise ConsentTamperedError(f"consent {cid}'s head hash does not match its current revision ({outside})")
    valid = keys.verifies(head_content(consent), signature=bytes(consent.head_signature),
                         signed_by=consent.signing_key_id)
    if not valid:
        raise ConsentTamperedError(f"consent {cid}'s row does not match its signature: its subject, head or token "
                                   f"was changed ({outside})")
