"""Many notes at once: the free-text hot path.

:func:`~handover.pii.engine.scan` runs Presidio's whole analyzer on one note: the spaCy pipeline (jieba
segmentation, which no recognizer reads any more) and every recognizer — the name recognizer asking the
model about its open candidates note by note —, building a result object per match, deep-copying them for
the context enhancer. :func:`find_pii_many` runs the same recognizers, compiled once into a
:class:`NoteAnalyzer`, and does far less work per note:

1. identical notes are analysed once, and what a :class:`NoteCache` remembers is not analysed again;
2. no NLP pipeline: no recognizer reads its words (context words are looked up in the characters before a
   result: :class:`~handover.pii.engine.WindowContextEnhancer`);
3. a pattern recognizer searches only where its cheap tests pass (``MIN_DIGITS`` ASCII digits, a
   ``PREFILTER`` such as an ``@``), and runs only where one search with all its patterns matches; its
   patterns and tests run on the standard library's re, which reads them as regex does, faster (`_quick`);
   its matches become ``(entity, start, end, score)`` tuples, validated and deduplicated as Presidio does
   it, without a result object, an explanation or a timestamp per match;
4. customer names are found by their recognizer's Aho-Corasick automaton, in one pass; the other names
   by :class:`~handover.pii.recognizers.names.NameRecognizer`, which reads each clause once (what a
   clause yields is remembered) and has the model settle the open candidates of a whole chunk of notes
   at once (:meth:`NoteAnalyzer.prepare`: batches of windows, each distinct window once);
5. the context words, the thresholds and the deduplication are Presidio's rules on the tuples;
6. big batches are split over all cores, this process working too (`_analyze_on_all_cores`): forked
   workers (they inherit the analyzers, their caches and the model's session) kept for the next batch;
7. the cyclic garbage collector is paused for a batch (`_no_cycle_collection`).

None of these changes a finding or a score: the fast path finds what a per-note run finds. ``make bench``
measures the two side by side on the same notes, generated and hand-written by others (recall against the
notes' ground truth, and how many notes get identical findings); tests hold the fast path to the per-note
findings. An analyzer with a recognizer of a kind this module does not know, or another context enhancer,
runs note by note through Presidio itself.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import multiprocessing
import os
import re as stdlib_re
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import regex as re
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, PatternRecognizer
from presidio_anonymizer.operators import OperatorType

from handover.crypto import FieldCipher, Hasher
from handover.pii.anonymize import Span, resolve_overlaps
from handover.pii.engine import (
    LANGUAGE,
    PiiScanError,
    WindowContextEnhancer,
    context_search,
    context_word,
    enhanced_score,
    scan,
)
from handover.pii.operators import anonymizer_engine
from handover.pii.patterns import AllOf, fold
from handover.pii.policy import MaskingPolicy
from handover.pii.recognizers import name_model, names, person

# Below this many notes to analyse, this process is done before another has started and would wait for it
# (forking the workers takes ~0.1 s — they are then kept for the next batch —; a fork server's first start
# loads the pipeline, ~3 s).
POOL_MIN_NOTES = 4_000
_CHUNKS_PER_WORKER = 4
_CHUNK_NOTES = 2_000  # at most, per chunk: small enough that no process waits long for the last
_NO_DIGITS = str.maketrans("", "", "0123456789")
# a number as the recognizers' patterns read one: digits and capitals, two separators at most between two
# (+852 6182 7340, 6222-0215-…, A123456(7), 1/234567/8, C4K7N2R91); a recognizer's ``MIN_DIGITS`` are
# digits of one number, and its matches lie in such a number, give or take a prefix and an extension
_NUMBER = stdlib_re.compile(r"[0-9A-Z](?:[ \-·.()/]{0,2}[0-9A-Z])*")  # (the standard library's: see `_quick`)

Raw = tuple[str, int, int, float, str]  # (entity, start, end, score, recognizer id)


def _pattern_search(recognizer: EntityRecognizer) -> re.Pattern | None:
    """One search with all the patterns of a plain pattern recognizer (None: not one)."""
    if (
        isinstance(recognizer, PatternRecognizer)
        and type(recognizer).analyze is PatternRecognizer.analyze
        and recognizer.patterns
        and not recognizer.deny_list
    ):
        flags = recognizer.global_regex_flags
        return _quick("|".join(f"(?:{p.regex})" for p in recognizer.patterns), flags)
    return None


# regex's flags that the standard library's re has too (VERSION0 and UNICODE are how re reads a str anyway)
# (not IGNORECASE: the two fold some characters' case differently)
_STDLIB_FLAGS = ((re.DOTALL, stdlib_re.DOTALL), (re.MULTILINE, stdlib_re.MULTILINE))
_SAME_IN_STDLIB = re.VERSION0 | re.UNICODE


def _quick(pattern: str, flags: int) -> re.Pattern | stdlib_re.Pattern:
    """A recognizer's pattern (or a cheap test's search) compiled by the standard library's re where that
    can compile it — its engine runs these searches 2–4× faster than regex's —, else by regex (a
    variable-width look-behind, ``\\p{…}``, a shorthand class, IGNORECASE or another flag of regex's own).
    The recognizers' patterns are character classes, literals, repeats and look-arounds: both engines read
    them alike, backtrack alike and treat ``pos``/``endpos`` alike (the end of a window is the end of the
    text to a look-ahead), so their matches are the same (held on the development corpora by
    ``test_the_recognizers_patterns_match_alike_on_both_regex_engines``)."""
    key = (pattern, flags | 1 << 30)
    compiled = _REGEXES.get(key)
    if compiled is None:
        std, rest = 0, flags & ~_SAME_IN_STDLIB
        for theirs, ours in _STDLIB_FLAGS:
            if rest & theirs:
                std, rest = std | ours, rest & ~theirs
        try:
            if rest or _ENGINE_SPECIFIC.search(pattern):
                raise stdlib_re.error("read differently by the two engines")
            compiled = stdlib_re.compile(pattern, std)
        except stdlib_re.error:
            compiled = _compiled(pattern, flags)
        _REGEXES[key] = compiled  # (compiled once a process, as `_compiled` says)
    return compiled


# shorthand classes whose Unicode members the two engines define differently (\s of U+001C, \w of marks …)
_ENGINE_SPECIFIC = stdlib_re.compile(r"\\[sSwWbBdD]|\\p\{|\\N\{|\[\[")


def _quick_test(test):
    """A recognizer's ``PREFILTER`` (a compiled search, or an :class:`~handover.pii.patterns.AllOf` of
    them) as :func:`_quick` compiles it."""
    if isinstance(test, AllOf):
        return AllOf(*(_quick_test(p) for p in test.patterns))
    if isinstance(test, re.Pattern):
        return _quick(test.pattern, test.flags)
    return test


_REGEXES: dict[tuple[str, int], re.Pattern | stdlib_re.Pattern] = {}


def _compiled(pattern: str, flags: int) -> re.Pattern:
    """``re.compile`` kept for the process: an analyzer compiled anew (after :func:`forget`, or for another
    branch's customers) has the same recognizers' patterns, and compiling them took longer than
    analysing a thousand notes' numbers (the ``regex`` module's own cache is flushed by Presidio's)."""
    compiled = _REGEXES.get((pattern, flags))
    if compiled is None:
        compiled = _REGEXES[(pattern, flags)] = re.compile(pattern, flags=flags)
    return compiled


class _Patterns:
    """A pattern recognizer's matches as Presidio's ``PatternRecognizer.analyze`` makes them — each pattern's
    matches, ``validate_result`` (True: score 1.0, False: dropped), ``invalidate_result``, then
    ``remove_duplicates`` — as ``(entity, start, end, score, recognizer id)`` tuples."""

    def __init__(self, recognizer: PatternRecognizer, search: re.Pattern) -> None:
        self.recognizer = recognizer
        self.search = search
        # cheap tests every match passes: a least number of ASCII digits, a search (e.g. for an @)
        self.min_digits = getattr(recognizer, "MIN_DIGITS", 0)
        self.prefilter = _quick_test(getattr(recognizer, "PREFILTER", None))
        self.starts = getattr(recognizer, "starts", None)
        self.entity = recognizer.supported_entities[0]
        flags = recognizer.global_regex_flags
        self.patterns = [(_quick(p.regex, flags), p.score) for p in recognizer.patterns]
        kind = type(recognizer)
        self.validate = None if kind.validate_result is PatternRecognizer.validate_result else recognizer.validate_result
        self.invalidate = (
            None if kind.invalidate_result is PatternRecognizer.invalidate_result else recognizer.invalidate_result
        )

    def _finditer(self, regex: re.Pattern, text: str, windows: list[tuple[int, int]]):
        """``regex.finditer`` over the windows — or, for a recognizer that says where its matches can start
        (``starts``), the same matches found by trying only there: leftmost first, the next after it."""
        if self.starts is None:
            for start, end in windows:
                yield from regex.finditer(text, start, end)
            return
        free = 0
        for at in self.starts(text):
            if at >= free and (match := regex.match(text, at)) is not None and match.end() > at:
                yield match
                free = match.end()

    def matches(self, text: str, windows: list[tuple[int, int]]) -> list[Raw]:
        """The recognizer's results in ``text``; a recognizer with ``MIN_DIGITS`` searches only the
        ``windows`` around the note's numbers with that many digits (every match lies in one)."""
        if not windows:
            return []
        if self.prefilter is not None and self.prefilter.search(text) is None:
            return []
        if len(self.patterns) > 1 and not any(self.search.search(text, a, b) for a, b in windows):
            return []
        found: list[tuple[str, int, int, float]] = []
        for regex, base in self.patterns:
            for match in self._finditer(regex, text, windows):
                start, end = match.span()
                if start == end:
                    continue
                value, score = text[start:end], base
                if self.validate is not None and (valid := self.validate(value)) is not None:
                    score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
                if self.invalidate is not None and self.invalidate(value):
                    score = EntityRecognizer.MIN_SCORE
                if score > EntityRecognizer.MIN_SCORE:
                    found.append((self.entity, start, end, score))
        rid = self.recognizer.id
        return [(*span, rid) for span in (found if len(found) < 2 else _without_duplicates(found))]


_BEFORE_NUMBER, _AFTER_NUMBER = 8, 10  # what a match may hold beyond its number: (+86) , 转 602, ext. 806


def _windows(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """The stretches around ``spans`` (sorted) that a numeric pattern's match can reach, merged."""
    windows: list[tuple[int, int]] = []
    for start, end in spans:
        start, end = max(0, start - _BEFORE_NUMBER), min(length, end + _AFTER_NUMBER)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


class NoteAnalyzer:
    """An analyzer's recognizers compiled for many notes (see the module's docstring)."""

    def __init__(self, analyzer: AnalyzerEngine) -> None:
        self.analyzer = analyzer
        self.recognizers = analyzer.registry.get_recognizers(LANGUAGE, all_fields=True)
        self.signature = tuple(r.id for r in self.recognizers)
        self._patterns: list[_Patterns] = []
        self._customers: list[person.CustomerNameRecognizer] = []
        self._names: list[names.NameRecognizer] = []
        self._other: list[EntityRecognizer] = []
        for recognizer in self.recognizers:
            kind = type(recognizer)  # exact types: a subclass may analyse differently
            search = _pattern_search(recognizer)
            if search is not None:
                self._patterns.append(_Patterns(recognizer, search))
            elif kind is person.CustomerNameRecognizer:
                self._customers.append(recognizer)
            elif kind is names.NameRecognizer:
                self._names.append(recognizer)
            else:
                self._other.append(recognizer)
        self._enhancer = analyzer.context_aware_enhancer
        # our own enhancer and no recognizer-level one: the tuples can do what Presidio does
        self._own_rules = (
            not self._other
            and type(self._enhancer) is WindowContextEnhancer
            and all(type(r).enhance_using_context is EntityRecognizer.enhance_using_context for r in self.recognizers)
        )
        self._context = {r.id: context_search(tuple(r.context)) for r in self.recognizers if r.context}
        self._thresholds = {r.id: r.score_thresholds or {} for r in self.recognizers}

    def current(self) -> bool:
        """Whether the analyzer still has the recognizers this was compiled from."""
        return self.signature == tuple(
            r.id for r in self.analyzer.registry.get_recognizers(LANGUAGE, all_fields=True)
        )

    def prepare(self, notes: Sequence[str]) -> None:
        """Let the name recognizers settle the open candidates of many notes in the model's batches
        (:meth:`analyze` then finds them remembered)."""
        self._prepare_folded([fold(note) for note in notes])

    def _prepare_folded(self, folded: Sequence[str], *, settle: bool = True) -> list[str]:
        """As :meth:`prepare`, on folded notes; ``settle=False``: the windows for the model are returned,
        for :meth:`_settle` (those of several calls at once)."""
        windows: list[str] = []
        if self._names:
            try:
                for recognizer in self._names:
                    windows += recognizer.prepare(folded, settle=settle)
            except Exception as exc:  # noqa: BLE001  (any failure: its message may quote the text)
                raise PiiScanError(
                    f"PII analysis failed ({type(exc).__name__}) on a batch of {len(folded)} texts"
                ) from None
        return windows

    @staticmethod
    def _settle(windows: list[str]) -> None:
        if windows and name_model.available():
            try:
                name_model.person_spans(windows)
            except Exception as exc:  # noqa: BLE001  (any failure: its message may quote the text)
                raise PiiScanError(
                    f"PII analysis failed ({type(exc).__name__}) on {len(windows)} windows of text"
                ) from None

    def analyze(self, note: str) -> list[Span]:
        """``(entity, start, end, score)`` for each PII span in ``note``, in text order."""
        if not self._own_rules:
            return scan(note, self.analyzer)
        return self._analyze_folded(fold(note))  # as the analyzer reads it (same length: the same offsets)

    def _analyze_folded(self, note: str) -> list[Span]:
        try:
            return self._analyze(note)
        except Exception as exc:  # noqa: BLE001  (any failure: its message may quote the text)
            raise PiiScanError(
                f"PII analysis failed ({type(exc).__name__}) on a text of {len(note)} characters"
            ) from None

    def _analyze(self, note: str) -> list[Span]:
        raw: list[Raw] = []
        # every match of a recognizer with MIN_DIGITS lies in a number with that many digits, give or take
        # a prefix (+86, (0755)) and an extension (转 602, ext. 806): only those stretches are searched
        numbers = [
            (m.start(), m.end(), len(m.group()) - len(m.group().translate(_NO_DIGITS))) for m in _NUMBER.finditer(note)
        ]
        most = max([d for _, _, d in numbers]) if numbers else 0
        windows: dict[int, list[tuple[int, int]]] = {0: [(0, len(note))]}
        for patterns in self._patterns:
            least = patterns.min_digits
            if least > most:
                continue  # no number with that many digits: no window to search (most notes, most recognizers)
            if least not in windows:
                windows[least] = _windows([(s, e) for s, e, d in numbers if d >= least], len(note))
            found = patterns.matches(note, windows[least])
            if found:
                raw.extend(found)
        for recognizer in self._customers:
            rid, score = recognizer.id, recognizer.SCORE
            raw.extend((person.ENTITY, s, e, score, rid) for s, e in recognizer.spans(note))
        for recognizer in self._names:
            rid = recognizer.id
            raw.extend((person.ENTITY, s, e, score, rid) for s, e, score, _ in recognizer.found(note))
        if not raw:
            return []
        lowered = None
        kept: list[Span] = []
        for entity, start, end, score, rid in raw:
            search = self._context.get(rid)
            if search is not None:
                lowered = lowered if lowered is not None else note.lower()
                if context_word(lowered, start, search):
                    score = enhanced_score(score, self._enhancer)
            if score >= self._threshold(rid, entity):
                kept.append((entity, start, end, score))
        if len(kept) == 1 and kept[0][3] > 0:  # what remove_duplicates would make of it
            return kept
        return sorted(_without_duplicates(kept), key=lambda t: (t[1], t[2], t[0]))

    def _threshold(self, rid: str, entity: str) -> float:
        """As the analyzer decides it: the recognizer's threshold for the entity, its default, the engine's."""
        thresholds = self._thresholds.get(rid, {})
        threshold = thresholds.get(entity, thresholds.get("default"))
        return self.analyzer.default_score_threshold if threshold is None else threshold


def _without_duplicates(results: list[tuple[str, int, int, float]]) -> list[Span]:
    """Presidio's ``EntityRecognizer.remove_duplicates`` on ``(entity, start, end, score)`` tuples: no zero
    scores, no duplicates, no result that another of its entity contains with an equal or higher score."""
    spans = sorted(set(results), key=lambda t: (t[0], t[1], t[1] - t[2], -t[3]))
    kept: list[Span] = []
    active: list[Span] = []
    entity = None
    for span in spans:
        if span[3] == 0:
            continue
        if span[0] != entity:
            entity, active = span[0], []
        active = [a for a in active if a[2] >= span[1]]
        if not any(a[1] <= span[1] and span[2] <= a[2] and span[3] <= a[3] for a in active):
            kept.append(span)
            active.append(span)
    return kept


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
        # known to the workers forked from now on: a batch for any analyzer compiled before the fork is
        # theirs (one fork for several branches' analyzers, not one each)
        _ANALYZERS[id(analyzer)] = analyzer
    return compiled


def forget(analyzer: AnalyzerEngine) -> None:
    """Drop everything the analysis of notes remembers — the compiled analyzer, the name recognizers'
    clauses, the model's settled windows, the kept worker processes — so that a benchmark's next run
    starts cold."""
    _shutdown_forked()  # and the workers with what they remember
    _COMPILED.pop(analyzer, None)
    for recognizer in analyzer.registry.recognizers:
        if isinstance(recognizer, names.NameRecognizer):
            recognizer.forget()
    name_model.forget()


@contextlib.contextmanager
def _no_cycle_collection():
    """The cyclic garbage collector paused: the hot path makes millions of small tuples and lists and no
    cycles, and with the caches and jieba's dictionary on the heap one full collection in the middle of
    a batch cost a third of it (0.47 s of 1.5 s on the 3,405 hand-written notes). Reference counting
    frees everything as before; the collector runs again (where it was running) when the batch is done.
    Paused for the whole of :func:`find_pii_many` and :func:`anonymize_many`, not only the analysis: the
    lists they make per note before and after it set off collections too (a full one of 0.37 s and one
    of the middle generation of 0.07 s in three calls on the dev corpora, measured with ``gc.callbacks``)."""
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _analyze_distinct(notes: Sequence[str], analyzer: AnalyzerEngine) -> list[list[Span]]:
    """Findings for distinct notes, in one process."""
    compiled = note_analyzer(analyzer)
    found: list[list[Span]] = []
    with _no_cycle_collection():
        for at in range(0, len(notes), _CHUNK_NOTES):  # the model's batches, and what waits for them, bounded
            chunk = notes[at : at + _CHUNK_NOTES]
            if not compiled._own_rules:
                compiled.prepare(chunk)
                found.extend(compiled.analyze(note) for note in chunk)
                continue
            folded = [fold(note) for note in chunk]  # as the analyzer reads them, once
            compiled._prepare_folded(folded)
            found.extend(map(compiled._analyze_folded, folded))
    return found


# A worker's own analyzer, built by `_start_worker` from the customer names alone (fork-server workers).
_WORKER: AnalyzerEngine | None = None
# Analyzers by their id, for forked workers: a child has this process's analyzers as they were when it
# was forked (its caches, its model session), and finds the one a chunk is for by its id here.
_ANALYZERS: weakref.WeakValueDictionary[int, AnalyzerEngine] = weakref.WeakValueDictionary()


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


def _analyze_in_worker(notes: list[str], analyzer_id: int | None = None) -> list[list[Span]]:
    analyzer = _WORKER if analyzer_id is None else _ANALYZERS.get(analyzer_id)
    assert analyzer is not None, "worker started without its analyzer"
    return _analyze_distinct(notes, analyzer)


def _ready() -> bool:
    return True


class _ForkedPool:
    """Workers forked from this process, kept for the next batches: a fork takes a few milliseconds, but
    a pool per call paid it (and the children's first pages copied) for every chunk of a thousand notes.
    The children know the analyzers that existed when they were forked (``analyzers``, held here so that
    their ids stay theirs); a batch for another analyzer forks anew. Shut down by :func:`forget`, when
    this process exits, or when it is found to be another process's (this one forked since)."""

    def __init__(self, processes: int) -> None:
        self.pid = os.getpid()
        self.processes = processes
        self.analyzers = list(_ANALYZERS.values())
        # an analyzer whose recognizers change afterwards is not the children's any more
        self.ids = {id(a): _signature(a) for a in self.analyzers}
        context = multiprocessing.get_context("fork")
        # the count the workers share the notes of a batch by (`_share`): the children inherit it
        self.counter = _FORKED_COUNT["count"] = context.Value("q", 0)
        self.executor = ProcessPoolExecutor(processes, mp_context=context)

    def serves(self, analyzer: AnalyzerEngine, processes: int) -> bool:
        return (
            self.pid == os.getpid()
            and self.processes == processes
            and self.ids.get(id(analyzer)) == _signature(analyzer)
        )

    def shutdown(self) -> None:
        if self.pid == os.getpid():
            self.executor.shutdown(wait=True, cancel_futures=True)


def _signature(analyzer: AnalyzerEngine) -> tuple[str, ...]:
    return tuple(r.id for r in analyzer.registry.get_recognizers(LANGUAGE, all_fields=True))


_FORKED: dict[str, _ForkedPool] = {}  # "pool": the one kept
_FORKED_COUNT: dict = {}  # "count": the kept pool's shared count (a forked child reads it here)
# held while the kept pool is made, used or shut down (so one batch at a time uses it; another thread's
# batch waits); the workers are forked while it is held, so a child starts with a lock of its own
_FORKED_LOCK = threading.RLock()


def _new_lock_in_child() -> None:
    global _FORKED_LOCK
    _FORKED_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _shutdown_forked() -> None:
    with _FORKED_LOCK:
        pool = _FORKED.pop("pool", None)
        if pool is not None:
            pool.shutdown()


atexit.register(_shutdown_forked)


def _forked_pool(processes: int, analyzer: AnalyzerEngine) -> _ForkedPool | None:
    """The kept forked pool for ``analyzer`` (made, or made anew, as needed; call with ``_FORKED_LOCK``
    held); None where this process runs other threads (a fork copies only the thread that forks, and with
    it any lock another held)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    pool = _FORKED.get("pool")
    if pool is not None and pool.serves(analyzer, processes):
        return pool
    _shutdown_forked()
    if threading.active_count() != 1:
        return None
    _ANALYZERS[id(analyzer)] = analyzer
    pool = _FORKED["pool"] = _ForkedPool(processes)
    return pool


def _pool(processes: int, names: frozenset[str]) -> ProcessPoolExecutor:
    """Worker processes from a fork server, a clean process that has the pipeline loaded
    (:mod:`handover.pii.preload`; its first start takes ~3 s); each builds its own analyzer from the
    customer names (for a process that runs other threads, where a fork is not safe)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["handover.pii.preload"])  # no effect once the server runs
    return ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker, initargs=(names,))


_TAKE = 32  # notes a process takes at a time from the shared count (a few milliseconds of work)


def _take(counter) -> int:
    """The first of the next ``_TAKE`` notes no process has taken yet."""
    with counter.get_lock():
        at = counter.value
        counter.value = at + _TAKE
    return at


def _analyze_taking(notes: Sequence[str], analyzer: AnalyzerEngine, counter) -> list[tuple[int, list[Span]]]:
    """``(index, findings)`` of the notes this process takes, ``_TAKE`` at a time, from a count it shares
    with the others, until none are left: no process waits for another's last chunk, and each one's
    open candidates go to the model together (up to ``_CHUNK_NOTES`` notes' worth at once)."""
    compiled = note_analyzer(analyzer)
    out: list[tuple[int, list[Span]]] = []
    with _no_cycle_collection():
        left = True
        while left:
            mine: list[tuple[int, str]] = []
            windows: list[str] = []
            while len(mine) < _CHUNK_NOTES:
                at = _take(counter)
                if at >= len(notes):
                    left = False
                    break
                block = [(i, fold(notes[i])) for i in range(at, min(len(notes), at + _TAKE))]
                windows += compiled._prepare_folded([f for _, f in block], settle=False)
                mine += block
            compiled._settle(windows)
            out += [(i, compiled._analyze_folded(f)) for i, f in mine]
    return out


def _analyze_taking_in_worker(notes: list[str], analyzer_id: int) -> list[tuple[int, list[Span]]]:
    analyzer = _ANALYZERS.get(analyzer_id)
    counter = _FORKED_COUNT.get("count")
    assert analyzer is not None and counter is not None, "worker forked without its analyzer"
    return _analyze_taking(notes, analyzer, counter)


def _share(notes: list[str], analyzer: AnalyzerEngine, pool: _ForkedPool) -> list[list[Span]]:
    """The notes shared by this process and the kept forked workers through a count they all read
    (`_analyze_taking`): each of them gets the whole list once and takes from it what nobody has."""
    counter = pool.counter
    counter.value = 0
    futures = [pool.executor.submit(_analyze_taking_in_worker, notes, id(analyzer)) for _ in range(pool.processes)]
    found: list[list[Span] | None] = [None] * len(notes)
    try:
        for i, spans in _analyze_taking(notes, analyzer, counter):
            found[i] = spans
    finally:
        wait(futures)  # none left running on this batch's notes, whatever happened here
    for future in futures:
        for i, spans in future.result():
            found[i] = spans
    assert all(spans is not None for spans in found), "a note nobody analysed"
    return found  # type: ignore[return-value]


def _analyze_on_all_cores(
    notes: list[str], analyzer: AnalyzerEngine, names: frozenset[str], workers: int
) -> list[list[Span]]:
    """The notes split over this process and ``workers - 1`` others: forked ones, kept for the next
    batch (`_ForkedPool`), sharing the notes through a count (`_share`); or from the fork server where
    this process runs other threads (`_pool`), in chunks (`_split`)."""
    with _FORKED_LOCK:
        forked = _forked_pool(workers - 1, analyzer)
        if forked is not None:
            try:
                if note_analyzer(analyzer)._own_rules:
                    return _share(notes, analyzer, forked)
                return _split(notes, analyzer, workers, forked.executor, id(analyzer))
            except BrokenProcessPool:
                _shutdown_forked()  # a worker died: the next batch forks anew
                raise
    pool = _pool(workers - 1, names)
    try:
        return _split(notes, analyzer, workers, pool, None)
    finally:
        pool.shutdown()


def _split(
    notes: list[str], analyzer: AnalyzerEngine, workers: int, pool: ProcessPoolExecutor, analyzer_id: int | None
) -> list[list[Span]]:
    """The notes in chunks taken from both ends of one list: this process starts on them at once, from
    the front; the others take chunks from the back once they have started. A thread here hands them
    their chunks, so starting them never holds this process up."""
    size = max(64, min(_CHUNK_NOTES, -(-len(notes) // (workers * _CHUNKS_PER_WORKER))))
    chunks = deque(range(0, len(notes), size))
    lock = threading.Lock()
    parts: dict[int, list[list[Span]]] = {}
    failure: list[BaseException] = []

    def take(from_back: bool) -> int | None:
        with lock:
            return (chunks.pop() if from_back else chunks.popleft()) if chunks else None

    started = pool.submit(_ready)  # in this thread: a fork happens here, before any thread of ours starts

    def feed() -> None:
        try:
            # started (one of them, at least) before it gets any notes: none wait for a slow start
            started.result()
            running: dict = {}
            while True:
                while len(running) < 2 * (workers - 1) and (at := take(True)) is not None:
                    running[pool.submit(_analyze_in_worker, notes[at : at + size], analyzer_id)] = at
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
    if failure:
        raise failure[0]
    return [spans for at in sorted(parts) for spans in parts[at]]


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def start_workers(analyzer: AnalyzerEngine, workers: int | None = None) -> bool:
    """Fork the kept workers for ``analyzer`` now, as its first big batch would, and wait until they run:
    a process that masks batch after batch pays the fork once, and may pay it before its first batch. The
    children have every analyzer compiled before the fork (compile the others first with
    :func:`note_analyzer` to share the fork). False where no forked workers are used (one core, another
    thread running, an analyzer a worker could not rebuild)."""
    workers = _default_workers() if workers is None else workers
    if workers < 2 or _customer_names(analyzer) is None:
        return False
    with _FORKED_LOCK:
        pool = _forked_pool(workers - 1, analyzer)
        if pool is None:
            return False
        for started in [pool.executor.submit(_ready) for _ in range(pool.processes)]:
            started.result()
    return True


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
    with _no_cycle_collection():  # the whole call: its own lists and dicts too (see there)
        return _find_pii_many(notes, analyzer, workers, cache)


def _find_pii_many(
    notes: Sequence[str | None], analyzer: AnalyzerEngine, workers: int | None, cache: NoteCache | None
) -> list[list[Span]]:
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
    with _no_cycle_collection():
        return _anonymize_many(notes, analyzer, policy, hasher, cipher, column, workers, cache)


def _anonymize_many(notes, analyzer, policy, hasher, cipher, column, workers, cache) -> list[str | None]:
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
