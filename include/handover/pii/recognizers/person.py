"""PERSON: the parts every name recognizer shares, and the branch's own customers.

- :class:`CustomerNameRecognizer`: the names the caller passes in (the branch's own customer master), found
  wherever they occur, even glued to other characters;
- everyone else — relatives, payees, agents, staff — is found by the words around the name
  (:mod:`handover.pii.recognizers.names`, with a statistical model for what the rules leave open).

jieba's part-of-speech tagger (``nr``) used to find names here; on notes written by others it covers 0.68
of the names (strict) at about a millisecond a note (bench/RESULTS.md, 2026-12-02); the rules and the
model cover 0.996 in a quarter of that.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from handover.pii.patterns import fold, word_list
from handover.pii.word_use import used_as_word

ENTITY = "PERSON"

TITLES = word_list(
    "先生 女士 小姐 老师 经理 总监 主任 阿姨 叔叔 师傅 同志 老板 律师 医生 会计 行长 董事长 总经理 夫人 太太 同学"
)

CONTEXT = [
    "客户", "联系人", "姓名", "户名", "名字", "本人", "先生", "女士", "小姐", "经理", "持卡人", "收款人", "付款人", "借款人",
    "担保人", "配偶", "家属", "法定代表人", "法人", "代理人", "开户人", "签字", "name",
]  # fmt: skip


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


class CustomerNameRecognizer(EntityRecognizer):
    """The caller's own customer names (a deny list), found as substrings.

    Names of Chinese characters match anywhere (Chinese has no spaces to delimit them); names containing
    Latin letters must not touch another letter. Names shorter than two characters are ignored. Read left
    to right, the longest name that starts at a position wins and the search goes on after it. The names
    sit in an Aho-Corasick automaton, so one pass over the text finds them all, however many there are.

    A customer whose name is also an ordinary word (高兴, 方圆, 许多, 常青) is not found where the text uses
    the word: inside a longer dictionary word (常青藤, 高楼林立, 齐心协力, 朱红色) or after a degree adverb or
    a negation (很高兴, 更周密, 不温暖).
    """

    SCORE = 0.85

    def __init__(self, names: Iterable[str]) -> None:
        cleaned = {n.strip() for n in names if isinstance(n, str)}
        self._names = frozenset(n for n in cleaned if len(n) >= 2)
        self._automaton = ahocorasick.Automaton()
        for name in self._names:  # as the analyzer reads a text: 陳大文 in the master is 陈大文 in a note
            self._automaton.add_word(fold(name), len(name))
        self._automaton.make_automaton()
        self._last: tuple[str, list[tuple[int, int]]] | None = None
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
        return [person_result(self, start, end, self.SCORE, "customer name") for start, end in self.spans(text)]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` of each customer name in ``text``: left to right, the longest first, no overlaps.
        The last text's answer is kept (the name recognizer asks for the note the analyzer just read)."""
        if not self._names:
            return []
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        # (start, -length) of every name in the text, then left to right, longest first, no overlaps
        found = sorted((end - length + 1, -length) for end, length in self._automaton.iter(text))
        spans, free = [], 0
        for start, minus in found:
            end = start - minus
            if start >= free and self._delimited(text, start, end) and not used_as_word(text, start, end):
                spans.append((start, end))
                free = end
        self._last = (text, spans)
        return spans

    @staticmethod
    def _delimited(text: str, start: int, end: int) -> bool:
        def latin(c: str) -> bool:
            return c.isascii() and c.isalnum()

        if latin(text[start]) and start > 0 and latin(text[start - 1]):
            return False
        return not (latin(text[end - 1]) and end < len(text) and latin(text[end]))
