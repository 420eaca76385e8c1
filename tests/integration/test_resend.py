"""A re-sent export is a decision, not an accident (`handover.resend`), on an export we did not write.

The `custonly` shape of tests/corpus/exports, built twice by its own generator: the first export, then
the same branch a month later (`--resend`: some customers now without consent, some absent, some with a
changed mobile or address, a few new — the truth lists each). Both go through the whole transfer into one
real store; what must follow:

- a customer loaded by the first run and without consent in the second has processing stopped at once —
  no analytics row of it or its records is left — and its vault rows go under the erasure rules of the
  retention schedule: erased where nothing keeps them, kept (storage only) until the AML period of its
  transaction records ends, with the request refused until that day;
- a customer absent from the second export is listed in the manifest, and the contract's
  `absent_customers` decides: keep, report (a to-do on the checklist), erase;
- changed customers are rewritten, new ones loaded; a re-run of the second transfer files nothing twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import psycopg2
import pytest
import yaml
from handover import local_run
from handover.crypto import MasterKey
from handover.run import RunContext

from tests.conftest import ROOT
from tests.support import export_corpus
from tests.support.stores import approve_pipia

CORPUS = ROOT / "tests" / "corpus" / "exports"
SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()
BRANCH = "HX-DC-411625"


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> tuple[Path, Path, dict]:
    build = export_corpus.builder()
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    build("custonly", 300, str(first), seed=0)
    truth = build("custonly", 300, str(second), seed=0, resend=True)
    return first, second, truth


def _contract(tmp_path: Path, absent: str) -> Path:
    doc = yaml.safe_load((CORPUS / "contracts" / "custonly.yaml").read_text(encoding="utf-8"))
    doc["transfer"]["absent_customers"] = absent
    doc["transfer"]["pipia"] = {"reference": "PIPIA-RESEND-1", "approver": "个人信息保护负责人"}
    doc["retention"]["schedule"] = str(ROOT / "contracts" / "retention.yaml")
    path = tmp_path / f"custonly-{absent}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run(dsn, master_key_text, contract, folder, tmp_path, run_id) -> dict:
    approve_pipia(dsn, contract, tmp_path / "pipia")
    ctx = RunContext(run_id=run_id, contract_path=str(contract), dsn=dsn, master_key=MasterKey.from_text(master_key_text),
                     work_root=str(tmp_path / "work"), output_root=str(tmp_path / "out"), source_dir=str(folder),
                     target_region="CN", signing_key_text=SIGNING_KEY, chunk_rows=500)
    result = local_run.run_all(ctx)
    return json.loads(Path(result["manifest"]).read_text())


def _customers(dsn, schema: str) -> set[str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        if schema == "vault":
            cur.execute("SELECT customer_id FROM vault.customers WHERE branch_id = %s", (BRANCH,))
            return {r[0] for r in cur.fetchall()}
        cur.execute("SELECT count(*) FROM analytics.customers WHERE branch_id = %s", (BRANCH,))
        return cur.fetchone()[0]


def _analytics_rows_of(dsn, customers: list[str]) -> int:
    """Analytics rows (every entity) whose vault row belongs to these customers — found by content hash."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        total = 0
        for entity in ("customers", "transactions", "interactions"):
            cur.execute(f"SELECT count(*) FROM analytics.{entity} a JOIN vault.{entity} v "
                        "ON v.branch_id = a.branch_id AND v.row_hash = a.row_hash "
                        "WHERE v.branch_id = %s AND v.customer_id = ANY(%s)", (BRANCH, customers))
            total += cur.fetchone()[0]
        return total


@pytest.mark.parametrize("absent", ["keep", "report", "erase"])
def test_a_re_sent_export_stops_withdrawn_customers_and_decides_absent_ones(absent, exports, pg_dsn,
                                                                            master_key_text, tmp_path):
    first, second, truth = exports
    resend = truth["resend"]
    contract = _contract(tmp_path, absent)
    _run(pg_dsn, master_key_text, contract, first, tmp_path, "first")
    loaded_first = _customers(pg_dsn, "vault")
    withdrawn = sorted(set(resend["withdrawn"]) & loaded_first)
    missing = sorted(set(resend["absent"]) & loaded_first)
    assert withdrawn and missing
    assert _analytics_rows_of(pg_dsn, withdrawn) > 0

    manifest = _run(pg_dsn, master_key_text, contract, second, tmp_path, "second")
    report = manifest["resend"]
    assert report["withdrawn"]["customers"] == len(withdrawn)
    assert report["absent"] | {"erasure_requests": None} == {
        "customers": len(missing), "decision": absent, "customer_ids": missing, "erasure_requests": None}

    # Withdrawn: nothing of theirs is left to analyse; the vault keeps only what a legal period keeps.
    assert _analytics_rows_of(pg_dsn, withdrawn) == 0
    after = _customers(pg_dsn, "vault")
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT state, basis, retry_after, reason FROM control.erasure_requests ORDER BY id")
        requests = cur.fetchall()
        cur.execute("SELECT customer_id, max(occurred_at)::date FROM vault.transactions WHERE branch_id = %s "
                    "AND customer_id = ANY(%s) GROUP BY 1", (BRANCH, withdrawn))
        newest = dict(cur.fetchall())
    by_basis = {}
    for state, basis, retry, reason in requests:
        by_basis.setdefault(basis, []).append((state, retry, reason))
    assert len(by_basis["consent_withdrawn"]) == len(withdrawn)
    kept = set(withdrawn) & after
    today = dt.date.today()
    for customer in withdrawn:  # erased, unless AML-bound transactions younger than five years remain
        bound = customer in newest and newest[customer] > today.replace(year=today.year - 5)
        assert (customer in kept) == bound, customer
    refused = [r for r in by_basis["consent_withdrawn"] if r[0] == "refused"]
    assert len(refused) == len(kept) and all(retry and "aml" in reason for _, retry, reason in refused)
    assert report["withdrawn"]["erasure_requests"]["by_state"].get("done", 0) == len(withdrawn) - len(kept)

    # Absent: listed; kept, reported, or erased as the contract says.
    if absent == "erase":
        assert len(by_basis["absent_from_export"]) == len(missing)
        assert not (set(missing) & after) or all(r[0] in ("refused", "done") for r in by_basis["absent_from_export"])
    else:
        assert "absent_from_export" not in by_basis and set(missing) <= after
    # Changed and new customers are in, as the second export has them.
    assert set(resend["new"]) <= after
    assert set(resend["changed"]) <= after

    # A re-run of the second transfer files nothing twice and keeps the decisions.
    again = _run(pg_dsn, master_key_text, contract, second, tmp_path, "second-again")
    assert again["resend"].get("requests_filed_now", 0) == 0
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM control.erasure_requests")
        assert cur.fetchone()[0] == len(requests)
