"""`branch_transfer` end to end through Airflow (`dag.test()`), on the sample export, into a real PostgreSQL.

Asserts outcomes: the DagRun's state (a failed task does not raise), the reconciliation against what the
sample generator planted, the quarantine reasons, the tables' contents, that a second run changes nothing,
and that neither the master key nor a customer identifier reaches the task logs or XCom.
"""

from __future__ import annotations

import json

import psycopg2

from tests.conftest import LINEAGE_EVENTS, snapshot

SNAPSHOT_TABLES = ("vault.customers", "vault.accounts", "vault.transactions", "vault.interactions",
                   "ops.quarantine", "ops.exclusions")
from tests.support.stores import sample_identifiers as _identifiers


def _xcom_values(dag_id: str, run_id: str) -> list[str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id).all()
        return [json.dumps(r.value, ensure_ascii=False, default=str) for r in rows]


def test_transfer_through_airflow_reconciles_and_is_idempotent(dag, target, sample_export, sample_contract,
                                                              master_key_text, capfd, tmp_path):
    folder, planted = sample_export
    conf = {"branch_id": "SH-PD-0042", "contract": str(sample_contract), "source": str(folder), "chunk_rows": 150}

    seen = LINEAGE_EVENTS.read_text().count("\n") if LINEAGE_EVENTS.exists() else 0
    first = dag.test(run_conf=conf)
    logs = capfd.readouterr()
    assert first.state == "success"
    events = [json.loads(line) for line in LINEAGE_EVENTS.read_text().splitlines()[seen:]]
    assert "verify_chunk" in logs.out + logs.err  # the task logs were captured, so the leak check below bites

    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT counts, status FROM ops.runs WHERE run_id = %s", (first.run_id,))
        counts, status = cur.fetchone()
        assert status == "success"
        for entity, expected in planted["expected"].items():
            assert {k: counts[entity][k] for k in expected} == expected, entity
        cur.execute("SELECT count(*) FROM vault.customers WHERE branch_id = 'SH-PD-0042'")
        assert cur.fetchone()[0] == planted["expected"]["customers"]["loaded"]
        cur.execute("SELECT reasons FROM ops.quarantine WHERE entity = 'customers' AND record_key = %s",
                    (planted["planted"]["uscc_checksum"][0],))
        assert cur.fetchone()[0] == ["invalid_uscc"]
        cur.execute("SELECT DISTINCT unnest(reasons) FROM ops.exclusions WHERE entity = 'customers'")
        assert [r for (r,) in cur.fetchall()] == ["no_consent"]
        cur.execute("SELECT manifest FROM ops.manifests WHERE run_id = %s", (first.run_id,))
        manifest = cur.fetchone()[0]
        assert manifest["branch"]["id"] == "SH-PD-0042"
        assert {s["file"] for s in manifest["sources"]} == {"客户信息.csv", "账户信息.xlsx", "交易流水.csv", "服务记录.csv"}
        assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'")
        assert cur.fetchone()[0] == 0

    # Nothing secret or personal in the task logs or XCom.
    xcom = "\n".join(_xcom_values("branch_transfer", first.run_id))
    assert xcom  # the tasks did push their (small) references
    for text in (logs.out + logs.err, xcom, json.dumps(manifest, ensure_ascii=False)):
        assert master_key_text not in text
        leaked = [v for v in _identifiers(folder) if v in text]
        assert leaked == [], f"{len(leaked)} customer values leaked"
    assert not list((tmp_path / "work").glob("*/*"))  # the teardown removed the work area

    # OpenLineage saw every entity's path (the provider's file transport), and no customer value in it
    done = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    loaded = {o["name"] for o in done["branch_transfer.load_vault"]["outputs"]}
    assert {"vault.customers", "analytics.customers", "ops.quarantine"} <= {n.split(".", 1)[1] for n in loaded}
    read = [i["name"] for e in events if e["job"]["name"].startswith("branch_transfer.extract_source")
            for i in e.get("inputs", [])]
    assert any(n.endswith(".csv") for n in read), read
    lineage_text = json.dumps(events, ensure_ascii=False)
    assert [v for v in _identifiers(folder) if v in lineage_text] == []

    before = snapshot(target, SNAPSHOT_TABLES)
    second = dag.test(run_conf=conf)
    assert second.state == "success"
    assert snapshot(target, SNAPSHOT_TABLES) == before


def test_wrong_branch_fails_the_run_without_raising_and_cleans_up(dag, target, sample_export, sample_contract,
                                                                 tmp_path):
    folder, _ = sample_export
    run = dag.test(run_conf={"branch_id": "BJ-CY-0001", "contract": str(sample_contract), "source": str(folder)})
    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    states = {task_id: ti.state for task_id, ti in tis.items()}
    assert states["check_contract"] == "failed"
    assert tis["check_contract"].try_number == 1  # a wrong contract is not retried
    assert states["close_work_area"] == "success"
    assert not list((tmp_path / "work").glob("*/*"))


def test_dry_run_verifies_and_loads_nothing(dag, target, sample_export, sample_contract):
    folder, planted = sample_export
    run = dag.test(run_conf={"contract": str(sample_contract), "source": str(folder), "dry_run": True})
    assert run.state == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT mode, counts FROM ops.runs")
        mode, counts = cur.fetchone()
        assert mode == "dry_run"
        assert counts["customers"]["quarantined"] == planted["expected"]["customers"]["quarantined"]
        cur.execute("SELECT (SELECT count(*) FROM vault.customers) + (SELECT count(*) FROM ops.quarantine)")
        assert cur.fetchone()[0] == 0


def test_a_violated_constraint_fails_its_task_at_once_naming_the_constraint_not_the_row(
        dag, target, sample_export, sample_contract, capfd):
    """A constraint the store enforces (here one planted on ops.quarantine, as a stricter store might have)
    fails `load_vault` on its first try — a retry would violate it again — with a message naming the
    constraint and SQLSTATE; PostgreSQL's DETAIL, which quotes the failing row, reaches no log."""
    from handover.store import connect, schema

    folder, planted = sample_export
    quarantined = planted["planted"]["uscc_checksum"][0]  # a record the load writes to ops.quarantine
    with connect(target, "test") as conn:
        schema.ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE ops.quarantine ADD CONSTRAINT planted_check CHECK (record_key <> %s)",
                        (quarantined,))
        conn.commit()
    capfd.readouterr()
    run = dag.test(run_conf={"contract": str(sample_contract), "source": str(folder)})
    logs = capfd.readouterr()
    text = logs.out + logs.err
    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert tis["load_vault"].state == "failed" and tis["load_vault"].try_number == 1
    assert "planted_check" in text and "check_violation" in text and "ops.quarantine" in text
    assert "Failing row contains" not in text and "run the task (or the transfer) again" not in text
    leaked = [v for v in _identifiers(folder) if v in text]
    assert leaked == [], f"{len(leaked)} customer values leaked"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM vault.customers) + (SELECT count(*) FROM ops.quarantine)")
        assert cur.fetchone()[0] == 0  # the load is one transaction
