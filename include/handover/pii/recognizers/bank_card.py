"""BANK_CARD: 16–19 digit card numbers passing the Luhn check, run together or in groups — of four as
printed, or as someone reads a card out (6222 0215 0033 879 0163): three or more groups of two to six
digits, one space or dash between them."""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_AFTER_DIGIT, NOT_BEFORE_DIGIT, compact
from handover.validators import is_bank_card, is_resident_id

ENTITY = "BANK_CARD"

PATTERNS = [
    # not the first 17 digits of a resident ID ending in X
    Pattern("card (run)", NOT_AFTER_DIGIT + r"[0-9]{16,19}" + NOT_BEFORE_DIGIT + "(?![Xx])", 0.3),
    Pattern(
        "card (groups)",
        NOT_AFTER_DIGIT + r"[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -][0-9]{1,3})?" + NOT_BEFORE_DIGIT,
        0.3,
    ),
    Pattern(
        "card (groups read out)",
        NOT_AFTER_DIGIT + r"(?=(?:[0-9][ -]?){16})[0-9]{2,6}(?:[ -][0-9]{2,6}){2,7}" + NOT_BEFORE_DIGIT,
        0.3,
    ),
]

CONTEXT = [
    "卡号",
    "银行卡",
    "账号",
    "帐号",
    "账户",
    "帐户",
    "借记卡",
    "信用卡",
    "储蓄卡",
    "开户",
    "收款",
    "card",
]


class BankCardRecognizer(PatternRecognizer):
    """Luhn-valid card numbers. An 18-digit value that is a valid resident ID is not reported as a card
    (one in ten IDs passes Luhn by chance)."""

    # every match holds this many ASCII digits or more, in one number (16 to 19 digits, run together or in groups)
    MIN_DIGITS = 16

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="BankCardRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool:
        digits = compact(pattern_text)
        return 16 <= len(digits) <= 19 and is_bank_card(digits) and not is_resident_id(digits)
