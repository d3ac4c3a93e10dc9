"""Mouth shapes from phones (with co-articulation) or, failing phones, from the sound itself.

>>> import numpy as np
>>> from speech.phones import Timed
>>> phones = [Timed("SIL", 0.0, 0.2), Timed("B", 0.2, 0.26), Timed("AA", 0.26, 0.5), Timed("SIL", 0.5, 0.8)]
>>> mouth = mouth_from_phones(phones, n=80, loudness=np.ones(80, np.float32))
>>> float(mouth["lip_press"][23]) > 0.9, float(mouth["jaw_open"][38]) > 0.6, float(mouth["jaw_open"][75]) < 0.05
(True, True, True)

Each ARPAbet phone has a target per mouth parameter and a dominance (Cohen & Massaro 1993): a
strength and how far it reaches before (anticipation) and after (carry-over) the phone. Every
10 ms frame takes the dominance-weighted mean of the targets around it, so lip rounding spreads
ahead of OO and W into the consonants before them, and consonants with weak lip dominance (T, K,
HH) take the lip shape of their vowels. Bilabials (P, B, M) and labiodentals (F, V) dominate their
own parameter so strongly that the blend keeps them, and their cores are then pinned to the
closure, so smoothing never removes one. Jaw opening is scaled by loudness (a shout opens wider
than a whisper; silence closes the mouth).

Diphthongs (AW, AY, EY, OW, OY) move from their first vowel to their second. Parameters:
``jaw_open`` 0–1, ``lip_width`` −1 (rounded) … +1 (spread), ``lip_press``, ``lip_tuck``, ``teeth``,
``tongue`` 0–1.
"""

from __future__ import annotations

import numpy as np

from speech import FRAME_RATE, Features, Timed, smooth

PARAMS = ("jaw_open", "lip_width", "lip_press", "lip_tuck", "teeth", "tongue")
LOW = np.array([0, -1, 0, 0, 0, 0], np.float32)
HIGH = np.ones(len(PARAMS), np.float32)

# targets: jaw, width, press, tuck, teeth, tongue
_T = {
    "AA": (0.85, 0.10, 0, 0, 0.35, 0), "AE": (0.70, 0.45, 0, 0, 0.50, 0), "AH": (0.55, 0.10, 0, 0, 0.30, 0),
    "AO": (0.70, -0.45, 0, 0, 0.20, 0), "EH": (0.50, 0.50, 0, 0, 0.55, 0), "ER": (0.35, -0.30, 0, 0, 0.30, 0.1),
    "IH": (0.35, 0.55, 0, 0, 0.60, 0), "IY": (0.20, 0.90, 0, 0, 0.75, 0), "UH": (0.35, -0.55, 0, 0, 0.20, 0),
    "UW": (0.20, -0.95, 0, 0, 0.05, 0),
    "P": (0.03, 0.0, 1, 0, 0, 0), "B": (0.03, 0.0, 1, 0, 0, 0), "M": (0.03, 0.0, 1, 0, 0, 0),
    "F": (0.12, 0.10, 0, 1, 0.80, 0), "V": (0.12, 0.10, 0, 1, 0.80, 0),
    "TH": (0.18, 0.15, 0, 0, 0.70, 1), "DH": (0.18, 0.15, 0, 0, 0.70, 1),
    "T": (0.20, 0.20, 0, 0, 0.60, 0.45), "D": (0.20, 0.20, 0, 0, 0.60, 0.45), "N": (0.20, 0.15, 0, 0, 0.55, 0.45),
    "L": (0.30, 0.15, 0, 0, 0.50, 0.80), "S": (0.10, 0.35, 0, 0, 1.00, 0), "Z": (0.10, 0.35, 0, 0, 1.00, 0),
    "SH": (0.15, -0.55, 0, 0, 0.80, 0), "ZH": (0.15, -0.55, 0, 0, 0.80, 0),
    "CH": (0.15, -0.50, 0, 0, 0.80, 0), "JH": (0.15, -0.50, 0, 0, 0.80, 0),
    "K": (0.30, 0.10, 0, 0, 0.40, 0), "G": (0.30, 0.10, 0, 0, 0.40, 0), "NG": (0.25, 0.10, 0, 0, 0.40, 0),
    "HH": (0.40, 0.00, 0, 0, 0.30, 0), "R": (0.25, -0.45, 0, 0, 0.30, 0), "W": (0.12, -1.00, 0, 0, 0.00, 0),
    "Y": (0.20, 0.60, 0, 0, 0.50, 0), "SIL": (0.0, 0.0, 0, 0, 0.0, 0),
}
_DIPHTHONGS = {"AW": ("AA", "UH"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("AO", "UW"), "OY": ("AO", "IY")}

# dominance strength per parameter (jaw, width, press, tuck, teeth, tongue) by phone group
_VOWEL = (2.0, 1.0, 0.5, 0.5, 0.6, 0.5)
_ROUND = (2.0, 3.0, 0.5, 0.5, 0.6, 0.5)  # rounding reaches far ahead
_GROUP = {
    "labial": (1.0, 0.3, 10.0, 0.3, 1.0, 0.5),
    "labiodental": (1.0, 0.5, 0.5, 10.0, 3.0, 0.5),
    "dental": (0.6, 0.3, 0.5, 0.5, 1.5, 8.0),
    "alveolar": (0.4, 0.15, 0.5, 0.5, 0.8, 2.0),
    "sibilant": (0.8, 1.0, 0.5, 0.5, 3.0, 0.5),
    "postalveolar": (0.7, 1.5, 0.5, 0.5, 2.0, 0.5),
    "velar": (0.3, 0.1, 0.5, 0.5, 0.4, 0.5),
    "glottal": (0.1, 0.05, 0.5, 0.5, 0.2, 0.5),
    "approximant": (0.5, 2.0, 0.5, 0.5, 0.8, 1.0),
    "silence": (1.5, 1.5, 1.0, 1.0, 1.0, 1.0),
}
_GROUP_OF = {
    **dict.fromkeys(("P", "B", "M"), "labial"), **dict.fromkeys(("F", "V"), "labiodental"),
    **dict.fromkeys(("TH", "DH"), "dental"), **dict.fromkeys(("T", "D", "N", "L"), "alveolar"),
    **dict.fromkeys(("S", "Z"), "sibilant"), **dict.fromkeys(("SH", "ZH", "CH", "JH"), "postalveolar"),
    **dict.fromkeys(("K", "G", "NG"), "velar"), "HH": "glottal", **dict.fromkeys(("R", "W", "Y"), "approximant"),
    "SIL": "silence",
}
# reach (seconds, e-folding) before and after the phone, per parameter: lip shape anticipates
# furthest; contacts (press, tuck, tongue) are local so that they stay as long as the phone
_BEFORE = np.array([0.04, 0.12, 0.008, 0.008, 0.04, 0.008], np.float32)
_AFTER = np.array([0.035, 0.07, 0.006, 0.006, 0.035, 0.006], np.float32)
_ROUND_BEFORE = np.array([0.04, 0.15, 0.008, 0.008, 0.04, 0.008], np.float32)


def _dominance(label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strength, reach before, reach after) per parameter for one (single-target) phone."""
    group = _GROUP_OF.get(label)
    if group is None:  # a vowel
        rounded = _T[label][1] < -0.4
        return np.array(_ROUND if rounded else _VOWEL, np.float32), _ROUND_BEFORE if rounded else _BEFORE, _AFTER
    strength = np.array(_GROUP[group], np.float32)
    if label == "W":
        return strength * np.array([1, 1.5, 1, 1, 1, 1], np.float32), _ROUND_BEFORE, _AFTER
    return strength, _BEFORE, _AFTER


def _expand(phones: list[Timed]) -> list[Timed]:
    """Diphthongs split into their two vowels (60 % / 40 %); unknown labels become silence."""
    out: list[Timed] = []
    for p in phones:
        if p.end_s <= p.start_s:
            continue
        if p.label in _DIPHTHONGS:
            first, second = _DIPHTHONGS[p.label]
            mid = p.start_s + 0.6 * (p.end_s - p.start_s)
            out += [Timed(first, p.start_s, mid), Timed(second, mid, p.end_s)]
        else:
            out.append(p if p.label in _T else Timed("SIL", p.start_s, p.end_s))
    return out


def mouth_from_phones(phones: list[Timed], *, n: int, loudness: np.ndarray) -> dict[str, np.ndarray]:
    """Per 10 ms frame mouth parameters (``n`` frames) from timed phones and the 0–1 loudness."""
    t = np.arange(n, dtype=np.float32) / FRAME_RATE  # frame i is centred on i / FRAME_RATE
    neutral = 1e-3  # a faint neutral (silence) pull where no phone reaches
    num = np.zeros((len(PARAMS), n), np.float32)
    den = np.full((len(PARAMS), n), neutral, np.float32)
    expanded = _expand(phones)
    for p in expanded:
        target = np.array(_T[p.label], np.float32)[:, None]
        strength, before, after = _dominance(p.label)
        lo = max(0, int((p.start_s - 5 * before.max()) * FRAME_RATE))
        hi = min(n, int((p.end_s + 5 * after.max()) * FRAME_RATE) + 1)
        if lo >= hi:
            continue
        tt = t[lo:hi]
        ahead = np.maximum(p.start_s - tt, 0.0)  # this phone is still to come
        behind = np.maximum(tt - p.end_s, 0.0)  # this phone is over
        weight = strength[:, None] * np.exp(-ahead / before[:, None] - behind / after[:, None])
        num[:, lo:hi] += weight * target
        den[:, lo:hi] += weight
    mouth = num / den
    _pin(mouth, expanded, label_set=("P", "B", "M"), param="lip_press", at_least=0.95)
    _pin(mouth, expanded, label_set=("F", "V"), param="lip_tuck", at_least=0.9)
    return _finish(mouth, loudness)


def _pin(mouth: np.ndarray, phones: list[Timed], *, label_set: tuple[str, ...], param: str, at_least: float) -> None:
    """Hold each closure's core (its middle, at least one frame) at the closure: never smoothed away."""
    row = PARAMS.index(param)
    jaw = PARAMS.index("jaw_open")
    n = mouth.shape[1]
    for p in phones:
        if p.label not in label_set:
            continue
        d = p.end_s - p.start_s
        first = int(np.ceil(round(p.start_s * FRAME_RATE, 6)))  # frames inside [start, end)
        last = max(first, int(np.ceil(round(p.end_s * FRAME_RATE, 6))) - 1)
        lo = min(max(first, int(np.ceil(round((p.start_s + 0.2 * d) * FRAME_RATE, 6)))), last)
        hi = max(lo + 1, min(last + 1, int(np.ceil(round((p.end_s - 0.2 * d) * FRAME_RATE, 6)))))
        lo, hi = min(max(lo, 0), n), min(hi, n)
        mouth[row, lo:hi] = np.maximum(mouth[row, lo:hi], at_least)
        mouth[jaw, lo:hi] = np.minimum(mouth[jaw, lo:hi], 0.12)


def _finish(mouth: np.ndarray, loudness: np.ndarray) -> dict[str, np.ndarray]:
    """Loudness scales the jaw (and a little the teeth); values clipped to their ranges."""
    loud = np.clip(loudness[: mouth.shape[1]], 0, 1)
    if loud.size < mouth.shape[1]:
        loud = np.pad(loud, (0, mouth.shape[1] - loud.size))
    gain = 0.15 + 1.0 * loud**0.7  # whisper ~0.4, normal ~0.85, shout ~1.15
    mouth[0] *= gain
    mouth[4] *= np.minimum(1.0, 0.4 + gain)
    mouth = np.clip(mouth, LOW[:, None], HIGH[:, None])
    return {name: mouth[i].astype(np.float32) for i, name in enumerate(PARAMS)}


def mouth_from_sound(feats: Features) -> dict[str, np.ndarray]:
    """Per 10 ms frame mouth parameters from spectral features alone (no phones: singing, other languages).

    Vowels are voiced and loud; their opening follows the centroid of 250–1200 Hz (the first
    formant: IY/UW low, AA high) and their spread the centroid of 1–3 kHz (the second formant:
    IY high, OW/UH low), both relative to this voice's median, calibrated on aligned speech.
    Fricatives are unvoiced and noisy: strong high-band noise shows the teeth (S, SH), weak flat
    noise is lower lip to teeth (F). A short dip in level between voiced stretches is a stop
    closure (lips pressed); silence is a closed mouth.
    """
    loud = feats.loudness
    speech = np.clip(loud / 0.15, 0, 1)
    voiced = feats.voiced
    noisy = np.clip((feats.zcr - 0.1) / 0.2, 0, 1) * np.clip((feats.flatness - 0.05) / 0.1, 0, 1)
    fric = noisy * (1 - voiced) * speech
    vowel = voiced * speech * (1 - fric)
    core = vowel > 0.5
    log1 = np.log2(np.maximum(feats.f1_centroid, 50.0))
    log2 = np.log2(np.maximum(feats.f2_centroid, 50.0))
    ref1 = float(np.median(log1[core])) if core.any() else 9.0
    ref2 = float(np.median(log2[core])) if core.any() else 10.8
    opening = np.clip(log1 - ref1 + 0.5, 0, 1)
    front = np.clip((log2 - ref2) / 0.4, -1, 1)
    width = np.where(front < 0, front * (1 - opening), front) * vowel
    jaw = vowel * (0.15 + 0.6 * opening) + 0.1 * fric
    sibilant = fric * np.clip((feats.high_band - 0.4) / 0.3, 0, 1)
    weak: np.ndarray = fric - sibilant  # F, V, TH: lower lip to teeth
    teeth = np.clip(0.3 * vowel + 0.9 * sibilant + 0.6 * weak, 0, 1)
    tuck = 0.6 * weak
    press = _closures(feats.db, voiced)
    mouth = np.stack([jaw, width, press, tuck, teeth, np.zeros_like(loud)]).astype(np.float32)
    mouth = smooth(mouth, 2.0)
    mouth[2] = np.maximum(mouth[2], press)  # closures stay sharp
    return _finish(mouth, loud)


def _closures(db: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """0–1 lip closure at short dips in level (40–200 ms, ≥ 10 dB deep) between voiced stretches."""
    n = db.size
    press = np.zeros(n, np.float32)
    if n < 5:
        return press
    level = smooth(db.astype(np.float32), 1.0)
    window = 10  # ±100 ms
    padded = np.pad(level, window, mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1)
    left = view[:, :window].max(axis=1)
    right = view[:, window + 1 :].max(axis=1)
    depth = np.minimum(left, right) - level
    is_min = (level <= np.r_[level[1:], np.inf]) & (level <= np.r_[np.inf, level[:-1]])
    vpad = np.pad(voiced, window)
    vview = np.lib.stride_tricks.sliding_window_view(vpad, 2 * window + 1)
    flanked = (vview[:, :window].max(axis=1) > 0.5) & (vview[:, window + 1 :].max(axis=1) > 0.5)
    for i in np.flatnonzero(is_min & flanked & (depth >= 10.0)):
        strength = float(np.clip((depth[i] - 10.0) / 10.0, 0.5, 1.0))
        press[max(0, i - 2) : i + 3] = np.maximum(press[max(0, i - 2) : i + 3], strength)
    return press
