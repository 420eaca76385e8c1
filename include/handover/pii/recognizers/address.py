"""CN_ADDRESS: postal addresses written in notes (北京市朝阳区建国路88号3栋2单元501室).

A span starts at a province or major-city name, or at a short ``…市/区/县`` token, and runs through the
lower levels (区/县/镇/乡/街道/村), the road (路/街/大道/巷/弄/胡同), the number (号), an estate or
building name (小区/花园/大厦 …) and the building, unit, floor and room parts (栋/幢/座, 单元, 楼/层, 室).
A span with no level below the district (no road, number, town, village, building or room) is a place,
not an address, and is not reported. Without a gazetteer the start can take in a character or two of
the text before it; masking errs on that side.
"""

from __future__ import annotations

import re as stdlib_re

import regex as re
from presidio_analyzer import Pattern, PatternRecognizer

from handover.pii.patterns import CITIES, FLAGS, PROVINCES, AllOf

ENTITY = "CN_ADDRESS"

_CJK = r"[\u4e00-\u9fff]"
# characters that end the words before an address (住在, 地址是, 寄到, 搬去 …), never its first character
_FREE = r"(?:(?![在是住的了址到从往寄搬送去来为])" + _CJK + r")"
_NAMES = "|".join(sorted(PROVINCES + CITIES, key=len, reverse=True))
_START = (
    r"(?:(?:" + _NAMES + r")(?:壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)?"
    r"|" + _FREE + r"{2,3}(?:市|区|县))"
)
_LEVEL = _FREE + r"{1,6}?(?:新区|开发区|街道|市|区|县|旗|镇|乡|村)(?![镇乡村])"  # 柳市镇 is a town
_ROAD = r"(?:" + _FREE + r"|[0-9])" + r"{1,8}?(?:大道|大街|胡同|路|街|巷|弄|里)"
_NUMBER = r"[0-9一二三四五六七八九十百]{1,5}(?:-[0-9]{1,4})?(?:号院|号|弄)"
_ESTATE = _FREE + r"{1,8}?(?:小区|花园|公寓|大厦|广场|家园|新村|新城|名城|国际|中心|新寓|苑|园|府|湾|庭|里|村)"
_BUILDING = r"(?:[A-Za-z]区)?[0-9A-Za-z]{1,4}(?:号楼|栋|幢|座|门)"
_UNIT = r"[0-9]{1,3}单元"
_FLOOR = r"[0-9]{1,3}(?:楼|层)"
# the room: with 室/房/户, or the bare number after a building or unit (2单元402, 3门1502), or the
# building-unit-room numbers run together with dashes (5-2-3, 6-2-1102)
_ROOM = (
    r"(?:[0-9A-Za-z]{1,5}(?:室|房|户)|(?<=[栋幢座门元楼])[0-9]{2,5}[A-Za-z]?(?![0-9])"
    r"|[0-9]{1,3}(?:-[0-9]{1,4}){1,2}(?![0-9])|(?<=[栋幢座门元楼])[0-9]{1,3}[A-Za-z](?![0-9A-Za-z]))"
)

PATTERNS = [
    Pattern(
        "address",
        _START
        + r"(?:"
        + _LEVEL
        + r"){0,4}(?:"
        + _ROAD
        + r")?(?:"
        + _NUMBER
        + r")?(?:"
        + _ESTATE
        + r")?(?:"
        + _BUILDING
        + r")?(?:"
        + _UNIT
        + r")?(?:"
        + _FLOOR
        + r")?(?:"
        + _ROOM
        + r")?",
        0.5,
    ),
]

CONTEXT = [
    "地址",
    "住址",
    "住在",
    "居住",
    "家住",
    "寄到",
    "寄往",
    "收货",
    "户籍",
    "籍贯",
    "搬到",
    "通讯地址",
    "address",
]

_BELOW_DISTRICT = (
    "镇",
    "乡",
    "村",
    "街道",
    "路",
    "街",
    "巷",
    "弄",
    "胡同",
    "号",
    "栋",
    "幢",
    "座",
    "单元",
    "室",
    "房",
)


# where an address can start: 市/区/县 or a province or city name; the first characters looked ahead for,
# so that the standard library's engine skips to where one stands instead of trying 75 names at every
# character (1.2 µs a note on the dev notes instead of 6.7; the same matches)
_START_CHARS = "".join(sorted({name[0] for name in PROVINCES + CITIES} | set("市区县")))
_START_HINT = stdlib_re.compile(f"(?=[{_START_CHARS}])(?:[市区县]|{_NAMES})")


class AddressRecognizer(PatternRecognizer):
    # Every address holds a province or city name or one of 市/区/县 (its start does) and a part below the
    # district (validate_result): a search for these is far cheaper than the pattern's, which tries its
    # start at every Chinese character.
    PREFILTER = AllOf(_START_HINT, re.compile("|".join(_BELOW_DISTRICT)))

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            name="AddressRecognizer",
            supported_language="zh",
            patterns=PATTERNS,
            context=CONTEXT,
            global_regex_flags=FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if any(part in pattern_text for part in _BELOW_DISTRICT) else False

    @staticmethod
    def starts(text: str) -> list[int]:
        """Every position where a match of the pattern can start: at a province or city name, or two or
        three characters before 市/区/县 (a many-notes path tries only these, not every character)."""
        found = set()
        for match in _START_HINT.finditer(text):
            if match.group() in "市区县":
                found.update(p for p in (match.start() - 2, match.start() - 3) if p >= 0)
            else:
                found.add(match.start())
        return sorted(found)
