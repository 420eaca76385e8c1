"""The data contract: the sample loads; every kind of mistake is reported with its place, before any data."""

from __future__ import annotations

import pytest
from handover.contract import load_contract
from handover.errors import ContractError, SourceError
from handover.sources import inspect_source

from tests.support.contracts import contract_variant as _variant


def test_sample_contract_loads_with_chinese_headers(sample_contract):
    contract = load_contract(sample_contract)
    assert contract.branch_id == "SH-PD-0042"
    assert list(contract.entities) == ["customers", "accounts", "transactions", "interactions"]
    customers = contract.entities["customers"]
    assert customers.column_for("id_number").header == "证件号码"
    assert customers.column_for("customer_id").key
    assert [c.name for c in customers.extras] == ["relationship_manager"]
    assert len(contract.sha256) == 64


@pytest.mark.parametrize("change, place", [
    (lambda d: d["entities"]["customers"]["columns"]["证件号码"].update(field="idnumber"),
     "entities.customers.columns.证件号码: unknown field 'idnumber'"),
    (lambda d: d["entities"]["customers"]["columns"].pop("客户编号"),
     "entities.customers.columns: required field customer_id is not mapped"),
    (lambda d: d["entities"]["customers"]["columns"]["证件号码"].update(pii="none"),
     "entities.customers.columns.证件号码: pii none is weaker than direct"),
    (lambda d: d["entities"]["customers"]["columns"]["证件号码"].update(retention="forever"),
     "retention class 'forever' is not declared"),
    (lambda d: d["entities"].update(branches={"source": {"file": "x.csv"}, "columns": {}}),
     "entities.branches: unknown entity"),
    (lambda d: d["transfer"]["receiving_party"].update(uscc="91310115MA1H7GXP4L"),
     "transfer.receiving_party.uscc: is not a valid Unified Social Credit Code"),
    (lambda d: d["entities"]["accounts"]["source"].pop("sheet"),
     "entities.accounts.source.sheet: name the sheet"),
    (lambda d: d["entities"]["customers"]["columns"]["姓名"].update(colour="red"),
     "entities.customers.columns.姓名: unknown key 'colour'"),
    (lambda d: d["entities"]["customers"]["columns"]["出生日期"].update(type="string"),
     "type string does not match the canonical type date"),
])
def test_contract_mistakes_name_their_place(sample_contract, tmp_path, change, place):
    with pytest.raises(ContractError) as err:
        load_contract(_variant(sample_contract, tmp_path, change))
    assert place in str(err.value)


def test_all_problems_are_reported_at_once(sample_contract, tmp_path):
    def two_mistakes(d):
        d["entities"]["customers"]["columns"]["证件号码"]["field"] = "idnumber"
        d["branch"].pop("id")

    with pytest.raises(ContractError) as err:
        load_contract(_variant(sample_contract, tmp_path, two_mistakes))
    assert len(err.value.problems) == 2


def test_declared_file_that_is_absent_fails_before_reading(sample_contract, tmp_path):
    contract = load_contract(sample_contract)
    with pytest.raises(SourceError) as err:
        inspect_source(contract.entities["customers"], tmp_path)
    assert "客户信息.csv" in str(err.value) and "does not exist" in str(err.value)


def test_declared_column_absent_from_the_file_is_named(sample_contract, sample_export, tmp_path):
    folder, _ = sample_export
    contract = load_contract(sample_contract)
    original = (folder / "服务记录.csv").read_text(encoding="utf-8")
    (tmp_path / "服务记录.csv").write_text(original.replace("柜员号", "操作员", 1), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        inspect_source(contract.entities["interactions"], tmp_path)
    message = str(err.value)
    assert "服务记录.csv, line 1" in message
    assert "column 柜员号 declared in the contract is not in the header row" in message
    assert "column 操作员 (position 5) is not in the contract" in message


def test_not_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("branch: {id: X\n  name: [", encoding="utf-8")
    with pytest.raises(ContractError) as err:
        load_contract(path)
    assert "line" in str(err.value)


def test_retention_classes_come_from_the_schedule_and_the_contract_may_override(sample_contract, tmp_path):
    from handover.contract import load_contract

    def own_class(doc):
        doc["retention"]["service_notes"] = {"keep": "1y", "after": "created"}

    contract = load_contract(_variant(sample_contract, tmp_path, own_class))
    assert contract.retention["service_notes"] == {"keep": "1y", "after": "created"}  # the contract's own
    assert contract.retention["transaction_records"] == {"keep": "5y", "after": "transaction", "basis": "aml"}
    (tmp_path / "retention.yaml").write_text("classes:\n  relationship: {keep: forever}\n", encoding="utf-8")
    with pytest.raises(ContractError) as err:
        load_contract(tmp_path / "contract.yaml")
    assert "retention.yaml: classes.relationship.keep: use a duration" in str(err.value)
    (tmp_path / "retention.yaml").unlink()
    with pytest.raises(ContractError, match=r"retention.schedule \(retention.yaml\): cannot read the retention schedule"):
        load_contract(tmp_path / "contract.yaml")


def test_every_package_of_the_source_tree_is_installed_by_a_normal_build():
    """pyproject lists the packages one by one: a new subpackage must be listed, or a non-editable install
    (the docker image) leaves it out."""
    import tomllib

    from tests.conftest import ROOT

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.relative_to(root).parent.parts) for root in (ROOT / "include", ROOT / "plugins")
             for p in root.rglob("__init__.py")}
    assert found == listed
