"""PERSON: Chinese personal names, found three ways.

- :class:`JiebaPersonRecognizer`: words jieba's part-of-speech tagger marks as names (``nr``; also ``nrfg``
  and ``nrt``, its variants for well-known and transliterated names);
- :class:`CustomerNameRecognizer`: the names the caller passes in (the branch's own customer master), found
  wherever they occur, even glued to other characters and even when jieba does not tag them;
- :class:`SurnameRecognizer`: a common surname (single or compound) and a 1–2 character given name, either
  followed by a form of address (先生, 女士, 经理 …; scored on its own) or standing as its own jieba word
  (scored low, so it survives only with a context word such as 客户/联系人/姓名 before it).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

import ahocorasick
import jieba.posseg
import regex as re
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from handover.pii.patterns import word_list

ENTITY = "PERSON"

SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞"
    "颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻"
    "祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇"
    "栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = frozenset(
    word_list(
        "欧阳 司马 上官 诸葛 东方 皇甫 慕容 令狐 尉迟 公孙 长孙 宇文 夏侯 端木 司徒 轩辕 申屠 独孤 南宫 万俟 闻人 澹台 "
        "拓跋 西门 百里 呼延 赫连 钟离 宗政 濮阳 公冶 太叔 仲孙 淳于 单于 司空 鲜于 第五"
    )
)
TITLES = word_list(
    "先生 女士 小姐 老师 经理 总监 主任 阿姨 叔叔 师傅 同志 老板 律师 医生 会计 行长 董事长 总经理 夫人 太太 同学"
)

CONTEXT = [
    "客户", "联系人", "姓名", "户名", "名字", "本人", "先生", "女士", "小姐", "经理", "持卡人", "收款人", "付款人", "借款人",
    "担保人", "配偶", "家属", "法定代表人", "法人", "代理人", "开户人", "签字", "name",
]  # fmt: skip

_CJK_WORD = re.compile(r"[\u4e00-\u9fff]+")
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt"})
# tags of words that cannot be a given name (verbs, conjunctions, prepositions, particles, adverbs, pronouns …)
_NOT_GIVEN_NAME = frozenset({"v", "vd", "vn", "c", "p", "u", "uj", "ul", "uv", "ud", "ug", "uz", "d", "r", "x", "y", "e",
                             "o", "q", "f", "t", "eng"})  # fmt: skip
# words jieba tags as names that are not (our own context vocabulary, mostly)
_NOT_NAMES = frozenset({"银行卡", "银行", "客户", "经理"})


@lru_cache(maxsize=256)
def tagged_words(text: str) -> tuple[tuple[str, str, int], ...]:
    """``(word, part-of-speech, start)`` for each word jieba finds in ``text`` (cached: two recognizers ask)."""
    words = []
    start = 0
    for pair in jieba.posseg.cut(text):
        words.append((pair.word, pair.flag, start))
        start += len(pair.word)
    return tuple(words)


def person_result(
    recognizer: EntityRecognizer, start: int, end: int, score: float, how: str
) -> RecognizerResult:
    """A PERSON result of ``recognizer``, explained by ``how``."""
    explanation = AnalysisExplanation(
        recognizer=recognizer.name,
        original_score=score,
        textual_explanation=f"Detected by `{recognizer.name}` ({how})",
    )
    return RecognizerResult(
        entity_type=ENTITY,
        start=start,
        end=end,
        score=score,
        analysis_explanation=explanation,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


def _starts_with_surname(word: str) -> bool:
    return word[:2] in COMPOUND_SURNAMES or word[:1] in SURNAMES


class JiebaPersonRecognizer(EntityRecognizer):
    """Words jieba tags as personal names; surer when they start with a common surname."""

    WITH_SURNAME = 0.5
    WITHOUT_SURNAME = 0.3

    def __init__(self) -> None:
        super().__init__(
            supported_entities=[ENTITY],
            name="JiebaPersonRecognizer",
            supported_language="zh",
            context=CONTEXT,
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return self.from_words(tagged_words(text))

    def from_words(self, words: Iterable[tuple[str, str, int]]) -> list[RecognizerResult]:
        """The results for words already tagged: ``(word, part-of-speech, start)``."""
        return [person_result(self, *span) for span in self.spans(words)]

    def spans(self, words: Iterable[tuple[str, str, int]]) -> list[tuple[int, int, float, str]]:
        """``(start, end, score, how)`` of each result for words already tagged."""
        spans = []
        for word, flag, start in words:
            if (
                flag in _NAME_TAGS
                and 2 <= len(word) <= 4
                and _CJK_WORD.fullmatch(word)
                and word not in _NOT_NAMES
            ):
                score = self.WITH_SURNAME if _starts_with_surname(word) else self.WITHOUT_SURNAME
                spans.append((start, start + len(word), score, f"jieba {flag}"))
        return spans


class SurnameRecognizer(EntityRecognizer):
    """A common surname and a 1–2 character given name."""

    BEFORE_TITLE = 0.6
    OWN_WORD = 0.3  # needs a context word to pass the analyzer's threshold

    _BEFORE_TITLE = re.compile(
        r"(?:" + "|".join(sorted(COMPOUND_SURNAMES)) + r"|[" + "".join(sorted(SURNAMES)) + r"])"
        r"[\u4e00-\u9fff]{1,2}?(?=" + "|".join(TITLES) + r")"
    )
    _ANY_TITLE = re.compile("|".join(TITLES))

    def __init__(self) -> None:
        super().__init__(
            supported_entities=[ENTITY], name="SurnameRecognizer", supported_language="zh", context=CONTEXT
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return self.before_titles(text) + self.from_words(tagged_words(text))

    def before_titles(self, text: str) -> list[RecognizerResult]:
        """A surname and a given name before a form of address (no segmentation needed)."""
        if self._ANY_TITLE.search(text) is None:  # most texts: a far cheaper search than the pattern's
            return []
        return [
            person_result(self, m.start(), m.end(), self.BEFORE_TITLE, "surname before a form of address")
            for m in self._BEFORE_TITLE.finditer(text)
            if not any(m.group().endswith(t[0]) for t in TITLES)  # 李先 in 李先生: the title, not a name
        ]

    def from_words(self, words: Iterable[tuple[str, str, int]]) -> list[RecognizerResult]:
        """A surname word followed by a short given-name word, in words already tagged (one run of text:
        the pairs are consecutive words)."""
        return [person_result(self, *span) for span in self.spans(words)]

    def spans(self, words: Iterable[tuple[str, str, int]]) -> list[tuple[int, int, float, str]]:
        """``(start, end, score, how)`` of each result of :meth:`from_words`."""
        spans = []
        for (word, word_flag, start), (given, flag, _) in pairwise(words):
            if (
                (word in SURNAMES or word in COMPOUND_SURNAMES)
                and len(given) <= 2
                and _CJK_WORD.fullmatch(given)
                and given not in TITLES
                # 和/c, 于/p, 向/p …: a surname character used as a function word
                and word_flag not in _NOT_GIVEN_NAME
                and flag not in _NOT_GIVEN_NAME
            ):
                spans.append((start, start + len(word) + len(given), self.OWN_WORD, "surname word"))
        return spans


class CustomerNameRecognizer(EntityRecognizer):
    """The caller's own customer names (a deny list), found as substrings.

    Names of Chinese characters match anywhere (Chinese has no spaces to delimit them); names containing
    Latin letters must not touch another letter. Names shorter than two characters are ignored. Read left
    to right, the longest name that starts at a position wins and the search goes on after it. The names
    sit in an Aho-Corasick automaton, so one pass over the text finds them all, however many there are.
    """

    SCORE = 0.85

    def __init__(self, names: Iterable[str]) -> None:
        cleaned = {n.strip() for n in names if isinstance(n, str)}
        self._names = frozenset(n for n in cleaned if len(n) >= 2)
        self._automaton = ahocorasick.Automaton()
        for name in self._names:
            self._automaton.add_word(name, len(name))
        self._automaton.make_automaton()
        super().__init__(
            supported_entities=[ENTITY],
            name="CustomerNameRecognizer",
            supported_language="zh",
            context=CONTEXT,
        )

    @property
    def names(self) -> frozenset[str]:
        """The names it looks for (cleaned: stripped, two characters or more)."""
        return self._names

    def __len__(self) -> int:
        return len(self._names)

    def __reduce__(self):  # the automaton does not pickle well; the names rebuild it
        return (type(self), (sorted(self._names),))

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if not self._names:
            return []
        # (start, -length) of every name in the text, then left to right, longest first, no overlaps
        found = sorted((end - length + 1, -length) for end, length in self._automaton.iter(text))
        results, free = [], 0
        for start, minus in found:
            end = start - minus
            if start >= free and self._delimited(text, start, end):
                results.append(person_result(self, start, end, self.SCORE, "customer name"))
                free = end
        return results

    @staticmethod
    def _delimited(text: str, start: int, end: int) -> bool:
        def latin(c: str) -> bool:
            return c.isascii() and c.isalnum()

        if latin(text[start]) and start > 0 and latin(text[start - 1]):
            return False
        return not (latin(text[end - 1]) and end < len(text) and latin(text[end]))
