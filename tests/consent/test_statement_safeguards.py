"""The statement's safeguards against synthetic and pre-rendered evidence: the forensic check and the head-turn cues.

The recordings are made here: espeak-ng reads the statement and the project's default generator
animates Grace Hopper's portrait — unmarked (written with PyAV, as an attacker would), released
through the platform's own release path (watermarked and C2PA-signed), and that release
stream-copied (manifest stripped). For the cues, the generator's head yaw is set to turn the
cued way 0.4 s after each cue: what a person following the cues does — and, as docs/consent.md
says, what a generator watching the cues in real time can do too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from statement_factories import (
    challenge_with,
    grace_hopper,
    padded,
    released,
    speak,
    stream_copy,
    talking_frames,
    turning_frames,
    write_mp4,
)

from consent import Cue, CueAnswer, Forensics, Off, StatementVerdict, verify_statement
from consent._cues import sign_cues
from consent.statement import Challenge
from faces import embed_face, get_identity_backend
from provenance import load_identity

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
WORDS = ["tiger", "helmet", "garden", "pumpkin"]
CUES = (Cue(at_s=2.4, turn="left"), Cue(at_s=6.1, turn="right"), Cue(at_s=9.5, turn="left"))
KEY = b"cue key of these tests, 32 bytes"
FORENSICS_OFF = Off(reason="test recordings are generator-made stand-ins for a person")
CUES_OFF = Off(reason="this recording turns no head")


@dataclass
class Made:
    challenge: Challenge
    turning: Path  # unmarked, the head turning after each cue
    plain: Path  # unmarked, the generator's own head motion
    released: Path  # the turning frames, watermarked and C2PA-signed by the release path
    remuxed: Path  # the release, stream-copied: manifest gone, watermark kept
    forensics: Forensics


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Made:
    folder = tmp_path_factory.mktemp("safeguards")
    challenge = dataclasses.replace(challenge_with(WORDS, now=NOW), cues=CUES)
    speech = padded(speak(challenge.statement_text, path=folder / "s.wav"), seconds=13.5)
    turning = turning_frames(grace_hopper(), speech, transcript=challenge.statement_text, cues=CUES)
    signed = released(turning, speech, keys_dir=keys_dir, dest=folder / "released.mp4")
    identity = load_identity(keys_dir=keys_dir)
    return Made(
        challenge=challenge,
        turning=write_mp4(folder / "turning.mp4", turning, audio=speech),
        plain=write_mp4(folder / "plain.mp4", talking_frames(grace_hopper(), speech,
                                                              transcript=challenge.statement_text), audio=speech),
        released=signed,
        remuxed=stream_copy(signed, folder / "remuxed.mp4"),
        forensics=Forensics(watermark_key=identity.watermark_key, trust_anchors_pem=identity.trust_anchors_pem),
    )


@pytest.fixture(scope="module")
def backend():
    return get_identity_backend("dlib")


@pytest.fixture(scope="module")
def reference(backend):
    return [embed_face(grace_hopper(), backend=backend)]


def answer_for(challenge: Challenge, *, key: bytes = KEY, late_s: float = 0.03) -> CueAnswer:
    """What the page sends back: the schedule's token and when each cue was shown (a little late, as timers are)."""
    return CueAnswer(token=sign_cues(challenge.id, challenge.cues, key=key),
                     shown_s=tuple(c.at_s + late_s for c in challenge.cues))


def verify(path: Path, *, challenge: Challenge, reference, backend, forensics=FORENSICS_OFF,  # type: ignore[no-untyped-def]
           cues=None, cue_key: bytes = KEY) -> StatementVerdict:
    return verify_statement(path, challenge=challenge, reference=reference, identity_backend=backend,
                            now=NOW + timedelta(minutes=5), forensics=forensics, cues=cues, cue_key=cue_key)


def failed(verdict: StatementVerdict) -> list[str]:
    return [c.name for c in verdict.failures]


# ---------------------------------------------------------------------------------------- cues


def test_a_head_that_turns_after_each_cue_passes_every_check(made, reference, backend):
    verdict = verify(made.turning, challenge=made.challenge, reference=reference, backend=backend,
                     cues=answer_for(made.challenge))
    assert verdict.passed, [(c.name, c.reason) for c in verdict.failures]
    cues = verdict.check("cues")
    assert cues.score == 1.0 and cues.reason == "the head turned as asked after each of the 3 cues"
    assert verdict.evidence(media_sha256="0" * 64).scores["cues"] == 1.0
    assert verdict.model_versions["cues"].startswith("head yaw v1")


def test_the_same_turns_fail_another_schedule(made, reference, backend):
    flipped = tuple(Cue(at_s=c.at_s, turn="right" if c.turn == "left" else "left") for c in CUES)
    other = dataclasses.replace(made.challenge, id="chl_another", cues=flipped)
    verdict = verify(made.turning, challenge=other, reference=reference, backend=backend, cues=answer_for(other))
    assert failed(verdict) == ["cues"]
    reason = verdict.check("cues").reason
    assert reason.startswith("3 of 3 head-turn cues were not followed (cue 1 (right, at 2.4 s): ")
    later = dataclasses.replace(made.challenge, id="chl_later", cues=tuple(
        Cue(at_s=c.at_s + 1.5, turn=c.turn) for c in CUES))  # the turns come before these cues: not answers
    verdict = verify(made.turning, challenge=later, reference=reference, backend=backend, cues=answer_for(later))
    assert failed(verdict) == ["cues"] and "already turned" in verdict.check("cues").reason


def test_the_generators_own_head_motion_does_not_meet_the_cues(made, reference, backend):
    verdict = verify(made.plain, challenge=made.challenge, reference=reference, backend=backend,
                     cues=answer_for(made.challenge))
    assert failed(verdict) == ["cues"]
    assert verdict.check("cues").score < 1.0


def test_a_forged_moved_or_missing_cue_report_fails(made, reference, backend):
    challenge = made.challenge

    def cues_reason(answer: CueAnswer | None, *, cue_key: bytes = KEY) -> str:
        verdict = verify(made.turning, challenge=challenge, reference=reference, backend=backend, cues=answer,
                         cue_key=cue_key)
        assert failed(verdict) == ["cues"]
        return verdict.check("cues").reason

    signature = "does not carry the signature of this passcode’s cues"
    assert signature in cues_reason(answer_for(challenge, key=b"another key, not the server's one"))
    other_id = dataclasses.replace(challenge, id="chl_someone_else")
    assert signature in cues_reason(answer_for(other_id))  # a token issued for another passcode
    assert signature in cues_reason(CueAnswer(token="", shown_s=tuple(c.at_s for c in CUES)))
    assert "cue 1 is reported shown at 3.90 s, not near 2.4 s" in cues_reason(answer_for(challenge, late_s=1.5))
    short = answer_for(challenge)
    assert "2 of the 3 head-turn cues were shown" in cues_reason(dataclasses.replace(short,
                                                                                   shown_s=short.shown_s[:2]))
    assert "came without the page's cue report" in cues_reason(None)
    assert "the server has no cue key" in cues_reason(answer_for(challenge), cue_key=b"")


def test_the_page_report_is_parsed_strictly():
    token = "a" * 64
    assert CueAnswer.from_json(f'{{"token": "{token}", "shown_ms": [2430, 6130]}}') == CueAnswer(token, (2.43, 6.13))
    for text in ("", "not json", '{"token": 5, "shown_ms": []}', '{"token": "x"}', '{"token": "x", "shown_ms": 3}',
                 '{"token": "x", "shown_ms": ["soon"]}', "x" * 3000):
        assert CueAnswer.from_json(text) is None, text


# ---------------------------------------------------------------------------------------- forensics


def test_a_statement_released_by_this_platform_is_refused_naming_manifest_and_watermark(made, reference, backend):
    verdict = verify(made.released, challenge=made.challenge, reference=reference, backend=backend,
                     forensics=made.forensics, cues=answer_for(made.challenge))
    assert "not_synthetic" in failed(verdict)
    check = verdict.check("not_synthetic")
    assert check.reason.startswith("the recording is synthetic media, not a recording of you: it carries a C2PA "
                                   "manifest (trusted naming gen_")
    assert "this platform's watermark (generation gen_" in check.reason
    assert check.elapsed_ms > 0
    assert verdict.model_versions["forensics"].startswith("detector: likeness-companion")


def test_the_release_with_its_manifest_stripped_is_refused_by_its_watermark(made, reference, backend):
    verdict = verify(made.remuxed, challenge=made.challenge, reference=reference, backend=backend,
                     forensics=made.forensics, cues=answer_for(made.challenge))
    assert "not_synthetic" in failed(verdict)
    reason = verdict.check("not_synthetic").reason
    assert "this platform's watermark (generation gen_" in reason and "C2PA" not in reason


def test_an_unmarked_statement_from_generator_frames_is_refused_by_the_classifier(made, reference, backend):
    # everything else passes: the passcode is heard, the lips move with it, the head follows the cues
    verdict = verify(made.turning, challenge=made.challenge, reference=reference, backend=backend,
                     forensics=made.forensics, cues=answer_for(made.challenge))
    assert failed(verdict) == ["not_synthetic"]
    check = verdict.check("not_synthetic")
    assert "companion classifier: likely-synthetic, score" in check.reason
    assert "C2PA" not in check.reason and "watermark (" not in check.reason
    assert check.score >= 0.9


def test_an_unconfigured_forensic_check_fails_saying_so(made, reference, backend):
    verdict = verify(made.turning, challenge=made.challenge, reference=reference, backend=backend, forensics=None,
                     cues=answer_for(made.challenge))
    assert failed(verdict) == ["not_synthetic"]
    assert "the forensic check is not configured on this server" in verdict.check("not_synthetic").reason
    assert verdict.model_versions["forensics"] == "not configured"


def test_a_real_person_passes_the_forensic_check_and_a_missing_key_is_named(shared_data, made, backend):
    clip = shared_data / "clips" / "vr_1.mp4"  # a real person speaking to the camera, with sound
    reference = [embed_face(next(iter(_frames(clip))), backend=backend)]
    verdict = verify(clip, challenge=made.challenge, reference=reference, backend=backend, forensics=made.forensics,
                     cues=CUES_OFF)
    check = verdict.check("not_synthetic")
    assert check.passed, check.reason
    assert check.reason.startswith("no C2PA manifest, no watermark of this platform, companion classifier")
    keyless = dataclasses.replace(made.forensics, watermark_key=None)
    verdict = verify(clip, challenge=made.challenge, reference=reference, backend=backend, forensics=keyless,
                     cues=CUES_OFF)
    check = verdict.check("not_synthetic")
    assert not check.passed
    assert "the watermark key is not configured on this server" in check.reason


def _frames(path: Path):  # type: ignore[no-untyped-def]
    from media import iter_frames

    return iter_frames(path)
