"""PII operators, the masking policy, whole-column application, free text and ``pii: auto`` sampling.

All values are invented; valid resident IDs are made with the checksum function.
"""

from __future__ import annotations

import base64
import datetime as dt
import re

import pyarrow as pa
import pytest
from handover import validators as v
from handover.crypto import FieldCipher, Hasher
from handover.pii import (
    ENTITIES,
    TAGS,
    MaskingPolicy,
    PolicyError,
    Rule,
    analyzer,
    anonymize_text,
    anonymizer_engine,
    apply_column,
    classify_column,
    column_rule,
    generalize,
    kind_of,
    parse_rules,
    pseudonym,
    resolve_overlaps,
    tag,
)
from handover.pii import operators as ops

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TOKEN = re.compile(r"tok_[0-9a-f]{16}")


def resident_id(address: str, birth: str, sequence: str) -> str:
    body = address + birth + sequence
    return body + v.resident_id_check_char(body)


ID_MALE = resident_id("440305", "19900307", "123")  # 17th digit 3: male
ID_FEMALE = resident_id("110105", "19850612", "024")  # 17th digit 4: female


@pytest.fixture(scope="module")
def zh():
    return analyzer()


@pytest.fixture()
def hasher():
    return Hasher(KEY)


# --- tags -------------------------------------------------------------------------------------------


def test_every_entity_has_a_chinese_tag_and_unknown_entities_get_the_generic_one():
    assert set(ENTITIES) <= set(TAGS)
    for entity in ENTITIES:
        assert re.fullmatch(r"<[\u4e00-\u9fff]+>", tag(entity))
    assert tag("CN_MOBILE") == "<手机号>" and tag("PERSON") == "<姓名>"
    assert tag("SOMETHING_NEW") == ops.GENERIC_TAG == "<个人信息>"


def test_replace_uses_the_same_tag_in_text_and_in_a_column(zh):
    text = "请回电13812345678"
    assert anonymize_text(text, zh) == "请回电<手机号>"
    column = apply_column(["13812345678", None], {"operator": "replace"}, kind="CN_MOBILE")
    assert column.to_pylist() == ["<手机号>", None]
    assert apply_column(["x"], {"operator": "replace", "tag": "<号码>"}).to_pylist() == ["<号码>"]


def test_redact_empties_values_and_keeps_nulls():
    assert apply_column(["13812345678", None], Rule("redact")).to_pylist() == ["", None]


# --- pseudonymize -----------------------------------------------------------------------------------


def test_token_is_tok_and_16_hex_and_stable_across_calls_and_hasher_instances():
    one = Hasher(KEY)
    first = pseudonym(one, "CN_MOBILE", "13812345678")
    assert TOKEN.fullmatch(first)
    assert pseudonym(one, "CN_MOBILE", "13812345678") == first  # a second call
    assert pseudonym(Hasher(KEY), "CN_MOBILE", "13812345678") == first  # a second instance, same key


def test_token_changes_with_the_key_and_with_the_kind():
    token = pseudonym(Hasher(KEY), "CN_MOBILE", "13812345678")
    assert pseudonym(Hasher(OTHER_KEY), "CN_MOBILE", "13812345678") != token
    assert pseudonym(Hasher(KEY), "CN_LANDLINE", "13812345678") != token


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("CN_MOBILE", "13812345678", "+86 138-1234-5678"),
        ("CN_MOBILE", "13812345678", "008613812345678"),
        ("CN_MOBILE", "13812345678", "１３８１２３４５６７８"),  # full-width
        ("CN_RESIDENT_ID", ID_MALE, ID_MALE.lower()),
        ("EMAIL_ADDRESS", "Zhang.Wei@Example.com", "zhang.wei@example.com"),
        ("CN_LANDLINE", "010-12345678", "+86 10 12345678"),
    ],
)
def test_ways_of_writing_the_same_identifier_share_a_token(hasher, kind, a, b):
    assert pseudonym(hasher, kind, a) == pseudonym(hasher, kind, b)


def test_a_column_and_a_note_pseudonymize_the_same_mobile_to_the_same_token(zh, hasher):
    column = apply_column(["13812345678"], {"operator": "pseudonymize"}, kind="CN_MOBILE", hasher=Hasher(KEY))
    token = column[0].as_py()
    policy = MaskingPolicy.from_config(text={"CN_MOBILE": {"operator": "pseudonymize"}})
    assert anonymize_text("手机13812345678", zh, policy, hasher=hasher) == f"手机{token}"


def test_pseudonymize_without_a_kind_joins_only_within_the_same_column_name(hasher):
    a = apply_column(["W123"], Rule("pseudonymize"), column="wechat", hasher=hasher)[0].as_py()
    b = apply_column(["W123"], Rule("pseudonymize"), column="wechat", hasher=hasher)[0].as_py()
    c = apply_column(["W123"], Rule("pseudonymize"), column="qq", hasher=hasher)[0].as_py()
    assert a == b != c


# --- mask, encrypt ----------------------------------------------------------------------------------


def test_mask_keeps_first_and_last_characters():
    out = apply_column(["13812345678", "ab", None], {"operator": "mask", "keep_first": 3, "keep_last": 4})
    assert out.to_pylist() == ["138****5678", "a*", None]


def test_mask_in_text_stars_the_middle_of_each_span(zh):
    policy = MaskingPolicy.from_config(
        text={"CN_MOBILE": {"operator": "mask", "keep_first": 3, "keep_last": 4}}
    )
    assert anonymize_text("手机13812345678", zh, policy) == "手机138****5678"


def test_encrypt_column_is_per_row_and_decrypts_with_its_column_name():
    cipher = FieldCipher(KEY, "k1")
    out = apply_column(["13812345678", "13812345678", None], Rule("encrypt"), column="mobile", cipher=cipher)
    assert out.type == pa.binary()
    blobs = out.to_pylist()
    assert blobs[0] != blobs[1] and blobs[2] is None  # a fresh nonce per row, even for equal values
    assert cipher.decrypt(blobs[0], "mobile") == "13812345678"


def test_encrypt_operator_in_text_gives_base64_of_the_vault_blob(zh):
    cipher = FieldCipher(KEY, "k1")
    out = anonymize_text(
        "手机13812345678",
        zh,
        MaskingPolicy.from_config(text={"DEFAULT": {"operator": "encrypt"}}),
        cipher=cipher,
        column="note",
    )
    assert out.startswith("手机")
    assert cipher.decrypt(base64.b64decode(out[2:]), "note") == "13812345678"


def test_custom_operators_are_registered_and_configs_never_show_a_key(hasher):
    names = set(anonymizer_engine().get_anonymizers())
    assert {"pseudonymize", "generalize", "mask_ends", "vault_encrypt", "replace", "redact"} <= names
    config = Rule("pseudonymize").presidio("CN_MOBILE", hasher=hasher)
    assert KEY.hex() not in repr(config) and repr(KEY) not in repr(config)
    assert "key hidden" in repr(config)


# --- generalize -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "level", "expected"),
    [
        ("BIRTH_DATE", "1990-03-07", None, "1990-1994"),
        ("BIRTH_DATE", "1987-12-31", "band5", "1985-1989"),
        ("BIRTH_DATE", "1990年3月7日", "year", "1990"),
        ("BIRTH_DATE", "19900307", "year", "1990"),
        ("BIRTH_DATE", "1990-02-30", "year", "<出生日期>"),
        ("CN_RESIDENT_ID", ID_MALE, None, "440000/1990/M"),
        ("CN_RESIDENT_ID", ID_MALE, "county", "440305/1990/M"),
        ("CN_RESIDENT_ID", ID_FEMALE, "province", "110000/1985/F"),
        ("CN_RESIDENT_ID", ID_MALE[:-1] + ("0" if ID_MALE[-1] != "0" else "1"), None, "<身份证号>"),
        ("CN_ADDRESS", "广东省深圳市南山区科技园路1号2栋301室", None, "广东省深圳市"),
        ("CN_ADDRESS", "广东省深圳市南山区科技园路1号", "province", "广东省"),
        ("CN_ADDRESS", "北京市朝阳区建国路88号", "city", "北京市"),
        ("CN_ADDRESS", "广西壮族自治区南宁市青秀区民族大道1号", "city", "广西壮族自治区南宁市"),
        ("CN_ADDRESS", "深圳市南山区科技园路1号", "city", "深圳市"),
        ("CN_ADDRESS", "深圳市南山区科技园路1号", "province", "<地址>"),  # no gazetteer to find 广东
        ("CN_ADDRESS", "科技园路1号", "city", "<地址>"),
        ("CN_LICENCE_PLATE", "粤B12345", None, "粤"),
        ("CN_LICENCE_PLATE", "京A·D12345", "province", "京"),
    ],
)
def test_generalize(kind, value, level, expected):
    assert generalize(kind, value, level) == expected


def test_generalize_rejects_unknown_kinds_and_levels_without_the_value():
    with pytest.raises(ValueError, match="CN_MOBILE") as no_rule:
        generalize("CN_MOBILE", "13812345678")
    assert "13812345678" not in str(no_rule.value)
    with pytest.raises(ValueError, match="band5 or year"):
        generalize("BIRTH_DATE", "1990-03-07", "decade")


def test_generalize_a_date_column_of_arrow_dates():
    out = apply_column(
        pa.array([dt.date(1990, 3, 7), None, dt.date(2001, 1, 1)]),
        {"operator": "generalize"},
        kind="BIRTH_DATE",
    )
    assert out.to_pylist() == ["1990-1994", None, "2000-2004"]


def test_generalize_in_text_falls_back_to_the_tag_for_entities_without_a_rule(zh):
    policy = MaskingPolicy.from_config(text={"DEFAULT": {"operator": "generalize"}})
    out = anonymize_text(f"身份证号码{ID_MALE}，手机13812345678", zh, policy)
    assert out == "身份证号码440000/1990/M，手机<手机号>"


# --- apply_column -----------------------------------------------------------------------------------

ROWS = [f"1381234{n % 10:04d}" for n in range(1000)] + [None] * 5


def test_apply_column_equals_the_per_value_transform(hasher):
    out = apply_column(
        pa.chunked_array([ROWS[:500], ROWS[500:]]), Rule("pseudonymize"), kind="CN_MOBILE", hasher=hasher
    )
    assert out.to_pylist() == [None if r is None else pseudonym(hasher, "CN_MOBILE", r) for r in ROWS]
    dates = ["1990-03-07", "1978-05-01", None, "1990-03-07"]
    expected = [None if d is None else generalize("BIRTH_DATE", d) for d in dates]
    assert apply_column(dates, Rule("generalize"), kind="BIRTH_DATE").to_pylist() == expected


def test_apply_column_generalizes_each_distinct_value_once(monkeypatch):
    calls = []
    real = ops.generalize_many
    monkeypatch.setattr(
        ops, "generalize_many", lambda kind, values, level=None: calls.extend(values) or real(kind, values, level)
    )
    ids = [ID_MALE, ID_FEMALE] * 500 + [None]
    out = apply_column(pa.array(ids).dictionary_encode(), Rule("generalize"), kind="CN_RESIDENT_ID")
    assert sorted(calls) == sorted([ID_MALE, ID_FEMALE])
    assert out.to_pylist()[:2] == ["440000/1990/M", "110000/1985/F"] and out[-1].as_py() is None


def test_apply_column_hashes_each_distinct_value_once():
    class CountingHasher(Hasher):
        hashed = 0

        def digest_many(self, kind, values):
            values = list(values)
            CountingHasher.hashed += len(values)
            return super().digest_many(kind, values)

    apply_column(ROWS, Rule("pseudonymize"), kind="CN_MOBILE", hasher=CountingHasher(KEY))
    assert CountingHasher.hashed == 10


def test_free_text_column_masks_entities_in_each_distinct_text(zh):
    notes = ["客户来电，手机13812345678", None, "无", "客户来电，手机13812345678"]
    out = apply_column(notes, Rule("replace"), kind="FREE_TEXT", analyzer=zh).to_pylist()
    assert out == ["客户来电，手机<手机号>", None, "无", "客户来电，手机<手机号>"]


def test_apply_column_without_the_key_it_needs_names_the_column():
    with pytest.raises(ValueError, match="column mobile: pseudonymize needs"):
        apply_column(["13812345678"], Rule("pseudonymize"), column="mobile", kind="CN_MOBILE")
    with pytest.raises(ValueError, match="column mobile: encrypt needs"):
        apply_column(["13812345678"], Rule("encrypt"), column="mobile")


# --- free text --------------------------------------------------------------------------------------


def test_a_note_with_a_name_mobile_and_id_keeps_none_of_them(zh):
    note = f"客户张伟来电，手机13812345678，身份证号码{ID_MALE}，要求更新地址为北京市朝阳区建国路88号3栋501室"
    out = anonymize_text(note, zh)
    for secret in ("张伟", "13812345678", ID_MALE, "建国路88号"):
        assert secret not in out
    assert "<姓名>" in out and "<手机号>" in out and "<身份证号>" in out and "<地址>" in out


@pytest.mark.parametrize(
    ("spans", "kept"),
    [
        # higher score wins
        ([("PERSON", 0, 4, 0.5), ("CN_ADDRESS", 2, 10, 0.85)], [("CN_ADDRESS", 2, 10, 0.85)]),
        # equal score: the longer span wins
        ([("BANK_CARD", 0, 19, 0.5), ("CN_MOBILE", 3, 14, 0.5)], [("BANK_CARD", 0, 19, 0.5)]),
        # equal score and length: the earlier one
        ([("PERSON", 5, 8, 0.5), ("PERSON", 3, 6, 0.5)], [("PERSON", 3, 6, 0.5)]),
        # no overlap: both, in text order
        (
            [("CN_MOBILE", 10, 21, 0.5), ("PERSON", 0, 2, 0.3)],
            [("PERSON", 0, 2, 0.3), ("CN_MOBILE", 10, 21, 0.5)],
        ),
    ],
)
def test_overlapping_spans_prefer_the_higher_score_then_the_longer_span(spans, kept):
    assert resolve_overlaps(spans) == kept


def test_overlapping_analyzer_results_give_one_tag(monkeypatch, zh):
    from handover.pii import anonymize

    text = "卡号6222021234567890128"
    monkeypatch.setattr(
        anonymize, "scan", lambda t, a: [("CN_MOBILE", 2, 13, 0.5), ("BANK_CARD", 2, 21, 0.5)]
    )
    assert anonymize_text(text, zh) == "卡号<银行卡号>"


def test_empty_text_is_returned_as_is(zh):
    assert anonymize_text("", zh) == "" and anonymize_text(None, zh) is None


# --- policy -----------------------------------------------------------------------------------------


def test_default_rules_by_kind_and_class():
    assert column_rule("name", pii="direct", kind=kind_of("name")) == Rule("pseudonymize")
    assert column_rule("mobile", pii="direct", kind=kind_of("mobile")) == Rule("pseudonymize")
    assert column_rule("id_number", pii="direct", kind=kind_of("id_number")).operator == "generalize"
    assert column_rule("address", pii="direct", kind=kind_of("address")) == Rule(
        "generalize", {"level": "city"}
    )
    assert column_rule("birth_date", pii="quasi", kind=kind_of("birth_date")).params["level"] == "band5"
    assert column_rule("note", pii="free_text", kind=kind_of("note")) == Rule("replace")
    assert column_rule("wechat", pii="direct", kind=kind_of("wechat", None, "direct")) == Rule("pseudonymize")
    assert column_rule("gender", pii="quasi", kind=kind_of("gender", "gender")) is None
    assert column_rule("status", pii="none") is None
    assert column_rule("mobile", pii="direct", kind="CN_MOBILE", purpose="display") == Rule(
        "mask", {"keep_first": 3, "keep_last": 4}
    )


def test_a_column_override_wins_over_the_defaults():
    overrides = parse_rules({"mobile": {"operator": "mask", "keep_first": 3, "keep_last": 4}})
    policy = MaskingPolicy.from_config(
        columns={"mobile": {"operator": "mask", "keep_first": 3, "keep_last": 4}}
    )
    assert column_rule("mobile", pii="direct", kind="CN_MOBILE", overrides=overrides).operator == "mask"
    assert policy.rule_for("mobile", pii="direct", kind="CN_MOBILE") == overrides["mobile"]


SECRET = "13812345678"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"operator": SECRET}, "unknown operator"),
        ({"keep_first": 3}, "say which operator"),
        ({"operator": "mask", "keep_first": SECRET}, "keep_first must be a whole number"),
        ({"operator": "mask", "keep_last": -1}, "keep_last must be a whole number"),
        ({"operator": "generalize", "level": SECRET}, "unknown level"),
        ({"operator": "generalize", "kind": "CN_MOBILE"}, "no generalisation is defined"),
        ({"operator": "pseudonymize", "kind": SECRET}, "kind must be an entity name"),
        ({"operator": "replace", "tag": SECRET * 4}, "tag must be text"),
        ({"operator": "redact", "tag": SECRET}, "redact takes no key 'tag'"),
        (SECRET, "expected a mapping"),
    ],
)
def test_a_bad_policy_names_the_column_and_never_a_value(body, says):
    with pytest.raises(PolicyError) as error:
        parse_rules({"手机号码": body})
    message = str(error.value)
    assert "column 手机号码" in message and says in message
    assert SECRET not in message


def test_every_problem_in_a_policy_is_reported_at_once():
    with pytest.raises(PolicyError) as error:
        MaskingPolicy.from_config(
            columns={"a": {"operator": "x"}, "b": {"operator": "mask", "keep_first": "x"}}
        )
    assert len(error.value.problems) == 2
    assert error.value.problems[0].startswith("column a:") and error.value.problems[1].startswith("column b:")


def test_text_rules_are_checked_per_entity():
    with pytest.raises(PolicyError, match="entity CN_MOBILE: unknown operator"):
        MaskingPolicy.from_config(text={"CN_MOBILE": {"operator": "hash"}})


# --- pii: auto ----------------------------------------------------------------------------------------


def test_classify_a_mobile_column(zh):
    values = [f"139{n:08d}" for n in range(300)] + ["", None, "不详"]
    decision = classify_column(values, zh)
    entity, share, n = decision
    assert (entity, n) == ("CN_MOBILE", 200) and share >= 0.6
    report = decision.report()
    assert report["counts"] == {"CN_MOBILE": 200} and report["sampled"] == 200
    assert not any("139" in str(x) for x in report.values())


def test_classify_a_name_column(zh):
    names = ["张伟", "李娜", "王秀英", "刘洋", "陈晓东", "欧阳明", "赵敏", "黄磊", "周杰", "吴芳"]
    entity, share, n = classify_column(names * 3, zh)
    assert entity == "PERSON" and n == 10 and share >= 0.6


def test_classify_a_free_text_column(zh):
    notes = [
        "客户来电咨询理财产品",
        "已办结",
        "客户更新手机为13812345678",
        "柜面办理挂失，请回电13912345678",
        "无异常",
    ]
    decision = classify_column(notes, zh)
    assert decision.entity == "FREE_TEXT" and decision.containing == 2 and decision.sampled == 5
    assert "13812345678" not in str(decision.report())


def test_classify_a_code_column(zh):
    codes = [f"C{n:06d}" for n in range(50)] + ["ACTIVE", "CLOSED"]
    entity, share, n = classify_column(pa.array(codes), zh)
    assert entity is None and share == 0 and n == 52


def test_generalize_many_gives_what_generalize_gives_for_every_value():
    from handover.pii.values import generalize_many

    values = [ID_MALE, ID_FEMALE, ID_MALE.lower(), f" {ID_FEMALE} ", "110101199003074512", "11010119900307451X", "110101 19900307 4512", "９９0101199003074512",
              "110101209903074512", "not an id", "", "440305198512310021", "11010119900230451X"]
    for level in (None, "province", "county"):
        assert generalize_many("CN_RESIDENT_ID", values, level) == \
            [generalize("CN_RESIDENT_ID", v, level) for v in values]
    assert generalize_many("BIRTH_DATE", ["1990-03-07", "x"]) == [generalize("BIRTH_DATE", "1990-03-07"),
                                                                  generalize("BIRTH_DATE", "x")]
    with pytest.raises(ValueError):
        generalize_many("CN_RESIDENT_ID", values, "decade")
