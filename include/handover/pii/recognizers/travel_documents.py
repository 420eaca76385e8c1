"""CN_PASSPORT and CN_TRAVEL_PERMIT: passports and the permits for travel between the mainland, Hong Kong,
Macau and Taiwan.

The patterns are kept conservative (capital letters, exact lengths, no letter or digit on either side);
none of these numbers carries a public check digit, so the base scores are low and the context words
(护照, 通行证, 回乡证 …) lift them.

Passports (CN_PASSPORT):
- ordinary, PRC: ``E`` + 8 digits, or ``E`` + a letter (not I/O) + 7 digits (since 2012); older ``G`` + 8;
- diplomatic / service / public-affairs: ``DE`` / ``SE`` / ``PE`` + 7 digits;
- Hong Kong SAR: ``K`` + 8 digits; Macau SAR: ``MA`` + 7 digits;
- any other country's (ICAO 9303 allows up to nine letters and digits: German ``C4K7N2R91``, Russian
  ``75 4081932``, Vietnamese ``B8102394``, Canadian ``AB123987``, British and American nine digits): six to
  nine capitals and digits, at least five of them digits (a Russian number's series and number may stand
  apart), scored below the threshold — only a passport context word (护照, passport) makes it count.

Permits (CN_TRAVEL_PERMIT):
- home-return permit (港澳居民来往内地通行证): ``H`` (Hong Kong) or ``M`` (Macau) + 8 digits, or + 10 on
  older cards (8 + a 2-digit issue count);
- exit-entry permit to Hong Kong and Macau (往来港澳通行证, card type): ``C`` + 8 digits or ``C`` + a
  letter + 7 digits;
- mainland residents' permit to Taiwan (大陆居民往来台湾通行证): ``L`` + 8 digits.
The Taiwan compatriot permit (台湾居民来往大陆通行证, 台胞证) is 8 bare digits: too ambiguous for a pattern
on its own, so :class:`TaiwanCompatriotPermitRecognizer` scores it below the threshold and only its own
context words (台胞证 …) lift it.
"""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import FLAGS, NOT_AFTER_ALNUM, NOT_BEFORE_ALNUM

PASSPORT = "CN_PASSPORT"
TRAVEL_PERMIT = "CN_TRAVEL_PERMIT"

_LETTER = "[A-HJ-NP-Z]"


def _bounded(body: str) -> str:
    return NOT_AFTER_ALNUM + body + NOT_BEFORE_ALNUM


PASSPORT_PATTERNS = [
    Pattern("passport (ordinary)", _bounded(r"(?:E[0-9]{8}|E" + _LETTER + r"[0-9]{7}|G[0-9]{8})"), 0.4),
    Pattern("passport (official)", _bounded(r"[DSP]E[0-9]{7}"), 0.4),
    Pattern("passport (HK/Macau SAR)", _bounded(r"(?:K[0-9]{8}|MA[0-9]{7})"), 0.3),
    Pattern(
        "passport (other countries)", _bounded(r"(?:[0-9]{2} [0-9]{7}|(?=(?:[A-Z]*[0-9]){5})[A-Z0-9]{6,9})"), 0.05
    ),
]
PERMIT_PATTERNS = [
    Pattern("home-return permit", _bounded(r"[HM](?:[0-9]{10}|[0-9]{8})"), 0.3),
    Pattern("exit-entry permit", _bounded(r"C(?:[0-9]{8}|" + _LETTER + r"[0-9]{7})"), 0.3),
    Pattern("Taiwan travel permit", _bounded(r"L[0-9]{8}"), 0.3),
]

# below the threshold whatever the number: only a context word (+0.35) makes it count
TAIWAN_PERMIT_PATTERNS = [Pattern("Taiwan compatriot permit", _bounded(r"[0-9]{8}"), 0.05)]

PASSPORT_CONTEXT = ["护照", "passport"]
PERMIT_CONTEXT = ["通行证", "回乡证", "回乡", "港澳", "台湾", "台胞", "证件", "permit"]
TAIWAN_PERMIT_CONTEXT = ["台胞", "台湾居民", "通行证"]


class PassportRecognizer(PatternRecognizer):
    # any match holds at least this many ASCII digits: a cheap test before the search
    MIN_DIGITS = 5

    def __init__(self) -> None:
        super().__init__(
            supported_entity=PASSPORT,
            name="PassportRecognizer",
            supported_language="zh",
            patterns=PASSPORT_PATTERNS,
            context=PASSPORT_CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        # another country's number: five digits at least, and not a date or an amount of only digits
        # shorter than seven
        digits = sum(c.isdigit() for c in pattern_text)
        return None if digits >= 5 and (digits >= 7 or not pattern_text.isdigit()) else False


class TravelPermitRecognizer(PatternRecognizer):
    # any match holds at least this many ASCII digits (every document number has seven digits or more): a cheap test before the search
    MIN_DIGITS = 7

    def __init__(self) -> None:
        super().__init__(
            supported_entity=TRAVEL_PERMIT,
            name="TravelPermitRecognizer",
            supported_language="zh",
            patterns=PERMIT_PATTERNS,
            context=PERMIT_CONTEXT,
            global_regex_flags=FLAGS,
        )


class TaiwanCompatriotPermitRecognizer(PatternRecognizer):
    """台胞证 numbers: eight digits, counted only after 台胞证 (or 台湾居民来往大陆通行证)."""

    MIN_DIGITS = 8  # every match is eight ASCII digits

    def __init__(self) -> None:
        super().__init__(
            supported_entity=TRAVEL_PERMIT,
            name="TaiwanCompatriotPermitRecognizer",
            supported_language="zh",
            patterns=TAIWAN_PERMIT_PATTERNS,
            context=TAIWAN_PERMIT_CONTEXT,
            global_regex_flags=FLAGS,
        )
