"""EMAIL_ADDRESS: e-mail addresses, also when glued to Chinese text (``邮箱zhang@example.com联系``)."""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS
from handover.validators import is_email

ENTITY = "EMAIL_ADDRESS"

PATTERNS = [
    Pattern(
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
        r"[A-Za-z]{2,63}(?![A-Za-z0-9-])",
        0.5,
    ),
]

CONTEXT = ["邮箱", "邮件", "电子邮件", "电邮", "email", "e-mail", "mail"]


class EmailRecognizer(PatternRecognizer):
    """Addresses accepted by :func:`handover.validators.is_email`."""

    PREFILTER = re.compile("@")  # in every match: a cheap search before the pattern's

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="EmailRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return is_email(pattern_text)
