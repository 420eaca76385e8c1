"""Exports we did not write, end to end through Airflow: three branch shapes from `tests/corpus/exports`.

The corpus (its generator, its planted defects and its ground truth) was written by another contributor
who never saw the pipeline (tests/corpus/exports/PROVENANCE.md): a bank branch with its own 证件类型 codes, a
card file and transactions keyed by card; a small-loan outlet whose ledger names only the customer; a
retail membership counter with no accounts. Our contracts for them (tests/corpus/exports/contracts/) are
the receiving team's: where the truth says a field-level defect's outcome `depends` on the contract, the
test reads the column's `on_invalid` from the contract to know what must happen.

For every shape, through `dag.test()` into a real PostgreSQL:
- every source row of every file ends exactly where the truth and the contract say: loaded, quarantined,
  excluded or collapsed as a duplicate — compared row by row (file and line), not by totals;
- every formula-looking remark is loaded as text and counted as a field issue, never quarantined;
- a retention purge's dry run on the day of the transfer deletes no customer whose last activity (the
  truth: the greatest of the export's date and the newest transaction) lies inside the retention period.
"""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from tests.conftest import ROOT
from tests.support import export_corpus
from tests.support.export_corpus import expected_dispositions, found_dispositions
from tests.support.stores import airflow_connection, approve_pipia

CORPUS = ROOT / "tests" / "corpus" / "exports"
SHAPES = ("bank", "custonly", "retail")
BRANCHES = {"bank": "JC-HY-420105", "custonly": "HX-DC-411625", "retail": "LL-FS-440604"}
CUSTOMERS = 300


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """Each shape built once, at 300 customers (seed 0: the bank shape with a card file of its own)."""
    build = export_corpus.builder()
    out = {}
    for shape in SHAPES:
        folder = tmp_path_factory.mktemp(shape)
        out[shape] = (folder, build(shape, CUSTOMERS, str(folder), seed=0))
    return out


@pytest.fixture
def target(pg_dsn, master_key_text, signing_key_text, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_TARGET", airflow_connection(pg_dsn))
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_MASTER_KEY", master_key_text)
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_SIGNING_KEY", signing_key_text)
    for name in ("ARCHIVE", "WORK", "OUTPUT"):
        monkeypatch.setenv(f"HANDOVER_{name}_ROOT", str(tmp_path / name.lower()))
    return pg_dsn


@pytest.mark.parametrize("shape", SHAPES)
def test_an_export_we_did_not_write_ends_row_by_row_where_the_truth_says(shape, corpus, dags, target, tmp_path):
    from handover.contract import load_contract
    from handover.purge import rules, store

    folder, truth = corpus[shape]
    contract_path = CORPUS / "contracts" / f"{shape}.yaml"
    contract = load_contract(contract_path)
    approve_pipia(target, contract_path, tmp_path / "pipia")  # the receiving party's impact assessment, approved before the load
    run = dags.get_dag("branch_transfer").test(run_conf={
        "branch_id": BRANCHES[shape], "contract": str(contract_path), "source": str(folder), "chunk_rows": 400})
    assert run.state == "success"

    expected = expected_dispositions(truth, contract)
    found, issues = found_dispositions(target, contract.entities)
    wrong = {row: (want, found.get(row, "duplicate")) for row, want in expected.items()
             if found.get(row, "duplicate") != want}
    assert not wrong, f"{len(wrong)} of {len(expected)} rows misplaced, e.g. {list(wrong.items())[:5]}"
    assert set(found) <= set(expected)  # nothing loaded that the export does not have
    every_entity = {row["entity"] for row in truth["rows"]}
    assert every_entity <= set(contract.entities)  # every entity of the export is transferred

    # A formula in a remark is data: loaded, its issue counted, never the row's reason.
    formulas = [(r["file"], r["line"]) for r in truth["rows"] if "remark_formula" in r.get("issues", [])
                and expected[(r["file"], r["line"])] == "loaded"]
    assert formulas and all(any(i.endswith(":formula_like") for i in issues[row]) for row in formulas)
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT counts FROM ops.runs WHERE run_id = %s", (run.run_id,))
        counts = cur.fetchone()[0]
        assert sum(c["loaded_with_issues"] for c in counts.values()) >= len(formulas)
        for entity, c in counts.items():
            assert c["source_rows"] == c["loaded"] + c["quarantined"] + c["excluded"] + c["duplicates"], entity

        # The retention purge, on the day of the transfer, as a dry run: no active customer goes.
        as_of = dt.date.fromisoformat(truth["as_of"])
        cur.execute("SELECT customer_id FROM vault.customers")
        before = {r[0] for r in cur.fetchall()}
        store.purge_vault(conn, as_of, held_branches=set(), held_customers=set(), dry_run=True)
        cur.execute("SELECT customer_id FROM vault.customers")
        deleted = before - {r[0] for r in cur.fetchall()}
        conn.rollback()
    keep = rules.Keep.parse(contract.retention["relationship"]["keep"])
    active = {c for c, day in truth["last_activity"].items()
              if rules.due_date(dt.date.fromisoformat(day), keep) > as_of}
    assert not deleted & active, f"{len(deleted & active)} active customers would be purged"
