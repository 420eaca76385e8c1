"""Many notes at once: the free-text hot path, with the same findings as :func:`~handover.pii.engine.scan`.

:func:`~handover.pii.engine.scan` runs the whole analyzer on one note: the spaCy pipeline (jieba
segmentation, for the context words), jieba's part-of-speech tagger (for the name recognizers) and every
recognizer. :func:`find_pii_many` gets the same ``(entity, start, end, score)`` lists for a batch of notes
and does less work for each:

1. identical notes are analysed once, and what a :class:`NoteCache` remembers is not analysed again;
2. :class:`Triggers`, read off the analyzer's own recognizers, tells which entities a note *can* yield.
   A note that can yield none is done; otherwise the analyzer runs with only the recognizers of the
   entities that can occur (jieba's tagger never runs on a note with no name trigger);
3. the spaCy pipeline runs (batched, ``nlp.pipe``) only on notes that contain a context word of a
   recognizer in play: the context enhancer only ever raises a score when one of those words is among
   the words before a match, so without one the result cannot depend on the segmentation;
4. big batches are split over all cores (worker processes from a fork server, each with its own analyzer).

Why the triggers cannot lose a finding (a result reaches the caller only with a score ≥ the threshold):

- a pattern recognizer reports nothing unless one of its patterns matches; the trigger *is* a search
  with the recognizer's own compiled patterns and flags;
- a customer name is reported only where the customer-name recognizer finds it; the trigger is that
  recognizer's own lookup;
- every other name result needs a common surname (single or compound) in the note, or scores 0.3
  (a jieba name without a surname), which passes the threshold only with a name context word before
  it, so that word is in the note. Context words are matched lower-cased as substrings of the words
  before a match, and those words are substrings of the note: the trigger looks for each context word
  in the lower-cased note;
- a recognizer of any other kind is always in play and always gets the spaCy pipeline.
Recognizers left out of a run change nothing else: the analyzer drops low scores before it merges
overlapping results, and a recognizer out of play has no result that survives that.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import regex as re
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, PatternRecognizer
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_anonymizer.entities import RecognizerResult

from handover.crypto import FieldCipher, Hasher
from handover.pii.anonymize import Span, resolve_overlaps
from handover.pii.engine import LANGUAGE, PiiScanError
from handover.pii.operators import anonymizer_engine
from handover.pii.policy import MaskingPolicy
from handover.pii.recognizers import person

# Below this many notes to analyse, starting workers (each builds its analyzer) costs more than it saves.
POOL_MIN_NOTES = 20_000
_CHUNKS_PER_WORKER = 4
_SURNAME = re.compile(
    "|".join(sorted(person.COMPOUND_SURNAMES)) + "|[" + "".join(sorted(person.SURNAMES)) + "]"
)
# what the context enhancer sees without the spaCy pipeline: no words, so no context word
_NO_WORDS = NlpArtifacts(
    entities=[], tokens=[], tokens_indices=[], lemmas=[], nlp_engine=None, language=LANGUAGE
)


def _words_pattern(words: Iterable[str]) -> re.Pattern | None:
    """One search for any of ``words`` in a lower-cased note."""
    words = sorted({w.lower() for w in words if w}, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words)) if words else None


@dataclass(frozen=True)
class _Trigger:
    """When one recognizer can report something, and which words would raise its score."""

    recognizer: EntityRecognizer
    kind: str  # "pattern" | "customer" | "surname" | "jieba" | "always"
    search: re.Pattern | None  # the recognizer's own patterns, for "pattern"
    context: re.Pattern | None

    def fires(self, note: str, lowered: str) -> bool:
        if self.kind == "pattern":
            return self.search is not None and self.search.search(note) is not None
        if self.kind == "customer":
            return bool(self.recognizer.analyze(note, [person.ENTITY]))
        if self.kind == "surname":
            return _SURNAME.search(note) is not None
        if self.kind == "jieba":  # 0.5 with a surname; 0.3 (under the threshold) unless a context word helps
            return _SURNAME.search(note) is not None or (
                self.context is not None and self.context.search(lowered) is not None
            )
        return True

    def wants_words(self, lowered: str) -> bool:
        """Whether the context enhancer could find one of this recognizer's words in the note."""
        if self.kind == "always":
            return True
        return self.context is not None and self.context.search(lowered) is not None


def _trigger(recognizer: EntityRecognizer) -> _Trigger:
    context = _words_pattern(recognizer.context or ())
    # exact types: a subclass may analyse differently, and then only "always" is safe
    if type(recognizer) is person.CustomerNameRecognizer:
        return _Trigger(recognizer, "customer", None, context)
    if type(recognizer) is person.SurnameRecognizer:
        return _Trigger(recognizer, "surname", None, context)
    if type(recognizer) is person.JiebaPersonRecognizer:
        return _Trigger(recognizer, "jieba", None, context)
    if (
        isinstance(recognizer, PatternRecognizer)
        and type(recognizer).analyze is PatternRecognizer.analyze
        and recognizer.patterns
        and not recognizer.deny_list
    ):
        flags = recognizer.global_regex_flags
        search = re.compile("|".join(f"(?:{p.regex})" for p in recognizer.patterns), flags=flags)
        return _Trigger(recognizer, "pattern", search, context)
    return _Trigger(recognizer, "always", None, context)


class Triggers:
    """The prefilter: for one analyzer, which entities a note can yield and whether it needs the spaCy
    pipeline for context words. Read off the analyzer's recognizers, so it follows them."""

    def __init__(self, analyzer: AnalyzerEngine) -> None:
        self._triggers = [_trigger(r) for r in analyzer.registry.get_recognizers(LANGUAGE, all_fields=True)]

    def plan(self, note: str) -> tuple[tuple[str, ...], bool]:
        """``(entities in play, needs the spaCy pipeline)``; no entities: nothing can be found."""
        lowered = note.lower()
        entities: set[str] = set()
        for trigger in self._triggers:
            if trigger.fires(note, lowered):
                entities.update(trigger.recognizer.supported_entities)
        # every recognizer of an entity in play runs, and any of them may have its score raised
        words = bool(entities) and any(
            t.wants_words(lowered)
            for t in self._triggers
            if entities.intersection(t.recognizer.supported_entities)
        )
        return tuple(sorted(entities)), words


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


def _as_spans(results: Iterable) -> list[Span]:
    return sorted(
        ((r.entity_type, r.start, r.end, r.score) for r in results), key=lambda t: (t[1], t[2], t[0])
    )


def _analyze_distinct(notes: Sequence[str], analyzer: AnalyzerEngine, triggers: Triggers) -> list[list[Span]]:
    """Findings for distinct notes, in one process."""
    plans = [triggers.plan(note) for note in notes]
    needs_words = [note for note, (entities, words) in zip(notes, plans, strict=True) if entities and words]
    artifacts: dict[str, NlpArtifacts] = {}
    if needs_words:
        batch = analyzer.nlp_engine.process_batch(needs_words, LANGUAGE, batch_size=256)
        artifacts = {note: found for note, found in batch}
    out: list[list[Span]] = []
    for note, (entities, words) in zip(notes, plans, strict=True):
        if not entities:
            out.append([])
            continue
        try:
            results = analyzer.analyze(
                text=note,
                language=LANGUAGE,
                entities=list(entities),
                nlp_artifacts=artifacts[note] if words else _NO_WORDS,
            )
        except Exception as exc:  # noqa: BLE001  (any failure: its message may quote the text)
            raise PiiScanError(
                f"PII analysis failed ({type(exc).__name__}) on a text of {len(note)} characters"
            ) from None
        out.append(_as_spans(results))
    return out


# A worker's own analyzer and triggers, built by `_start_worker` from the customer names alone.
_WORKER: tuple[AnalyzerEngine, Triggers] | None = None


def _customer_names(analyzer: AnalyzerEngine) -> frozenset[str] | None:
    """The customer names an analyzer made by `engine.analyzer` was built with; None for any other analyzer
    (a worker could not rebuild it, so such an analyzer runs in this process only)."""
    from handover.pii import engine

    names: frozenset[str] = frozenset()
    for recognizer in analyzer.registry.recognizers:
        if isinstance(recognizer, person.CustomerNameRecognizer):
            names = recognizer.names
    return names if engine.analyzer(names) is analyzer else None


def _start_worker(names: frozenset[str]) -> None:
    from handover.pii import engine

    global _WORKER
    built = engine.analyzer(names)
    _WORKER = (built, Triggers(built))


def _analyze_in_worker(notes: list[str]) -> list[list[Span]]:
    assert _WORKER is not None, "worker started without its analyzer"
    return _analyze_distinct(notes, *_WORKER)


def _analyze_on_all_cores(notes: list[str], names: frozenset[str], workers: int) -> list[list[Span]]:
    """The notes split over `workers` processes. They start from a fork server — a clean process — never
    forked from this one, which may hold threads (and their locks) that a fork would copy mid-flight; each
    builds its own analyzer from the customer names (a few seconds, so only for big batches)."""
    size = max(64, -(-len(notes) // (workers * _CHUNKS_PER_WORKER)))
    chunks = [notes[i : i + size] for i in range(0, len(notes), size)]
    context = multiprocessing.get_context("forkserver")
    with context.Pool(workers, initializer=_start_worker, initargs=(names,)) as pool:
        parts = pool.map(_analyze_in_worker, chunks, chunksize=1)
    return [spans for part in parts for spans in part]


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
    triggers: Triggers | None = None,
) -> list[list[Span]]:
    """For each note, what :func:`~handover.pii.engine.scan` finds in it (``[]`` for an empty note or
    ``None``). ``workers``: processes for a big batch (default: all cores; 1: this process only).
    ``cache`` keeps findings across calls; ``triggers`` may be passed to reuse them across calls."""
    triggers = triggers or Triggers(analyzer)
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
            results = _analyze_on_all_cores(todo, names, workers)
        else:
            results = _analyze_distinct(todo, analyzer, triggers)
        for note, spans in zip(todo, results, strict=True):
            found[note] = spans
            if cache is not None:
                cache.put(note, spans)
    return [list(found[note]) if note else [] for note in notes]


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
    """Each note as :func:`~handover.pii.anonymize.anonymize_text` would return it. Identical notes are
    masked once (as :func:`~handover.pii.anonymize.apply_column` does for a column's distinct values)."""
    spans = find_pii_many(notes, analyzer, workers=workers, cache=cache)
    policy = policy or MaskingPolicy()
    configs = None
    masked: dict[str, str] = {}
    out: list[str | None] = []
    for note, found in zip(notes, spans, strict=True):
        if not note or not found:
            out.append(note)
            continue
        if note not in masked:
            if configs is None:
                configs = policy.text_operators(hasher=hasher, cipher=cipher, column=column)
            results = [RecognizerResult(e, s, t, score) for e, s, t, score in resolve_overlaps(found)]
            try:
                masked[note] = (
                    anonymizer_engine()
                    .anonymize(
                        text=note,
                        analyzer_results=results,
                        operators=configs,
                        merge_entities_with_spaces=False,
                    )
                    .text
                )
            except Exception as exc:  # noqa: BLE001  (an operator's message may quote the span)
                raise PiiScanError(
                    f"{column}: anonymising a text of {len(note)} characters failed ({type(exc).__name__})"
                ) from None
        out.append(masked[note])
    return out
