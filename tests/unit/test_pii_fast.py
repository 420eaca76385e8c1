"""The many-notes path (`handover.pii.notes`) finds what the per-note analyzer finds: the same identifiers,
and every true name it finds (jieba no longer mis-segments text glued to a known name or number).

The corpus is the benchmark's generator (names from the customer list, mobiles, IDs, cards, addresses,
plates …, many notes with nothing) plus hand-made traps: identifiers glued to Chinese, names only the
customer list knows, context words in capitals, notes with nothing a recognizer could start on.
"""

from __future__ import annotations

import importlib.util
import pathlib
import threading

import pytest
from handover import validators as v
from handover.crypto import Hasher
from handover.pii import PiiScanError, analyzer, anonymize_text, scan
from handover.pii import notes as fast
from handover.pii.notes import NoteCache, anonymize_many, find_pii_many
from handover.pii.patterns import fold
from handover.pii.policy import Rule, uniform
from presidio_analyzer import EntityRecognizer, RecognizerResult

from tests.support import notes_corpus

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_pii", ROOT / "bench" / "pii.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()
RARE_CUSTOMERS = [
    "阿依古丽",
    "买买提江",
    "Zhang Wei",
    "欧阳嘉晨",
    "占堃",
]  # jieba does not tag these reliably
NAMES = BENCH.customer_names(300, seed=11) + RARE_CUSTOMERS
GENERATED = BENCH.synthetic_notes(400, NAMES, seed=11)
RID = "110105199003071234"[:17] + v.resident_id_check_char("11010519900307123")
CARD = "6217001234567890123"[:18] + v.luhn_check_digit("621700123456789012")
TRAPS = [
    f"身份证{RID}已核实",
    f"证件号码:{RID}，客户本人",
    f"卡号{CARD}挂失",
    "收款人阿依古丽，金额已到账",
    "转账给买买提江",
    "联系人Zhang Wei来电",
    "ZhangWei是账号前缀",
    "欧阳嘉晨办理业务",
    "占堃咨询贷款",
    "客户ID: E12345678，护照已核验",
    "TEL 13812345678 请回电",
    "电话（021）52345678转123",
    "邮箱zhang.san@example.com联系",
    "车牌沪A·D12345停车场",
    "住在上海市浦东新区张江路88号3栋201室",
    "咨询理财",
    "12345",
    "预约下午取款",
    "",
    "Account 6217 0012 3456 7890 closed",
]
CORPUS = [text for text, _ in GENERATED] + TRAPS


@pytest.fixture(scope="module")
def engine():
    return analyzer(NAMES)


@pytest.fixture(scope="module")
def expected(engine):
    """What the per-note analyzer finds."""
    return [scan(text, engine) if text else [] for text in CORPUS]


@pytest.fixture(scope="module")
def found(engine):
    """What the many-notes path finds."""
    return find_pii_many(CORPUS, engine, workers=1)


def test_the_many_notes_path_finds_what_the_per_note_analyzer_finds(found, expected):
    """The same spans with the same scores, names and identifiers alike."""
    for text, quick, slow in zip(CORPUS, found, expected, strict=True):
        assert quick == slow, text


def test_recall_is_at_least_the_per_note_analyzers(found, expected):
    truth = [spans for _, spans in GENERATED]
    k = len(GENERATED)
    fast_recall, fast_precision, _, _ = BENCH.score(found[:k], truth)
    slow_recall, slow_precision, _, _ = BENCH.score(expected[:k], truth)
    assert fast_recall >= slow_recall and fast_precision >= slow_precision


def test_traps_are_found(found):
    by_text = dict(zip(CORPUS, found, strict=True))
    assert ("CN_RESIDENT_ID", 3, 21) in [s[:3] for s in by_text[f"身份证{RID}已核实"]]
    assert any(s[0] == "PERSON" and s[1:3] == (3, 7) for s in by_text["收款人阿依古丽，金额已到账"])
    assert any(s[0] == "PERSON" for s in by_text["联系人Zhang Wei来电"])
    assert by_text["咨询理财"] == [] and by_text["12345"] == []


def test_searching_only_around_numbers_changes_nothing(engine):
    """A numeric recognizer searched only in the windows around a note's numbers (and the address pattern
    tried only where an address can start) finds what its patterns find in the whole note."""
    compiled = fast.NoteAnalyzer(engine)
    texts = CORPUS + [t for _, t in fast_corpus_extra()]
    for patterns in compiled._patterns:
        whole = fast._Patterns(patterns.recognizer, patterns.search)
        whole.min_digits, whole.starts = 0, None
        for text in texts:
            note = fold(text)
            numbers = [(m.start(), m.end(), sum(c.isdigit() for c in m.group())) for m in fast._NUMBER.finditer(note)]
            windows = (
                fast._windows([(s, e) for s, e, d in numbers if d >= patterns.min_digits], len(note))
                if patterns.min_digits
                else [(0, len(note))]
            )
            assert patterns.matches(note, windows) == whole.matches(note, [(0, len(note))]), (
                patterns.recognizer.name,
                text,
            )


def test_cheap_tests_before_a_search_never_drop_a_match(engine):
    """A recognizer's PREFILTER and MIN_DIGITS hold for every finding of its patterns: the PREFILTER finds
    in it, and one of its numbers (as the many-notes path reads them) has MIN_DIGITS digits."""
    texts = [t for t, _ in BENCH.synthetic_notes(4000, NAMES, seed=5)] + TRAPS + [t for _, t in fast_corpus_extra()]
    texts += [n.text for n in notes_corpus.load("heldout").notes]
    checked = 0
    for recognizer in engine.registry.recognizers:
        prefilter = getattr(recognizer, "PREFILTER", None)
        min_digits = getattr(recognizer, "MIN_DIGITS", 0)
        if prefilter is None and not min_digits:
            continue
        for text in texts:
            for result in recognizer.analyze(fold(text), recognizer.supported_entities):
                value = fold(text)[result.start : result.end]
                checked += 1
                most = max((sum(c.isdigit() for c in n) for n in fast._NUMBER.findall(value)), default=0)
                assert most >= min_digits, (recognizer.name, value)
                assert prefilter is None or prefilter.search(value), recognizer.name
    assert checked > 1500


def fast_corpus_extra():
    """Identifiers in all the shapes the recognizers accept."""
    return [
        ("", "手机+86 138 1234 5678，座机(0755)82345678转12"),
        ("", "卡号6217 0012 3456 7890 123，另一张6228480402564890018"),
        ("", "港澳通行证C12345678，回乡证H1234567890，台胞证L12345678，护照MA1234567"),
        ("", "粤B·D12345，京AF12345，沪A12345学"),
        ("", "广东省深圳市南山区科技园路1号A座1001室"),
        ("", "91350100M000100Y43与a.b-c@example.com.cn"),
        ("", "香港身份证A123456(3)，手机+852 6182 7340，台湾0912-345-678，澳门1234567(8)"),
        ("", "身分证字号A123456789，德国护照号C4K7N2R91，邮箱 li_ming at 163 dot com"),
        ("", "卡号六二二二 零二幺五 零零三三 八七九 零幺六三，座机(02)2771-8350分机 215，+1 (212) 555-0101"),
    ]


def test_duplicates_are_analysed_once_and_answered_alike(engine, monkeypatch):
    calls = []
    real = fast._analyze_distinct
    monkeypatch.setattr(
        fast, "_analyze_distinct", lambda notes, *a: calls.append(list(notes)) or real(notes, *a)
    )
    notes = ["客户张伟来电，回拨13812345678", None, "咨询理财", "客户张伟来电，回拨13812345678", ""]
    found = find_pii_many(notes, engine, workers=1)
    assert calls == [["客户张伟来电，回拨13812345678", "咨询理财"]]
    assert found[0] == found[3] == fast.note_analyzer(engine).analyze(notes[0])
    assert found[1] == found[4] == [] and found[2] == []
    found[0].append(("X", 0, 0, 0.0))  # each note gets its own list
    assert found[3] == fast.note_analyzer(engine).analyze(notes[0])


def test_the_cache_answers_notes_it_has_seen(engine):
    cache = NoteCache(maxsize=2)
    first = find_pii_many(["回拨13812345678", "咨询理财", "客户李娜"], engine, workers=1, cache=cache)
    assert len(cache) == 2  # least recently used out
    cache.put("回拨13812345678", [("REMEMBERED", 0, 1, 1.0)])
    again = find_pii_many(["回拨13812345678", "客户李娜"], engine, workers=1, cache=cache)
    assert again == [[("REMEMBERED", 0, 1, 1.0)], first[2]]


def test_forked_workers_find_what_one_process_finds(engine, found, monkeypatch):
    monkeypatch.setattr(fast, "POOL_MIN_NOTES", 10)
    monkeypatch.setattr(fast, "_CHUNK_NOTES", 50)
    assert find_pii_many(CORPUS, engine, workers=2) == found


_KEPT_POOL = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.unit import test_pii_fast as t
from handover.pii import analyzer
from handover.pii import notes as fast
fast.POOL_MIN_NOTES, fast._CHUNK_NOTES = 10, 50
engine = analyzer(t.NAMES)
found = fast.find_pii_many(t.CORPUS, engine, workers=1)
fast.forget(engine)
assert "pool" not in fast._FORKED
assert fast.find_pii_many(t.CORPUS, engine, workers=2) == found
pool = fast._FORKED["pool"]
assert fast.find_pii_many(t.CORPUS[::-1], engine, workers=2) == found[::-1]
assert fast._FORKED["pool"] is pool
other = analyzer(["宁海涛"])
assert fast.find_pii_many(t.CORPUS, other, workers=2) == fast.find_pii_many(t.CORPUS, other, workers=1)
assert fast._FORKED["pool"] is not pool and fast._FORKED["pool"].serves(engine, 1)
fast.forget(engine)
assert "pool" not in fast._FORKED
# an analyzer compiled before the fork is the children's too: one fork serves both
third = analyzer(["欧阳娜娜"])
fast.note_analyzer(third)
assert fast.find_pii_many(t.CORPUS, engine, workers=2) == found
pool = fast._FORKED["pool"]
assert fast.find_pii_many(t.CORPUS, third, workers=2) == fast.find_pii_many(t.CORPUS, third, workers=1)
assert fast._FORKED["pool"] is pool
fast.forget(engine)
# started before a first batch (notes.start_workers): that batch forks nothing
assert fast.start_workers(engine, 2)
pool = fast._FORKED["pool"]
assert fast.find_pii_many(t.CORPUS, engine, workers=2) == found
assert fast._FORKED["pool"] is pool
assert not fast.start_workers(engine, 1)
fast.forget(engine)
print("ok")
"""


def test_forked_workers_are_kept_for_the_next_batch_and_forgotten():
    """A pool forked for one batch serves the next (no fork, no start), for any analyzer compiled before
    the fork; an analyzer the children do not have, or whose recognizers changed, forks anew; ``forget``
    ends them; ``start_workers`` forks them before a first batch, which then uses them. In a fresh interpreter: the
    pool is kept only where no other thread runs (this suite's process may have a server's thread)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _KEPT_POOL, str(ROOT)], capture_output=True, text=True, check=False,
                         timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_workers_from_the_fork_server_find_what_one_process_finds(engine, found, monkeypatch):
    """With another thread running, the workers start from the fork server (a fork would copy its locks)."""
    monkeypatch.setattr(fast, "POOL_MIN_NOTES", 10)
    monkeypatch.setattr(fast, "_CHUNK_NOTES", 50)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert find_pii_many(CORPUS, engine, workers=2) == found
    finally:
        stop.set()
        other.join()


def test_a_worker_failure_reaches_the_caller_without_the_text(engine, monkeypatch):
    monkeypatch.setattr(fast, "POOL_MIN_NOTES", 10)
    monkeypatch.setattr(fast, "_CHUNK_NOTES", 50)
    monkeypatch.setattr(fast.NoteAnalyzer, "_analyze", lambda self, note: 1 / 0)
    with pytest.raises(PiiScanError) as failure:
        find_pii_many([f"客户张伟来电，回拨1381234{i:04d}" for i in range(200)], engine, workers=2)
    assert "1381234" not in str(failure.value) and "张伟" not in str(failure.value)


def test_anonymize_many_masks_what_find_pii_many_finds(engine, found):
    notes = [text for text, _ in GENERATED[:80]] + TRAPS + [None]
    masked = anonymize_many(notes, engine, workers=1)
    by_text = dict(zip(CORPUS, found, strict=True))
    for note, out in zip(notes, masked, strict=True):
        if not note or not by_text[note]:
            assert out == note
            continue
        for _, start, end, _ in by_text[note]:
            assert note[start:end] not in out, note
    same = [n for n in notes if n and by_text[n] == scan(n, engine)]
    assert anonymize_many(same, engine, workers=1) == [anonymize_text(t, engine) for t in same]


class _Custom(EntityRecognizer):
    def __init__(self) -> None:
        super().__init__(supported_entities=["CUSTOM"], name="Custom", supported_language="zh")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        return [RecognizerResult("CUSTOM", 0, 1, 0.9)] if text.startswith("X") else []


def test_a_recognizer_of_unknown_kind_runs_as_the_analyzer_runs_it(engine):
    engine.registry.add_recognizer(_Custom())
    try:
        assert find_pii_many(["Xyz", "12345"], engine, workers=1) == [scan("Xyz", engine), []]
        assert ("CUSTOM", 0, 1, 0.9) in find_pii_many(["Xyz"], engine, workers=1)[0]
    finally:
        engine.registry.remove_recognizer("Custom")
    assert find_pii_many(["Xyz"], engine, workers=1) == [[]]


@pytest.mark.parametrize("rule", [Rule("pseudonymize"), Rule("mask"), Rule("redact"), Rule("replace")])
def test_every_text_operator_masks_as_presidios_engine_does(engine, found, rule):
    hasher = Hasher(b"k" * 32)
    by_text = dict(zip(CORPUS, found, strict=True))
    same = [n for n in CORPUS[:150] if n and by_text[n] and by_text[n] == scan(n, engine)]
    assert len(same) > 50
    policy = uniform(rule)
    assert anonymize_many(same, engine, policy, hasher=hasher, workers=1) == [
        anonymize_text(t, engine, policy, hasher=hasher) for t in same
    ]


def test_duplicates_go_as_presidio_removes_them():
    """The fast path's own `remove_duplicates` on tuples keeps what Presidio's keeps."""
    import random

    rng = random.Random(14)
    for _ in range(2000):
        results = [
            RecognizerResult(rng.choice("AB"), start, start + rng.randint(0, 5), rng.choice([0, 0.3, 0.5, 0.85, 1.0]))
            for start in (rng.randint(0, 10) for _ in range(rng.randint(0, 6)))
        ]
        presidio = EntityRecognizer.remove_duplicates(results)
        tuples = [(r.entity_type, r.start, r.end, r.score) for r in results]
        assert sorted(fast._without_duplicates(tuples)) == sorted(
            (r.entity_type, r.start, r.end, r.score) for r in presidio
        )


def test_names_read_clause_by_clause_with_numbers_as_one_digit_are_the_same():
    """The name recognizer remembers clauses with each number as one ``0``: what it finds equals reading
    each clause as written."""
    from handover.pii.recognizers import names

    recognizer = names.NameRecognizer()
    texts = [t for t in CORPUS if t] + ["还鲍立新借款5000，回拨13812345678", "6217 0012 3456 7890 123 邢春花 货款"]
    for text in texts:
        direct, at = [], 0
        for piece in names._CLAUSE.split(text):
            if piece:
                direct += [(at + s, at + e, score, how) for s, e, score, how in recognizer._clause_spans(piece)]
            at += len(piece)
        # what is read across clauses (Latin names, memos, lists, brackets) is read on the note itself
        spans = recognizer.spans(text)
        promoted = {(s, e) for s, e, _, how in spans if how in _NOTE_LEVEL}
        clause_level = sorted(x for x in spans if x[3] not in _NOTE_LEVEL)
        assert clause_level == sorted(x for x in direct if x in spans or x[:2] not in promoted), text


_NOTE_LEVEL = ("Latin-script name", "pinyin name", "payee in a memo", "beside a name", "a name's other form",
               "its role in brackets after it")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("客户张其芳来电", "张其芳"),  # 其 starts no given name, but jieba knows 其芳 as one
        ("经办人李向阳说", "李向阳"),
        ("转给王之心房租", "王之心"),
        ("张的", None),  # no given name after the surname: dropped before anything else is looked up
        ("王了解", None),
        ("客户王，已回电", None),
        ("经办人王8号", None),
        ("欧阳的", None),
    ],
)
def test_a_candidate_without_a_given_name_is_dropped_and_a_known_given_name_kept(text, name):
    """The name rules' first tests: no Chinese character after the surname, or one that starts no given
    name (的, 了, 之 …) unless jieba knows the pair as a given name (其芳, 向阳, 之心)."""
    from handover.pii.recognizers import names

    found = [text[s:e] for s, e, score, _ in names.NameRecognizer().spans(text) if score >= 0.5]
    assert found == ([name] if name else [])


def test_the_collector_is_paused_for_the_whole_call(engine):
    """No collection runs inside find_pii_many or anonymize_many (their lists before and after the
    analysis set off collections too): at most the youngest generation's one as the call returns, of
    what it made; and the collector runs again afterwards."""
    import gc

    inside = threading.Event()
    during: list[int] = []

    def count(phase, info):
        if phase == "start" and inside.is_set():
            during.append(info["generation"])

    gc.callbacks.append(count)
    try:
        for call in (find_pii_many, anonymize_many) * 2:
            fast.forget(engine)
            gc.collect()
            inside.set()
            call(CORPUS * 3, engine, workers=1)
            inside.clear()
            assert gc.isenabled()
        assert set(during) <= {0} and len(during) <= 4, during
        gc.disable()
        try:
            find_pii_many(CORPUS, engine, workers=1)
            assert not gc.isenabled()  # a caller's paused collector stays paused
        finally:
            gc.enable()
    finally:
        gc.callbacks.remove(count)


def test_pattern_searches_are_compiled_once_per_process(engine):
    """An analyzer compiled anew (after forget) reuses the compiled searches."""
    first = fast.note_analyzer(engine)
    searches = [p.search for p in first._patterns]
    fast.forget(engine)
    again = fast.note_analyzer(engine)
    assert again is not first
    assert [p.search for p in again._patterns] == searches
    assert all(a is b for a, b in zip((p.search for p in again._patterns), searches, strict=True))


def test_words_that_follow_names_are_found_where_asked_as_everywhere():
    """The index looks up the words that follow a name where a name may end (not with the automaton's
    other words): the same longest word at every position as a search of every position."""
    from handover.pii.recognizers import names

    texts = [t for t in CORPUS if t] + ["王芳已到网点说明情况", "客户来电说要到网点", "于是的的确确"]
    for text in texts:
        index = names._Index(text)
        expected = {}
        for at in range(len(text)):
            lengths = [len(w) for w in names._FOLLOWS if text.startswith(w, at)]
            if lengths:
                expected[at] = max(lengths)
        assert index.follow_start == expected, text
        assert all(index.follows(at) == expected.get(at, 0) for at in range(len(text) + 1))


def test_the_recognizers_patterns_match_alike_on_both_regex_engines(engine):
    """The many-notes path runs the recognizers' patterns and cheap tests on the standard library's re
    where it can compile them (`notes._quick`), Presidio on regex: on every note of the development corpora
    and of this corpus, each such pattern finds the same matches on both, from the start of the text and
    from every place a match starts, and a shorthand class or a flag of regex's own stays on regex."""
    import re

    import regex

    texts = [fold(text) for text in CORPUS if text]
    texts += [fold(note.text) for name in ("teller", "callcentre", "heldout") for note in notes_corpus.load(name).notes]
    compiled = fast.note_analyzer(engine)
    checked = 0
    for patterns in compiled._patterns:
        flags = patterns.recognizer.global_regex_flags
        for ours in [p for p, _ in patterns.patterns] + [patterns.search]:
            if not isinstance(ours, re.Pattern):
                continue
            theirs = regex.compile(ours.pattern, flags=flags)
            for text in texts:
                spans = [m.span() for m in theirs.finditer(text)]
                assert [m.span() for m in ours.finditer(text)] == spans, type(patterns.recognizer).__name__
                for at in {s for s, _ in spans}:
                    assert ours.match(text, at).span() == theirs.match(text, at).span()
            checked += 1
    assert checked >= 40  # all of them, as the recognizers stand
    assert isinstance(fast._quick(r"[\s]+[0-9]", 0), regex.Pattern)
    assert isinstance(fast._quick(r"[0-9]+", regex.IGNORECASE), regex.Pattern)
    assert isinstance(fast._quick(r"(?<=[0-9] ?)转", 0), regex.Pattern)  # a variable-width look-behind
