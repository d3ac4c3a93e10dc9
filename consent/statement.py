"""The recorded consent statement: a fresh passcode to say, and the checks of the recording.

>>> from datetime import datetime, timedelta, UTC
>>> from consent import issue_challenge
>>> now = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
>>> challenge = issue_challenge("education by Acme", now=now)
>>> challenge.statement_text.startswith("I, the person in this video, agree that Likeness may generate "
...                                     "videos of my face for education by Acme. My passcode is ")
True
>>> len(challenge.words), challenge.expires_at - now, len(challenge.cues)
(4, datetime.timedelta(seconds=1800), 3)

Then the person records themselves reading ``challenge.statement_text`` (the portal, in the
browser), and::

    verdict = verify_statement("statement.webm", challenge=challenge, reference=reference_embeddings,
                               identity_backend=faces.get_identity_backend("dlib"), now=datetime.now(UTC),
                               forensics=Forensics(watermark_key=key, trust_anchors_pem=anchors),
                               cues=CueAnswer.from_json(form["cues"]), cue_key=cue_key)
    verdict.passed, [(c.name, c.passed, c.score, c.reason) for c in verdict.checks]
    registry.register(scope, evidence=[verdict.evidence(media_sha256=…)], …)   # only when it passed

The checks (each with a score and a reason that says what to redo):

``not_expired``
    the challenge was issued less than 30 minutes before ``now``. Score: minutes left (negative
    when late).
``one_face``
    exactly one face in each sampled frame (2 per second, at most 40, MediaPipe's detectors, which
    also count small faces such as a photo held up). Score: share of sampled frames with one face.
``identity``
    the face, in 3 frames spread over the recording, matches the reference embeddings
    (:func:`faces.match` with the backend's calibration); at least 2 of the 3 must match. Score:
    the median similarity.
``phrase``
    the passcode words are heard, in order: the statement is decoded by pocketsphinx with a
    grammar (the statement's words, then one slot per passcode word, each slot any word of the
    challenge vocabulary), see :mod:`speech.grammar`; at least half of the passcode words (2 of 4)
    must be heard in their places. Score: share of the passcode words heard right.
``liveness``
    the lips move, and with the voice: the mouth opening of every frame (MediaPipe's tracker)
    must vary (standard deviation ≥ :data:`MIN_MOUTH_STD` of the face height: a still photo
    fails) and correlate with the loudness of the speech at the best lag within ±200 ms
    (≥ :data:`MIN_LIP_SYNC`), see :mod:`consent._liveness`. Score: that correlation.
``cues``
    the head turned as the page asked: the challenge carries 3 head-turn cues at random moments
    (issued with the passcode, HMAC-signed); the page shows them during the recording and sends
    back when it showed them (:class:`~consent._cues.CueAnswer`); the head's yaw (MediaPipe's
    tracker, the same pass as the mouth) must turn the cued way within the window after each cue,
    and not before it. See :mod:`consent._cues`. Score: the share of cues met. A pre-rendered or
    replayed video cannot know the moments; a real-time generator watching the page can.
``not_synthetic``
    the recording is not this platform's own output: :func:`detector.analyse` with our watermark
    key and trust anchors finds no C2PA manifest, no watermark, and the companion classifier (on
    6 windows of frames) does not say ``likely-synthetic``; the reason names what was found. See
    :mod:`consent._forensics`. Score: the classifier's calibrated score. Without the key or
    anchors the check fails, saying so.

``forensics`` and ``cues`` may be turned off only explicitly (``Off(reason=…)``, for tests whose
recordings are generator-made); the reason is kept in the verdict's ``model_versions``.

A recording that cannot be checked at all (not a video, corrupt or truncated, no audio track, over
:data:`MAX_SECONDS`) raises :class:`~consent.errors.StatementError`; a recording that is checked
and fails is a verdict (``passed`` False), never an exception.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from consent import _challenge, _cues, _liveness
from consent._cues import CueAnswer
from consent._forensics import Forensics, Off, forensic_check
from consent.errors import ConsentInputError, StatementError
from consent.schemas import EvidenceCreate
from faces import (
    Embedding,
    FaceLandmarks,
    FaceTracker,
    IdentityBackend,
    IdentityModelError,
    LandmarkBackend,
    default_backend,
    head_pose,
    match,
    mouth_opening,
)
from media import Limits, MediaError, Sandbox, VideoInfo
from speech import TRIM_DB, hear, to_pcm16

logger = logging.getLogger(__name__)

CHALLENGE_TTL = timedelta(minutes=30)
MAX_SECONDS = 120.0  # a statement takes ~10 s to say; two minutes leaves room for retakes in one go
PASSCODE_WORDS = 4
MIN_MOUTH_STD = 0.005  # of the face height; a still photo measures 0.0000, speaking faces 0.03–0.05
MIN_LIP_SYNC = 0.20  # Pearson correlation, mouth opening vs loudness, best lag within ±200 ms
MAX_LAG_S = 0.2
MIN_FACE_PX = 96  # as faces.find_face: smaller faces embed poorly
_ONE_FACE_SAMPLES = 40
_ONE_FACE_PER_S = 2.0
_IDENTITY_AT = (0.25, 0.5, 0.75)  # where in the recording the identity frames are taken
_TRACK_MAX_SIDE = 640  # frames are scaled down to this for tracking (mouth opening is a ratio)
_FRAME_MAX_SIDE = 1920  # frames are decoded at most this large (2.1 MP at 16:9) for the face checks
SANDBOX = Sandbox.for_video()  # the recording is untrusted: decoded in a confined child process
_PREAMBLE = "I, the person in this video, agree that Likeness may generate videos of my face for {scope}."
_PASSCODE = "My passcode is {phrase}."


@dataclass(frozen=True)
class Challenge:
    """A statement to say, with its passcode; valid for 30 minutes. Keep it server-side (the portal's session)."""

    id: str
    phrase: str  # the passcode words, space-separated
    statement_text: str  # what the person reads aloud, passcode included
    issued_at: datetime
    expires_at: datetime
    phrase_sha256: str  # SHA-256 of the statement text (what the consent evidence cites)
    cues: tuple[_cues.Cue, ...] = ()  # the head-turn cues the page shows during the recording

    @property
    def words(self) -> list[str]:
        return self.phrase.split()

    @property
    def preamble(self) -> str:
        """The statement before the passcode words."""
        return self.statement_text[: self.statement_text.rindex(self.phrase)]


@dataclass(frozen=True)
class Check:
    """One check of a statement recording: passed or not, a score, and what to redo."""

    name: str
    passed: bool
    score: float
    reason: str
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class StatementVerdict:
    """All checks of one recording; ``passed`` only when every check passed."""

    passed: bool
    checks: list[Check]
    model_versions: dict[str, str] = field(default_factory=dict)
    challenge_sha256: str = ""

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def evidence(self, *, media_sha256: str) -> EvidenceCreate:
        """What the consent registry keeps of this verification: hashes, scores and model versions only."""
        return EvidenceCreate(kind="statement", media_sha256=media_sha256, challenge_sha256=self.challenge_sha256,
                              scores={c.name: float(c.score) for c in self.checks if np.isfinite(c.score)},
                              model_versions=self.model_versions)


# ---------------------------------------------------------------------------------------- challenge


def issue_challenge(scope_summary: str, *, now: datetime, words: int = PASSCODE_WORDS,
                    cues: int = _cues.N_CUES) -> Challenge:
    """A fresh statement naming ``scope_summary`` (e.g. "education by Acme") with ``words`` random passcode words
    and ``cues`` random head-turn cues (:mod:`consent._cues`)."""
    _aware(now, what="now")
    scope = " ".join(str(scope_summary).split()).rstrip(".")
    if not scope or len(scope) > 200 or not any(ch.isalpha() for ch in scope):
        raise ConsentInputError("the scope summary must be 1 to 200 characters of words, e.g. 'education by Acme'")
    if not all(ch.isalnum() or ch in " ,'’&-" for ch in scope):
        raise ConsentInputError("the scope summary may hold letters, digits, spaces and , ' & - only: it is read aloud")
    if not 4 <= words <= 5:
        raise ConsentInputError(f"a passcode has 4 or 5 words, not {words}")
    phrase = " ".join(_challenge.passcode_words(words))
    text = f"{_PREAMBLE.format(scope=scope)} {_PASSCODE.format(phrase=phrase)}"
    return Challenge(id="chl_" + secrets.token_urlsafe(16), phrase=phrase, statement_text=text, issued_at=now,
                     expires_at=now + CHALLENGE_TTL, phrase_sha256=hashlib.sha256(text.encode()).hexdigest(),
                     cues=_cues.issue_cues(cues) if cues else ())


def _aware(moment: datetime, *, what: str) -> None:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ConsentInputError(f"{what} must be a timezone-aware datetime")


# ---------------------------------------------------------------------------------------- verification


def verify_statement(
    video_path: Path | str,
    *,
    challenge: Challenge,
    reference: Sequence[Embedding],
    identity_backend: IdentityBackend,
    now: datetime,
    landmark_backend: LandmarkBackend | None = None,
    forensics: Forensics | Off | None = None,
    cues: CueAnswer | Off | None = None,
    cue_key: bytes = b"",
) -> StatementVerdict:
    """Check a recording of ``challenge.statement_text`` (see the module's docstring for the checks).

    ``forensics``: this platform's watermark key, trust anchors and classifier for ``not_synthetic``
    (None: that check fails, saying it is not configured); ``cues``: the page's report of the cues it
    showed, checked against ``challenge.cues`` with the HMAC key ``cue_key`` (None: ``cues`` fails).
    :class:`Off` (with a reason) turns either check off explicitly: never in production.

    Raises :class:`~consent.errors.StatementError` for a file that cannot be checked, and
    :class:`faces.IdentityModelError` when ``reference`` was embedded by another model than
    ``identity_backend`` (re-enrol) or the backend is not calibrated (an operator's problem).
    """
    _aware(now, what="now")
    expired = _timed(lambda: _not_expired(challenge, now=now))
    info, audio = _read(video_path)
    phrase = _timed(lambda: _phrase(audio, challenge=challenge))
    detector = landmark_backend if landmark_backend is not None else default_backend()
    frames = _scan(video_path, info_frames=info.frame_count, fps=info.fps, detector=detector)
    one_face = _timed(lambda: _one_face(frames), extra_ms=frames.detect_ms)
    identity = _timed(lambda: _identity(frames, reference=reference, backend=identity_backend))
    liveness = _timed(lambda: _liveness_check(frames, audio=audio), extra_ms=frames.tracking_ms)
    cue_check = _timed(lambda: _cue_check(frames, challenge=challenge, answer=cues, key=cue_key))
    synthetic, forensic_version = _not_synthetic(video_path, forensics=forensics)
    checks = [expired, one_face, identity, phrase, liveness, cue_check, synthetic]
    versions = {"identity": identity_backend.model_version, "landmarks": getattr(detector, "name", "unknown"),
                "speech": "pocketsphinx en-us grammar", "forensics": forensic_version,
                "cues": f"off: {cues.reason}" if isinstance(cues, Off) else
                f"head yaw v1, turn {_cues.TURN_DEG:g} deg within {_cues.WINDOW_S:g} s"}
    verdict = StatementVerdict(passed=all(c.passed for c in checks), checks=checks, model_versions=versions,
                               challenge_sha256=challenge.phrase_sha256)
    logger.info("consent statement %s: %s", "passed" if verdict.passed else "failed",
                ", ".join(f"{c.name}={'ok' if c.passed else 'FAIL'}" for c in checks))
    return verdict


def _timed(run: Callable[[], Check], *, extra_ms: float = 0.0) -> Check:
    """``run()``'s check, with the milliseconds it took (plus ``extra_ms`` spent on it during the frame pass)."""
    started = time.perf_counter()
    check = run()
    return dataclasses.replace(check, elapsed_ms=1000 * (time.perf_counter() - started) + extra_ms)


def _read(video_path: Path | str) -> tuple[VideoInfo, np.ndarray]:
    """The clip's header and its audio (16 kHz mono), or a StatementError saying what is wrong with the file."""
    try:
        info = SANDBOX.probe_video(video_path, limits=Limits.statement())
    except MediaError as exc:
        raise StatementError(f"the recording could not be read as a video ({exc}): record the statement again") from exc
    if info.duration_s > MAX_SECONDS:
        raise StatementError(f"the recording is {info.duration_s:.0f} s long; a statement may last at most "
                             f"{MAX_SECONDS:.0f} s: record just the statement")
    if not info.has_audio:
        raise StatementError("the recording has no sound track: allow the microphone and record the statement again")
    try:
        audio = SANDBOX.read_audio(video_path, sample_rate=16000, mono=True, limits=Limits.statement())
    except MediaError as exc:
        raise StatementError(f"the recording's sound could not be read ({exc}): record the statement again") from exc
    return info, audio.samples[0]


# ---------------------------------------------------------------------------------------- frames


@dataclass
class _Frames:
    """What one pass over the frames found."""

    fps: float
    mouth: list[float] = field(default_factory=list)  # per frame, NaN where no face was tracked
    yaw: list[float] = field(default_factory=list)  # head yaw per frame (degrees, + = the person's left), or NaN
    counts: list[tuple[float, int]] = field(default_factory=list)  # (time s, faces) of the sampled frames
    identity: list[tuple[float, np.ndarray, FaceLandmarks]] = field(default_factory=list)  # (time, frame, face)
    detect_ms: float = 0.0
    tracking_ms: float = 0.0


def _scan(video_path: Path | str, *, info_frames: int, fps: float, detector: LandmarkBackend) -> _Frames:
    """Track the mouth in every frame; count faces in the sampled frames; keep the identity frames."""
    fps = fps if fps > 0 else 25.0
    n = max(info_frames, 1)
    count_every = max(1, round(fps / _ONE_FACE_PER_S), int(np.ceil(n / _ONE_FACE_SAMPLES)))
    targets = sorted({min(n - 1, int(p * n)) for p in _IDENTITY_AT})
    found = _Frames(fps=fps)
    try:
        with FaceTracker() as tracker:
            frames = SANDBOX.iter_frames(video_path, max_side=_FRAME_MAX_SIDE, limits=Limits.statement())
            for index, frame in enumerate(frames):
                started = time.perf_counter()
                lm = tracker.track(_scaled(frame))
                found.mouth.append(float("nan") if lm is None else mouth_opening(lm))
                found.yaw.append(float("nan") if lm is None else head_pose(lm)[0])
                found.tracking_ms += 1000 * (time.perf_counter() - started)
                counting = index % count_every == 0
                # an identity frame: the first frame from each target on that shows exactly one face
                pending = len(found.identity) < len(targets) and index >= targets[len(found.identity)]
                wanting = pending and (counting or index == targets[len(found.identity)])
                if not (counting or wanting):
                    continue
                started = time.perf_counter()
                faces = detector.detect(frame)
                found.detect_ms += 1000 * (time.perf_counter() - started)
                if counting:
                    found.counts.append((index / fps, len(faces)))
                if wanting and len(faces) == 1:
                    found.identity.append((index / fps, frame, faces[0]))
    except MediaError as exc:
        raise StatementError(f"the recording is damaged or cut short ({exc}): record the statement again") from exc
    if not found.mouth:
        raise StatementError("the recording holds no video frame: record the statement again")
    return found


def _scaled(frame: np.ndarray) -> np.ndarray:
    side = max(frame.shape[:2])
    if side <= _TRACK_MAX_SIDE:
        return frame
    import cv2

    scale = _TRACK_MAX_SIDE / side
    return cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)),
                      interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------------------------------- checks


def _not_expired(challenge: Challenge, *, now: datetime) -> Check:
    left = (challenge.expires_at - now).total_seconds() / 60
    if now < challenge.issued_at:
        return Check("not_expired", False, left,
                     "the challenge was issued after the time given: ask for a new passcode")
    if left <= 0:
        return Check("not_expired", False, left,
                     f"the passcode expired at {challenge.expires_at:%H:%M} UTC, {-left:.0f} min ago (a passcode is "
                     f"valid for {CHALLENGE_TTL.seconds // 60} min): ask for a new passcode and record again")
    return Check("not_expired", True, left, f"the passcode is valid for {left:.0f} more min")


def _one_face(frames: _Frames) -> Check:
    counts = frames.counts
    good = sum(1 for _, c in counts if c == 1)
    score = good / len(counts) if counts else 0.0
    several = next(((t, c) for t, c in counts if c > 1), None)
    none = next((t for t, c in counts if c == 0), None)
    if several is not None:
        t, c = several
        reason = (f"{c} faces are in view at {t:.1f} s: record alone, with no other person, photo or screen "
                  f"showing a face in view")
    elif none is not None:
        reason = f"no face is visible at {none:.1f} s: keep your whole face in view for the whole statement"
    elif not counts:
        reason = "no frame could be checked for faces: record the statement again"
    else:
        reason = f"one face in each of the {len(counts)} frames checked"
    return Check("one_face", bool(counts) and good == len(counts), score, reason)


def _identity(frames: _Frames, *, reference: Sequence[Embedding], backend: IdentityBackend) -> Check:
    usable = [(t, f, lm) for t, f, lm in frames.identity if lm.width >= MIN_FACE_PX]
    if not usable:
        small = bool(frames.identity)
        why = (f"the face is narrower than {MIN_FACE_PX} px: come closer to the camera" if small
               else "no frame shows exactly one face clearly: face the camera, alone, in good light")
        return Check("identity", False, 0.0, f"the face could not be compared with your reference photos ({why})")
    if backend.calibration is None:
        raise IdentityModelError(f"the {backend.name} identity model is not calibrated: it cannot decide a match")
    results = []
    for _, frame, lm in usable:
        probe = Embedding(backend.embed(frame, lm), backend=backend.name, model_version=backend.model_version)
        results.append(match(probe, reference=reference, calibration=backend.calibration))
    similarity = float(np.median([r.similarity for r in results]))
    matched = sum(r.same_person for r in results)
    needed = len(results) // 2 + 1
    threshold = results[0].threshold
    if matched >= needed:
        reason = (f"the face matches your reference photos in {matched} of {len(results)} frames (median "
                  f"similarity {similarity:.3f}, threshold {threshold:.3f})")
        return Check("identity", True, similarity, reason)
    reason = (f"the face in the recording does not match your reference photos ({matched} of {len(results)} frames "
              f"match; median similarity {similarity:.3f}, threshold {threshold:.3f}): the person in the reference "
              "photos must record the statement, facing the camera in good light")
    return Check("identity", False, similarity, reason)


def _phrase(audio: np.ndarray, *, challenge: Challenge) -> Check:
    expected = challenge.words
    say = f"say the passcode words clearly: {' '.join(expected)}"
    if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-3:
        return Check("phrase", False, 0.0, f"the recording is silent: unmute the microphone and {say}")
    heard = hear(to_pcm16(audio, trim_db=TRIM_DB), preamble=challenge.preamble, n_words=len(expected),
                         vocabulary=_challenge.WORDS)
    if not heard.followed:
        return Check("phrase", False, 0.0,
                     f"the statement could not be followed in the recording: read the whole statement as written, "
                     f"then {say}")
    right = [h == e for h, e in zip(heard.passcode, expected, strict=True)]
    score = sum(right) / len(expected)
    needed = passcode_words_needed(len(expected))
    missed = [e for e, ok in zip(expected, right, strict=True) if not ok]
    if sum(right) >= needed:
        extra = f" ({', '.join(missed)} unclear, which is tolerated)" if missed else ""
        return Check("phrase", True, score,
                     f"{sum(right)} of {len(expected)} passcode words were heard in order{extra}")
    were = "s were" if len(missed) > 1 else " was"
    return Check("phrase", False, score,
                 f"{len(missed)} of {len(expected)} passcode word{were} not heard ({', '.join(missed)}; at least "
                 f"{needed} must be): {say}")


def passcode_words_needed(n: int) -> int:
    """How many of ``n`` passcode words must be heard in their places: half, rounded up (2 of 4, 3 of 5)."""
    return (n + 1) // 2


def _liveness_check(frames: _Frames, *, audio: np.ndarray) -> Check:
    mouth = np.asarray(frames.mouth, dtype=np.float64)
    tracked = mouth[~np.isnan(mouth)]
    if tracked.size < 3:
        return Check("liveness", False, 0.0, "no face could be followed through the recording: keep your face in view")
    spread = float(tracked.std())
    if spread < MIN_MOUTH_STD:
        return Check("liveness", False, 0.0,
                     f"the lips do not move (mouth opening varies by {spread:.4f} of the face height, at least "
                     f"{MIN_MOUTH_STD} is needed): record yourself, live, reading the statement aloud — not a photo")
    loudness = _liveness.loudness_envelope(audio, rate=16000, fps=frames.fps, n_frames=len(mouth))
    corr, lag = _liveness.lip_sync(mouth, loudness=loudness, max_lag=max(1, round(MAX_LAG_S * frames.fps)))
    if corr >= MIN_LIP_SYNC:
        return Check("liveness", True, corr,
                     f"the lips move with the voice (correlation {corr:.2f} at {1000 * lag / frames.fps:+.0f} ms)")
    return Check("liveness", False, corr,
                 f"the lips do not move with the voice (correlation {corr:.2f}, at least {MIN_LIP_SYNC} is needed): "
                 "record yourself saying the statement, face to the camera, in one take, with the sound of "
                 "this camera's microphone")


def _cue_check(frames: _Frames, *, challenge: Challenge, answer: CueAnswer | Off | None, key: bytes) -> Check:
    if isinstance(answer, Off):
        return Check("cues", True, float("nan"), f"not checked ({answer.reason})")
    if answer is not None and not key:
        return Check("cues", False, 0.0, "the head-turn cues cannot be checked: the server has no cue key (an "
                                         "operator must fix this; nothing you can redo)")
    result = _cues.check_cues(np.asarray(frames.yaw, np.float64), fps=frames.fps, challenge_id=challenge.id,
                              cues=challenge.cues, answer=answer, key=key or b"\0" * 16)
    return Check("cues", result.passed, result.score, result.reason)


def _not_synthetic(video_path: Path | str, *, forensics: Forensics | Off | None) -> tuple[Check, str]:
    """The forensic check (:mod:`consent._forensics`) and the version of what ran it."""
    started = time.perf_counter()
    if isinstance(forensics, Off):
        return Check("not_synthetic", True, float("nan"), f"not checked ({forensics.reason})"), \
            f"off: {forensics.reason}"
    if forensics is None:
        return Check("not_synthetic", False, float("nan"), "the recording could not be checked for synthetic media: "
                     "the forensic check is not configured on this server (an operator must fix this; nothing you "
                     "can redo)"), "not configured"
    result = forensic_check(video_path, forensics=forensics)
    elapsed = 1000 * (time.perf_counter() - started)
    return Check("not_synthetic", result.passed, result.score, result.reason, elapsed_ms=elapsed), result.version
