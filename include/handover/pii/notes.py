"""Many notes at once: the free-text hot path.

:func:`~handover.pii.engine.scan` runs Presidio's whole analyzer on one note: the spaCy pipeline (jieba
segmentation, for the context words) and every recognizer — the name recognizer asking the model about
its open candidates note by note —, ~1.2 ms a note on notes written by others. :func:`find_pii_many`
runs the same recognizers, compiled once into a :class:`NoteAnalyzer`, and does far less work per note:

1. identical notes are analysed once, and what a :class:`NoteCache` remembers is not analysed again;
2. a pattern recognizer searches only where its cheap tests pass (``MIN_DIGITS`` ASCII digits, a
   ``PREFILTER`` such as an ``@``), and runs only where one search with its own patterns matches;
3. customer names are found by their recognizer's Aho-Corasick automaton, in one pass; the other names
   by :class:`~handover.pii.recognizers.names.NameRecognizer`, which reads each clause once (what a
   clause yields is remembered) and has the model settle the open candidates of a whole chunk of notes
   at once (:meth:`NoteAnalyzer.prepare`: batches of windows, each distinct window once);
4. jieba segments only what the context enhancer reads: the runs of text before a result, back to the
   fifth keyword (the enhancer looks five words back and none forward), between what is already found —
   identifiers and names are word boundaries, as punctuation is (jieba segments each run between
   punctuation on its own anyway). What it makes of a run is remembered;
5. a note's *skeleton* — the note with each span found replaced by one placeholder character — is
   remembered with which context words support a result at a position: staff write the same phrases
   all day, and with the names and numbers taken out, notes repeat. A span whose text could matter to
   the context enhancer (it holds a context word, or is a stop word) sends the note the direct way
   instead, with the same result;
6. the context enhancer runs only when a context word of a recognizer that found something is in the
   note (it never raises a score otherwise), with Presidio's rule but without its deep copy of every
   result;
7. big batches are split over all cores, this process working too (`_analyze_on_all_cores`).

None of these changes a finding: the fast path finds what a per-note run finds, and a score is only
ever higher (an identifier is one word to the context enhancer, so a context word glued to it counts).
``make bench`` measures the two side by side on the same notes, generated and hand-written by others
(recall against the notes' ground truth, and how many notes get identical findings); tests hold the fast
path to the per-note findings.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import jieba
import regex as re
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, PatternRecognizer
from presidio_analyzer import RecognizerResult as Found
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_anonymizer.operators import OperatorType
from spacy.attrs import IS_PUNCT, IS_STOP
from spacy.language import Language

from handover.crypto import FieldCipher, Hasher
from handover.pii.anonymize import Span, resolve_overlaps
from handover.pii.engine import LANGUAGE, PiiScanError, QuietContextEnhancer
from handover.pii.operators import anonymizer_engine
from handover.pii.patterns import fold
from handover.pii.policy import MaskingPolicy
from handover.pii.recognizers import name_model, names, person

# Below this many notes to analyse, this process is done before the others have started (the fork server's
# first start loads the pipeline: ~3 s) and would wait for them to stop.
POOL_MIN_NOTES = 50_000
_CHUNKS_PER_WORKER = 4
_CHUNK_NOTES = 2_000  # at most, per chunk: small enough that no process waits long for the last
# jieba's own block pattern: the segmenter cuts text into these runs first and treats each run on its own
_CUT_RUN = jieba.re_han_default
# stands for a span found, in a note's skeleton: a private-use character, outside jieba's runs (so a
# word boundary), not a stop word or punctuation (so a word to the context enhancer, as the span is)
_PLACEHOLDER = "\ue000"
_NO_DIGITS = str.maketrans("", "", "0123456789")

def _words_pattern(words: Iterable[str]) -> re.Pattern | None:
    """One search for any of ``words`` in a lower-cased note."""
    words = sorted({w.lower() for w in words if w}, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words)) if words else None


def _pattern_search(recognizer: EntityRecognizer) -> re.Pattern | None:
    """One search with all the patterns of a plain pattern recognizer (None: not one)."""
    if (
        isinstance(recognizer, PatternRecognizer)
        and type(recognizer).analyze is PatternRecognizer.analyze
        and recognizer.patterns
        and not recognizer.deny_list
    ):
        flags = recognizer.global_regex_flags
        return re.compile("|".join(f"(?:{p.regex})" for p in recognizer.patterns), flags=flags)
    return None


class _RunCache:
    """jieba's words of a run of text for the context enhancer, for the last ``maxsize`` runs (cleared
    when full: runs repeat, and a cleared cache refills in one batch)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._words: dict[str, tuple[tuple[str, int], ...]] = {}

    def words(self, run: str) -> tuple[tuple[str, int], ...]:
        """jieba's words of ``run`` (as the spaCy pipeline segments it), with their offsets."""
        words = self._words.get(run)
        if words is None:
            if len(self._words) >= self.maxsize:
                self._words.clear()
            found, offset = [], 0
            for word in jieba.cut(run):
                found.append((word, offset))
                offset += len(word)
            words = self._words[run] = tuple(found)
        return words


def _gaps(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The stretches of ``text`` outside ``spans`` (sorted, possibly overlapping)."""
    gaps, at = [], 0
    for start, end in spans:
        if start > at:
            gaps.append((at, start))
        at = max(at, end)
    if at < len(text):
        gaps.append((at, len(text)))
    return gaps


class NoteAnalyzer:
    """An analyzer's recognizers compiled for many notes (see the module's docstring). Recognizers of a
    kind it does not know run as the analyzer would run them, with the full spaCy pipeline."""

    def __init__(
        self, analyzer: AnalyzerEngine, *, run_cache: int = 200_000, skeleton_cache: int = 30_000
    ) -> None:
        self.analyzer = analyzer
        self.recognizers = analyzer.registry.get_recognizers(LANGUAGE, all_fields=True)
        self.signature = tuple(r.id for r in self.recognizers)
        self._patterns: list[tuple[re.Pattern | None, int, re.Pattern, EntityRecognizer]] = []
        self._customers: list[person.CustomerNameRecognizer] = []
        self._names: list[names.NameRecognizer] = []
        self._other: list[EntityRecognizer] = []
        for recognizer in self.recognizers:
            kind = type(recognizer)  # exact types: a subclass may analyse differently
            search = _pattern_search(recognizer)
            if search is not None:
                # a recognizer may name cheap tests that every match of its patterns passes: a search
                # (PREFILTER) and a least number of ASCII digits (MIN_DIGITS)
                self._patterns.append(
                    (
                        getattr(recognizer, "PREFILTER", None),
                        getattr(recognizer, "MIN_DIGITS", 0),
                        search,
                        recognizer,
                    )
                )
            elif kind is person.CustomerNameRecognizer:
                self._customers.append(recognizer)
            elif kind is names.NameRecognizer:
                self._names.append(recognizer)
            else:
                self._other.append(recognizer)
        self._by_id = {r.id: r for r in self.recognizers}
        self._context = {r.id: _words_pattern(r.context or ()) for r in self.recognizers}
        # our own enhancer and no recognizer-level one: the fast emulation of both applies
        self._quiet_enhancer = (
            type(analyzer.context_aware_enhancer) is QuietContextEnhancer
            and isinstance(analyzer.nlp_engine, SpacyNlpEngine)
        ) and all(
            type(r).enhance_using_context is EntityRecognizer.enhance_using_context for r in self.recognizers
        )
        self._keywords: dict[str, tuple[str, ...]] = {}
        self._any_context = _words_pattern(w for r in self.recognizers for w in (r.context or ()))
        self._skeletons: dict[str, _Skeleton] = {}
        self._skeleton_cache = skeleton_cache
        self._thresholds = {r.id: r.score_thresholds or {} for r in self.recognizers}
        self._runs = _RunCache(run_cache)

    def current(self) -> bool:
        """Whether the analyzer still has the recognizers this was compiled from."""
        return self.signature == tuple(
            r.id for r in self.analyzer.registry.get_recognizers(LANGUAGE, all_fields=True)
        )

    def prepare(self, notes: Sequence[str]) -> None:
        """Let the name recognizers settle the open candidates of many notes in the model's batches
        (:meth:`analyze` then finds them remembered)."""
        if self._names:
            try:
                folded = [fold(note) for note in notes]
                for recognizer in self._names:
                    recognizer.prepare(folded)
            except Exception as exc:  # noqa: BLE001  (any failure: its message may quote the text)
                raise PiiScanError(
                    f"PII analysis failed ({type(exc).__name__}) on a batch of {len(notes)} texts"
                ) from None

    def analyze(self, note: str) -> list[Span]:
        """``(entity, start, end, score)`` for each PII span in ``note``, in text order."""
        try:
            return self._analyze(note)
        except Exception as exc:  # noqa: BLE001  (any failure: its message may quote the text)
            raise PiiScanError(
                f"PII analysis failed ({type(exc).__name__}) on a text of {len(note)} characters"
            ) from None

    def _analyze(self, note: str) -> list[Span]:
        note = fold(note)  # as the analyzer reads it (same length: the offsets are the note's own)
        raw: list = []
        digits = len(note) - len(note.translate(_NO_DIGITS))
        for prefilter, min_digits, search, recognizer in self._patterns:
            if (
                digits >= min_digits
                and (prefilter is None or prefilter.search(note) is not None)
                and search.search(note) is not None
            ):
                raw.extend(recognizer.analyze(note, recognizer.supported_entities, None))
        for recognizer in self._customers:
            raw.extend(recognizer.analyze(note, recognizer.supported_entities, None))
        for recognizer in self._names:
            raw.extend(person.person_result(recognizer, *span) for span in recognizer.found(note))
        found = sorted((r.start, r.end) for r in raw)
        if self._quiet_enhancer and not self._other:
            merged = _gaps(note, _gaps(note, found))  # the spans found, merged where they overlap
            if all(self._plain_span(note[start:end]) for start, end in merged):
                return self._by_skeleton(note, raw, merged)
        return self._direct(note, raw, found)

    def _direct(self, note: str, raw: list, found: list[tuple[int, int]]) -> list[Span]:
        """The rest of the analysis on the note itself."""
        artifacts = None
        if self._other:
            artifacts = self.analyzer.nlp_engine.process_text(note, LANGUAGE)
            for recognizer in self._other:
                results = recognizer.analyze(note, recognizer.supported_entities, artifacts)
                for result in results or ():
                    metadata = result.recognition_metadata = result.recognition_metadata or {}
                    metadata.setdefault(Found.RECOGNIZER_IDENTIFIER_KEY, recognizer.id)
                    metadata.setdefault(Found.RECOGNIZER_NAME_KEY, recognizer.name)
                    raw.append(result)
        if not raw:
            return []
        if self._wants_context(note, raw):
            if self._quiet_enhancer:
                words = artifacts or self._artifacts(note, found)
                enhancer = self.analyzer.context_aware_enhancer
                self._enhance(
                    raw,
                    lambda result, recognizer: enhancer._find_supportive_word_in_context(
                        enhancer._extract_surrounding_words(
                            words, note[result.start : result.end], result.start
                        ),
                        recognizer.context,
                        enhancer.context_matching_mode,
                    ),
                )
            else:
                artifacts = artifacts or self._artifacts(note, found).as_nlp_artifacts(self.analyzer)
                raw = self.analyzer._enhance_using_context(note, raw, artifacts, self.recognizers, None)
        return self._kept(raw)

    def _plain_span(self, text: str) -> bool:
        """Whether a span found can stand in a skeleton as one placeholder: as a word for the context
        enhancer it holds no context word and is a keyword (not a stop word or punctuation, no colon)."""
        if ":" in text or (self._any_context is not None and self._any_context.search(text.lower()) is not None):
            return False
        # spaCy's own tests; its vocabulary differs from them only for the context words (made not stop
        # words), and the text holds none
        getters = self.analyzer.nlp_engine.nlp[LANGUAGE].vocab.lex_attr_getters
        return not getters[IS_STOP](text) and not getters[IS_PUNCT](text)

    def _by_skeleton(self, note: str, raw: list, merged: list[tuple[int, int]]) -> list[Span]:
        """The rest of the analysis on the note's skeleton — the note with each span found replaced by
        one placeholder character — which is remembered: staff notes repeat their phrasing, and what
        jieba finds and which context words count depend only on the skeleton (every span found is one
        word to the enhancer, and `_plain_span` made sure its text changes nothing there)."""
        parts: list[str] = []
        segments: list[tuple[int, int, int]] = []  # (note start, note end, skeleton start) of the text kept
        holders: list[int] = []  # the skeleton position of each placeholder
        at = length = 0
        for start, end in merged:
            if start > at:
                parts.append(note[at:start])
                segments.append((at, start, length))
                length += start - at
            parts.append(_PLACEHOLDER)
            holders.append(length)
            length += 1
            at = end
        if at < len(note):
            parts.append(note[at:])
            segments.append((at, len(note), length))
        skeleton = "".join(parts)
        entry = self._skeletons.get(skeleton)
        if entry is None:
            if len(self._skeletons) >= self._skeleton_cache:
                self._skeletons.clear()
            entry = self._skeletons[skeleton] = _Skeleton()

        def to_skeleton(position: int) -> int:
            for holder, (start, end) in zip(holders, merged, strict=True):
                if start <= position < end:
                    return holder
            for start, end, offset in segments:
                if start <= position < end:
                    return offset + position - start
            return length

        if self._wants_context(note, raw):
            enhancer = self.analyzer.context_aware_enhancer
            backward = enhancer.context_suffix_count == 0
            if entry.words is None and not backward:
                entry.words = self._artifacts(skeleton, [])

            def support(result, recognizer) -> str:
                position = to_skeleton(result.start)
                key = (recognizer.id, position)
                word = entry.support.get(key)
                if word is None:
                    words = (
                        self._words_before(skeleton, position, enhancer.context_prefix_count)
                        if backward
                        else enhancer._extract_surrounding_words(entry.words, "", position)
                    )
                    word = entry.support[key] = enhancer._find_supportive_word_in_context(
                        words, recognizer.context, enhancer.context_matching_mode
                    )
                return word

            self._enhance(raw, support)
        return self._kept(raw)

    def _kept(self, raw: list) -> list[Span]:
        """What the analyzer returns of the results: above their thresholds, without duplicates."""
        kept = [r for r in raw if r.score >= self._threshold(r)]
        if len(kept) == 1 and kept[0].score > 0:  # what remove_duplicates would make of it
            r = kept[0]
            return [(r.entity_type, r.start, r.end, r.score)]
        return sorted(_without_duplicates(kept), key=lambda t: (t[1], t[2], t[0]))

    def _threshold(self, result) -> float:
        """As the analyzer decides it: the recognizer's threshold for the entity, its default, the engine's."""
        metadata = result.recognition_metadata or {}
        thresholds = self._thresholds.get(metadata.get(Found.RECOGNIZER_IDENTIFIER_KEY), {})
        threshold = thresholds.get(result.entity_type, thresholds.get("default"))
        return self.analyzer.default_score_threshold if threshold is None else threshold

    def _wants_context(self, note: str, raw: list) -> bool:
        """Whether a context word of a recognizer that found something is in the note: the enhancer
        matches context words as substrings of the (lower-cased) words of the note, so without one it
        changes no score."""
        lowered = note.lower()
        ids = {(r.recognition_metadata or {}).get(Found.RECOGNIZER_IDENTIFIER_KEY) for r in raw}
        return any(
            (search := self._context.get(rid)) is not None and search.search(lowered) is not None
            for rid in ids
        )

    def _enhance(self, raw: list, support: Callable) -> None:
        """What Presidio's ``_enhance_using_context`` does with our enhancer, in place (the results are
        this note's own; Presidio deep-copies them first, which costs more than the rest together).
        ``support(result, recognizer)`` is the context word that supports a result, or ``""``."""
        enhancer = self.analyzer.context_aware_enhancer
        for result in raw:
            metadata = result.recognition_metadata or {}
            recognizer = self._by_id.get(metadata.get(Found.RECOGNIZER_IDENTIFIER_KEY))
            if (
                recognizer is None
                or not recognizer.context
                or metadata.get(Found.IS_SCORE_ENHANCED_BY_CONTEXT_KEY)
            ):
                continue
            word = support(result, recognizer)
            if word != "":
                result.score = min(
                    max(
                        result.score + enhancer.context_similarity_factor,
                        enhancer.min_score_with_context_similarity,
                    ),
                    enhancer.MAX_SCORE,
                )
                if result.analysis_explanation is not None:
                    result.analysis_explanation.set_supportive_context_word(word)
                    result.analysis_explanation.set_improved_score(result.score)

    def _artifacts(self, note: str, found: list[tuple[int, int]]) -> _Words:
        """The words of the note for the context enhancer: jieba's words of each run between the spans
        found, each span found one word, other characters one word each (spaces none, as in spaCy)."""
        pieces: list[tuple[str, int]] = []
        gaps = _gaps(note, found)
        spans = _gaps(note, gaps)  # the found spans, merged where they overlap
        for start, end, is_gap in sorted(
            [(s, e, True) for s, e in gaps] + [(s, e, False) for s, e in spans]
        ):
            if not is_gap:
                pieces.append((note[start:end], start))
                continue
            at = start
            for match in _CUT_RUN.finditer(note, start, end):
                pieces.extend((c, i) for i, c in enumerate(note[at : match.start()], at) if not c.isspace())
                pieces.extend((w, match.start() + o) for w, o in self._runs.words(match.group()))
                at = match.end()
            pieces.extend((c, i) for i, c in enumerate(note[at:end], at) if not c.isspace())
        tokens = [p for p, _ in pieces]
        keywords: set[str] = set()
        for token in set(tokens):
            keywords.update(self._keyword(token))
        return _Words(tokens, [i for _, i in pieces], tokens, keywords)

    def _words_before(self, skeleton: str, position: int, count: int) -> list[str]:
        """What Presidio's enhancer collects around a result at ``position`` of a skeleton when it looks
        only backwards (suffix count 0): the result's own word and the ``count`` keywords before it —
        segmenting only the runs it reaches, from the result back (a run's words do not depend on the
        text around it, and no run crosses a placeholder). A word counts when it is a keyword: not a stop
        word or punctuation (jieba's runs hold no colon, so a word's keyword is the word)."""
        words: list[str] = []

        def take(token: str) -> bool:
            if self._keyword(token):
                words.append(token.lower())
            return len(words) > count  # the result's own word and ``count`` more

        if position < len(skeleton):
            take(skeleton[position])
        at = position
        for match in reversed(list(_CUT_RUN.finditer(skeleton, 0, position))):
            for i in range(at - 1, match.end() - 1, -1):
                if not skeleton[i].isspace() and take(skeleton[i]):
                    return list(set(words))
            for word, _ in reversed(self._runs.words(match.group())):
                if take(word):
                    return list(set(words))
            at = match.start()
        for i in range(at - 1, -1, -1):
            if not skeleton[i].isspace() and take(skeleton[i]):
                break
        return list(set(words))

    def _keyword(self, token: str) -> tuple[str, ...]:
        parts = self._keywords.get(token)
        if parts is None:
            if len(self._keywords) >= self._runs.maxsize:
                self._keywords.clear()
            parts = self._keywords[token] = _keyword_parts(token, self.analyzer.nlp_engine.nlp[LANGUAGE])
        return parts


def _without_duplicates(results: list) -> list[Span]:
    """Presidio's ``EntityRecognizer.remove_duplicates`` on ``(entity, start, end, score)`` tuples (its own
    builds, hashes and sorts a result object per finding — a fifth of this path's time): no zero scores,
    no duplicates, no result that another of its entity contains with an equal or higher score."""
    spans = sorted(
        {(r.entity_type, r.start, r.end, r.score) for r in results if r.score != 0},
        key=lambda t: (t[0], t[1], t[1] - t[2], -t[3]),
    )
    kept: list[Span] = []
    active: list[Span] = []
    entity = None
    for span in spans:
        if span[0] != entity:
            entity, active = span[0], []
        active = [a for a in active if a[2] >= span[1]]
        if not any(a[1] <= span[1] and span[2] <= a[2] and span[3] <= a[3] for a in active):
            kept.append(span)
            active.append(span)
    return kept


def _keyword_parts(token: str, nlp: Language) -> tuple[str, ...]:
    """What Presidio's ``NlpArtifacts.set_keywords`` makes of one lemma: nothing for a stop word or
    punctuation, else its lower case split at colons. Stop word and punctuation as spaCy's vocabulary
    says, without adding the word to it (a vocabulary that grew with every name and number seen)."""
    if token in nlp.vocab:
        lexeme = nlp.vocab[token]
        stop, punct = lexeme.is_stop, lexeme.is_punct
    else:
        getters = nlp.vocab.lex_attr_getters
        stop, punct = bool(getters[IS_STOP](token)), bool(getters[IS_PUNCT](token))
    if stop or punct or token in ("-PRON-", "be"):
        return ()
    return tuple(token.lower().split(":"))


@dataclass
class _Skeleton:
    """What a skeleton yields, once asked for: its words for the context enhancer and which context word
    supports a result at a position."""

    words: _Words | None = None
    support: dict[tuple[str, int], str] = field(default_factory=dict)


@dataclass
class _Words:
    """The parts of Presidio's ``NlpArtifacts`` the context enhancer reads (keywords as a set)."""

    tokens: list[str]
    tokens_indices: list[int]
    lemmas: list[str]
    keywords: set[str]

    def as_nlp_artifacts(self, analyzer: AnalyzerEngine) -> NlpArtifacts:
        return NlpArtifacts(
            entities=[],
            tokens=self.tokens,
            tokens_indices=self.tokens_indices,
            lemmas=self.lemmas,
            nlp_engine=analyzer.nlp_engine,
            language=LANGUAGE,
        )


class NoteCache:
    """The findings of the last ``maxsize`` distinct notes (least recently used out first)."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.maxsize = maxsize
        self._spans: OrderedDict[str, list[Span]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._spans)

    def get(self, note: str) -> list[Span] | None:
        spans = self._spans.get(note)
        if spans is not None:
            self._spans.move_to_end(note)
        return spans

    def put(self, note: str, spans: list[Span]) -> None:
        self._spans[note] = spans
        self._spans.move_to_end(note)
        while len(self._spans) > self.maxsize:
            self._spans.popitem(last=False)


_COMPILED: weakref.WeakKeyDictionary[AnalyzerEngine, NoteAnalyzer] = weakref.WeakKeyDictionary()


def note_analyzer(analyzer: AnalyzerEngine) -> NoteAnalyzer:
    """The analyzer compiled for many notes (kept per analyzer with its run cache; recompiled when the
    analyzer's recognizers change)."""
    compiled = _COMPILED.get(analyzer)
    if compiled is None or not compiled.current():
        compiled = _COMPILED[analyzer] = NoteAnalyzer(analyzer)
    return compiled


def forget(analyzer: AnalyzerEngine) -> None:
    """Drop everything the analysis of notes remembers — the compiled analyzer with its run and skeleton
    caches, the name recognizers' clauses, the model's settled windows — so that a benchmark's next run
    starts cold."""
    _COMPILED.pop(analyzer, None)
    for recognizer in analyzer.registry.recognizers:
        if isinstance(recognizer, names.NameRecognizer):
            recognizer.forget()
    name_model.forget()


def _analyze_distinct(notes: Sequence[str], analyzer: AnalyzerEngine) -> list[list[Span]]:
    """Findings for distinct notes, in one process."""
    compiled = note_analyzer(analyzer)
    found: list[list[Span]] = []
    for at in range(0, len(notes), _CHUNK_NOTES):  # the model's batches, and what waits for them, bounded
        chunk = notes[at : at + _CHUNK_NOTES]
        compiled.prepare(chunk)
        found.extend(compiled.analyze(note) for note in chunk)
    return found


# A worker's own analyzer, built by `_start_worker` from the customer names alone.
_WORKER: AnalyzerEngine | None = None


def _customer_names(analyzer: AnalyzerEngine) -> frozenset[str] | None:
    """The customer names an analyzer made by `engine.analyzer` was built with; None for any other analyzer
    (a worker could not rebuild it, so such an analyzer runs in this process only)."""
    from handover.pii import engine

    names: frozenset[str] = frozenset()
    for recognizer in analyzer.registry.recognizers:
        if isinstance(recognizer, person.CustomerNameRecognizer):
            names = recognizer.names
    return names if engine.analyzer(names) is analyzer and note_analyzer(analyzer).current() else None


def _start_worker(names: frozenset[str]) -> None:
    from handover.pii import engine

    global _WORKER
    _WORKER = engine.analyzer(names)


def _analyze_in_worker(notes: list[str]) -> list[list[Span]]:
    assert _WORKER is not None, "worker started without its analyzer"
    return _analyze_distinct(notes, _WORKER)


def _ready() -> bool:
    return _WORKER is not None


def _pool(processes: int, analyzer: AnalyzerEngine, names: frozenset[str]) -> ProcessPoolExecutor:
    """Worker processes with the analyzer. Forked from this process when it runs no other thread (a
    fork copies only the thread that forks, and with it any lock another thread held): they start at
    once, with the analyzer and its caches. Otherwise from a fork server, a clean process that has the
    pipeline loaded (:mod:`handover.pii.preload`; its first start takes ~3 s); each builds its own
    analyzer from the customer names."""
    global _WORKER
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        _WORKER = analyzer  # what the children inherit
        return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["handover.pii.preload"])  # no effect once the server runs
    return ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker, initargs=(names,))


def _analyze_on_all_cores(
    notes: list[str], analyzer: AnalyzerEngine, names: frozenset[str], workers: int
) -> list[list[Span]]:
    """The notes split over this process and ``workers - 1`` others, in chunks taken from both ends of
    one list: this process starts on the notes at once, from the front; the others take chunks from
    the back once they have started (see `_pool`). A thread here hands them their chunks, so starting
    them never holds this process up."""
    size = max(64, min(_CHUNK_NOTES, -(-len(notes) // (workers * _CHUNKS_PER_WORKER))))
    chunks = deque(range(0, len(notes), size))
    lock = threading.Lock()
    parts: dict[int, list[list[Span]]] = {}
    failure: list[BaseException] = []

    def take(from_back: bool) -> int | None:
        with lock:
            return (chunks.pop() if from_back else chunks.popleft()) if chunks else None

    pool = _pool(workers - 1, analyzer, names)
    started = pool.submit(_ready)  # in this thread: a fork happens here, before any thread of ours starts

    def feed() -> None:
        try:
            # started (one of them, at least) before it gets any notes: none wait for a slow start
            started.result()
            running: dict = {}
            while True:
                while len(running) < 2 * (workers - 1) and (at := take(True)) is not None:
                    running[pool.submit(_analyze_in_worker, notes[at : at + size])] = at
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    parts[running.pop(future)] = future.result()
        except BaseException as exc:  # noqa: BLE001  (handed to the caller's thread)
            failure.append(exc)

    feeder = threading.Thread(target=feed, name="handover-notes-feeder", daemon=True)
    feeder.start()
    while (at := take(False)) is not None:
        parts[at] = _analyze_distinct(notes[at : at + size], analyzer)
    feeder.join()
    pool.shutdown()
    if failure:
        raise failure[0]
    return [spans for at in sorted(parts) for spans in parts[at]]


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def find_pii_many(
    notes: Sequence[str | None],
    analyzer: AnalyzerEngine,
    *,
    workers: int | None = None,
    cache: NoteCache | None = None,
) -> list[list[Span]]:
    """For each note, what :func:`~handover.pii.engine.scan` finds in it (``[]`` for an empty note or
    ``None``). ``workers``: processes for a big batch (default: all cores; 1: this process only).
    ``cache`` keeps findings across calls."""
    workers = _default_workers() if workers is None else max(1, workers)
    found: dict[str, list[Span]] = {}
    todo: list[str] = []
    for note in notes:
        if not note or note in found:
            continue
        remembered = cache.get(note) if cache is not None else None
        found[note] = remembered if remembered is not None else []
        if remembered is None:
            todo.append(note)
    if todo:
        names = _customer_names(analyzer) if workers > 1 and len(todo) >= POOL_MIN_NOTES else None
        if names is not None:
            results = _analyze_on_all_cores(todo, analyzer, names, workers)
        else:
            results = _analyze_distinct(todo, analyzer)
        for note, spans in zip(todo, results, strict=True):
            found[note] = spans
            if cache is not None:
                cache.put(note, spans)
    return [list(found[note]) if note else [] for note in notes]


def _replace_spans(
    note: str, spans: list[Span], configs: dict, replacements: dict[tuple[str, str], str]
) -> str:
    """What Presidio's ``AnonymizerEngine.anonymize`` makes of a note with these (non-overlapping) spans:
    each replaced by its entity's operator (``DEFAULT``'s if it has none), called as the engine calls it
    (``entity_type`` among the params, validated first) — once per distinct (entity, span), not once per
    note through the engine's conflict resolution and text builder, which cost as much as finding them."""
    pieces, at = [], 0
    for entity, start, end, _ in sorted(spans, key=lambda s: s[1]):
        text = note[start:end]
        replacement = replacements.get((entity, text))
        if replacement is None:
            config = configs.get(entity) or configs["DEFAULT"]
            operator = anonymizer_engine().operators_factory.create_operator_class(
                config.operator_name, OperatorType.Anonymize
            )
            params = dict(config.params)
            params["entity_type"] = entity
            operator.validate(params=params)
            replacement = replacements[(entity, text)] = operator.operate(params=params, text=text)
        pieces += [note[at:start], replacement]
        at = end
    pieces.append(note[at:])
    return "".join(pieces)


def anonymize_many(
    notes: Sequence[str | None],
    analyzer: AnalyzerEngine,
    policy: MaskingPolicy | None = None,
    *,
    hasher: Hasher | None = None,
    cipher: FieldCipher | None = None,
    column: str = "text",
    workers: int | None = None,
    cache: NoteCache | None = None,
) -> list[str | None]:
    """Each note with what :func:`find_pii_many` finds in it replaced by the policy's operator for its
    entity — as :func:`~handover.pii.anonymize.anonymize_text` replaces what it finds. Identical notes are
    masked once, and each distinct span once."""
    spans = find_pii_many(notes, analyzer, workers=workers, cache=cache)
    policy = policy or MaskingPolicy()
    configs = None
    replacements: dict[tuple[str, str], str] = {}  # (entity, span) → what the policy makes of it
    masked: dict[str, str] = {}
    out: list[str | None] = []
    for note, found in zip(notes, spans, strict=True):
        if not note or not found:
            out.append(note)
            continue
        if note not in masked:
            if configs is None:
                configs = policy.text_operators(hasher=hasher, cipher=cipher, column=column)
            try:
                masked[note] = _replace_spans(note, resolve_overlaps(found), configs, replacements)
            except Exception as exc:  # noqa: BLE001  (an operator's message may quote the span)
                raise PiiScanError(
                    f"{column}: anonymising a text of {len(note)} characters failed ({type(exc).__name__})"
                ) from None
        out.append(masked[note])
    return out
