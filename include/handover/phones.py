"""Mainland mobile numbers: the one place of the rule, for the validators, the normaliser, the blind index's
normal form, the free-text recognizer and the second-opinion detector alike.

A mainland mobile is eleven digits: ``1``, then ``3``–``9`` (every range allocated — 13x to 19x — and none
of 10x–12x), then nine digits. The country code ``86`` may stand before it as ``+86``, ``0086`` or ``86``;
the national number is what is stored, validated and hashed.
"""

from __future__ import annotations

import re

SECOND_DIGITS = "3456789"  # the digit after the leading 1
MOBILE = rf"1[{SECOND_DIGITS[0]}-{SECOND_DIGITS[-1]}][0-9]{{9}}"
COUNTRY_PREFIX = r"(?:\+86|0086|86)"  # the country code as written before a national number

_MOBILE_RE = re.compile(MOBILE)
_WITH_PREFIX_RE = re.compile(rf"{COUNTRY_PREFIX}(?={MOBILE}$)")


def is_mobile(value: str | None) -> bool:
    """True for a national mainland mobile number (eleven digits, nothing else)."""
    return isinstance(value, str) and bool(_MOBILE_RE.fullmatch(value))


def national(digits: str) -> str:
    """``digits`` (separators already removed) without a leading country code, when what follows it is a
    mainland mobile; anything else as it is. ``+8613812345678`` → ``13812345678``."""
    return _WITH_PREFIX_RE.sub("", digits, count=1) if _WITH_PREFIX_RE.match(digits) else digits
