"""The contract file is strict, and its newer keys say what real exports need: per-field dispositions, the
branch's codes, dates and amounts that say what they are, what transactions belong to, a split time column,
a header below a title, file patterns, what a re-sent export decides."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from handover.contract import DOCUMENT_LIMIT, load_contract, parse_yaml
from handover.errors import ContractError, SourceError
from handover.sources import source_path

from tests.support.contracts import contract_variant as _variant

CORPUS_CONTRACTS = Path(__file__).resolve().parents[1] / "corpus" / "exports" / "contracts"


def _problems(path: Path) -> str:
    with pytest.raises(ContractError) as err:
        load_contract(path)
    return str(err.value)


# --- strict YAML ---------------------------------------------------------------------------------------

def test_a_key_given_twice_is_an_error_naming_both_lines(sample_contract, tmp_path):
    text = sample_contract.read_text(encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("证件号码:"))
    doubled = text.replace("      证件号码:", "      证件号码: {field: id_number, pii: direct, retention: relationship}\n"
                                          "      证件号码:", 1)
    path = tmp_path / "contract.yaml"
    path.write_text(doubled, encoding="utf-8")
    (tmp_path / "retention.yaml").write_bytes((sample_contract.parent / "retention.yaml").read_bytes())
    said = _problems(path)
    assert f"line {line + 1}: key '证件号码' is given twice (first on line {line})" in said


@pytest.mark.parametrize("text, says", [
    ("a: &x [1, 2]\nb: *x\n", "anchors and aliases"),
    ("a: &x 1\n", "anchors and aliases"),
    ("a: !!python/object/apply:os.system [ls]\n", "explicit YAML tags"),
    ("a: !!binary aGVsbG8=\n", "explicit YAML tags"),
    ("a: !custom 1\n", "explicit YAML tags"),
    ("? [1, 2]\n: 3\n", "a key must be a plain value"),
    ("a: [1, 2\n", "not valid UTF-8 YAML"),
])
def test_yaml_beyond_plain_mappings_lists_and_scalars_is_refused(text, says):
    with pytest.raises(ContractError) as err:
        parse_yaml(text.encode(), Path("c.yaml"))
    assert says in str(err.value) and "line " in str(err.value)


def test_an_alias_bomb_is_refused_at_once_with_a_short_message():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20))
    started = time.process_time()  # CPU time: what the parse costs, not how busy the machine is
    with pytest.raises(ContractError) as err:
        parse_yaml(bomb.encode(), Path("c.yaml"))
    assert time.process_time() - started < 1 and len(str(err.value)) < 300


def test_a_document_over_the_size_limit_is_not_read(tmp_path):
    path = tmp_path / "contract.yaml"
    path.write_bytes(b"# " + b"x" * DOCUMENT_LIMIT + b"\n")
    said = _problems(path)
    assert "over the limit" in said and len(said) < 300


def test_a_long_value_is_never_echoed_in_full(sample_contract, tmp_path):
    said = _problems(_variant(sample_contract, tmp_path, lambda d: d.update(contract_version="9" * 5000)))
    assert "contract_version: must be 1" in said and "9" * 100 not in said


# --- the column keys -----------------------------------------------------------------------------------

@pytest.mark.parametrize("column, change, says", [
    ("证件号码", {"on_invalid": "null"}, "null is not allowed: the column is an identifier"),
    ("客户编号", {"on_invalid": "keep"}, "keep is not allowed: the column is an identifier"),
    ("姓名", {"on_invalid": "null"}, "null is not allowed: the column is required"),
    ("出生日期", {"on_invalid": "keep"}, "keep is for text without a format"),
    ("出生日期", {"on_invalid": "drop"}, "use one of quarantine, null, keep"),
    ("证件类型", {"codes": {1: "resident_id"}}, "write the branch's value 1 in quotes"),
    ("证件类型", {"codes": {"99": "student_card"}}, "'student_card' is not a code of id_type"),
    ("出生日期", {"partial_dates": "middle"}, "use start"),
    ("姓名", {"excel_serial": True}, "is for date and datetime columns"),
    ("出生日期", {"scale": 2}, "is for amount columns"),
    ("客户经理", {"format": "document"}, "format document is for the canonical field id_number"),
])
def test_a_column_key_used_wrongly_names_its_place(sample_contract, tmp_path, column, change, says):
    def edit(doc):
        doc["entities"]["customers"]["columns"][column].update(change)
    said = _problems(_variant(sample_contract, tmp_path, edit))
    assert f"entities.customers.columns.{column}" in said and says in said


def test_a_bare_yaml_null_for_on_invalid_means_null(sample_contract, tmp_path):
    text = sample_contract.read_text(encoding="utf-8").replace(
        "出生日期: {field: birth_date, type: date, pii: quasi,", "出生日期: {field: birth_date, type: date, on_invalid: null, pii: quasi,")
    path = tmp_path / "contract.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "retention.yaml").write_bytes((sample_contract.parent / "retention.yaml").read_bytes())
    assert load_contract(path).entities["customers"].column_for("birth_date").on_invalid == "null"


def test_defaults_free_text_keeps_identifiers_and_the_rest_quarantine(sample_contract):
    spec = load_contract(sample_contract).entities
    assert spec["interactions"].column_for("note").on_invalid == "keep"
    assert spec["customers"].column_for("birth_date").on_invalid == "quarantine"
    assert spec["customers"].column_for("id_number").identifier and spec["customers"].column_for("id_type").identifier
    assert spec["transactions"].column_for("account_id").identifier


def test_transactions_say_what_they_belong_to(sample_contract, tmp_path):
    contract = load_contract(sample_contract)
    assert contract.entities["transactions"].belongs_to == "account"  # account_id is mapped
    def only_customer(doc):
        doc["entities"]["transactions"]["columns"].pop("账号")
        doc["entities"]["transactions"]["belongs_to"] = "customer"
    tx = load_contract(_variant(sample_contract, tmp_path, only_customer)).entities["transactions"]
    assert tx.belongs_to == "customer" and tx.column_for("customer_id").required
    def nothing(doc):
        doc["entities"]["transactions"]["columns"].pop("账号")
        doc["entities"]["transactions"]["belongs_to"] = "account"
    assert "required field account_id is not mapped" in _problems(_variant(sample_contract, tmp_path, nothing))
    def by_card(doc):
        doc["entities"]["transactions"]["belongs_to"] = "card"
        doc["entities"]["accounts"]["columns"].pop("卡号")
    assert "entities.cards (or entities.accounts) must map card_number" in _problems(
        _variant(sample_contract, tmp_path, by_card))


def test_only_customers_are_required_and_a_card_file_needs_no_key_column():
    bank = load_contract(CORPUS_CONTRACTS / "bank.yaml")
    assert list(bank.entities) == ["customers", "accounts", "cards", "transactions", "interactions"]
    assert bank.entities["cards"].column_for("card_id") is None  # made from the card number's blind index
    assert bank.entities["transactions"].time_column("occurred_at").header == "交易时间"
    assert [c.name for c in bank.entities["transactions"].fields if c.name == "occurred_at__time"] == []
    custonly = load_contract(CORPUS_CONTRACTS / "custonly.yaml")
    assert list(custonly.entities) == ["customers", "transactions", "interactions"]
    retail = load_contract(CORPUS_CONTRACTS / "retail.yaml")
    assert retail.entities["customers"].source.header_row == 3
    assert dict(retail.entities["customers"].column_for("gender").codes) == {"未知": None}


@pytest.mark.parametrize("change, says", [
    (lambda d: d["transfer"].update(absent_customers="forget"), "transfer.absent_customers: use one of keep"),
    (lambda d: d["entities"]["customers"]["source"].update(header_row=0), "header_row: the line (row) number"),
    (lambda d: d["entities"]["customers"]["source"].update(delimiter=""), "delimiter: one character"),
    (lambda d: d["entities"]["customers"]["source"].update(sheets="x"), "source.sheets: unknown key"),
    (lambda d: d["entities"]["customers"].update(belongs_to="account"), "only transactions say what they"),
    (lambda d: d["entities"]["transactions"]["columns"].update(
        {"交易时刻": {"time_of": "amount", "retention": "transaction_records"}}), "time_of: name a datetime field"),
])
def test_entity_and_source_keys_used_wrongly_name_their_place(sample_contract, tmp_path, change, says):
    assert says in _problems(_variant(sample_contract, tmp_path, change))


def test_a_file_pattern_must_match_exactly_one_file(sample_contract, tmp_path):
    contract = load_contract(_variant(sample_contract, tmp_path, lambda d: d["entities"]["customers"]["source"]
                                      .update(file="客户信息_*.csv")))
    spec = contract.entities["customers"]
    folder = tmp_path / "export"
    folder.mkdir()
    with pytest.raises(SourceError, match="matches 0 files"):
        source_path(spec, folder)
    (folder / "客户信息_20261201.csv").write_text("x")
    assert source_path(spec, folder).name == "客户信息_20261201.csv"
    (folder / "客户信息_20261202.csv").write_text("x")
    with pytest.raises(SourceError, match="matches 2 files"):
        source_path(spec, folder)
