"""Phones and their times from pocketsphinx: forced alignment to a transcript, or phone recognition.

>>> import numpy as np
>>> from speech.phones import recognise, to_pcm16
>>> t = np.arange(16_000, dtype=np.float32) / 16_000
>>> pcm = to_pcm16(0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32))
>>> len(pcm), isinstance(recognise(pcm).phones, list)
(32000, True)

Both paths use the US-English models shipped in the pocketsphinx wheel. Alignment is the
research note's two passes (word alignment, then ``set_alignment()`` and a phone pass) with wider
beams than the defaults, which fail to reach the end of the grammar on some synthetic speech;
words missing from CMUdict get a pronunciation from :func:`speech.text.letter_to_sound`
(:func:`ensure_word`, shared with the statement grammar of :mod:`speech.grammar`). Recognition is
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

from speech.text import letter_to_sound, words_of

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


def to_pcm16(x: np.ndarray, *, trim_db: float | None = None, rate: int = 16000) -> bytes:
    """Float mono → 16-bit PCM bytes, peak-normalised (the recogniser's cepstral mean removes gain).

    With ``trim_db``, leading and trailing silence is cut (50 ms kept): silence is where the 10 ms
    RMS stays ``trim_db`` dB under the peak. A grammar without filler words needs it, or its last
    word stretches over the trailing silence (and is heard as a longer word).
    """
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scaled = x * (0.9 / peak) if peak > 0 else x
    window = max(1, rate // 100)
    if trim_db is not None and scaled.size > window:
        rms = np.sqrt(np.convolve(scaled.astype(np.float64) ** 2, np.ones(window) / window, mode="same"))
        loud = np.nonzero(rms > 0.9 * 10 ** (-trim_db / 20))[0]
        if loud.size:
            margin = rate // 20
            scaled = scaled[max(0, loud[0] - margin) : loud[-1] + margin]
    return (np.clip(scaled, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _decoder(task: str, *, beams: int = 0) -> Any:
    """The process's decoder for ``task`` ("align" with beam set ``beams``, or "recognise"); call under _lock."""
    key = (task, beams)
    if key not in _decoders:
        import pocketsphinx  # imported late: loading the library is not free

        if task == "recognise":
            _decoders[key] = new_recogniser()
        else:
            config = _ALIGN_BEAMS[beams]
            _decoders[key] = pocketsphinx.Decoder(samprate=16000, bestpath=False, lm=None, **config, **_QUIET)
    return _decoders[key]


def new_recogniser() -> Any:
    """A fresh allphone decoder (phone recognition), for a caller that decodes on its own (a live session
    decodes incrementally, so it cannot share the process's decoder)."""
    import pocketsphinx

    allphone = os.path.join(pocketsphinx.get_model_path(), "en-us", "en-us-phone.lm.bin")
    return pocketsphinx.Decoder(samprate=16000, allphone=allphone, **_RECOGNISE, **_QUIET)


def label(name: str) -> str:
    """A pocketsphinx phone or word name as an ARPAbet label without stress (``SIL`` for silence and noise)."""
    return _label(name)


def align(pcm: bytes, *, transcript: str) -> Decoded:
    """Phones of ``transcript`` with their times in ``pcm`` (16 kHz, 16-bit). Raises AlignmentFailed."""
    words = words_of(transcript)
    if not words:
        raise AlignmentFailed("the transcript has no words")
    with _lock:
        for attempt in range(len(_ALIGN_BEAMS)):
            decoder = _decoder("align", beams=attempt)
            known = [w for w in (ensure_word(decoder, w) for w in words) if w]
            if not known:
                raise AlignmentFailed("no word of the transcript could be pronounced")
            try:
                decoder.set_align_text(" ".join(known))
                process(decoder, pcm)  # pass 1: words
                decoder.set_alignment()
                process(decoder, pcm)  # pass 2: phones within the words
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
            process(decoder, pcm)
            segments = list(decoder.seg())
            logmath = decoder.get_logmath()
            score = sum(logmath.log(s.ascore) for s in segments)
        except RuntimeError as exc:
            logger.warning("phone recognition failed: %s", exc)
            return Decoded([], 0.0)
    frames = sum(s.end_frame + 1 - s.start_frame for s in segments)
    timed = [Timed(_label(s.word), s.start_frame / FRAMES_PER_S, (s.end_frame + 1) / FRAMES_PER_S) for s in segments]
    return Decoded(timed, score / max(frames, 1))


def process(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _label(name: str) -> str:
    name = re.sub(r"\d", "", name).upper()
    return "SIL" if name in {"<S>", "</S>", "<SIL>", "SIL"} or name.startswith("+") else name


def ensure_word(decoder: Any, word: str, *, extra: dict[str, str] | None = None) -> str | None:
    """``word`` as the dictionary knows it, adding a pronunciation if missing: from ``extra`` (ARPAbet
    by word), else by rule (:func:`speech.text.letter_to_sound`); None when it cannot be pronounced."""
    if decoder.lookup_word(word) is not None:
        return word
    stripped = word.strip("'")
    if stripped != word and stripped and decoder.lookup_word(stripped) is not None:
        return stripped
    phones = (extra or {}).get(word) or letter_to_sound(word)
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


__all__ = ["FRAMES_PER_S", "AlignmentFailed", "Decoded", "Timed", "align", "ensure_word", "label", "new_recogniser",
           "process", "recognise", "to_pcm16"]
