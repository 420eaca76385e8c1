"""Where a name is used as an ordinary word: one rule for the masker and the leak scan.

A customer may be called 高兴, 方圆, 文静 or 常青: names that are also words of the language. Where a text uses
the word — inside a longer dictionary word (常青藤, 高楼林立, 龙江路, 杜鹃花) or after a degree adverb or a
negation (很高兴, 更周密, 不温暖) — it is not the customer, and neither the masker
(:class:`handover.pii.recognizers.person.CustomerNameRecognizer`) nor the leak scan
(:func:`handover.leaks.scan_text`) takes it for one. Both ask :func:`used_as_word`.

The words are jieba's dictionary words of two to four characters that are not names (:func:`ordinary_words`),
read once per process; nothing is downloaded (the dictionary ships inside the wheel).
"""

from __future__ import annotations

from functools import lru_cache

NAME_TAGGED_WORD = 200  # a word jieba tags as a name (nr) that is this common is a word (洪水 1383, 周转 899)
VERY_COMMON_WORD = 1000  # … even after a role word (客户车辆: 车辆 > 1000, 高兴 5387; 丈夫蓝天翔: 蓝天 < 300)
# parts of speech that never start a name: time words (周一, 明天), numerals, measure words, locality words,
# adverbs, prepositions, conjunctions, pronouns, particles (jieba's tags)
NEVER_NAMES = frozenset(("t", "tg", "m", "mq", "q", "f", "d", "p", "c", "r", "u", "ul", "uj", "uz", "ud", "ug", "uv"))

# before a word used as an adjective: degree adverbs and negation (很高兴, 更周密, 一点都不温暖)
DEGREE_WORDS = ("很", "更", "太", "最", "挺", "真", "不", "非常", "十分", "特别", "比较", "越来越", "有点", "多么")


@lru_cache(maxsize=1)
def ordinary_words() -> dict[str, int]:
    """jieba's dictionary words of 2–4 characters that are not names, with their frequency: not tagged as
    names (``nr…``), or so tagged but as common as words are (its tagger marks 洪水, 周转, 阳光 and 明白 as
    names: a surname character and another; a person's name in its dictionary is rare)."""
    import jieba
    import jieba.posseg

    jieba.initialize()
    frequency = jieba.dt.FREQ
    return {
        # a word of a part of speech that never starts a name counts as very common
        w: max(frequency.get(w, 0), VERY_COMMON_WORD if t in NEVER_NAMES else 0)
        for w, t in jieba.posseg.dt.word_tag_tab.items()
        if 2 <= len(w) <= 4
        and frequency.get(w, 0) >= (NAME_TAGGED_WORD if t.startswith("nr") else 3)
    }


def is_word(name: str) -> bool:
    """Whether ``name`` (as the text has it, folded to simplified characters) is also an ordinary word."""
    return name in ordinary_words()


def used_as_word(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]``, a name that is also an ordinary word, is used as the word here: after a
    degree adverb or a negation, or inside a longer dictionary word of up to four characters that starts
    at most two characters before it and ends at most two after. A name that is no word is never one."""
    if not is_word(text[start:end]):
        return False
    if any(text[max(0, start - len(w)) : start] == w for w in DEGREE_WORDS):
        return True
    ordinary = ordinary_words()
    return any(
        text[a:b] in ordinary
        for a in range(max(0, start - 2), start + 1)
        for b in range(end, min(len(text), end + 2) + 1)
        if (a, b) != (start, end) and b - a <= 4
    )
