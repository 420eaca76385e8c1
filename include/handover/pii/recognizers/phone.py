"""CN_MOBILE and CN_LANDLINE: mainland telephone numbers as people write them in notes.

Mobile: eleven digits ``1[3-9]…`` with at most one separator (space, dash, ``·``, ``.``) between any two —
``13812345678``, ``138-1234-5678``, ``1382 2601947``, ``1 3 8 1 2 3 4 5 6 7 8`` — and an optional ``+86`` /
``0086`` / ``86`` / ``(+86)`` prefix.
Landline: area code ``0xx``/``0xxx`` (or ``+86`` and the code without its ``0``, or the code in brackets),
an optional dash or space, a 7–8 digit local number not starting with 0 or 1, run together or in two
groups (``6234 5678``), an optional extension (``-123``, ``转123``, ``#123``, ``ext. 123``). A local number
without an area code (座机826 7318) scores too low to count unless a context word (座机, 电话, 固话 …)
stands before it. Neither is checksummed, so the score comes from the pattern and the context words; the
validators in :mod:`handover.validators` confirm the normalised shape. A number inside a longer digit run
(also one written in groups, a card's), or followed by a decimal part (an amount: ``13800138000.00``), is
not a phone number. The analyzer reads full-width digits and numerals read out (一三八 …) folded to ASCII
(:func:`handover.pii.patterns.fold`).
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_BEFORE_DIGIT
from handover.validators import is_landline, is_mobile

MOBILE = "CN_MOBILE"
LANDLINE = "CN_LANDLINE"

# separators people type inside a number: space, dash, middle dot, full stop (152·5339·8016, 139.1046.5827)
_SEP = r"[ \-·.]"
# not inside a digit run (also one written in groups: 6217 0002 8301 …), not the decimals of an amount
_START = r"(?<![0-9+])(?<![0-9][.．])(?<![0-9][ \-·])"
_END = NOT_BEFORE_DIGIT + r"(?![.．·\- ][0-9])"
_PREFIX = r"(?:(?:\+|00)?86[ -]?|[(（]\+?86[)）] ?)"

MOBILE_PATTERNS = [
    # eleven digits, one separator at most between any two (138 1234 5678, 1382 2601947, 1 3 8 1 2 …)
    Pattern("mobile", _START + _PREFIX + r"?1" + _SEP + r"?[3-9](?:" + _SEP + r"?[0-9]){9}" + _END, 0.5),
]

_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"  # without the trunk 0
# seven or eight digits not starting with 0 or 1, run together or in two groups (6234 5678, 826-7318)
_LOCAL = r"[2-9](?:[0-9]{6,7}|[0-9]{2,3}[ -][0-9]{4})"
_EXTENSION = r"(?:(?:-|转| ?(?:ext|EXT|Ext)\.? ?|#)[0-9]{1,6})?"
LANDLINE_PATTERNS = [
    Pattern(
        "landline (separated)",
        _START
        + r"(?:"
        + _PREFIX
        + _AREA
        + r"|[(（]0"
        + _AREA
        + r"[)）] ?|0"
        + _AREA
        + r")[ -]?"
        + _LOCAL
        + _EXTENSION
        + _END,
        0.5,
    ),
    # a local number without its area code (座机826 7318): only a context word (座机, 电话 …) lifts it
    # over the threshold
    Pattern("landline (local)", _START + _LOCAL + _END, 0.1),
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

_INTERNATIONAL = re.compile(r"^(?:(?:\+|00)86[ -]?|[(（]\+?86[)）] ?)")
_EXTENSION_MARK = re.compile(r" ?(?:转|ext\.?|EXT\.?|Ext\.?|#) ?")
_DIGIT_GROUP = re.compile(r"[0-9]+")


_NOT_DIGIT = re.compile(r"[^0-9]")
_LOCAL_ONLY = re.compile(r"[2-9][0-9]{6,7}")


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
        digits = _NOT_DIGIT.sub("", pattern_text)
        national = digits[-11:] if len(digits) in (13, 15) and digits[:-11] in ("86", "0086") else digits
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
        value = normalised_landline(pattern_text)
        return None if is_landline(value) or _LOCAL_ONLY.fullmatch(value) else False


def normalised_landline(text: str) -> str:
    """``+86 755 8234 5678`` / ``(0755)8234-5678转12`` → ``075582345678-12``: the form ``is_landline`` reads
    (a local number without its area code stays without one)."""
    value = text
    if (international := _INTERNATIONAL.match(value)) is not None:
        value = "0" + value[international.end() :]
    value, extension = ([*_EXTENSION_MARK.split(value, maxsplit=1), ""])[:2]
    groups = _DIGIT_GROUP.findall(value)
    area = groups.pop(0) if groups and groups[0].startswith("0") else ""
    if len(area) > 4:  # area code and local number run together: 02052345678, 075582345678
        length = 3 if area[1] in "12" else 4
        groups.insert(0, area[length:])
        area = area[:length]
    local = ""
    while groups and len(local) < 7:
        local += groups.pop(0)
    extension = extension or "".join(groups)  # 0755-8327 6610-203: what follows the local number
    return area + local + (f"-{extension}" if extension else "")
