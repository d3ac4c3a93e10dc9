"""History is never rewritten: the triggers refuse it, and a row changed around them fails its signature check."""

from __future__ import annotations

import pytest
from consent_factories import random_embedding, scope, tamper
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from test_registry import STATEMENT

from consent import ConsentKeys, ConsentService, ConsentTamperedError, EvidenceCreate, init_consent_keys


@pytest.fixture
def registered(registry):
    consent, token = registry.register(scope(), evidence=[STATEMENT], reference_embeddings=[random_embedding(1)])
    registry.revoke(consent.id, token=token, reason="changed my mind")
    return consent.id, token


@pytest.mark.parametrize("sql", [
    "UPDATE consent_revisions SET reason = 'rewritten' WHERE consent_id = :cid",
    "DELETE FROM consent_revisions WHERE consent_id = :cid AND revision = 2",
    "UPDATE consent_evidence SET media_sha256 = 'ef' WHERE consent_id = :cid",
    "DELETE FROM consent_evidence WHERE consent_id = :cid",
    "INSERT INTO consent_generations (consent_id, generation_id, partner, purpose, created_at) "
    "VALUES (:cid, 'gen_0000000000000001', 'acme', 'education', '2026-01-01 00:00:00')",
])
def test_the_database_refuses_to_rewrite_history(engine, registered, sql):
    cid, _ = registered
    if sql.startswith("INSERT"):  # generations are append-only too: add one, then try to change it
        with engine.begin() as conn:
            conn.execute(text(sql), {"cid": cid})
        sql = "UPDATE consent_generations SET partner = 'initech' WHERE consent_id = :cid"
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(sql), {"cid": cid})


def test_the_database_refuses_to_change_an_encrypted_reference(engine, registered):
    with pytest.raises(DBAPIError, match="only ever wiped"), engine.begin() as conn:
        conn.execute(text("UPDATE consent_reference_embeddings SET model_version = 'other'"))
    with pytest.raises(DBAPIError, match="only ever wiped"), engine.begin() as conn:
        conn.execute(text("DELETE FROM consent_reference_embeddings"))


@pytest.mark.parametrize(("sql", "message"), [
    ("UPDATE consent_revisions SET partners = '\"any_vetted\"' WHERE consent_id = :cid AND revision = 1",
     "revision 1 of consent {cid} was modified after it was signed: its content no longer matches its hash"),
    ("UPDATE consent_revisions SET kind = 'granted' WHERE consent_id = :cid AND revision = 2",
     "revision 2 of consent {cid} was modified after it was signed"),
    ("UPDATE consent_revisions SET signature = :junk WHERE consent_id = :cid AND revision = 2",
     "revision 2 of consent {cid} does not match its signature"),
    ("DELETE FROM consent_revisions WHERE consent_id = :cid AND revision = 1",
     "revision 1 of consent {cid} is missing: its history was cut"),
    ("DELETE FROM consent_revisions WHERE consent_id = :cid AND revision = 2",
     "consent {cid} says its current revision is 2, but its signed history ends at revision 1"),
    ("UPDATE consents SET current_revision = 1 WHERE id = :cid",
     "consent {cid} says its current revision is 1, but its signed history ends at revision 2"),
    ("UPDATE consents SET token_hash = :hash WHERE id = :cid",
     "consent {cid}'s row does not match its signature: its subject, head or token was changed"),
    ("UPDATE consent_evidence SET scores = '{\"face_match\": 0.99}' WHERE consent_id = :cid",
     "evidence signed with revision 1 of consent {cid} was modified or added"),
    ("DELETE FROM consent_evidence WHERE consent_id = :cid",
     "evidence signed with revision 1 of consent {cid} is missing"),
    ("UPDATE consent_revisions SET partners = '[not json' WHERE consent_id = :cid AND revision = 1",
     "consent {cid} holds a value that no consent can hold"),
    ("UPDATE consent_revisions SET signing_key_id = '0123456789abcdef' WHERE consent_id = :cid AND revision = 2",
     "revision 2 of consent {cid} was modified after it was signed"),
])
def test_a_modified_row_fails_its_signature_check(engine, registry, registered, sql, message):
    cid, _ = registered
    if "not json" in sql and engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type refuses text that is not JSON by itself")
    assert tamper(engine, sql, cid=cid, junk=b"\x00" * 64, hash="0" * 64) == 1
    expected = message.format(cid=cid)
    for call in (lambda: registry.get(cid),
                 lambda: registry.check_scope(cid, partner="acme", purpose="education")):
        with pytest.raises(ConsentTamperedError) as err:
            call()
        assert expected in str(err.value)
        assert str(err.value).endswith("(it was changed outside Likeness)")
        assert err.value.http_status == 500


def test_a_rehashed_row_still_fails_its_signature(engine, registry, registered):
    """An attacker who recomputes the content hash still cannot sign: the signature check names the row."""
    cid, _ = registered
    from sqlmodel import Session, select

    from consent import _chain
    from consent.models import ConsentRevision

    with Session(engine) as session:
        rev = session.exec(select(ConsentRevision).where(ConsentRevision.consent_id == cid,
                                                         ConsentRevision.revision == 2)).one()
        rev.kind = "granted"
        new_hash = _chain.sha256_hex(_chain.revision_content(rev))
    tamper(engine, "UPDATE consent_revisions SET kind = 'granted', content_hash = :h WHERE consent_id = :cid "
           "AND revision = 2", cid=cid, h=new_hash)
    with pytest.raises(ConsentTamperedError, match=f"revision 2 of consent {cid} does not match its signature"):
        registry.get(cid)


def test_a_consent_pointed_at_another_subject_is_found(engine, registry, registered):
    cid, _ = registered
    other, _ = registry.register(scope())
    with engine.connect() as conn:
        other_subject = conn.execute(text("SELECT subject_id FROM consents WHERE id = :id"), {"id": other.id}).scalar()
    tamper(engine, "UPDATE consents SET subject_id = :s WHERE id = :cid", s=other_subject, cid=cid)
    with pytest.raises(ConsentTamperedError, match=f"consent {cid} names a different subject than its signed revision"):
        registry.get(cid)
    assert registry.get(other.id).id == other.id  # the other consent is untouched


def test_another_platform_key_does_not_verify(engine, registered, tmp_path, clock):
    cid, _ = registered
    paths = init_consent_keys(tmp_path / "other-keys")
    foreign = ConsentKeys.from_files(signing_key_file=paths.signing_key, master_key_file=paths.master_key)
    with pytest.raises(ConsentTamperedError, match=r"claims a signing key \(\w+\) this platform does not know"):
        ConsentService(engine, keys=foreign, clock=clock).get(cid)


def test_a_retired_key_still_verifies(engine, registered, keys_paths, consent_keys, tmp_path, clock):
    cid, _ = registered
    paths = init_consent_keys(tmp_path / "new-keys")
    rotated = ConsentKeys.from_files(signing_key_file=paths.signing_key, master_key_file=keys_paths.master_key,
                                     retired_public_keys={consent_keys.signing_key_id: consent_keys.public_key_raw})
    assert ConsentService(engine, keys=rotated, clock=clock).get(cid).revision == 2


def test_a_revocation_is_recorded_even_on_a_tampered_history(engine, registry):
    consent, token = registry.register(scope(), evidence=[EvidenceCreate(kind="statement", media_sha256="ab" * 32)])
    tamper(engine, "UPDATE consent_revisions SET reason = 'forged' WHERE consent_id = :cid", cid=consent.id)
    with pytest.raises(ConsentTamperedError, match="the revocation was recorded as revision 2, but revision 1"):
        registry.revoke(consent.id, token=token, reason="stop")
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM consent_revisions WHERE consent_id = :c ORDER BY revision"),
                             {"c": consent.id}).scalars().all()
    assert kinds == ["granted", "revoked"]
