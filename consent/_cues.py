"""The cue challenge: head turns asked for at random moments, which a pre-rendered video cannot know.

>>> import numpy as np
>>> from consent._cues import Cue, CueAnswer, check_cues, issue_cues, sign_cues
>>> cues = issue_cues()
>>> len(cues), all(c.turn in ("left", "right") for c in cues)
(3, True)
>>> key = b"k" * 32
>>> cues = (Cue(at_s=2.0, turn="left"), Cue(at_s=6.0, turn="right"))
>>> token = sign_cues("chl_example", cues, key=key)
>>> fps, t = 25.0, np.arange(250) / 25.0
>>> yaw = 20 * ((t > 2.5) & (t < 3.5)) - 20 * ((t > 6.5) & (t < 7.5))   # turns left, then right
>>> answer = CueAnswer(token=token, shown_s=(2.02, 6.03))
>>> check_cues(yaw.astype(float), fps=fps, challenge_id="chl_example", cues=cues, answer=answer, key=key).passed
True
>>> forged = CueAnswer(token="0" * 64, shown_s=(2.02, 6.03))
>>> check_cues(yaw.astype(float), fps=fps, challenge_id="chl_example", cues=cues, answer=forged, key=key).reason
'the cue report does not carry the signature of this passcode’s cues (forged, or from another passcode): ...'

The server issues, with the passcode, :data:`N_CUES` cues: each a moment (seconds from the start
of the recording, at least :data:`MIN_GAP_S` apart, between :data:`FIRST_S` and :data:`LAST_S`)
and a direction, chosen with the operating system's random source, and an HMAC-SHA256 over the
challenge id and the schedule (:func:`sign_cues`). The statement page shows each cue when its
moment comes ("turn your head to your left", with an arrow) and sends back the token and when
each cue was actually shown (:class:`CueAnswer`). Verification (:func:`check_cues`):

- the token must be the HMAC of this challenge's schedule, and each cue must have been shown
  within :data:`SHOWN_TOLERANCE_S` of its issued moment (the page cannot move a cue);
- the head's yaw (MediaPipe's landmarks, :func:`faces.head_pose`, degrees; positive when the
  person turns to their own left) is measured against its median over the recording; for each
  cue shown at ``t``, the head must turn at least :data:`TURN_DEG` in the cued direction within
  ``[t + REACTION_S, t + WINDOW_S]``, must not turn further the other way in that window, and
  must not already be turned half that far in the cued direction in ``[t − PRE_S, t + REACTION_S)``
  (a turn that starts before the cue is not an answer to it).

``TURN_DEG`` and ``WINDOW_S`` were chosen by leave-one-clip-out on 12 real clips
(``bench/statement_cues.py``, docs/consent.md): how often natural head motion meets a random
schedule by chance, against how often a turn that follows a cue passes. A generator that watches
the cues in real time can still meet them: the cues stop pre-rendered and replayed videos only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Literal

import numpy as np

Turn = Literal["left", "right"]
N_CUES = 3
FIRST_S = 1.5  # the first cue comes no sooner (the person has started reading)
LAST_S = 10.5  # the last cue comes no later (a statement takes ~10 s to say)
MIN_GAP_S = 3.0  # a turn and the return to the camera fit between two cues
CUE_VISIBLE_S = 1.5  # how long the page shows a cue
REACTION_S = 0.15  # no one turns sooner than this after a cue appears
PRE_S = 0.8  # the stretch before a cue in which the head must not already be turned
TURN_DEG = 12.0  # chosen by leave-one-clip-out (bench/statement_cues.py, docs/consent.md)
WINDOW_S = 2.0  # chosen by leave-one-clip-out (bench/statement_cues.py, docs/consent.md)
SHOWN_TOLERANCE_S = 0.75  # a busy page may show a cue late; it may not move it further
_SIGN = {"left": 1.0, "right": -1.0}  # faces.head_pose: positive yaw = the person's left


@dataclass(frozen=True)
class Cue:
    """One cue: at ``at_s`` seconds from the start of the recording, turn the head to ``turn`` (the person's own)."""

    at_s: float
    turn: Turn

    def as_json(self) -> dict[str, object]:
        return {"at_ms": round(1000 * self.at_s), "turn": self.turn}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Cue:
        turn, at_ms = str(data["turn"]), data["at_ms"]
        if turn not in _SIGN:
            raise ValueError(f"a cue turns left or right, not {turn!r}")
        if not isinstance(at_ms, int | float | str):
            raise ValueError(f"a cue's time is a number of milliseconds, not {at_ms!r}")
        return cls(at_s=int(at_ms) / 1000, turn="left" if turn == "left" else "right")


@dataclass(frozen=True)
class CueAnswer:
    """What the statement page sends back: the schedule's token, and when each cue was shown (s from the start)."""

    token: str
    shown_s: tuple[float, ...]

    @classmethod
    def from_json(cls, text: str | None) -> CueAnswer | None:
        """The page's ``cues`` form field (``{"token": …, "shown_ms": [...]}``), or None when absent or malformed."""
        if not text or len(text) > 2000:
            return None
        try:
            data = json.loads(text)
            token, shown = data["token"], data["shown_ms"]
            if not isinstance(token, str) or not isinstance(shown, list) or len(shown) > 16:
                return None
            return cls(token=token[:128], shown_s=tuple(float(v) / 1000 for v in shown))
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class CueResult:
    """The cue check's outcome: passed, the share of cues met, and what to redo."""

    passed: bool
    score: float
    reason: str
    met: tuple[bool, ...] = ()


def issue_cues(n: int = N_CUES) -> tuple[Cue, ...]:
    """``n`` cues at random moments (0.1 s grid, :data:`MIN_GAP_S` apart) with random directions."""
    rng = secrets.SystemRandom()
    slack = LAST_S - FIRST_S - (n - 1) * MIN_GAP_S
    if slack < 0:
        raise ValueError(f"{n} cues do not fit between {FIRST_S} s and {LAST_S} s")
    # n points in [0, slack] sorted, then spread by the minimum gap: uniform over all valid schedules
    offsets = sorted(rng.uniform(0.0, slack) for _ in range(n))
    turns: list[Turn] = ["left", "right"]
    return tuple(Cue(at_s=round(FIRST_S + o + i * MIN_GAP_S, 1), turn=rng.choice(turns))
                 for i, o in enumerate(offsets))


def _canonical(challenge_id: str, cues: tuple[Cue, ...]) -> bytes:
    body = json.dumps([c.as_json() for c in cues], separators=(",", ":"), sort_keys=True)
    return f"likeness/statement-cues/v1|{challenge_id}|{body}".encode()


def sign_cues(challenge_id: str, cues: tuple[Cue, ...], *, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the challenge id and its cue schedule, under ``key``."""
    if len(key) < 16:
        raise ValueError("the cue key must hold at least 16 bytes")
    return hmac.new(key, _canonical(challenge_id, cues), hashlib.sha256).hexdigest()


def cue_key(secret: bytes) -> bytes:
    """The HMAC key for cue tokens, derived from a server-side secret (the portal: the draft's key)."""
    return hashlib.sha256(b"likeness/statement-cues/key/v1\x00" + secret).digest()


def meets_cue(yaw: np.ndarray, *, fps: float, at_s: float, turn: Turn, neutral: float,
              turn_deg: float = TURN_DEG, window_s: float = WINDOW_S) -> tuple[bool, str]:
    """Does the head answer one cue shown at ``at_s``? (met, why not)."""
    times = np.arange(len(yaw)) / fps
    d = _SIGN[turn] * (yaw - neutral)
    pre = d[(times >= at_s - PRE_S) & (times < at_s + REACTION_S)]
    post = d[(times >= at_s + REACTION_S) & (times <= at_s + window_s)]
    tracked = post[~np.isnan(post)]
    if len(post) == 0 or len(tracked) < 0.5 * len(post):
        return False, "your face was not followed after it"
    pre = pre[~np.isnan(pre)]
    if pre.size and float(pre.max()) >= turn_deg / 2:
        return False, f"your head was already turned to your {turn} before it appeared"
    right, wrong = float(tracked.max()), float((-tracked).max())
    if right < turn_deg:
        return False, f"your head turned {max(right, 0.0):.0f}° to your {turn} (at least {turn_deg:.0f}° is needed)"
    if wrong > right:
        return False, "your head turned further the other way"
    return True, ""


def check_cues(yaw: np.ndarray, *, fps: float, challenge_id: str, cues: tuple[Cue, ...], answer: CueAnswer | None,
               key: bytes, turn_deg: float = TURN_DEG, window_s: float = WINDOW_S) -> CueResult:
    """The cue check of one recording, from its per-frame yaw (degrees, NaN where no face was tracked)."""
    if not cues:
        return CueResult(False, 0.0, "this passcode came without head-turn cues: ask for a new passcode")
    if answer is None:
        return CueResult(False, 0.0, "the recording came without the page's cue report: record the statement on the "
                                     "statement page with the camera, and turn your head when it asks")
    expected = sign_cues(challenge_id, cues, key=key)
    if not hmac.compare_digest(expected.encode(), answer.token.encode()):
        return CueResult(False, 0.0, "the cue report does not carry the signature of this passcode’s cues (forged, or "
                                     "from another passcode): record again on this page")
    if len(answer.shown_s) != len(cues):
        return CueResult(False, 0.0, f"{len(answer.shown_s)} of the {len(cues)} head-turn cues were shown: keep "
                                     "recording until the page says the cues are done")
    for i, (cue, shown) in enumerate(zip(cues, answer.shown_s, strict=True), 1):
        if not np.isfinite(shown) or abs(shown - cue.at_s) > SHOWN_TOLERANCE_S:
            return CueResult(False, 0.0, f"cue {i} is reported shown at {shown:.2f} s, not near {cue.at_s:.1f} s as "
                                         "issued: record again on this page")
    yaw = np.asarray(yaw, np.float64)
    if np.isnan(yaw).all():
        return CueResult(False, 0.0, "no face could be followed through the recording: keep your face in view")
    neutral = float(np.nanmedian(yaw))
    met, misses = [], []
    for i, (cue, shown) in enumerate(zip(cues, answer.shown_s, strict=True), 1):
        ok, why = meets_cue(yaw, fps=fps, at_s=shown, turn=cue.turn, neutral=neutral, turn_deg=turn_deg,
                            window_s=window_s)
        met.append(ok)
        if not ok:
            misses.append(f"cue {i} ({cue.turn}, at {shown:.1f} s): {why}")
    score = sum(met) / len(cues)
    if all(met):
        return CueResult(True, score, f"the head turned as asked after each of the {len(cues)} cues", tuple(met))
    return CueResult(False, score, f"{len(misses)} of {len(cues)} head-turn cues were not followed ("
                     + "; ".join(misses) + "): when a cue appears, turn your head that way, then face the camera "
                     "again", tuple(met))
