"""CN_REGIONAL_ID: the identity cards of Hong Kong, Macao and Taiwan, as mainland staff copy them into notes.

- Hong Kong (香港身份证, HKID): one or two letters, six digits and a check character, usually in brackets:
  ``A123456(7)``, ``AB987654(3)``, ``A1234567``. The check is public (the Immigration Department's rule, as
  published by schools and developers alike): letters count A=10 … Z=35, a missing first letter 36; the eight
  positions weigh 9 … 2; the check is ``11 − sum mod 11`` (10 is ``A``, 11 is ``0``).
- Taiwan (国民身分证 and the resident certificates, 统一证号): a letter, ``1``/``2`` (sex; ``8``/``9`` on
  the new resident certificates, ``A``–``D`` on the old ones), seven digits and a check digit:
  ``A123456789``. The letter counts as two digits (A=10 … H=17, J=18 … N=22, P=23 … V=29, X=30, Y=31, W=32,
  Z=33, I=34, O=35); weights 1 9 8 7 6 5 4 3 2 1 1; the sum is a multiple of 10 (the Ministry of the
  Interior's rule).
- Macao (澳门居民身份证, BIR): seven digits and a check digit in brackets, ``1234567(8)`` or ``1/234567/8``;
  the first digit is 1, 5 or 7 (permanent, non-permanent, non-resident worker; 3 on some old cards). The
  Identification Services Bureau publishes no check rule that we could find (one third-party web tool
  describes weights 1–7 mod 10, which no official source confirms), so the bracketed shape counts alone,
  and written without brackets only with a context word.

Checked values score 1.0; the Macao shape 0.5 (brackets) or below the threshold until a context word
(身份证, 澳门 …) lifts it. The text is read after :func:`~handover.pii.patterns.fold` (Traditional
characters as Simplified, full-width brackets as ASCII).
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_AFTER_ALNUM, NOT_BEFORE_ALNUM

ENTITY = "CN_REGIONAL_ID"

_HK_BODY = r"[A-Z]{1,2}[0-9]{6}"
PATTERNS = [
    Pattern("Hong Kong identity card", NOT_AFTER_ALNUM + _HK_BODY + r"(?: ?\([0-9A]\)|[0-9A])" + NOT_BEFORE_ALNUM, 0.3),
    Pattern("Taiwan identity card", NOT_AFTER_ALNUM + r"[A-Z][12ABCD89][0-9]{8}" + NOT_BEFORE_ALNUM, 0.3),
    Pattern("Macao identity card (brackets)", NOT_AFTER_ALNUM + r"[1357][0-9]{6} ?\([0-9]\)" + NOT_BEFORE_ALNUM, 0.5),
    Pattern("Macao identity card (slashes)", NOT_AFTER_ALNUM + r"[1357]/[0-9]{6}/[0-9]" + NOT_BEFORE_ALNUM, 0.5),
    Pattern("Macao identity card (run)", NOT_AFTER_ALNUM + r"[1357][0-9]{7}" + NOT_BEFORE_ALNUM, 0.05),
]
CONTEXT = ["身份证", "身分证", "证件", "证号", "澳门", "hkid", "id card", "bir"]

_LETTER_VALUES = {chr(ord("A") + i): 10 + i for i in range(26)}
# Taiwan: the letters in the order the Ministry numbered them (I, O, W, Z came late)
_TAIWAN_LETTERS = {c: v for v, c in enumerate("ABCDEFGHJKLMNPQRSTUVXYWZIO", start=10)}
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def is_hong_kong_id(value: str) -> bool:
    """``A123456(7)`` / ``AB9876543``: the HKID check character (weights 9…2, mod 11, 10 → A)."""
    value = _NOT_ALNUM.sub("", value.upper())
    if not re.fullmatch(r"[A-Z]{1,2}[0-9]{6}[0-9A]", value):
        return False
    body, check = value[:-1].rjust(9, " "), value[-1]
    values = [36 if c == " " else _LETTER_VALUES[c] if c.isalpha() else int(c) for c in body[1:]]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def is_taiwan_id(value: str) -> bool:
    """``A123456789``: the Taiwan check digit (the letter as two digits, weights 1 9 8 … 1 1, mod 10)."""
    value = value.strip().upper()
    if not re.fullmatch(r"[A-Z][12ABCD89][0-9]{8}", value):
        return False
    code = _TAIWAN_LETTERS[value[0]]
    second = _TAIWAN_LETTERS[value[1]] % 10 if value[1].isalpha() else int(value[1])
    digits = [code // 10, code % 10, second, *map(int, value[2:])]
    return sum(d * w for d, w in zip(digits, (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1), strict=True)) % 10 == 0


class RegionalIdRecognizer(PatternRecognizer):
    """Hong Kong and Taiwan identity cards with a valid check character; Macao's by shape."""

    MIN_DIGITS = 6  # every match holds six ASCII digits or more

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="RegionalIdRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        if pattern_text[0].isdigit():
            return None  # Macao: the shape, and for a bare run a context word
        compacted = _NOT_ALNUM.sub("", pattern_text.upper())
        if len(compacted) == 10 and compacted[1] in "12ABCD89" and compacted[2:].isdigit():
            return is_taiwan_id(compacted) or is_hong_kong_id(compacted)
        return is_hong_kong_id(compacted)
