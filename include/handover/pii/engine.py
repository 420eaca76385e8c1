"""The analyzer: Presidio on a Chinese spaCy pipeline made in code, with Handover's recognizers only.

Presidio's default engine loads (and, if missing, downloads) a trained spaCy model. Here the pipeline is
``spacy.blank("zh")`` with the jieba segmenter — shipped with spaCy and jieba, nothing to fetch — plus a
component that sets each token's lemma to its text. Presidio's context enhancer compares lemmas of the
words before a match with each recognizer's context words, so without lemmas no context word would ever
count; and context words that spaCy lists as Chinese stop words (先生, 号码 …) are un-stopped for the same
reason. Presidio's enhancer logs the surrounding words at debug level; ours does not (they are customer
text), and :func:`scan` never lets a message that may quote the text escape.

:func:`analyzer` builds the engine (cached per set of customer names); :func:`scan` runs it on one text.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import spacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
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


class QuietContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's lemma enhancer without its debug log of the surrounding words (they are customer text)."""

    def _extract_surrounding_words(self, nlp_artifacts: NlpArtifacts, word: str, start: int) -> list[str]:
        if not nlp_artifacts.tokens:
            return [""]
        keywords = nlp_artifacts.keywords
        index = self._find_index_of_match_token(
            word, start, nlp_artifacts.tokens, nlp_artifacts.tokens_indices
        )
        before = self._add_n_words_backward(index, self.context_prefix_count, nlp_artifacts.lemmas, keywords)
        after = self._add_n_words_forward(index, self.context_suffix_count, nlp_artifacts.lemmas, keywords)
        return list(set(before + after))


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
        context_aware_enhancer=QuietContextEnhancer(context_prefix_count=5, context_suffix_count=0),
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
