"""Regex building blocks for Chinese text.

``\\b`` is useless beside CJK characters (they are word characters too, so ``号码是1101…`` has no boundary
before the digits): a number is delimited by digit look-arounds instead, and a code with letters by
letter-and-digit look-arounds.
"""

from __future__ import annotations

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


# How people type numbers in notes, folded to what the patterns read, character for character (so every
# offset stays the same): full-width digits and letters (１３９, ＡＢ) and the signs numbers are written with
# (＋ － ＠ ． ＃) to ASCII, the ideographic space to a space, dashes (— – ‒ ―) to "-", and a run of seven or
# more Chinese numerals (一三八 一六五二 九零四七, 壹叁柒 …: a phone number read out) to digits. Words,
# names and punctuation are untouched; a single numeral (一张卡, 伍淑芬) never is.
_FULL_WIDTH = "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ＋－＠．＃"
_FOLD = str.maketrans(
    {**{c: chr(ord(c) - 0xFEE0) for c in _FULL_WIDTH}, "\u3000": " ", "—": "-", "–": "-", "‒": "-", "―": "-"}
)
_NUMERALS = "零〇一二三四五六七八九幺壹贰叁肆伍陆柒捌玖"
_NUMERAL_DIGITS = str.maketrans(_NUMERALS, "001234567891123456789")
_NUMERAL_RUN = re.compile(f"[{_NUMERALS}](?:[ -]?[{_NUMERALS}]){{6,}}")
_NEEDS_FOLD = re.compile(f"[{_FULL_WIDTH}\u3000—–‒―]|[{_NUMERALS}]{{2}}")


def fold(text: str) -> str:
    """``text`` as the number patterns read it (see above): the same length, the same offsets."""
    if _NEEDS_FOLD.search(text) is None:  # most notes: one search, nothing to fold
        return text
    text = text.translate(_FOLD)
    return _NUMERAL_RUN.sub(lambda m: m.group().translate(_NUMERAL_DIGITS), text)
