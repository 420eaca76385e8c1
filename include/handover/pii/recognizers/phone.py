"""CN_MOBILE and CN_LANDLINE: mainland telephone numbers as people write them in notes.

Mobile: eleven digits, the rule of :mod:`handover.phones` (``1[3-9]…``), with at most one separator (space, dash, ``·``, ``.``) between any two —
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

Beyond the mainland (the plans as the regulators publish them): Taiwan mobiles ``09xx-xxx-xxx`` (or
``+886 9xx …``); any number written with a country code other than +86 (``+852 6182 7340``,
``+44 7700 900123``: E.164, eight to fifteen digits with the code); Taiwan landlines with a one-digit area
code in brackets (``(02)2771-8350``); and Hong Kong and Macao's eight-digit numbers written without a code
(``9265 3187``, ``6291 8043``), which only a phone word before them (手机, 电话, WhatsApp, FPS …) makes count:
:class:`LocalMobileRecognizer` for mobiles, the landline's local pattern for 座机/电话.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover import phones
from handover.pii.patterns import FLAGS, NOT_BEFORE_DIGIT
from handover.validators import is_landline, is_mobile

MOBILE = "CN_MOBILE"
LANDLINE = "CN_LANDLINE"

# separators people type inside a number: space, dash, middle dot, full stop (152·5339·8016, 139.1046.5827)
_SEP = r"[ \-·.]"
# not inside a digit run (also one written in groups: 6217 0002 8301 …), not the decimals of an amount
_START = r"(?<![0-9+])(?<![0-9][.．])(?<![0-9][ \-·])"
# … nor followed by another group of digits, unless that is an amount (充值159 0183 6274 50元)
_END = NOT_BEFORE_DIGIT + r"(?![.．·\-][0-9])(?! [0-9]++(?![元块]))"
_PREFIX = r"(?:(?:\+|00)?86[ -]?|[(（]\+?86[)）] ?)"

MOBILE_PATTERNS = [
    # eleven digits, one separator at most between any two (138 1234 5678, 1382 2601947, 1 3 8 1 2 …)
    Pattern("mobile", _START + _PREFIX + r"?1" + _SEP + rf"?[{phones.SECOND_DIGITS}](?:" + _SEP + r"?[0-9]){9}" + _END, 0.5),
    # Taiwan: 09 + eight digits, grouped 4-3-3 (0912-345-678) or after +886 without the 0
    Pattern(
        "mobile (Taiwan)",
        _START + r"(?:(?:(?:\+|00)886[ -]?|[(（]\+?886[)）] ?)9[0-9]{2}|09[0-9]{2})[ -][0-9]{3}[ -]?[0-9]{3}" + _END,
        0.5,
    ),
    # any other country code (+852 6182 7340, +44 7700 900123, +84 913 572 086): E.164 allows 15 digits
    Pattern(
        "phone (country code)",
        r"(?<![0-9A-Za-z+])(?:\+(?!86)[1-9][0-9]{0,2}[ -]?|00(?!86)[1-9][0-9]{0,2}[ -])\(?[0-9]{1,4}\)?(?:[ -]?[0-9]){6,11}"
        + _END,
        0.5,
    ),
]

_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"  # without the trunk 0
# seven or eight digits not starting with 0 or 1, run together or in two groups (6234 5678, 826-7318)
_LOCAL = r"[2-9](?:[0-9]{6,7}|[0-9]{2,3}[ -][0-9]{4})"
_EXTENSION = r"(?:(?:-| ?(?:转|分机|ext|EXT|Ext)\.? ?|#)[0-9]{1,6})?"
LANDLINE_PATTERNS = [
    Pattern(
        "landline (separated)",
        _START
        + r"(?:"
        + _PREFIX
        + _AREA
        + r"|[(（]0(?:"
        + _AREA
        + r"|[2-8])[)）] ?|0"
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
_EXTENSION_MARK = re.compile(r" ?(?:转|分机|ext\.?|EXT\.?|Ext\.?|#) ?")
_DIGIT_GROUP = re.compile(r"[0-9]+")


_NOT_DIGIT = re.compile(r"[^0-9]")
_LOCAL_ONLY = re.compile(r"[2-9][0-9]{6,7}")


class MobileRecognizer(PatternRecognizer):
    """Mainland mobile numbers (``1`` + ``3``–``9`` + 9 digits)."""

    # every match holds this many ASCII digits or more, in one number (eight with a country code, ten in Taiwan, eleven)
    MIN_DIGITS = 8

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
        if pattern_text.lstrip("(（").startswith(("+", "00")) and not digits.startswith(("86", "0086")):
            return None if 8 <= len(digits.removeprefix("00")) <= 15 else False  # another country's
        if digits.startswith(("09", "8869", "008869")):
            return None  # Taiwan's
        return None if is_mobile(phones.national(digits)) else False


# Hong Kong and Macao numbers have eight digits and no trunk prefix (mobiles start 4–9 in Hong Kong, 6 in
# Macao): without a phone word before them they are any eight digits
LOCAL_MOBILE_PATTERNS = [Pattern("mobile (8 digits)", _START + r"[4-9][0-9]{3}[ -]?[0-9]{4}" + _END, 0.05)]
LOCAL_MOBILE_CONTEXT = ["手机", "电话", "联络", "联系", "whatsapp", "fps", "转数快", "微信", "号码", "mobile", "tel"]


class LocalMobileRecognizer(PatternRecognizer):
    """Eight-digit mobiles (Hong Kong, Macao) after a phone word."""

    MIN_DIGITS = 8

    def __init__(self) -> None:
        super().__init__(
            supported_entity=MOBILE,
            name="LocalMobileRecognizer",
            supported_language="zh",
            patterns=LOCAL_MOBILE_PATTERNS,
            context=LOCAL_MOBILE_CONTEXT,
            global_regex_flags=FLAGS,
        )


class LandlineRecognizer(PatternRecognizer):
    """Mainland landline numbers with area code."""

    # every match holds this many ASCII digits or more, in one number (a local number of seven or eight digits)
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
