"""CN_USCC: 统一社会信用代码 (GB 32100-2015), checked with the MOD 31 character."""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_AFTER_ALNUM, NOT_BEFORE_ALNUM
from handover.validators import is_resident_id, is_uscc

ENTITY = "CN_USCC"

_CHAR = "[0-9A-HJ-NPQRTUWXY]"  # the USCC alphabet: no I, O, S, V, Z
PATTERNS = [
    Pattern("uscc", NOT_AFTER_ALNUM + _CHAR + r"{2}[0-9]{6}" + _CHAR + "{10}" + NOT_BEFORE_ALNUM, 0.3),
]

CONTEXT = [
    "统一社会信用代码",
    "信用代码",
    "社会信用",
    "营业执照",
    "税号",
    "纳税人识别号",
    "企业",
    "公司",
    "uscc",
]


class UsccRecognizer(PatternRecognizer):
    """USCCs with a valid check character. An all-digit value that is also a valid resident ID is left to
    :class:`~handover.pii.recognizers.resident_id.ResidentIdRecognizer` (the ID rule is the stricter one)."""

    # every match holds this many ASCII digits or more, in one number (the six digits of the region code)
    MIN_DIGITS = 6

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="UsccRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return is_uscc(pattern_text) and not is_resident_id(pattern_text)
