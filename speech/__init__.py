"""Speech: the audio front-end shared by the consent statement and the generator.

>>> from speech import letter_to_sound, words_of
>>> words_of("I agree to the 12 partners I named.")
['i', 'agree', 'to', 'the', 'twelve', 'partners', 'i', 'named']
>>> letter_to_sound("zorblax")
'Z AO R B L AE K S'

Transcripts and pronunciations (:mod:`speech.text`), pocketsphinx forced alignment and phone
recognition (:mod:`speech.phones`), keyword recognition in a closed set (:mod:`speech.grammar`),
loudness, pitch and spectral shape per 10 ms frame (:mod:`speech.prosody`), the same computed incrementally
as audio arrives (:mod:`speech.stream`), and offline speech
synthesis (:mod:`speech.synth`). It may import ``media`` only.
"""

from speech.errors import SpeechError, SynthesisError
from speech.grammar import TRIM_DB, Heard, hear
from speech.phones import AlignmentFailed, Decoded, Timed, align, recognise, to_pcm16
from speech.prosody import FRAME_RATE, Features, acoustic_features, smooth
from speech.synth import SAMPLE_SENTENCE, synthesise_speech
from speech.text import letter_to_sound, words_of

__all__ = [
    "FRAME_RATE",
    "SAMPLE_SENTENCE",
    "TRIM_DB",
    "AlignmentFailed",
    "Decoded",
    "Features",
    "Heard",
    "SpeechError",
    "SynthesisError",
    "Timed",
    "acoustic_features",
    "align",
    "hear",
    "letter_to_sound",
    "recognise",
    "smooth",
    "synthesise_speech",
    "to_pcm16",
    "words_of",
]
