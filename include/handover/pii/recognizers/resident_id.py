"""CN_RESIDENT_ID: 居民身份证号码 and the residence permits of Hong Kong, Macau and Taiwan residents.

The permits use the resident-ID layout with address codes 810000 / 820000 / 830000; the GB 11643 rule in
:func:`handover.validators.is_resident_id` accepts them, so one recognizer covers both. People write the
18 characters run together or in groups (``4101 0219 9412 1206 89``, ``230103 19680415 2267``); the groups
are dropped before the check. The first-generation card's 15 digits (address code, ``YYMMDD``, sequence;
no check digit) still turn up beside the new number (旧证号…): a valid province code and birth date make
a weak match that a context word (身份证, 证号 …) lifts over the threshold.
"""

from __future__ import annotations

import datetime as dt

from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_AFTER_ALNUM, NOT_BEFORE_ALNUM, compact
from handover.validators import PROVINCE_CODES, is_resident_id

ENTITY = "CN_RESIDENT_ID"

_NOT_IN_GROUPS = r"(?<![0-9][ -])"  # not the middle of a number written in groups (a card's)
_NO_MORE_GROUPS = r"(?![ -][0-9])"
PATTERNS = [
    Pattern(
        "resident id (18)",
        NOT_AFTER_ALNUM
        + r"[1-8][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
        + NOT_BEFORE_ALNUM,
        0.3,
    ),
    Pattern(
        "resident id (18, in groups)",
        NOT_AFTER_ALNUM + _NOT_IN_GROUPS + r"[1-8](?:[ -]?[0-9]){16}[ -]?[0-9Xx]"
        + NOT_BEFORE_ALNUM + _NO_MORE_GROUPS,
        0.3,
    ),
    Pattern(
        "resident id (15, first generation)",
        NOT_AFTER_ALNUM + r"[1-8][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}" + NOT_BEFORE_ALNUM,
        0.3,
    ),
]

CONTEXT = ["身份证", "证件", "身份", "居住证", "居民", "公民", "证号", "id"]


def is_first_generation_id(value: str) -> bool:
    """15 digits: a province code and a real birth date ``19YYMMDD`` (the card has no check digit)."""
    if len(value) != 15 or not value.isdigit() or value[:2] not in PROVINCE_CODES:
        return False
    try:
        dt.date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
    except ValueError:
        return False
    return True


class ResidentIdRecognizer(PatternRecognizer):
    """18-character resident IDs whose check character, province code and birth date are valid, and the
    15-digit first-generation numbers (weak: no check digit)."""

    # every match holds this many ASCII digits or more, in one number (14 of the 15-digit number, then the 15th)
    MIN_DIGITS = 15

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="ResidentIdRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        value = compact(pattern_text).upper()
        if len(value) == 15:
            return None if is_first_generation_id(value) else False
        return is_resident_id(value)
