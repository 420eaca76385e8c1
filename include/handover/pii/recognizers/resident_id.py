"""CN_RESIDENT_ID: 居民身份证号码 and the residence permits of Hong Kong, Macau and Taiwan residents.

The permits use the resident-ID layout with address codes 810000 / 820000 / 830000; the GB 11643 rule in
:func:`handover.validators.is_resident_id` accepts them, so one recognizer covers both.
"""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_AFTER_ALNUM, NOT_BEFORE_ALNUM
from handover.validators import is_resident_id

ENTITY = "CN_RESIDENT_ID"

PATTERNS = [
    Pattern(
        "resident id (18)",
        NOT_AFTER_ALNUM
        + r"[1-8][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
        + NOT_BEFORE_ALNUM,
        0.3,
    ),
]

CONTEXT = ["身份证", "证件", "身份", "居住证", "居民", "公民", "证号", "id"]


class ResidentIdRecognizer(PatternRecognizer):
    """18-character resident IDs whose check character, province code and birth date are valid."""

    # every match holds this many ASCII digits or more (17, then the check character)
    MIN_DIGITS = 17

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="ResidentIdRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return is_resident_id(pattern_text.upper())
