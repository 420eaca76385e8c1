"""The many-notes path (`handover.pii.notes`) finds exactly what the per-note analyzer finds.

The corpus is the benchmark's generator (names from the customer list, mobiles, IDs, cards, addresses,
plates …, many notes with nothing) plus hand-made traps: identifiers glued to Chinese, names only the
customer list knows, context words in capitals, notes with nothing a recognizer could start on.
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
from handover import validators as v
from handover.pii import analyzer, anonymize_text, scan
from handover.pii import notes as fast
from handover.pii.notes import NoteCache, Triggers, anonymize_many, find_pii_many
from presidio_analyzer import EntityRecognizer, RecognizerResult

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
    return [scan(text, engine) if text else [] for text in CORPUS]


def test_findings_equal_the_per_note_analyzer(engine, expected):
    assert find_pii_many(CORPUS, engine, workers=1) == expected


def test_traps_are_found(expected):
    found = dict(zip(CORPUS, expected, strict=True))
    assert ("CN_RESIDENT_ID", 3, 21) in [s[:3] for s in found[f"身份证{RID}已核实"]]
    assert any(s[0] == "PERSON" and s[1:3] == (3, 7) for s in found["收款人阿依古丽，金额已到账"])
    assert any(s[0] == "PERSON" for s in found["联系人Zhang Wei来电"])
    assert found["咨询理财"] == [] and found["12345"] == []


def test_the_prefilter_never_drops_a_note_with_a_true_entity(engine):
    triggers = Triggers(engine)
    for text, truth in GENERATED:
        entities, _ = triggers.plan(text)
        assert {entity for entity, _, _ in truth} <= set(entities), text


def test_an_entity_left_out_by_the_prefilter_is_never_found(engine, expected):
    triggers = Triggers(engine)
    dropped = 0
    for text, spans in zip(CORPUS, expected, strict=True):
        entities, _ = triggers.plan(text)
        dropped += not entities
        assert {s[0] for s in spans} <= set(entities), text
    assert dropped >= 2  # "12345", "" at least


def test_notes_without_context_words_skip_the_pipeline_with_the_same_findings(engine, expected):
    triggers = Triggers(engine)
    plans = [triggers.plan(text) for text in CORPUS]
    plain = [
        (text, spans)
        for text, spans, (entities, words) in zip(CORPUS, expected, plans, strict=True)
        if entities and not words
    ]
    assert len(plain) > 20
    assert fast._analyze_distinct([t for t, _ in plain], engine, triggers) == [s for _, s in plain]


def test_duplicates_are_analysed_once_and_answered_alike(engine, monkeypatch):
    calls = []
    real = fast._analyze_distinct
    monkeypatch.setattr(
        fast, "_analyze_distinct", lambda notes, *a: calls.append(list(notes)) or real(notes, *a)
    )
    notes = ["客户张伟来电，回拨13812345678", None, "咨询理财", "客户张伟来电，回拨13812345678", ""]
    found = find_pii_many(notes, engine, workers=1)
    assert calls == [["客户张伟来电，回拨13812345678", "咨询理财"]]
    assert found[0] == found[3] == scan(notes[0], engine)
    assert found[1] == found[4] == [] and found[2] == []
    found[0].append(("X", 0, 0, 0.0))  # each note gets its own list
    assert found[3] == scan(notes[0], engine)


def test_the_cache_answers_notes_it_has_seen(engine):
    cache = NoteCache(maxsize=2)
    first = find_pii_many(["回拨13812345678", "咨询理财", "客户李娜"], engine, workers=1, cache=cache)
    assert len(cache) == 2  # least recently used out
    cache.put("回拨13812345678", [("REMEMBERED", 0, 1, 1.0)])
    again = find_pii_many(["回拨13812345678", "客户李娜"], engine, workers=1, cache=cache)
    assert again == [[("REMEMBERED", 0, 1, 1.0)], first[2]]


def test_the_pool_finds_what_one_process_finds(engine, expected, monkeypatch):
    monkeypatch.setattr(fast, "POOL_MIN_NOTES", 10)
    assert find_pii_many(CORPUS, engine, workers=2) == expected


def test_anonymize_many_equals_anonymize_text(engine):
    notes = [text for text, _ in GENERATED[:80]] + TRAPS + [None]
    assert anonymize_many(notes, engine, workers=1) == [anonymize_text(t, engine) for t in notes]


class _Custom(EntityRecognizer):
    def __init__(self) -> None:
        super().__init__(supported_entities=["CUSTOM"], name="Custom", supported_language="zh")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        return [RecognizerResult("CUSTOM", 0, 1, 0.9)] if text.startswith("X") else []


def test_a_recognizer_of_unknown_kind_is_always_in_play(engine):
    engine.registry.add_recognizer(_Custom())
    try:
        triggers = Triggers(engine)
        assert triggers.plan("12345") == (("CUSTOM",), True)
        assert find_pii_many(["Xyz", "12345"], engine, workers=1, triggers=triggers) == [
            scan("Xyz", engine),
            [],
        ]
    finally:
        engine.registry.remove_recognizer("Custom")
