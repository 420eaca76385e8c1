"""The benchmark export generator (bench/generate.py): encodings, headers, checksums, references, contract."""

from __future__ import annotations

import codecs
import csv
import importlib.util
import io
import pathlib

import pytest
from handover.contract import load_contract
from handover.validators import is_bank_card, is_mobile, is_resident_id

ROOT = pathlib.Path(__file__).resolve().parents[2]
SIZES = {"customers": 2000, "transactions": 8000, "interactions": 2000}
ENCODINGS = {"customers": "gb18030", "accounts": "utf-8", "transactions": "utf-8-sig", "interactions": "utf-8"}


def _load_generator():
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_generator()


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return out, bench.generate(out, **SIZES)


def _rows(out: pathlib.Path, entity: str) -> tuple[list[str], list[list[str]]]:
    text = (out / bench.FILES[entity]).read_bytes().decode(ENCODINGS[entity])
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    return header, rows


def test_files_and_counts(export):
    out, result = export
    for name in [*bench.FILES.values(), bench.BENCH_CONTRACT]:
        assert (out / name).is_file(), name
    assert result["rows"] == {"customers": 2000, "accounts": 2000, "transactions": 8000, "interactions": 2000}
    assert result["bytes"] == sum(p.stat().st_size for p in out.iterdir())
    for entity, n in result["rows"].items():
        assert len(_rows(out, entity)[1]) == n, entity


def test_encodings(export):
    out, _ = export
    customers = (out / bench.FILES["customers"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        customers.decode("utf-8")
    text = customers.decode("gb18030")
    assert text.count("\r\n") == text.count("\n") == SIZES["customers"] + 1
    assert (out / bench.FILES["transactions"]).read_bytes().startswith(codecs.BOM_UTF8)
    for entity in ("accounts", "interactions"):
        raw = (out / bench.FILES[entity]).read_bytes()
        assert not raw.startswith(codecs.BOM_UTF8) and b"\r\n" not in raw
        raw.decode("utf-8")


def test_headers_are_the_contracts(export):
    out, _ = export
    contract = load_contract(ROOT / "contracts" / "sample_branch.yaml")
    for entity in bench.FILES:
        assert _rows(out, entity)[0] == [c.header for c in contract.entities[entity].columns], entity


def test_identifiers_pass_their_checks(export):
    out, result = export
    header, customers = _rows(out, "customers")
    ids = [row[header.index("证件号码")] for row in customers]
    valid = [is_resident_id(v) for v in ids]
    assert sum(valid) >= 0.99 * len(ids)
    assert len(ids) - sum(valid) == result["defects"]["resident_id_checksum"] > 0
    for v, ok, row in zip(ids, valid, customers, strict=True):
        if ok:  # the 17th digit is odd for men; the birth date is inside the ID
            assert row[header.index("性别")] == ("男" if int(v[16]) % 2 else "女")
            assert row[header.index("出生日期")].replace("-", "") == v[6:14]
    mobiles = [row[header.index("手机号码")] for row in customers]
    assert len(mobiles) - sum(map(is_mobile, mobiles)) == result["defects"]["mobile_invalid"] > 0
    header, accounts = _rows(out, "accounts")
    cards = [row[header.index("卡号")] for row in accounts]
    assert all(is_bank_card(c) and len(c) == 19 and c.startswith("62") for c in cards)
    assert len(set(cards)) == len(cards)


def test_references(export):
    out, _ = export
    customer_ids = {row[0] for row in _rows(out, "customers")[1]}
    accounts = {row[0]: row[1] for row in _rows(out, "accounts")[1]}
    assert set(accounts.values()) == customer_ids
    for row in _rows(out, "transactions")[1]:
        assert accounts[row[1]] == row[2]  # the account exists and belongs to the named customer
    assert {row[1] for row in _rows(out, "interactions")[1]} <= customer_ids


def test_bench_contract_loads(export):
    out, _ = export
    contract = load_contract(out / bench.BENCH_CONTRACT)
    assert contract.location == out.resolve()
    accounts = contract.entities["accounts"].source
    assert (accounts.file, accounts.format, accounts.encoding) == ("账户信息.csv", "csv", "utf-8")
    assert contract.entities["customers"].columns[2].header == "姓名"


def test_deterministic(export, tmp_path):
    out, _ = export
    bench.generate(tmp_path, **SIZES)
    for name in [*bench.FILES.values(), bench.BENCH_CONTRACT]:
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name
