"""The analytics tier's rows: tokens for keys and identifiers, generalised quasi-identifiers, masked text,
and never a plaintext identifier or name. All values are invented; IDs and cards carry valid checksums."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from handover import analytics
from handover import validators as v
from handover.crypto import Hasher
from handover.pii import MaskingPolicy, PolicyError, analyzer
from handover.store import tables

KEY = bytes(range(32))
TOKEN = re.compile(r"tok_[0-9a-f]{16}")
BRANCH = "BR-001"


def resident_id(body17: str) -> str:
    return body17 + v.resident_id_check_char(body17)


def card(body: str) -> str:
    return body + v.luhn_check_digit(body)


ID_1 = resident_id("44030519900307123")  # Shenzhen, 1990-03-07, male (odd 17th digit)
ID_2 = resident_id("11010519851122002")  # Beijing, 1985-11-22, female
CARD_1 = card("622202100012345678")
CUSTOMERS = {
    "customer_id": ["C000101", "C000102", "C000103"],
    "customer_type": ["individual", "individual", "corporate"],
    "name": ["王建国", "李秀英", "深圳市华星贸易有限公司"],
    "gender": ["M", "F", None],
    "birth_date": ["1990-03-07", "1985-11-22", None],
    "id_type": ["resident_id", "resident_id", "business_licence"],
    "id_number": [ID_1, ID_2, None],
    "uscc": [None, None, "91440300MA5DC5XK3Q"],
    "mobile": ["13812345678", "13987654321", None],
    "landline": [None, "010-62345678", "0755-88889999"],
    "email": ["wangjg@example.com", None, "finance@huaxing.example.cn"],
    "address": ["广东省深圳市南山区科技园路1号", "北京市朝阳区建国路88号", "深圳市福田区深南大道100号"],
    "opened_on": ["2015-06-01", "2018-01-20", "2020-09-09"],
    "consent_transfer": ["true", "true", "true"],
    "consent_on": ["2024-01-05", "2024-01-06", "2024-01-07"],
}
ACCOUNTS = {
    "account_id": ["A900001", "A900002"],
    "customer_id": ["C000101", "C000103"],
    "card_number": [CARD_1, None],
    "account_type": ["debit", "corporate"],
    "currency": ["CNY", "CNY"],
    "balance": ["12345.60", "990000.00"],
    "opened_on": ["2015-06-01", "2020-09-09"],
    "status": ["active", "active"],
}
TRANSACTIONS = {
    "transaction_id": ["T5000001", "T5000002"],
    "account_id": ["A900001", "A900002"],
    "customer_id": ["C000101", None],
    "occurred_at": ["2024-01-05 10:00:00", "2024-01-06 11:30:00"],
    "amount": ["-200.00", "15000.00"],
    "currency": ["CNY", "CNY"],
    "direction": ["debit", "credit"],
    "channel": ["mobile", "counter"],
    "counterparty": ["李秀英", "广州市天河区某某商行"],
    "memo": [f"转账给李秀英 手机13987654321 卡号{CARD_1}", "货款"],
}
INTERACTIONS = {
    "interaction_id": ["I7000001", "I7000002"],
    "customer_id": ["C000101", "C000102"],
    "occurred_at": ["2024-01-05 09:00:00", "2024-01-06 15:00:00"],
    "channel": ["phone", "branch"],
    "staff_id": ["S042", "S043"],
    "note": [f"王建国来电，身份证{ID_1}，邮箱wangjg@example.com，要求更改手机号为13812345678",
             "李秀英办理挂失，座机010-62345678"],
}
SECRETS = [
    *CUSTOMERS["customer_id"], *CUSTOMERS["name"], ID_1, ID_2, "91440300MA5DC5XK3Q", "13812345678", "13987654321",
    "62345678", "88889999", "wangjg@example.com", "finance@huaxing.example.cn", "南山区科技园路", "建国路88号",
    "深南大道", *ACCOUNTS["account_id"], CARD_1, "12345.60", *TRANSACTIONS["transaction_id"],
    *INTERACTIONS["interaction_id"], "广州市天河区某某商行",
]


@pytest.fixture(scope="module")
def chunks() -> dict[str, pa.Table]:
    hasher = Hasher(KEY)
    engine = analyzer(deny_names=CUSTOMERS["name"])
    tables = {"customers": CUSTOMERS, "accounts": ACCOUNTS, "transactions": TRANSACTIONS,
              "interactions": INTERACTIONS}
    return {name: analytics.analytics_chunk(name, pa.table(data), None, hasher, engine, branch_id=BRANCH)
            for name, data in tables.items()}


def test_no_plaintext_identifier_or_name_in_any_output_cell(chunks):
    cells = [str(cell) for table in chunks.values() for column in table.columns for cell in column.to_pylist()
             if cell is not None]
    leaked = sorted({secret for secret in SECRETS for cell in cells if secret in cell})
    assert leaked == []


def test_columns_follow_the_model_and_the_table(chunks):
    for name, table in chunks.items():
        assert table.column_names == [c.name for c in analytics.analytics_columns(name)]
    assert [c.name for c in analytics.analytics_columns("customers") if c.how in ("token", "key")] == [
        "customer_token", "name_token", "uscc_token", "mobile_token", "landline_token", "email_token"]
    assert {c.name: c.how for c in analytics.analytics_columns("transactions")} == {
        "branch_id": "branch", "transaction_token": "key", "account_token": "reference",
        "customer_token": "reference", "occurred_at": "kept", "amount": "kept", "currency": "kept",
        "card_number_token": "token", "direction": "kept", "channel": "kept", "counterparty_token": "token",
        "memo_masked": "masked"}


def test_keys_and_references_join_on_tokens(chunks):
    customers, accounts = chunks["customers"], chunks["accounts"]
    by_id = dict(zip(CUSTOMERS["customer_id"], customers["customer_token"].to_pylist(), strict=True))
    assert all(TOKEN.fullmatch(t) for t in by_id.values())
    assert accounts["customer_token"].to_pylist() == [by_id["C000101"], by_id["C000103"]]
    assert chunks["transactions"]["account_token"].to_pylist() == accounts["account_token"].to_pylist()
    assert chunks["transactions"]["customer_token"].to_pylist() == [by_id["C000101"], None]
    assert chunks["interactions"]["customer_token"].to_pylist() == [by_id["C000101"], by_id["C000102"]]


def test_record_tokens_are_per_branch_and_identifier_tokens_are_not():
    hasher = Hasher(KEY)
    one = analytics.analytics_chunk("customers", pa.table(CUSTOMERS), None, hasher, branch_id="BR-001")
    other = analytics.analytics_chunk("customers", pa.table(CUSTOMERS), None, hasher, branch_id="BR-002")
    assert set(one["customer_token"].to_pylist()).isdisjoint(other["customer_token"].to_pylist())
    assert one["mobile_token"].to_pylist() == other["mobile_token"].to_pylist()
    assert one.equals(analytics.analytics_chunk("customers", pa.table(CUSTOMERS), None, hasher,
                                                branch_id="BR-001"))  # a re-run gives the same rows


def test_quasi_identifiers_are_generalised_and_other_fields_kept(chunks):
    customers = chunks["customers"]
    assert customers["birth_date_general"].to_pylist() == ["1990-1994", "1985-1989", None]
    assert customers["id_number_general"].to_pylist() == ["440000/1990/M", "110000/1985/F", None]
    assert customers["address_general"].to_pylist() == ["广东省深圳市", "北京市", "深圳市"]
    assert customers["gender"].to_pylist() == ["M", "F", None]
    assert chunks["transactions"]["amount"].to_pylist() == ["-200.00", "15000.00"]
    assert chunks["transactions"]["channel"].to_pylist() == ["mobile", "counter"]


def test_free_text_keeps_its_words_and_loses_its_entities(chunks):
    note = chunks["interactions"]["note_masked"].to_pylist()[0]
    assert "来电" in note and "<身份证号>" in note and "<邮箱>" in note and "<手机号>" in note
    assert chunks["transactions"]["memo_masked"].to_pylist()[1] == "货款"


def test_a_column_override_changes_the_contents_not_the_schema():
    policy = MaskingPolicy.from_config({"birth_date": {"operator": "generalize", "level": "year"}})
    out = analytics.analytics_chunk("customers", pa.table(CUSTOMERS), policy, Hasher(KEY), branch_id=BRANCH)
    assert out["birth_date_general"].to_pylist() == ["1990", "1985", None]


@pytest.mark.parametrize("override", [{"mobile": {"operator": "encrypt"}}, {"opened_on": {"operator": "redact"}}])
def test_overrides_the_tier_cannot_hold_are_refused(override):
    with pytest.raises(PolicyError) as raised:
        analytics.analytics_chunk("customers", pa.table(CUSTOMERS), MaskingPolicy.from_config(override),
                                  Hasher(KEY), branch_id=BRANCH)
    assert next(iter(override)) in str(raised.value)


def test_ddl_partitions_by_branch_and_keys_on_the_token():
    ddl = tables.analytics_ddl()
    assert ddl.startswith("CREATE SCHEMA IF NOT EXISTS analytics;")
    assert ddl.count("PARTITION BY LIST (branch_id)") == 5
    for key in ("customer_token", "account_token", "card_token", "transaction_token", "interaction_token"):
        assert f"PRIMARY KEY (branch_id, {key})" in ddl
    assert "_enc" not in ddl and "customer_id" not in ddl
