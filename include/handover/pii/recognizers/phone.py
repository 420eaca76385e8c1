"""CN_MOBILE and CN_LANDLINE: mainland telephone numbers as people write them in notes.

Mobile: ``13812345678``, ``138-1234-5678``, ``138 1234 5678``, with an optional ``+86`` / ``0086`` prefix.
Landline: area code ``0xx``/``0xxx`` (or ``+86`` and the code without its ``0``, or the code in brackets),
an optional dash or space, a 7–8 digit local number not starting with 0 or 1, an optional extension
(``-123``, ``转123``, ``#123``). Neither is checksummed, so the score comes from the pattern and the
context words; the validators in :mod:`handover.validators` confirm the normalised shape. A number inside
a longer digit run, or followed by a decimal part (an amount: ``13800138000.00``), is not a phone number.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_BEFORE_DIGIT
from handover.validators import is_landline, is_mobile

MOBILE = "CN_MOBILE"
LANDLINE = "CN_LANDLINE"

_START = r"(?<![0-9+])(?<![0-9][.．])"  # not inside a digit run, not the decimals of an amount
_END = NOT_BEFORE_DIGIT + r"(?![.．][0-9])"
_PREFIX = r"(?:(?:\+|00)86[ -]?)"

MOBILE_PATTERNS = [
    Pattern(
        "mobile",
        _START + _PREFIX + r"?1[3-9][0-9](?:[0-9]{8}|-[0-9]{4}-[0-9]{4}| [0-9]{4} [0-9]{4})" + _END,
        0.5,
    ),
]

_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"  # without the trunk 0
_LOCAL = r"[2-9][0-9]{6,7}"
_EXTENSION = r"(?:(?:-|转|ext\.?|#)[0-9]{1,6})?"
LANDLINE_PATTERNS = [
    Pattern(
        "landline (separated)",
        _START
        + r"(?:"
        + _PREFIX
        + _AREA
        + r"|[(（]0"
        + _AREA
        + r"[)）]|0"
        + _AREA
        + r")[ -]?"
        + _LOCAL
        + _EXTENSION
        + _END,
        0.5,
    ),
]

MOBILE_CONTEXT = [
    "手机",
    "电话",
    "联系方式",
    "联系电话",
    "号码",
    "致电",
    "来电",
    "回电",
    "微信",
    "短信",
    "mobile",
    "tel",
]
LANDLINE_CONTEXT = [
    "电话",
    "座机",
    "固话",
    "联系方式",
    "联系电话",
    "办公",
    "传真",
    "分机",
    "总机",
    "号码",
    "tel",
    "fax",
]

_INTERNATIONAL = re.compile(r"^(?:\+|00)86[ -]?")
_EXTENSION_MARK = re.compile(r"(?:转|ext\.?|#)")


_SPACE_OR_DASH = re.compile(r"[ -]")


class MobileRecognizer(PatternRecognizer):
    """Mainland mobile numbers (``1`` + ``3``–``9`` + 9 digits)."""

    # every match holds this many ASCII digits or more (eleven digits, whatever the separators)
    MIN_DIGITS = 11

    def __init__(self) -> None:
        super().__init__(
            supported_entity=MOBILE,
            name="MobileRecognizer",
            supported_language="zh",
            patterns=MOBILE_PATTERNS,
            context=MOBILE_CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        national = _SPACE_OR_DASH.sub("", _INTERNATIONAL.sub("", pattern_text))
        return None if is_mobile(national) else False


class LandlineRecognizer(PatternRecognizer):
    """Mainland landline numbers with area code."""

    # every match holds this many ASCII digits or more (a local number of seven or eight digits)
    MIN_DIGITS = 7

    def __init__(self) -> None:
        super().__init__(
            supported_entity=LANDLINE,
            name="LandlineRecognizer",
            supported_language="zh",
            patterns=LANDLINE_PATTERNS,
            context=LANDLINE_CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if is_landline(normalised_landline(pattern_text)) else False


def normalised_landline(text: str) -> str:
    """``+86 755 8234 5678`` / ``(0755)82345678转12`` → ``075582345678-12``: the form ``is_landline`` reads."""
    value = text
    if _INTERNATIONAL.match(value):
        value = "0" + _INTERNATIONAL.sub("", value)
    value = _EXTENSION_MARK.sub("-", value)
    return re.sub(r"[ ()（）]", "", value)
