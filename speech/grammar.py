"""Keyword recognition in a closed set: a known preamble, then slots each filled by one word of a list.

>>> import numpy as np
>>> from speech.grammar import hear
>>> from speech.phones import to_pcm16
>>> silence = to_pcm16(np.zeros(16_000, np.float32), trim_db=35.0)
>>> hear(silence, preamble="I agree", n_words=2, vocabulary=("river", "candle")).followed
False

The consent statement's passcode check (``consent.statement``) hears its statement with it.

Free speech recognition is poor with pocketsphinx's small model (measured: 62 % phone errors on
synthetic speech), but choosing among a few known alternatives is not. The statement is decoded
with a grammar: the statement's own words in order, then as many passcode slots as the challenge
has words, each slot any word of the challenge word list (``consent._challenge.WORDS``). What
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
hardly move it. Same acoustic model, text normalisation (:func:`speech.text.words_of`: the
preamble's numbers are the words a person says) and pronunciations (:func:`speech.phones.ensure_word`)
as the generator's alignment (:mod:`speech.phones`). The decoder loads once per process and is used
under a lock.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from speech.phones import ensure_word, process
from speech.text import words_of

logger = logging.getLogger(__name__)

# pocketsphinx's default beams; no filler words between the statement's words (with them, the
# search ended short of the grammar's end on 2 of 4 synthetic statements; without, on none).
# A second, wider set rescues what the first cannot follow to the end (as the generator's aligner does).
_GRAMMARS = (
    {"beam": 1e-48, "wbeam": 7e-29, "pbeam": 1e-48, "fsgusefiller": False},
    {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80, "fsgusefiller": False},
)
_QUIET = {"loglevel": "FATAL"}
TRIM_DB = 35.0  # the silence cut before decoding (speech.phones.to_pcm16(x, trim_db=TRIM_DB))
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


def hear(pcm: bytes, *, preamble: str, n_words: int, vocabulary: tuple[str, ...]) -> Heard:
    """Decode ``pcm`` (16 kHz, 16-bit, from ``speech.phones.to_pcm16(x, trim_db=TRIM_DB)``) as ``preamble``
    then ``n_words`` of ``vocabulary``."""
    for attempt in range(len(_GRAMMARS)):
        heard = _hear_once(pcm, preamble=preamble, n_words=n_words, vocabulary=vocabulary, attempt=attempt)
        if heard.followed:
            return heard
        logger.debug("the statement grammar did not reach its end with beam set %d", attempt + 1)
    return heard


def _hear_once(pcm: bytes, *, preamble: str, n_words: int, vocabulary: tuple[str, ...], attempt: int) -> Heard:
    with _lock:
        decoder = _decoder(attempt)
        pre = [w for w in (ensure_word(decoder, w, extra=_EXTRA) for w in words_of(preamble)) if w]
        vocab = [w for w in (ensure_word(decoder, w, extra=_EXTRA) for w in vocabulary) if w]
        grammar = (f"#JSGF V1.0;\ngrammar statement;\n<slot> = {' | '.join(vocab)};\n"
                   f"public <statement> = {' '.join(pre)} {' '.join(['<slot>'] * n_words)};\n")
        try:
            decoder.add_jsgf_string("statement", grammar)
            decoder.activate_search("statement")
            process(decoder, pcm)
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


__all__ = ["TRIM_DB", "Heard", "hear"]
