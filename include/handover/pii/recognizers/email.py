"""EMAIL_ADDRESS: e-mail addresses, also when glued to Chinese text (``邮箱zhang@example.com联系``), and as
people say them on the phone and a voice note writes them down: ``shengxia_hz at 163 dot com``,
``wennuan 艾特 qq 点 com`` (``(at)``, ``[at]``, ``[dot]`` too) — a dictated address is valid when, with
``@`` and ``.`` put back, it is an address."""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS
from handover.validators import is_email

ENTITY = "EMAIL_ADDRESS"

_LOCAL = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SAID_AT = r"(?: ?(?:\(at\)|\[at\]|艾特) ?| (?:at|AT) )"
_SAID_DOT = r"(?: ?(?:\(dot\)|\[dot\]|点) ?| (?:dot|DOT) |\.)"
PATTERNS = [
    Pattern(
        "email",
        _LOCAL + r"@(?:" + _LABEL + r"\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-])",
        0.5,
    ),
    Pattern(
        "email (dictated)",
        _LOCAL + _SAID_AT + r"(?:" + _LABEL + _SAID_DOT + r")+[A-Za-z]{2,63}(?![A-Za-z0-9-])",
        0.5,
    ),
]

CONTEXT = ["邮箱", "邮件", "电子邮件", "电邮", "email", "e-mail", "mail"]

_AT = re.compile(_SAID_AT)
_DOT = re.compile(_SAID_DOT)


class EmailRecognizer(PatternRecognizer):
    """Addresses accepted by :func:`handover.validators.is_email`."""

    PREFILTER = re.compile(r"@|艾特| at | AT |\(at\)|\[at\]")  # in every match: a cheap search first

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
        if "@" not in pattern_text:
            pattern_text = _DOT.sub(".", _AT.sub("@", pattern_text, count=1))
        return is_email(pattern_text)
