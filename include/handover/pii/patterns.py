"""Regex building blocks for Chinese text.

``\\b`` is useless beside CJK characters (they are word characters too, so ``号码是1101…`` has no boundary
before the digits): a number is delimited by digit look-arounds instead, and a code with letters by
letter-and-digit look-arounds.
"""

from __future__ import annotations

import regex as re

NOT_AFTER_DIGIT = r"(?<![0-9])"
NOT_BEFORE_DIGIT = r"(?![0-9])"
NOT_AFTER_ALNUM = r"(?<![0-9A-Za-z])"
NOT_BEFORE_ALNUM = r"(?![0-9A-Za-z])"
CJK = r"[\u4e00-\u9fff]"

# Case-sensitive on purpose: passports, plates and permits are written in capitals; where a lower-case
# letter is acceptable (the resident ID's check ``x``) the pattern says so.
FLAGS = re.DOTALL | re.MULTILINE

_SEPARATORS = re.compile(r"[\s\-()（）]")


def compact(value: str) -> str:
    """``value`` without spaces, dashes and brackets: the form the validators expect."""
    return _SEPARATORS.sub("", value)


def word_list(words: str) -> tuple[str, ...]:
    """A space-separated list of words, as a tuple (long word lists read better as one string)."""
    return tuple(words.split())
