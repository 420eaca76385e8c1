"""CN_LICENCE_PLATE: mainland vehicle plates.

A province abbreviation, the issuing authority's letter (not I/O), an optional separator (``·``, space),
then 5 characters (letters without I/O, digits; the last may be 学/警/挂/领/港/澳) or, for new-energy
vehicles, 6: ``D``/``F`` + a character + 4 digits (small cars) or 5 digits + ``D``/``F`` (large ones).
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_BEFORE_ALNUM

ENTITY = "CN_LICENCE_PLATE"

_PROVINCE = "[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
_LETTER = "[A-HJ-NP-Z]"
_CHAR = "[A-HJ-NP-Z0-9]"
_HEAD = _PROVINCE + _LETTER + r"[·• ]?"

PATTERNS = [
    Pattern("plate", _HEAD + _CHAR + "{4}(?:" + _CHAR + "|[学警挂领港澳])" + NOT_BEFORE_ALNUM, 0.5),
    Pattern(
        "plate (new energy)", _HEAD + r"(?:[DF]" + _CHAR + r"[0-9]{4}|[0-9]{5}[DF])" + NOT_BEFORE_ALNUM, 0.5
    ),
]

CONTEXT = ["车牌", "牌照", "车辆", "号牌", "车号", "汽车", "停车", "plate"]


class LicencePlateRecognizer(PatternRecognizer):
    # every match starts with a province abbreviation and a letter: a cheap search before the pattern's
    PREFILTER = re.compile(_PROVINCE + _LETTER)

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="LicencePlateRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        # 京A12345 has at least one digit after the authority letter; 5 letters is a word, not a plate
        return not any(c.isdigit() for c in pattern_text[2:])
