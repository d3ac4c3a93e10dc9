"""Scoring a portrait against a consent's encrypted references, with the real dlib identity backend on real faces."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from consent_factories import random_embedding, scope, tamper
from sqlalchemy import text

from consent import (
    ConsentErasedError,
    ConsentError,
    ConsentExpiredError,
    ConsentRevokedError,
    ConsentService,
    ConsentTamperedError,
    ReferenceUnavailableError,
)
from faces import NoFaceError, embed_face
from media import read_image


@pytest.fixture(scope="module")
def hopper_references(dlib_backend, grace_hopper):
    """Two reference photos of one person: the portrait and a brighter copy of it."""
    brighter = np.clip(grace_hopper.astype(np.int16) + 25, 0, 255).astype(np.uint8)
    return [embed_face(grace_hopper, backend=dlib_backend), embed_face(brighter, backend=dlib_backend)]


@pytest.fixture
def scorer(engine, consent_keys, clock, dlib_backend) -> ConsentService:
    return ConsentService(engine, keys=consent_keys, identity=dlib_backend, clock=clock)


def test_the_same_person_matches(scorer, grace_hopper, hopper_references, dlib_backend):
    consent, _ = scorer.register(scope(), reference_embeddings=hopper_references)
    mirrored = grace_hopper[:, ::-1].copy()
    result = scorer.score_portrait(consent.id, portrait_rgb=mirrored)
    assert result.same_person and not result.ambiguous
    assert result.similarity >= result.threshold == dlib_backend.calibration.threshold
    assert result.references == 2 and result.others_compared == 0 and result.margin is None
    assert result.model_version == dlib_backend.model_version
    assert "matches the reference" in result.reason
    assert 0 < result.elapsed_ms < 30_000


def test_another_person_does_not_match(scorer, hopper_references, shared_data):
    consent, _ = scorer.register(scope(), reference_embeddings=hopper_references)
    stranger = read_image(shared_data / "portraits" / "lp_s42.jpg")
    result = scorer.score_portrait(consent.id, portrait_rgb=stranger)
    assert not result.same_person
    assert result.similarity < result.threshold
    assert "does not match the reference" in result.reason


def test_a_lookalike_among_the_enrolled_makes_the_match_ambiguous(scorer, grace_hopper, hopper_references,
                                                                  dlib_backend):
    consent, _ = scorer.register(scope(), reference_embeddings=hopper_references[:1])
    scorer.register(scope(), reference_embeddings=hopper_references[1:])  # the same face, enrolled as someone else
    result = scorer.score_portrait(consent.id, portrait_rgb=grace_hopper[:, ::-1].copy())
    assert result.others_compared == 1
    assert result.ambiguous and not result.same_person
    assert result.margin is not None and result.margin < dlib_backend.calibration.min_margin
    assert result.reason.startswith("ambiguous")


def test_revoked_or_erased_people_are_not_rivals(scorer, grace_hopper, hopper_references):
    consent, _ = scorer.register(scope(), reference_embeddings=hopper_references[:1])
    rival, rival_token = scorer.register(scope(), reference_embeddings=hopper_references[1:])
    scorer.revoke(rival.id, token=rival_token, reason="stop")
    result = scorer.score_portrait(consent.id, portrait_rgb=grace_hopper[:, ::-1].copy())
    assert result.others_compared == 0 and result.same_person


def test_an_inactive_consent_is_not_scored(scorer, grace_hopper, hopper_references, clock):
    consent, token = scorer.register(scope(valid_until=clock.now + timedelta(days=1)),
                                     reference_embeddings=hopper_references)
    with pytest.raises(ConsentExpiredError, match=f"consent {consent.id} expired on"):
        scorer.score_portrait(consent.id, portrait_rgb=grace_hopper, at=clock.now + timedelta(days=2))
    scorer.revoke(consent.id, token=token, reason="stop")
    with pytest.raises(ConsentRevokedError, match="revoked by its subject"):
        scorer.score_portrait(consent.id, portrait_rgb=grace_hopper)
    scorer.erase(consent.id, token=token)
    with pytest.raises(ConsentErasedError):
        scorer.score_portrait(consent.id, portrait_rgb=grace_hopper)


def test_references_of_another_model_ask_for_enrolment_again(scorer, grace_hopper):
    consent, _ = scorer.register(scope(), reference_embeddings=[random_embedding(1)])
    with pytest.raises(ReferenceUnavailableError, match="test-model:0123456789ab: the subject must enrol"):
        scorer.score_portrait(consent.id, portrait_rgb=grace_hopper)
    empty, _ = scorer.register(scope())
    with pytest.raises(ReferenceUnavailableError, match="no reference embedding"):
        scorer.score_portrait(empty.id, portrait_rgb=grace_hopper)


def test_a_portrait_without_a_face_is_refused_by_faces(scorer, hopper_references):
    consent, _ = scorer.register(scope(), reference_embeddings=hopper_references)
    with pytest.raises(NoFaceError):
        scorer.score_portrait(consent.id, portrait_rgb=np.full((256, 256, 3), 128, np.uint8))


def test_a_reference_ciphertext_moved_to_another_row_is_found(engine, scorer, grace_hopper, hopper_references):
    consent, _ = scorer.register(scope(), reference_embeddings=hopper_references)
    with engine.connect() as conn:
        (_, ciphertext), (other_id, _) = conn.execute(
            text("SELECT id, ciphertext FROM consent_reference_embeddings ORDER BY id")).all()
    tamper(engine, "UPDATE consent_reference_embeddings SET ciphertext = :ct WHERE id = :id",
           ct=bytes(ciphertext), id=other_id)
    with pytest.raises(ConsentTamperedError, match=f"reference embedding {other_id} does not authenticate"):
        scorer.score_portrait(consent.id, portrait_rgb=grace_hopper)


def test_scoring_needs_an_identity_backend(registry, grace_hopper):
    consent, _ = registry.register(scope())
    with pytest.raises(ConsentError, match="no identity backend is configured"):
        registry.score_portrait(consent.id, portrait_rgb=grace_hopper)


def test_a_data_key_deleted_outside_likeness_is_not_mistaken_for_erasure(engine, scorer, grace_hopper,
                                                                         hopper_references):
    consent, _ = scorer.register(scope(), reference_embeddings=hopper_references)
    tamper(engine, "DELETE FROM consent_data_keys")
    with pytest.raises(ConsentTamperedError, match="data key is missing though the subject never erased"):
        scorer.score_portrait(consent.id, portrait_rgb=grace_hopper)
