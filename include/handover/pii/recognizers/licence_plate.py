"""CN_LICENCE_PLATE: vehicle plates.

Mainland (GA 36): a province abbreviation, the issuing authority's letter (not I/O), an optional
separator (``·``, space), then 5 characters (letters without I/O, digits; the last may be 学/警/挂/领/港/澳)
or, for new-energy vehicles, 6 (``D``/``F`` + a character + 4 digits, 5 digits + ``D``/``F``; as people
copy them, any six letters and digits with three digits or more: 鲁B·D52K81).
Macao: ``MA-12-34`` (two letters, two pairs of digits) — a shape nothing else has. Hong Kong (``KT 3871``:
two letters, one to four digits) and Taiwan (``ARK-5291``, ``1234-AB``) are too like other codes: they
count only after a plate word (车牌, 牌照 …).
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_AFTER_ALNUM, NOT_BEFORE_ALNUM

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
    Pattern("plate (six characters)", _HEAD + r"(?=(?:[A-Z]*[0-9]){3})" + _CHAR + "{6}" + NOT_BEFORE_ALNUM, 0.5),
    Pattern("plate (Macao)", NOT_AFTER_ALNUM + r"M[A-Z]-[0-9]{2}-[0-9]{2}" + NOT_BEFORE_ALNUM, 0.5),
    Pattern(
        "plate (Hong Kong, Taiwan)",
        NOT_AFTER_ALNUM + r"(?:[A-Z]{2} ?[0-9]{1,4}|[A-Z]{2,3}-[0-9]{3,4}|[0-9]{4}-[A-Z]{2})" + NOT_BEFORE_ALNUM,
        0.05,
    ),
]

CONTEXT = ["车牌", "牌照", "车辆", "号牌", "车号", "汽车", "停车", "plate"]


class LicencePlateRecognizer(PatternRecognizer):
    # every match holds a province abbreviation and a letter, or two letters and a digit, or a digit, a
    # dash and a letter: a cheap search before the pattern's
    PREFILTER = re.compile(_PROVINCE + _LETTER + r"|[A-Z]{2}[ -]?[0-9]|[0-9]-[A-Z]")

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
        return not any(c.isdigit() for c in pattern_text[2:]) and not pattern_text[0].isdigit()
