"""The audio front-end, defined once: the consent statement and the generator read a transcript the same way."""

from __future__ import annotations

import doctest
import importlib
import shutil
from datetime import UTC, datetime

import pytest

from consent import _challenge, issue_challenge
from media import read_audio
from speech import hear, letter_to_sound, synthesise_speech, to_pcm16, words_of
from speech.grammar import TRIM_DB

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
MODULES = ["speech", "speech.text", "speech.phones", "speech.grammar", "speech.prosody", "speech.synth",
           "speech.errors", "speech.stream"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    assert ">>>" in (module.__doc__ or "")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize(("text", "words"), [
    ("the 12 partners I named", ["the", "twelve", "partners", "i", "named"]),
    ("2 clips", ["two", "clips"]),
    ("21 days", ["twenty", "one", "days"]),
    ("in 2026", ["in", "two", "thousand", "twenty", "six"]),
    ("105", ["one", "hundred", "five"]),
])
def test_numbers_are_read_as_words_as_a_person_says_them(text, words):
    assert words_of(text) == words


def test_a_statement_naming_the_12_partners_expects_twelve_not_one_two():
    challenge = issue_challenge("education by the 12 partners I named", now=NOW)
    expected = words_of(challenge.preamble)
    assert "twelve" in expected
    assert "one" not in expected and "two" not in expected


def test_letter_to_sound_gives_an_unknown_name_a_pronunciation():
    assert letter_to_sound("zorblax") == "Z AO R B L AE K S"
    assert letter_to_sound("1234") == ""


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (scripts/setup)")
def test_a_spoken_statement_naming_the_12_partners_is_heard_to_its_passcode(tmp_path, monkeypatch):
    passcode = ["pencil", "mirror", "tomato", "planet"]  # fixed: espeak-ng and the decoder are deterministic
    monkeypatch.setattr(_challenge, "passcode_words", lambda n: passcode[:n])
    challenge = issue_challenge("education by the 12 partners I named", now=NOW)
    audio = read_audio(synthesise_speech(challenge.statement_text, dest=tmp_path / "statement.wav"))
    samples = audio.to_mono().resample(16_000).samples[0]
    heard = hear(to_pcm16(samples, trim_db=TRIM_DB), preamble=challenge.preamble, n_words=len(passcode),
                 vocabulary=tuple(_challenge.WORDS))
    assert heard.followed  # "twelve" was said, and is what the grammar expects
    assert heard.passcode == passcode
