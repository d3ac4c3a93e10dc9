"""The passcode words of a consent-statement challenge.

>>> from consent._challenge import WORDS, passcode_words
>>> len(WORDS) >= 64 and len(set(WORDS)) == len(WORDS)
True
>>> words = passcode_words(4)
>>> len(words), len(set(words)), all(w in WORDS for w in words)
(4, 4, True)

Two-syllable, everyday words, each in CMUdict (so forced alignment knows how they sound), with
distinct first syllables so no two are easily confused. Four words from 80 give 80·79·78·77 ≈ 38
million ordered phrases: a recording made for another challenge cannot be replayed.
"""

from __future__ import annotations

import secrets

WORDS: tuple[str, ...] = (
    "apple", "anchor", "banana", "basket", "bottle", "butter", "button", "cactus", "camera", "candle",
    "canyon", "castle", "cherry", "coffee", "comet", "copper", "desert", "dinner", "doctor", "dolphin",
    "dragon", "engine", "falcon", "feather", "forest", "garden", "guitar", "hammer", "harbor", "helmet",
    "island", "jacket", "kitten", "ladder", "lantern", "lemon", "magnet", "marble", "meadow", "mirror",
    "monkey", "music", "napkin", "ocean", "orange", "parrot", "pencil", "penguin", "pepper", "pillow",
    "pirate", "planet", "pocket", "pumpkin", "puppy", "purple", "rabbit", "radio", "rainbow", "ribbon",
    "river", "rocket", "saddle", "salad", "silver", "spider", "summer", "sunset", "thunder", "tiger",
    "tomato", "tractor", "tunnel", "turtle", "velvet", "violin", "wagon", "walnut", "window", "yellow",
)


def passcode_words(n: int) -> list[str]:
    """``n`` distinct words of :data:`WORDS`, chosen with the operating system's random source."""
    if not 1 <= n <= len(WORDS):
        raise ValueError(f"a passcode has 1..{len(WORDS)} words, not {n}")
    pool = list(WORDS)
    chosen = []
    for _ in range(n):
        chosen.append(pool.pop(secrets.randbelow(len(pool))))
    return chosen
