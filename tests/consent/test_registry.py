"""Register → look up → check scope → revoke → erase, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from consent_factories import random_embedding, scope

from consent import (
    ConsentErasedError,
    ConsentInputError,
    ConsentScope,
    ConsentStatus,
    EvidenceCreate,
    RevisionKind,
    UnknownConsentError,
)

STATEMENT = EvidenceCreate(kind="statement", media_sha256="ab" * 32, challenge_sha256="cd" * 32,
                           scores={"face_match": 0.873, "phrase": 0.91, "liveness": 0.42},
                           model_versions={"identity": "dlib:55533b28a958", "asr": "pocketsphinx-5.1.1"})


def test_register_then_get_returns_the_verified_consent(registry, clock):
    consent, token = registry.register(scope(languages=["en"]), evidence=[STATEMENT],
                                       reference_embeddings=[random_embedding(1), random_embedding(2)])
    assert consent.id.startswith("cns_") and len(consent.id) == 36
    assert token.startswith("lkc_") and len(token) == 47
    assert consent.token_prefix == token[:12]
    got = registry.get(consent.id)
    assert got == consent
    assert got.status == ConsentStatus.ACTIVE and got.revision == 1
    assert got.scope.partners == ["acme", "globex"] and got.scope.prohibited_purposes == ["political"]
    assert got.scope.valid_from == clock.now  # defaults to the moment of registration
    assert got.reference_embeddings == 2
    assert [(r.revision, r.kind) for r in got.history] == [(1, RevisionKind.GRANTED)]
    assert got.head_hash == got.history[0].content_hash and len(got.head_hash) == 64
    [evidence] = got.evidence
    assert evidence.scores == STATEMENT.scores and evidence.model_versions == STATEMENT.model_versions
    assert evidence.media_sha256 == "ab" * 32 and evidence.revision == 1


def test_unknown_consent_is_named(registry):
    with pytest.raises(UnknownConsentError, match="no consent has the id 'cns_0000"):
        registry.get("cns_" + "0" * 32)
    with pytest.raises(UnknownConsentError):
        registry.check_scope("not-an-id'; DROP TABLE consents; --", partner="acme", purpose="education")


def test_scope_covers_listed_partner_and_purpose_in_time(registry, clock):
    consent, _ = registry.register(scope())
    decision = registry.check_scope(consent.id, partner="acme", purpose="education", at=clock.advance(days=30))
    assert decision.covered
    assert decision.codes == ["time.valid", "partner.listed", "purpose.listed"]
    assert decision.revision == 1 and decision.head_hash == consent.head_hash
    assert decision.status == ConsentStatus.ACTIVE


@pytest.mark.parametrize(("partner", "purpose", "code"), [
    ("initech", "education", "partner.not_listed"),
    ("acme", "news", "purpose.not_listed"),
    ("acme", "political", "purpose.prohibited"),
])
def test_scope_refuses_what_it_does_not_name(registry, partner, purpose, code):
    consent, _ = registry.register(scope())
    decision = registry.check_scope(consent.id, partner=partner, purpose=purpose)
    assert not decision.covered
    assert decision.codes == [code]
    assert partner in decision.reasons[0] or purpose in decision.reasons[0]


def test_prohibited_purpose_wins_over_allowed(registry):
    both, _ = registry.register(scope(purposes=["advertising", "political"], prohibited_purposes=["political"]))
    decision = registry.check_scope(both.id, partner="acme", purpose="political")
    assert not decision.covered and decision.codes == ["purpose.prohibited"]
    assert decision.reasons == ["purpose 'political' is prohibited by the consent"]
    anything, _ = registry.register(scope(partners="any_vetted", purposes="any", prohibited_purposes=["political"]))
    assert registry.check_scope(anything.id, partner="initech", purpose="news").covered
    assert registry.check_scope(anything.id, partner="initech", purpose="political").codes == ["purpose.prohibited"]


def test_scope_in_time(registry, clock):
    start = clock.now + timedelta(days=1)
    end = clock.now + timedelta(days=10)
    consent, _ = registry.register(scope(valid_from=start, valid_until=end))
    before = registry.check_scope(consent.id, partner="acme", purpose="education", at=start - timedelta(seconds=1))
    assert not before.covered and before.codes == ["time.not_yet_valid"]
    assert before.status == ConsentStatus.NOT_YET_VALID
    assert registry.check_scope(consent.id, partner="acme", purpose="education", at=start).covered
    assert registry.check_scope(consent.id, partner="acme", purpose="education",
                                at=end - timedelta(microseconds=1)).covered
    after = registry.check_scope(consent.id, partner="acme", purpose="education", at=end)
    assert not after.covered and after.codes == ["time.expired"] and after.status == ConsentStatus.EXPIRED
    assert "expired on 2026-12-05T09:30:00.123456Z" in after.reasons[0]
    clock.now = end + timedelta(days=1)
    assert registry.get(consent.id).status == ConsentStatus.EXPIRED  # computed, never stored


def test_languages_and_territories_restrict_only_when_given(registry):
    limited, _ = registry.register(scope(languages=["en", "fr-CA"], territories=["de", "FR"]))
    ok = registry.check_scope(limited.id, partner="acme", purpose="education", language="FR-ca", territory="fr")
    assert ok.covered
    wrong = registry.check_scope(limited.id, partner="acme", purpose="education", language="es", territory="US")
    assert wrong.codes == ["language.not_listed", "territory.not_listed"]
    unstated = registry.check_scope(limited.id, partner="acme", purpose="education")
    assert unstated.codes == ["language.unstated", "territory.unstated"]  # fails closed
    open_scope, _ = registry.register(scope())
    assert registry.check_scope(open_scope.id, partner="acme", purpose="education", language="es").covered


def test_all_refusals_are_listed_together(registry, clock):
    consent, token = registry.register(scope())
    registry.revoke(consent.id, token=token, reason="no longer")
    decision = registry.check_scope(consent.id, partner="initech", purpose="political")
    assert decision.codes == ["status.revoked", "partner.not_listed", "purpose.prohibited"]


def test_revoke_adds_a_revision_and_keeps_history(registry, clock):
    consent, token = registry.register(scope(), evidence=[STATEMENT])
    clock.advance(days=3)
    revoked = registry.revoke(consent.id, token=token, reason="  I changed\n my mind ")
    assert revoked.status == ConsentStatus.REVOKED and revoked.revision == 2
    first, second = revoked.history
    assert first.kind == RevisionKind.GRANTED and first.content_hash == consent.head_hash
    assert second.kind == RevisionKind.REVOKED and second.reason == "I changed my mind"
    assert second.scope == first.scope and second.created_at == clock.now
    assert revoked.head_hash == second.content_hash != consent.head_hash
    assert revoked.evidence == consent.evidence
    decision = registry.check_scope(consent.id, partner="acme", purpose="education")
    assert not decision.covered and decision.codes == ["status.revoked"] and decision.revision == 2
    again = registry.revoke(consent.id, token=token, reason="twice")
    assert again == revoked  # idempotent: no third revision
    # a check at a time before the revocation still sees the current (revoked) revision: revocation is final
    assert not registry.check_scope(consent.id, partner="acme", purpose="education",
                                    at=clock.now - timedelta(days=2)).covered


def test_revoke_needs_a_reason(registry):
    consent, token = registry.register(scope())
    with pytest.raises(ConsentInputError, match="give a reason"):
        registry.revoke(consent.id, token=token, reason="   ")
    assert registry.get(consent.id).revision == 1


def test_erase_closes_the_consent_and_shreds_references(registry, clock):
    consent, token = registry.register(scope(), reference_embeddings=[random_embedding(1), random_embedding(2)])
    clock.advance(hours=1)
    receipt = registry.erase(consent.id, token=token)
    assert receipt.consent_ids == [consent.id] and receipt.embeddings_shredded == 2
    assert receipt.subject_erased_at == clock.now
    erased = registry.get(consent.id)
    assert erased.status == ConsentStatus.ERASED and erased.reference_embeddings == 0
    assert [r.kind for r in erased.history] == [RevisionKind.GRANTED, RevisionKind.ERASED]
    assert registry.check_scope(consent.id, partner="acme", purpose="education").codes == ["status.erased"]
    with pytest.raises(ConsentErasedError):
        registry.add_reference_embeddings(consent.id, token=token, embeddings=[random_embedding(3)])
    with pytest.raises(ConsentErasedError, match="nothing left to revoke"):
        registry.revoke(consent.id, token=token, reason="too late")
    assert registry.erase(consent.id, token=token).embeddings_shredded == 0  # idempotent
    assert registry.get(consent.id).revision == 2


def test_erase_after_revoke(registry):
    consent, token = registry.register(scope(), reference_embeddings=[random_embedding(1)])
    registry.revoke(consent.id, token=token, reason="stop")
    registry.erase(consent.id, token=token)
    assert [r.kind.value for r in registry.get(consent.id).history] == ["granted", "revoked", "erased"]


def test_add_reference_embeddings(registry):
    consent, token = registry.register(scope())
    assert registry.get(consent.id).reference_embeddings == 0
    assert registry.add_reference_embeddings(consent.id, token=token,
                                             embeddings=[random_embedding(1), random_embedding(2)]) == 2
    with pytest.raises(ConsentInputError, match=r"faces\.Embedding"):
        registry.add_reference_embeddings(consent.id, token=token, embeddings=[[0.1] * 128])  # type: ignore[list-item]
    with pytest.raises(ConsentInputError, match="at most 32"):
        registry.add_reference_embeddings(consent.id, token=token, embeddings=[random_embedding(i) for i in range(31)])
    assert registry.get(consent.id).reference_embeddings == 2  # nothing half-stored


def test_registration_refuses_a_consent_that_never_applies(registry, clock):
    with pytest.raises(ConsentInputError, match="future"):
        registry.register(scope(valid_until=clock.now - timedelta(days=1)))
    with pytest.raises(ConsentInputError, match="time zone"):
        registry.check_scope("cns_" + "0" * 32, partner="a", purpose="b", at=datetime(2026, 1, 1))


def test_scope_validation():
    with pytest.raises(ValueError, match="valid_until must come after valid_from"):
        ConsentScope(partners=["a"], purposes=["b"], valid_from=datetime(2027, 1, 1, tzinfo=UTC),
                     valid_until=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="reserved"):
        ConsentScope(partners=["any_vetted"], purposes=["b"])
    with pytest.raises(ValueError, match="at least one partner"):
        ConsentScope(partners=[], purposes=["b"])
    with pytest.raises(ValueError, match="not a valid purpose"):
        ConsentScope(partners=["a"], purposes=["Political Ads"])
    with pytest.raises(ValueError, match="finite"):
        EvidenceCreate(kind="statement", media_sha256="ab" * 32, scores={"x": float("nan")})


def test_generations_are_listed_for_the_subject(registry, clock):
    consent, token = registry.register(scope())
    other, _ = registry.register(scope())
    registry.record_generation(consent.id, generation_id="gen_0123456789abcdef", watermark_id="0123456789abcdef",
                               partner="acme", purpose="education")
    clock.advance(minutes=5)
    registry.record_generation(consent.id, generation_id="gen_00000000000000ff", partner="globex",
                               purpose="advertising")
    registry.record_generation(other.id, generation_id="gen_1111111111111111", partner="acme", purpose="education")
    listed = registry.generations_for(consent.id, token=token)
    assert [(g.generation_id, g.partner, g.purpose, g.watermark_id) for g in listed] == [
        ("gen_00000000000000ff", "globex", "advertising", None),
        ("gen_0123456789abcdef", "acme", "education", "0123456789abcdef"),
    ]
    assert listed[0].created_at == clock.now
    with pytest.raises(ConsentInputError, match="not a generation id"):
        registry.record_generation(consent.id, generation_id="video-1", partner="acme", purpose="education")
    with pytest.raises(UnknownConsentError):
        registry.record_generation("cns_" + "1" * 32, generation_id="gen_2222222222222222", partner="acme",
                                   purpose="education")
    from consent import ConsentConflictError

    with pytest.raises(ConsentConflictError, match="already recorded"):
        registry.record_generation(consent.id, generation_id="gen_0123456789abcdef", partner="acme",
                                   purpose="education")
    registry.erase(consent.id, token=token)
    assert len(registry.generations_for(consent.id, token=token)) == 2  # the account of past use stays
