"""Tables of the old branch's database as the source: one consistent snapshot, server-side cursors, and the
same dispositions as the file export they were made from."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import psycopg2
import pytest
import yaml
from handover import local_run
from handover.contract import load_contract
from handover.errors import SourceError
from handover.sources import database

from tests.conftest import scratch_database
from tests.support.stores import run_context as _ctx

# Source-system column names (English, as many core systems have) for the sample's Chinese headers.
COLUMNS = {
    "customers": {"客户编号": "cust_no", "客户类型": "cust_type", "姓名": "cust_name", "性别": "sex",
                  "出生日期": "birth_dt", "证件类型": "id_type", "证件号码": "id_no", "统一社会信用代码": "uscc",
                  "手机号码": "mobile_no", "固定电话": "tel_no", "电子邮箱": "email", "联系地址": "addr",
                  "开户日期": "open_dt", "同意转移": "consent_flag", "同意日期": "consent_dt", "客户经理": "rm_code"},
    "accounts": {"账号": "acct_no", "客户编号": "cust_no", "卡号": "card_no", "账户类型": "acct_type",
                 "币种": "ccy", "余额": "balance", "开户日期": "open_dt", "状态": "status"},
    "transactions": {"流水号": "txn_no", "账号": "acct_no", "客户编号": "cust_no", "交易时间": "txn_time",
                     "交易金额": "txn_amt", "币种": "ccy", "借贷方向": "dc_flag", "交易渠道": "channel",
                     "对方户名": "cpty_name", "摘要": "memo"},
    "interactions": {"记录编号": "rec_no", "客户编号": "cust_no", "服务时间": "svc_time", "渠道": "channel",
                     "柜员号": "teller_no", "备注": "remark"},
}


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    read = {"dtype": str, "keep_default_na": False}
    return {
        "customers": pd.read_csv(folder / "客户信息.csv", encoding="gb18030", **read),
        "accounts": pd.read_excel(folder / "账户信息.xlsx", sheet_name="账户", dtype=str).fillna(""),
        "transactions": pd.read_csv(folder / "交易流水.csv", encoding="utf-8-sig", **read),
        "interactions": pd.read_csv(folder / "服务记录.csv", encoding="utf-8", **read),
    }


@pytest.fixture
def source_db(pg_admin_dsn, sample_export):
    """The sample branch as tables of a 'core' schema in a database of its own (all columns text)."""
    with scratch_database(pg_admin_dsn, "handover_test_source_db") as dsn:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA core")
            for entity, frame in _frames(sample_export[0]).items():
                cols = [COLUMNS[entity][h] for h in frame.columns]
                cur.execute(f"CREATE TABLE core.{entity} ({', '.join(c + ' text' for c in cols)})")
                buf = io.StringIO()
                frame.to_csv(buf, index=False, header=False)
                buf.seek(0)
                cur.copy_expert(f"COPY core.{entity} FROM STDIN WITH (FORMAT csv)", buf)
        yield dsn


@pytest.fixture
def table_contract(sample_contract, tmp_path) -> Path:
    doc = yaml.safe_load(sample_contract.read_text(encoding="utf-8"))
    for entity, node in doc["entities"].items():
        node["source"] = {"table": f"core.{entity}"}
        node["columns"] = {COLUMNS[entity][h]: spec for h, spec in node["columns"].items()}
    path = tmp_path / "db_contract.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    (tmp_path / "retention.yaml").write_bytes((sample_contract.parent / "retention.yaml").read_bytes())
    return path


def test_transfer_from_source_tables_matches_the_file_export(pg_dsn, source_db, table_contract, master_key_text,
                                                            sample_export, tmp_path):
    _, planted = sample_export
    ctx = _ctx(pg_dsn, master_key_text, table_contract, None, tmp_path, "db-1", source_dsn=source_db)
    manifest = json.loads(Path(local_run.run_all(ctx)["manifest"]).read_text())
    for entity, expected in planted["expected"].items():
        assert {k: manifest["counts"][entity][k] for k in expected} == expected, entity
    tables = {s["table"] for s in manifest["sources"]}
    assert tables == {"core.customers", "core.accounts", "core.transactions", "core.interactions"}
    assert len({s["snapshot"] for s in manifest["sources"]}) == 1  # one snapshot for all tables
    assert len(manifest["archive"]) == 4  # the dumps are archived as the branch's original


def test_tables_are_read_from_one_consistent_snapshot(source_db, table_contract, tmp_path):
    specs = database.table_specs(load_contract(table_contract))
    writer = psycopg2.connect(source_db)
    writer.autocommit = True

    def meanwhile(entity):
        if entity == "customers":  # the branch's system keeps working while we read
            with writer.cursor() as cur:
                cur.execute("INSERT INTO core.accounts (acct_no, cust_no) VALUES ('A-NEW', 'C00000001')")
                cur.execute("DELETE FROM core.interactions")

    with writer.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM core.accounts), (SELECT count(*) FROM core.interactions)")
        accounts, interactions = cur.fetchone()
    dumped = database.dump_tables(source_db, specs, tmp_path / "dump", fetch_rows=100, after_table=meanwhile)
    writer.close()
    assert dumped["accounts"]["rows"] == accounts
    assert dumped["interactions"]["rows"] == interactions > 0
    assert "A-NEW" not in (tmp_path / "dump" / "accounts.csv").read_text(encoding="utf-8")


def test_missing_tables_and_columns_are_named_before_reading(source_db, table_contract):
    with psycopg2.connect(source_db) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE core.accounts RENAME COLUMN card_no TO card_number")
        cur.execute("DROP TABLE core.interactions")
    specs = database.table_specs(load_contract(table_contract))
    with pytest.raises(SourceError) as err:
        database.inspect_tables(source_db, specs)
    message = str(err.value)
    assert "column card_no of table core.accounts does not exist" in message
    assert "table core.interactions (entities.interactions) does not exist" in message


def test_no_source_connection_is_a_clear_error(table_contract):
    with pytest.raises(SourceError) as err:
        database.inspect_tables(None, database.table_specs(load_contract(table_contract)))
    assert "handover_source is not configured" in str(err.value)
