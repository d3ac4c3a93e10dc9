"""Hearing the passcode: pocketsphinx decoding of a consent statement against its own text.

>>> from consent._speech import words_of, letter_to_sound
>>> words_of("Education by Acme, 2 clips.")
['education', 'by', 'acme', 'two', 'clips']
>>> letter_to_sound("zorblax")
'Z AO R B L AE K S'

Free speech recognition is poor with pocketsphinx's small model (measured: 62 % phone errors on
synthetic speech), but choosing among a few known alternatives is not. The statement is decoded
with a grammar: the statement's own words in order, then as many passcode slots as the challenge
has words, each slot any word of the challenge word list (:data:`consent._challenge.WORDS`). What
the grammar hears in the slots is compared with the challenge's words: a passcode of an older
challenge, or other words, is heard as other words of the list. Audio that does not say the
statement at all does not reach the grammar's end (``followed`` is False).

Measured on espeak-ng statements (60 random challenges; human speech not measured here): the
grammar hears ~75 % of passcode words right; 51 of 60 genuine statements had at least 2 of 4 right,
0 of 60 statements read with another challenge's passcode did (54 had none). Hence the check's
rule of half the words (``consent.statement.passcode_words_needed``).

This is keyword recognition in a closed set rather than forced alignment of the expected text:
forced alignment "succeeds" for a wrong passcode too, and the generator's misfit ratio against
free phone recognition is computed over the whole utterance, where four wrong words out of ~25
hardly move it. Same acoustic model as the generator (``generator/_phones.py``), reimplemented
here because ``consent`` may not import ``generator``. The decoder loads once per process and is
used under a lock.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# pocketsphinx's default beams; no filler words between the statement's words (with them, the
# search ended short of the grammar's end on 2 of 4 synthetic statements; without, on none).
# A second, wider set rescues what the first cannot follow to the end (as the generator's aligner does).
_GRAMMARS = (
    {"beam": 1e-48, "wbeam": 7e-29, "pbeam": 1e-48, "fsgusefiller": False},
    {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80, "fsgusefiller": False},
)
_QUIET = {"loglevel": "FATAL"}
_TRIM_DB = 35.0
# Words of the statement template missing from CMUdict.
_EXTRA = {"passcode": "P AE S K OW D"}

_lock = threading.Lock()
_decoders: dict[int, Any] = {}


@dataclass(frozen=True)
class Heard:
    """What the grammar decoder heard: the words in the passcode slots and where they were."""

    passcode: list[str]  # the words recognised in the slots ([] when the statement could not be followed)
    span_s: tuple[float, float] | None  # where the passcode was heard, seconds from the first sound
    followed: bool  # the decoder reached the end of the statement's grammar


def _decoder(attempt: int = 0) -> Any:
    """The process's grammar decoder with beam set ``attempt``; call under _lock."""
    if attempt not in _decoders:
        import pocketsphinx  # imported late: loading the library is not free

        _decoders[attempt] = pocketsphinx.Decoder(samprate=16000, lm=None, **_GRAMMARS[attempt], **_QUIET)
    return _decoders[attempt]


def to_pcm16(x: np.ndarray, *, rate: int = 16000) -> bytes:
    """Float mono → 16-bit PCM bytes, peak-normalised, leading and trailing silence cut (50 ms kept).

    Silence is where the 10 ms RMS stays 35 dB under the peak. Without fillers in the grammar, the
    last word would otherwise stretch over the trailing silence (and be heard as a longer word).
    """
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scaled = x * (0.9 / peak) if peak > 0 else x
    window = max(1, rate // 100)
    if scaled.size > window:
        rms = np.sqrt(np.convolve(scaled.astype(np.float64) ** 2, np.ones(window) / window, mode="same"))
        loud = np.nonzero(rms > 0.9 * 10 ** (-_TRIM_DB / 20))[0]
        if loud.size:
            margin = rate // 20
            scaled = scaled[max(0, loud[0] - margin) : loud[-1] + margin]
    return (np.clip(scaled, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def hear(pcm: bytes, *, preamble: str, n_words: int, vocabulary: tuple[str, ...]) -> Heard:
    """Decode ``pcm`` (16 kHz, 16-bit, from :func:`to_pcm16`) as ``preamble`` then ``n_words`` of ``vocabulary``."""
    for attempt in range(len(_GRAMMARS)):
        heard = _hear_once(pcm, preamble=preamble, n_words=n_words, vocabulary=vocabulary, attempt=attempt)
        if heard.followed:
            return heard
        logger.debug("the statement grammar did not reach its end with beam set %d", attempt + 1)
    return heard


def _hear_once(pcm: bytes, *, preamble: str, n_words: int, vocabulary: tuple[str, ...], attempt: int) -> Heard:
    with _lock:
        decoder = _decoder(attempt)
        pre = [w for w in (_ensure_word(decoder, w) for w in words_of(preamble)) if w]
        vocab = [w for w in (_ensure_word(decoder, w) for w in vocabulary) if w]
        grammar = (f"#JSGF V1.0;\ngrammar statement;\n<slot> = {' | '.join(vocab)};\n"
                   f"public <statement> = {' '.join(pre)} {' '.join(['<slot>'] * n_words)};\n")
        try:
            decoder.add_jsgf_string("statement", grammar)
            decoder.activate_search("statement")
            _process(decoder, pcm)
            segments = [(s.word, s.start_frame, s.end_frame) for s in (decoder.seg() or [])]
        except (RuntimeError, ValueError) as exc:
            logger.info("the statement grammar could not decode the audio: %s", exc)
            segments = []
    words = [(re.sub(r"\(\d+\)$", "", w), a, b) for w, a, b in segments if not w.startswith(("<", "[", "+"))]
    followed = len(words) == len(pre) + n_words  # a partial path (the end not reached) is shorter
    if not followed:
        return Heard(passcode=[], span_s=None, followed=False)
    tail = words[-n_words:]
    span = (tail[0][1] / 100, (tail[-1][2] + 1) / 100)
    return Heard(passcode=[w for w, *_ in tail], span_s=span, followed=True)


def _process(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _ensure_word(decoder: Any, word: str) -> str | None:
    """``word`` as the dictionary knows it, adding a pronunciation (known or by rule) if missing."""
    if decoder.lookup_word(word) is not None:
        return word
    phones = _EXTRA.get(word) or letter_to_sound(word)
    if not phones:
        return None
    try:
        decoder.add_word(word, phones, True)
    except RuntimeError:
        logger.warning("skipping %r in the statement: pocketsphinx refused %r", word, phones)
        return None
    return word


# ---------------------------------------------------------------------------------------- text

_ONES = ("zero one two three four five six seven eight nine").split()


def words_of(text: str) -> list[str]:
    """Lower-case words of ``text``: punctuation dropped, each digit spelled out."""
    words: list[str] = []
    for token in re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower().replace("’", "'")):
        for part in re.findall(r"\d|[a-z']+", token):
            words.append(_ONES[int(part)] if part.isdigit() else part)
    return words


# Greedy longest-match letter-to-sound rules (as the generator's): rough, but a partner's name that
# CMUdict lacks still gets a pronunciation.
_GRAPHEMES = {
    "tch": "CH", "sch": "S K", "igh": "AY", "ough": "AO", "augh": "AO", "eigh": "EY", "tion": "SH AH N",
    "th": "TH", "sh": "SH", "ch": "CH", "ph": "F", "wh": "W", "ck": "K", "ng": "NG", "qu": "K W",
    "ee": "IY", "ea": "IY", "oo": "UW", "ou": "AW", "ow": "OW", "oi": "OY", "oy": "OY", "ai": "EY",
    "ay": "EY", "au": "AO", "aw": "AO", "ie": "IY", "ei": "EY", "ey": "IY", "ue": "UW", "ew": "UW",
    "oa": "OW", "ar": "AA R", "er": "ER", "ir": "ER", "ur": "ER", "or": "AO R",
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH",
    "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R",
    "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "IY", "z": "Z",
}
_LONGEST = max(len(g) for g in _GRAPHEMES)


def letter_to_sound(word: str) -> str:
    """A rough ARPAbet pronunciation of ``word`` from spelling rules ('' when it has no letters)."""
    letters = re.sub(r"[^a-z]", "", word.lower())
    if letters.startswith(("kn", "wr", "gn")):
        letters = letters[1:]
    if len(letters) > 3 and letters.endswith("e") and letters[-2] not in "aeiouy":
        letters = letters[:-1]  # silent final e
    phones: list[str] = []
    i = 0
    while i < len(letters):
        for size in range(min(_LONGEST, len(letters) - i), 0, -1):
            chunk = letters[i : i + size]
            if chunk in _GRAPHEMES:
                sound = _GRAPHEMES[chunk]
                if chunk == "c" and letters[i + 1 : i + 2] in ("e", "i", "y"):
                    sound = "S"
                elif chunk == "y" and i == 0:
                    sound = "Y"
                if not phones or phones[-1] != sound or chunk in ("a", "e", "i", "o", "u"):
                    phones.append(sound)
                i += size
                break
    return " ".join(phones)
