"""Text as it is spoken: a transcript's words, numbers read as words, and a rough pronunciation by rule.

>>> from speech.text import letter_to_sound, words_of
>>> words_of("Dr. Bob's 2 cats -- well, 21!")
['dr', "bob's", 'two', 'cats', 'well', 'twenty', 'one']
>>> words_of("I agree to the 12 partners I named.")
['i', 'agree', 'to', 'the', 'twelve', 'partners', 'i', 'named']
>>> letter_to_sound("zorblax")
'Z AO R B L AE K S'

One normalisation for everything that compares speech with text — the generator's forced
alignment to a transcript and the consent statement's grammar — so both expect the words a
person says: "12" is "twelve", "2026" is "two thousand twenty six" (a number of more than 12
digits is read digit by digit). Words are spelled as CMUdict spells them (lower case, apostrophes
kept); :func:`letter_to_sound` gives a name that CMUdict lacks a pronunciation anyway.
"""

from __future__ import annotations

import re

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


__all__ = ["letter_to_sound", "words_of"]
