"""The analytics tier after a real transfer (PostgreSQL, no Airflow): what an analyst reads is complete,
joins, holds no customer value, and survives a re-run unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg2
from handover import leaks, local_run, transfer

from tests.support.stores import run_context as _ctx

TOKEN = re.compile(r"tok_[0-9a-f]{16}")


def _rows(dsn: str, query: str, *params) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def test_every_loaded_row_has_its_analytics_row(transferred, pg_dsn):
    _, planted, manifest = transferred
    for entity, expected in planted["expected"].items():
        (count,) = _rows(pg_dsn, f"SELECT count(*) FROM analytics.{entity}")[0]
        assert count == expected["loaded"] == manifest["counts"][entity]["loaded"], entity


def test_records_are_keyed_by_tokens_that_join(transferred, pg_dsn):
    for table, column in (("customers", "customer_token"), ("accounts", "account_token"),
                          ("transactions", "transaction_token"), ("interactions", "interaction_token")):
        values = [v for (v,) in _rows(pg_dsn, f"SELECT {column} FROM analytics.{table}")]
        assert values and all(TOKEN.fullmatch(v) for v in values), table
    orphans = _rows(pg_dsn, """
        SELECT count(*) FROM analytics.accounts a
        LEFT JOIN analytics.customers c ON c.branch_id = a.branch_id AND c.customer_token = a.customer_token
        WHERE c.customer_token IS NULL""")[0][0]
    assert orphans == 0
    joined = _rows(pg_dsn, """
        SELECT count(*) FROM analytics.transactions t
        JOIN analytics.accounts a ON a.branch_id = t.branch_id AND a.account_token = t.account_token""")[0][0]
    (transactions,) = _rows(pg_dsn, "SELECT count(*) FROM analytics.transactions")[0]
    assert joined == transactions


def test_quasi_identifiers_are_generalised_and_free_text_masked(transferred, pg_dsn):
    bands = [b for (b,) in _rows(pg_dsn, "SELECT birth_date_general FROM analytics.customers") if b]
    assert bands and all(re.fullmatch(r"[0-9]{4}-[0-9]{4}|\*", b) for b in bands)
    notes = [n for (n,) in _rows(pg_dsn, "SELECT note_masked FROM analytics.interactions") if n]
    assert any("<手机号>" in n for n in notes)
    assert not any(re.search(r"1[3-9][0-9]{9}", n) for n in notes)


def test_no_identifier_or_customer_name_of_the_export_is_in_the_tier(transferred, pg_dsn, sample_contract,
                                                                      sample_export):
    ctx, _, _ = transferred
    contract = ctx.contract()
    needles = leaks.needles_from_export(contract, sources=[transfer._readable(ctx, contract, spec)
                                                           for spec in contract.entities.values()])
    assert len(needles) > 100
    report = leaks.LeakReport()
    with psycopg2.connect(pg_dsn) as conn:
        leaks.scan_database(conn, needles, leaks.ANALYST, report=report)
    assert report.clean, report.summary()
    assert report.scanned["columns"] > 10


def test_k_anonymity_is_enforced_and_reported_with_counts_only(transferred, pg_dsn):
    _, _, manifest = transferred
    report = manifest["analytics"]["anonymity"]
    assert report["k_required"] == 2 and report["min_k"] >= 2
    assert report["rows"] + report["suppressed_total"] == manifest["counts"]["customers"]["loaded"]
    assert all(isinstance(v, int | None | dict) for v in report.values())
    classes = _rows(pg_dsn, """
        SELECT count(*) FROM analytics.customers WHERE birth_date_general IS DISTINCT FROM '*'
        GROUP BY birth_date_general, gender, address_general, id_number_general, customer_type""")
    assert min(n for (n,) in classes) >= 2


def test_a_rerun_rewrites_no_analytics_row(transferred, pg_dsn, master_key_text, sample_contract, sample_export,
                                           tmp_path):
    before = _rows(pg_dsn, "SELECT customer_token, birth_date_general, address_general, loaded_run_id "
                           "FROM analytics.customers ORDER BY 1")
    folder, _ = sample_export
    ctx = _ctx(pg_dsn, master_key_text, sample_contract, folder, tmp_path, "run-2", chunk_rows=57)
    local_run.run_all(ctx)
    after = _rows(pg_dsn, "SELECT customer_token, birth_date_general, address_general, loaded_run_id "
                          "FROM analytics.customers ORDER BY 1")
    assert after == before  # what k-anonymity coarsened stays coarsened; nothing rewritten


def test_a_pii_auto_column_is_classified_by_sampling_and_reported(pg_dsn, master_key_text, sample_contract,
                                                                  sample_export, tmp_path):
    folder, _ = sample_export
    text = sample_contract.read_text(encoding="utf-8")
    contract = tmp_path / "auto.yaml"
    contract.write_text(text.replace("{extra: relationship_manager, pii: none", "{extra: relationship_manager, pii: auto"),
                        encoding="utf-8")
    (tmp_path / "retention.yaml").write_bytes((sample_contract.parent / "retention.yaml").read_bytes())
    ctx = _ctx(pg_dsn, master_key_text, contract, folder, tmp_path, "run-auto")
    manifest = json.loads(Path(local_run.run_all(ctx)["manifest"]).read_text(encoding="utf-8"))
    decided = manifest["analytics"]["pii_auto"]["customers.relationship_manager"]
    assert decided["pii"] == "none" and decided["entity"] is None and decided["sampled"] > 0
    assert "KM0" not in json.dumps(decided)  # counts only
    kept = _rows(pg_dsn, "SELECT count(*) FROM vault.customers WHERE extras ? 'relationship_manager' "
                         "AND extras_enc IS NULL")[0][0]
    assert kept == manifest["counts"]["customers"]["loaded"]


def test_a_classified_column_is_sealed_when_it_holds_pii(sample_contract, tmp_path):
    from handover.run import RunContext

    text = sample_contract.read_text(encoding="utf-8")
    contract = tmp_path / "auto.yaml"
    contract.write_text(text.replace("{extra: relationship_manager, pii: none", "{extra: relationship_manager, pii: auto"),
                        encoding="utf-8")
    (tmp_path / "retention.yaml").write_bytes((sample_contract.parent / "retention.yaml").read_bytes())
    ctx = RunContext(run_id="r", contract_path=str(contract), dsn="", master_key=None,
                     work_root=str(tmp_path / "work"), output_root=str(tmp_path / "out"))
    column = ctx.contract().entities["customers"].column_for  # extras are not canonical fields
    extra = next(c for c in ctx.contract().entities["customers"].columns if c.name == "relationship_manager")
    assert extra.sealed and column("name") is not None  # auto: sealed until the run decides
    ctx.work_dir.mkdir(parents=True)
    (ctx.work_dir / "classification.json").write_text(json.dumps(
        {"customers.relationship_manager": {"pii": "direct", "entity": "PERSON"}}))
    decided = next(c for c in transfer._classified(ctx).entities["customers"].columns
                   if c.name == "relationship_manager")
    assert decided.pii == "direct" and decided.sealed
    (ctx.work_dir / "classification.json").write_text(json.dumps(
        {"customers.relationship_manager": {"pii": "none", "entity": None}}))
    decided = next(c for c in transfer._classified(ctx).entities["customers"].columns
                   if c.name == "relationship_manager")
    assert decided.pii == "none" and not decided.sealed
