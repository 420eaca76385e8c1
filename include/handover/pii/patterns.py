"""Regex building blocks for Chinese text.

``\\b`` is useless beside CJK characters (they are word characters too, so ``号码是1101…`` has no boundary
before the digits): a number is delimited by digit look-arounds instead, and a code with letters by
letter-and-digit look-arounds.
"""

from __future__ import annotations

import re as stdlib_re
from pathlib import Path

import regex as re

NOT_AFTER_DIGIT = r"(?<![0-9])"
NOT_BEFORE_DIGIT = r"(?![0-9])"
NOT_AFTER_ALNUM = r"(?<![0-9A-Za-z])"
NOT_BEFORE_ALNUM = r"(?![0-9A-Za-z])"
CJK = r"[\u4e00-\u9fff]"

# Case-sensitive on purpose: passports, plates and permits are written in capitals; where a lower-case
# letter is acceptable (the resident ID's check ``x``) the pattern says so.
FLAGS = re.DOTALL | re.MULTILINE

_SEPARATORS = re.compile(r"[\s\-()（）]")


def compact(value: str) -> str:
    """``value`` without spaces, dashes and brackets: the form the validators expect."""
    return _SEPARATORS.sub("", value)


class AllOf:
    """A search that finds only where each of its patterns finds (a recognizer's cheap PREFILTER)."""

    def __init__(self, *patterns: re.Pattern) -> None:
        self.patterns = patterns

    def search(self, text: str, *positions: int) -> re.Match | None:
        found = None
        for pattern in self.patterns:
            found = pattern.search(text, *positions)
            if found is None:
                return None
        return found


def word_list(words: str) -> tuple[str, ...]:
    """A space-separated list of words, as a tuple (long word lists read better as one string)."""
    return tuple(words.split())


# Place names an address starts with (the address recognizer) and generalises to (the operators).
PROVINCES = word_list(
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川 贵州 "
    "云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门"
)
CITIES = word_list(
    "深圳 广州 杭州 南京 苏州 成都 武汉 西安 郑州 长沙 沈阳 大连 青岛 济南 厦门 福州 宁波 无锡 合肥 昆明 南宁 "
    "哈尔滨 长春 石家庄 太原 南昌 贵阳 兰州 乌鲁木齐 呼和浩特 银川 西宁 拉萨 海口 三亚 东莞 佛山 珠海 温州"
)


# How people type numbers and names in notes, folded to what the recognizers read, character for character
# (so every offset stays the same):
# - full-width digits and letters (１３９, ＡＢ) and the signs numbers are written with (＋ － ＠ ． ＃) to
#   ASCII, the ideographic space to a space, dashes (— – ‒ ―) to "-";
# - Traditional characters to Simplified (陳 → 陈, 號 → 号, 護照 → 护照, 回鄉證 → 回乡证), one character for
#   one: OpenCC's character table (TSCharacters, with its Hong Kong and Taiwan variant tables first), less
#   the characters that are Simplified too. Every rule, word list and context word is then written once,
#   in Simplified, and reads Hong Kong, Macao and Taiwan notes alike;
# - numbers read out (voice notes, call logs): a run of seven or more Chinese numerals (一三八 一六五二 九零四七,
#   壹叁柒 …, and the radio digits 幺 1, 两 2, 拐 7, 勾 9, 洞 0) to digits — but not a closing 一/两 that is
#   the numeral of a measure word (…三七四六一个是…: 一个); an extension read out after a number
#   (…8830 转 六零二); the numerals of a plate (粤B 洞七拐勾两, 湘A 幺二三X五).
# Words, names and punctuation are untouched otherwise; a lone numeral (一张卡, 伍淑芬) never is.
_FULL_WIDTH = "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ＋－＠．＃（）"
_NUMERALS = "零〇一二三四五六七八九幺壹贰叁肆伍陆柒捌玖两洞拐勾"
_NUMERAL_DIGITS = str.maketrans(_NUMERALS, "0012345678911234567892079")
_MEASURE_WORDS = frozenset("个位张次笔条份件些下样种点块元岁天年月号")
_NUMERAL_RUN = re.compile(f"[{_NUMERALS}](?:[ -]?[{_NUMERALS}]){{6,}}")
_SPOKEN_EXTENSION = re.compile(f"(?<=[0-9] ?(?:转|分机) ?)[{_NUMERALS}]{{1,6}}(?![{_NUMERALS}])")
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_SPOKEN_PLATE = re.compile(
    f"(?<=[{PLATE_PROVINCES}][A-Z][·• ]?)[A-Z0-9{_NUMERALS}]{{5,6}}(?![A-Z0-9{_NUMERALS}])"
)
_HAS_NUMERALS = stdlib_re.compile(f"[{_NUMERALS}]")  # (the standard library's re: faster on a character class)


def _opencc_folder() -> Path:
    import opencc  # opencc-python-reimplemented: OpenCC's dictionaries as text files

    return Path(opencc.__file__).parent / "dictionary"


def _dictionary(name: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in (_opencc_folder() / name).read_text(encoding="utf-8-sig").splitlines():
        key, _, values = line.partition("\t")
        if values:
            rows[key] = values.split(" ")
    return rows


def _traditional_to_simplified() -> dict[str, str]:
    """Traditional (and Hong Kong / Taiwan variant) character → its Simplified character, one for one;
    OpenCC's first choice, and only where the Traditional character is not itself a Simplified one."""
    simplified = _dictionary("TSCharacters.txt")
    also_simplified = set(_dictionary("STCharacters.txt"))
    table = {t: s[0] for t, s in simplified.items() if len(t) == 1 and len(s[0]) == 1}
    for name in ("HKVariantsRev.txt", "TWVariantsRev.txt"):  # variant → OpenCC's standard Traditional
        for variant, standard in _dictionary(name).items():
            target = table.get(standard[0], standard[0])
            if len(variant) == 1 and len(target) == 1 and variant != target:
                table.setdefault(variant, target)
    return {t: s for t, s in table.items() if t not in also_simplified and t != s}


SIMPLIFIED = _traditional_to_simplified()
_FOLD = str.maketrans(
    {
        **SIMPLIFIED,
        **{c: chr(ord(c) - 0xFEE0) for c in _FULL_WIDTH},
        "\u3000": " ",
        "—": "-",
        "–": "-",
        "‒": "-",
        "―": "-",
    }
)


def _numerals_read_out(match: re.Match) -> str:
    run = match.group()
    text, end = match.string, match.end()
    if end < len(text) and text[end] in _MEASURE_WORDS and run[-1] in "一两":
        head = run[:-1].rstrip(" -")
        if len(_HAS_NUMERALS.findall(head)) >= 7:
            return head.translate(_NUMERAL_DIGITS) + run[len(head) :]
        return run
    return run.translate(_NUMERAL_DIGITS)


_FOLDED = frozenset({*SIMPLIFIED, *_FULL_WIDTH, "\u3000", "—", "–", "‒", "―"})


def fold(text: str) -> str:
    """``text`` as the recognizers read it (see above): the same length, the same offsets."""
    if not _FOLDED.isdisjoint(text):  # most notes: nothing to translate
        text = text.translate(_FOLD)
    if _HAS_NUMERALS.search(text) is None:  # most notes: nothing read out
        return text
    text = _NUMERAL_RUN.sub(_numerals_read_out, text)
    text = _SPOKEN_EXTENSION.sub(lambda m: m.group().translate(_NUMERAL_DIGITS), text)
    return _SPOKEN_PLATE.sub(lambda m: m.group().translate(_NUMERAL_DIGITS), text)
