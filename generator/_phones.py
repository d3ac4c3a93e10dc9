"""Phones and their times from pocketsphinx: forced alignment to a transcript, or phone recognition.

>>> words_of("Dr. Bob's 2 cats -- well, 21!")
['dr', "bob's", 'two', 'cats', 'well', 'twenty', 'one']
>>> letter_to_sound("zorblax")
'Z AO R B L AE K S'

Both paths use the US-English models shipped in the pocketsphinx wheel. Alignment is the
research note's two passes (word alignment, then ``set_alignment()`` and a phone pass) with wider
beams than the defaults, which fail to reach the end of the grammar on some synthetic speech;
words missing from CMUdict get a pronunciation from :func:`letter_to_sound`. Recognition is
allphone decoding with the phonetic language model. Decoders load once per process (~0.1 s
each) and are used under a lock. Times are in seconds; labels are ARPAbet without stress,
``SIL`` for silence and noise.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

FRAMES_PER_S = 100  # pocketsphinx analyses 10 ms frames
# The first beams suffice for most speech; the second rescues what the first cannot finish.
_ALIGN_BEAMS = ({"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100}, {"beam": 1e-200, "wbeam": 1e-150, "pbeam": 1e-200})
_RECOGNISE = {"lw": 2.0, "pip": 0.3, "beam": 1e-200, "pbeam": 1e-20}
_QUIET = {"loglevel": "FATAL"}

_lock = threading.Lock()
_decoders: dict[tuple[str, int], Any] = {}  # pocketsphinx.Decoder by (task, beam set)


@dataclass(frozen=True)
class Timed:
    label: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Decoded:
    """Timed phones and their mean acoustic log-score per 10 ms frame (pocketsphinx units; ≤ 0)."""

    phones: list[Timed]
    score: float


class AlignmentFailed(Exception):
    """The audio could not be aligned to the transcript (internal: the caller falls back)."""


def to_pcm16(x: np.ndarray) -> bytes:
    """Float mono → 16-bit PCM bytes, peak-normalised (the recogniser's cepstral mean removes gain)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scaled = x * (0.9 / peak) if peak > 0 else x
    return (np.clip(scaled, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _decoder(task: str, *, beams: int = 0) -> Any:
    """The process's decoder for ``task`` ("align" with beam set ``beams``, or "recognise"); call under _lock."""
    key = (task, beams)
    if key not in _decoders:
        import pocketsphinx  # imported late: loading the library is not free

        model = os.path.join(pocketsphinx.get_model_path(), "en-us")
        if task == "recognise":
            allphone = os.path.join(model, "en-us-phone.lm.bin")
            _decoders[key] = pocketsphinx.Decoder(samprate=16000, allphone=allphone, **_RECOGNISE, **_QUIET)
        else:
            config = _ALIGN_BEAMS[beams]
            _decoders[key] = pocketsphinx.Decoder(samprate=16000, bestpath=False, lm=None, **config, **_QUIET)
    return _decoders[key]


def align(pcm: bytes, *, transcript: str) -> Decoded:
    """Phones of ``transcript`` with their times in ``pcm`` (16 kHz, 16-bit). Raises AlignmentFailed."""
    words = words_of(transcript)
    if not words:
        raise AlignmentFailed("the transcript has no words")
    with _lock:
        for attempt in range(len(_ALIGN_BEAMS)):
            decoder = _decoder("align", beams=attempt)
            known = [w for w in (_ensure_word(decoder, w) for w in words) if w]
            if not known:
                raise AlignmentFailed("no word of the transcript could be pronounced")
            try:
                decoder.set_align_text(" ".join(known))
                _process(decoder, pcm)  # pass 1: words
                decoder.set_alignment()
                _process(decoder, pcm)  # pass 2: phones within the words
                phones = list(decoder.get_alignment().phones())
                frames = sum(p.duration for p in phones)
                timed = [
                    Timed(_label(p.name), p.start / FRAMES_PER_S, (p.start + p.duration) / FRAMES_PER_S) for p in phones
                ]
                return Decoded(timed, sum(p.score for p in phones) / max(frames, 1))
            except RuntimeError as exc:
                logger.debug("alignment attempt %d failed: %s", attempt + 1, exc)
    raise AlignmentFailed("pocketsphinx could not align the audio to the transcript")


def recognise(pcm: bytes) -> Decoded:
    """Phones recognised in ``pcm`` (16 kHz, 16-bit) by allphone decoding (no words involved)."""
    with _lock:
        decoder = _decoder("recognise")
        try:
            _process(decoder, pcm)
            segments = list(decoder.seg())
            logmath = decoder.get_logmath()
            score = sum(logmath.log(s.ascore) for s in segments)
        except RuntimeError as exc:
            logger.warning("phone recognition failed: %s", exc)
            return Decoded([], 0.0)
    frames = sum(s.end_frame + 1 - s.start_frame for s in segments)
    timed = [Timed(_label(s.word), s.start_frame / FRAMES_PER_S, (s.end_frame + 1) / FRAMES_PER_S) for s in segments]
    return Decoded(timed, score / max(frames, 1))


def _process(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _label(name: str) -> str:
    name = re.sub(r"\d", "", name).upper()
    return "SIL" if name in {"<S>", "</S>", "<SIL>", "SIL"} or name.startswith("+") else name


def _ensure_word(decoder: Any, word: str) -> str | None:
    """``word`` as the dictionary knows it, adding a letter-to-sound pronunciation if missing."""
    if decoder.lookup_word(word) is not None:
        return word
    stripped = word.strip("'")
    if stripped != word and stripped and decoder.lookup_word(stripped) is not None:
        return stripped
    phones = letter_to_sound(word)
    if not phones:
        logger.warning("skipping %r in the transcript: no pronunciation", word)
        return None
    try:
        decoder.add_word(word, phones, True)
    except RuntimeError:
        logger.warning("skipping %r in the transcript: pocketsphinx refused %r", word, phones)
        return None
    logger.info("%r is not in CMUdict; pronounced by rule as %s", word, phones)
    return word


# ---------------------------------------------------------------------------------------- text

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
    "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (_number(n % 100) if n % 100 else [])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return _number(n // size) + [name] + (_number(n % size) if n % size else [])
    return []  # unreachable


def words_of(text: str) -> list[str]:
    """Lower-case words of ``text`` as CMUdict spells them: punctuation dropped, numbers spelled out."""
    words: list[str] = []
    for token in re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower().replace("’", "'")):
        for part in re.findall(r"\d+|[a-z']+", token):
            if part.isdigit():
                words.extend(_number(int(part[:12])) if len(part) <= 12 else [_ONES[int(d)] for d in part])
            else:
                words.append(part)
    return words


# Greedy longest-match letter-to-sound rules: rough, but they keep an unknown name in the alignment.
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
