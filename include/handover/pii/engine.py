"""The analyzer: Presidio on a Chinese spaCy pipeline made in code, with Handover's recognizers only.

Presidio's default engine loads (and, if missing, downloads) a trained spaCy model. Here the pipeline is
``spacy.blank("zh")`` with the jieba segmenter — shipped with spaCy and jieba, nothing to fetch — plus a
component that sets each token's lemma to its text (Presidio's analyzer runs its NLP engine on every text;
a recognizer that wants words has them).

Context words (手机 before a number, 护照 before a document number) are found by
:class:`WindowContextEnhancer`: a recognizer's context word among the characters before a result, in the
same sentence — not among jieba's words, as Presidio's lemma enhancer looks: Chinese is written without
spaces, and a segmenter's words decide nothing here that the characters do not (手机9265 3187,
德国护照号C4K7N2R91, 座机：2647 3810). It never logs the text around a result, and :func:`scan` never lets
a message that may quote the text escape.

:func:`analyzer` builds the engine (cached per set of customer names); :func:`scan` runs it on one text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.tokens import Doc

from handover.pii.patterns import fold
from handover.pii.recognizers import CustomerNameRecognizer, NameRecognizer, person, standard_recognizers

LANGUAGE = "zh"
# Results below this are dropped: a bare pattern for an unchecked number (0.5) passes, a weak name
# guess (0.3) passes only with a context word (+0.35).
SCORE_THRESHOLD = 0.4
_LEMMA_COMPONENT = "handover_text_as_lemma"


class PiiScanError(RuntimeError):
    """The analyzer failed on a text. The message names the failure and the text's length, never its content."""


if not Language.has_factory(_LEMMA_COMPONENT):

    @Language.component(_LEMMA_COMPONENT)
    def _text_as_lemma(doc: Doc) -> Doc:
        """Chinese has no inflection: a word's lemma is the word."""
        for token in doc:
            token.lemma_ = token.text
        return doc


def context_words() -> frozenset[str]:
    """Every context word of every recognizer (the customer names' too)."""
    return frozenset(w for r in standard_recognizers() for w in (r.context or ())) | frozenset(person.CONTEXT)


@lru_cache(maxsize=1)
def chinese_pipeline() -> Language:
    """``spacy.blank("zh")`` segmented by jieba, lemmas filled, our context words not stop words."""
    nlp = spacy.blank(LANGUAGE, config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.add_pipe(_LEMMA_COMPONENT)
    for word in context_words():
        nlp.vocab[word].is_stop = False
    return nlp


class ChineseNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine over :func:`chinese_pipeline`; ``load`` never calls ``spacy.load``."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": LANGUAGE, "model_name": "blank:zh+jieba"}])

    def load(self) -> None:
        self.nlp = {LANGUAGE: chinese_pipeline()}

    def get_supported_entities(self) -> list[str]:
        return []  # no NER component: every entity comes from a recognizer


# how far before a result its context words may stand: twelve characters, a Latin word or a number
# counting as two (身份证号码：…, 手机9265 3187, "ID upgrade, old 3701…"); a sentence end stops it
CONTEXT_WINDOW = 12
_SENTENCE_END = frozenset("。！？；!?;\n")
_WORD_RUN = re.compile(r"[a-z0-9]+$")


@lru_cache(maxsize=256)
def context_search(words: tuple[str, ...]) -> re.Pattern:
    """One search for any of ``words`` in lower-cased text; a Latin word (tel, id, fps) only as a word."""
    parts = []
    for word in sorted({w.lower() for w in words if w}, key=len, reverse=True):
        latin = word.isascii() and word[:1].isalnum()
        parts.append(rf"(?<![a-z]){re.escape(word)}(?![a-z])" if latin else re.escape(word))
    # (the standard library's re: an alternation of words searches 2–3× faster there than in regex)
    return re.compile("|".join(parts))


def context_start(lowered: str, start: int) -> int:
    """Where the context window of a result at ``start`` begins (see ``CONTEXT_WINDOW``)."""
    at, units = start, 0
    while at > 0 and units < CONTEXT_WINDOW:
        char = lowered[at - 1]
        if char in _SENTENCE_END:
            break
        if char.isascii() and char.isalnum():
            run = _WORD_RUN.search(lowered, 0, at)
            at = run.start() if run is not None else at - 1
            units += 2
            continue
        at -= 1
        units += not char.isspace()
    return at


def context_word(lowered: str, start: int, search: re.Pattern) -> str:
    """The context word in the window before ``start`` of the lower-cased text (``""``: none)."""
    found = search.findall(lowered, context_start(lowered, start), start)
    return found[-1] if found else ""


def enhanced_score(score: float, enhancer: ContextAwareEnhancer) -> float:
    """A result's score with a context word before it (Presidio's arithmetic)."""
    score += enhancer.context_similarity_factor
    score = max(score, enhancer.min_score_with_context_similarity)
    return min(score, ContextAwareEnhancer.MAX_SCORE)


class WindowContextEnhancer(ContextAwareEnhancer):
    """A result's score rises (by 0.35, to 0.4 at least) when one of its recognizer's context words stands
    among the ``CONTEXT_WINDOW`` characters before it, in the same sentence (see the module's docstring).
    Words passed in as the analyzer's ``context`` count anywhere. Logs nothing."""

    def __init__(self) -> None:
        super().__init__(
            context_similarity_factor=0.35,
            min_score_with_context_similarity=0.4,
            context_prefix_count=CONTEXT_WINDOW,
            context_suffix_count=0,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts | None,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        by_id = {recognizer.id: recognizer for recognizer in recognizers}
        lowered = text.lower()
        given = {w.lower() for w in context or ()}
        for result in raw_results:
            metadata = result.recognition_metadata or {}
            recognizer = by_id.get(metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if (
                recognizer is None
                or not recognizer.context
                or metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY)
            ):
                continue
            word = context_word(lowered, result.start, context_search(tuple(recognizer.context)))
            if not word and given:
                word = next((w for w in recognizer.context if w.lower() in given), "")
            if word:
                result.score = enhanced_score(result.score, self)
                if result.analysis_explanation is not None:
                    result.analysis_explanation.set_supportive_context_word(word)
                    result.analysis_explanation.set_improved_score(result.score)
        return raw_results


class ChineseAnalyzerEngine(AnalyzerEngine):
    """Presidio's analyzer reading each text as :func:`~handover.pii.patterns.fold` writes it (full-width
    digits, numbers read out in numerals): the same length, so every offset found is the text's own."""

    def analyze(self, text: str, language: str, *args, **kwargs):
        return super().analyze(fold(text), language, *args, **kwargs)


@lru_cache(maxsize=1)
def _nlp_engine() -> ChineseNlpEngine:
    engine = ChineseNlpEngine()
    engine.load()
    return engine


def analyzer(deny_names: Iterable[str] = ()) -> AnalyzerEngine:
    """An analyzer for Chinese text with Handover's recognizers; ``deny_names`` (e.g. the branch's customer
    names) are found wherever they occur. The pipeline is built once; analyzers are cached per name set."""
    return _analyzer(frozenset(n for n in deny_names if isinstance(n, str)))


@lru_cache(maxsize=8)
def _analyzer(names: frozenset[str]) -> AnalyzerEngine:
    recognizers = standard_recognizers()
    if names:
        customers = CustomerNameRecognizer(names)
        recognizers.append(customers)
        for recognizer in recognizers:
            if isinstance(recognizer, NameRecognizer):
                recognizer.know(customers)  # what the deny list finds, the model need not read
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE])
    return ChineseAnalyzerEngine(
        registry=registry,
        nlp_engine=_nlp_engine(),
        supported_languages=[LANGUAGE],
        default_score_threshold=SCORE_THRESHOLD,
        context_aware_enhancer=WindowContextEnhancer(),
    )


def scan(
    text: str, analyzer: AnalyzerEngine, *, score_threshold: float | None = None
) -> list[tuple[str, int, int, float]]:
    """``(entity, start, end, score)`` for each PII span in ``text``, in text order."""
    try:
        results = analyzer.analyze(text=text, language=LANGUAGE, score_threshold=score_threshold)
    except Exception as exc:  # noqa: BLE001  (any failure: its message may quote the text)
        raise PiiScanError(
            f"PII analysis failed ({type(exc).__name__}) on a text of {len(text)} characters"
        ) from None
    return sorted(
        ((r.entity_type, r.start, r.end, r.score) for r in results), key=lambda t: (t[1], t[2], t[0])
    )
