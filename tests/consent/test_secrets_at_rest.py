"""Biometric data and tokens at rest: encrypted, hashed, shredded on erasure; refusals that reveal nothing."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from consent_factories import all_rows_bytes, random_embedding, scope, sqlite_files
from sqlalchemy import text

from consent import ConsentAuthError, ConsentErasedError
from consent._crypto import SealError, open_sealed


def _stored_bytes(engine) -> bytes:
    """What an attacker holding the database has: the raw files for SQLite, every value for PostgreSQL."""
    if engine.dialect.name == "sqlite":
        return sqlite_files(engine)
    return all_rows_bytes(engine)


def test_the_database_holds_no_plaintext_embedding(engine, registry, caplog):
    caplog.set_level(logging.DEBUG)
    references = [random_embedding(seed) for seed in (11, 12, 13)]
    consent, token = registry.register(scope(), reference_embeddings=references[:2])
    registry.add_reference_embeddings(consent.id, token=token, embeddings=references[2:])
    stored = _stored_bytes(engine)
    assert len(stored) > 10_000 or engine.dialect.name != "sqlite"
    for reference in references:
        plain = reference.vector.astype("<f4").tobytes()
        assert plain not in stored
        for start in range(0, len(plain) - 16, 16):  # not even 4 consecutive floats
            assert plain[start:start + 16] not in stored
        assert reference.vector.astype(">f4").tobytes()[:16] not in stored
        assert reference.vector.astype("<f8").tobytes()[:16] not in stored
        assert f"{float(reference.vector[0]):.6f}".encode() not in stored
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT ciphertext, dim, model_version FROM consent_reference_embeddings")).all()
    assert len(rows) == 3 and all(len(bytes(c)) == 1 + 12 + 128 * 4 + 16 for c, _, _ in rows)
    assert {(dim, mv) for _, dim, mv in rows} == {(128, "test-model:0123456789ab")}  # metadata stays readable
    for reference in references:
        assert f"{float(reference.vector[0])}" not in caplog.text


def test_tokens_are_stored_hashed(engine, registry, caplog):
    caplog.set_level(logging.DEBUG)
    consent, token = registry.register(scope())
    stored = _stored_bytes(engine)
    assert token.encode() not in stored
    assert token[12:28].encode() not in stored  # beyond the prefix, not one piece of it
    assert token[:12].encode() in stored  # the prefix names the token
    with engine.connect() as conn:
        stored_hash = conn.execute(text("SELECT token_hash FROM consents")).scalar()
    assert len(stored_hash) == 64 and stored_hash not in token
    assert token not in caplog.text and token not in repr(registry.get(consent.id))
    assert "token_hash" not in repr(registry.get(consent.id))


def test_a_wrong_token_is_refused_without_saying_whether_the_consent_exists(registry):
    consent, token = registry.register(scope())
    _, other_token = registry.register(scope())
    wrong = [
        (consent.id, token[:-1] + ("A" if token[-1] != "A" else "B")),  # one character off
        (consent.id, other_token),  # another consent's token
        (consent.id, ""),
        (consent.id, None),
        ("cns_" + "0" * 32, token),  # no such consent
        ("cns_" + "0" * 32, "lkc_whatever"),
        ("not an id", token),
    ]
    calls = [
        lambda cid, tok: registry.revoke(cid, token=tok, reason="x"),
        lambda cid, tok: registry.erase(cid, token=tok),
        lambda cid, tok: registry.generations_for(cid, token=tok),
        lambda cid, tok: registry.view(cid, token=tok),
        lambda cid, tok: registry.add_reference_embeddings(cid, token=tok, embeddings=[random_embedding(1)]),
    ]
    messages = set()
    for consent_id, candidate in wrong:
        for call in calls:
            with pytest.raises(ConsentAuthError) as err:
                call(consent_id, candidate)
            messages.add((type(err.value), str(err.value), err.value.http_status))
    assert messages == {(ConsentAuthError, "the consent id or the management token is not valid", 403)}
    assert registry.get(consent.id).revision == 1  # nothing changed
    assert registry.view(consent.id, token=token).id == consent.id


def _aad(row_id: str, subject: str) -> bytes:
    return f"likeness/consent-embedding/v1|{row_id}|{subject}|test-model:0123456789ab|128".encode()


def test_erasure_crypto_shreds_every_embedding(engine, registry, consent_keys, clock):
    references = [random_embedding(seed) for seed in (21, 22)]
    consent, token = registry.register(scope(), reference_embeddings=references)
    bystander, _ = registry.register(scope(), reference_embeddings=[random_embedding(23)])
    with engine.connect() as conn:
        subject = conn.execute(text("SELECT subject_id FROM consents WHERE id = :c"), {"c": consent.id}).scalar()
        wrapped = bytes(conn.execute(text("SELECT wrapped_key FROM consent_data_keys WHERE subject_id = :s"),
                                     {"s": subject}).scalar())
        copied = [(row_id, bytes(ct)) for row_id, ct in conn.execute(
            text("SELECT id, ciphertext FROM consent_reference_embeddings WHERE subject_id = :s"), {"s": subject})]
    # Before: the master key opens the subject's data key, and the data key opens each reference.
    data_key = open_sealed(consent_keys.master_key, blob=wrapped,
                           aad=f"likeness/consent-data-key/v1|{subject}".encode())
    opened = {np.frombuffer(open_sealed(data_key, blob=ct, aad=_aad(row_id, subject)), "<f4").tobytes()
              for row_id, ct in copied}
    assert opened == {r.vector.astype("<f4").tobytes() for r in references}
    stored = _stored_bytes(engine)
    assert wrapped in stored and all(ct in stored for _, ct in copied)

    registry.erase(consent.id, token=token)

    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consent_data_keys WHERE subject_id = :s"),
                            {"s": subject}).scalar() == 0
        rows = conn.execute(text("SELECT ciphertext, model_version, created_at FROM consent_reference_embeddings "
                                 "WHERE subject_id = :s"), {"s": subject}).all()
        erased_at = conn.execute(text("SELECT erased_at FROM consent_subjects WHERE id = :s"), {"s": subject}).scalar()
    assert len(rows) == 2 and all(ct is None and mv and created for ct, mv, created in rows)  # metadata kept
    assert erased_at is not None
    # After: neither the wrapped data key nor the ciphertexts are left anywhere in the database (on SQLite: not
    # in the file, the WAL or a free page). A copy of a ciphertext taken before (a backup, a replica) needs the
    # data key, which only existed wrapped in the row just deleted: the master key alone opens nothing.
    stored = _stored_bytes(engine)
    assert wrapped not in stored, "the wrapped data key survives somewhere in the database"
    assert data_key not in stored
    assert all(ct not in stored for _, ct in copied)
    for row_id, ct in copied:
        with pytest.raises(SealError):
            open_sealed(consent_keys.master_key, blob=ct, aad=_aad(row_id, subject))
    with pytest.raises(ConsentErasedError):
        registry.add_reference_embeddings(consent.id, token=token, embeddings=[random_embedding(1)])
    assert registry.get(bystander.id).reference_embeddings == 1  # other subjects keep theirs


def test_reprs_hide_secrets(registry, consent_keys):
    consent, _ = registry.register(scope(), reference_embeddings=[random_embedding(5)])
    text_ = repr(consent_keys) + repr(registry) + repr(random_embedding(5)) + repr(registry.get(consent.id))
    assert consent_keys.master_key.hex() not in text_ and "PRIVATE" not in text_
    assert str(float(random_embedding(5).vector[0])) not in text_
    from consent.models import Consent, ReferenceEmbedding, SubjectDataKey

    row = ReferenceEmbedding(id="ref_x", subject_id="sub_x", model_version="m", dim=2, ciphertext=b"\x01" * 40)
    key_row = SubjectDataKey(subject_id="sub_x", wrapped_key=b"\x02" * 60, master_key_id="k")
    consent_row = Consent(id="cns_x", subject_id="sub_x", current_revision=1, head_hash="h", token_prefix="lkc_",
                          token_hash="f" * 64, signing_key_id="k", head_signature=b"\x03" * 64)
    for obj, secret in ((row, "\\x01\\x01"), (key_row, "\\x02\\x02"), (consent_row, "f" * 64)):
        assert secret not in repr(obj) and secret not in str(obj)
