"""`transfer_assessment` through Airflow (`dag.test()`): the PIPIA drafted from the contract and the export,
signed, its bilingual page written; the approval asked for by Airflow's Human-in-the-loop step and answered as a
person answers it; the decision recorded with who and when — and only then may `branch_transfer` load."""

from __future__ import annotations

import psycopg2
from handover.crypto import verify_signature

from tests.support.hitl import respond_when_asked

REFERENCE = "PIPIA-SH-PD-0042-DAG-1"
APPROVER = "个人信息保护负责人"


def _conf(sample_contract, sample_export, **kw):
    return {"contract": str(sample_contract), "branch_id": "SH-PD-0042", "source": str(sample_export[0]),
            "approver": None, "pipia": REFERENCE, "cross_border_approval": None} | kw


def test_the_assessment_is_drafted_asked_for_and_its_approval_recorded_with_who_and_when(
        dags, target, sample_contract, sample_export, tmp_path):
    dag = dags.get_dag("transfer_assessment")
    assert dag is not None, dags.import_errors
    asked = respond_when_asked("transfer_assessment", "approve_assessment", ["Approve"],
                               {"id": "officer-7", "name": APPROVER}, {"note": "风险可控"})
    run = dag.test(run_conf=_conf(sample_contract, sample_export))
    asked.join(5)
    assert run.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT status, decided_by, decided_at, decided_via, decision_note, keep_until - decided_at::date, "
                    "text, signature, public_key, record FROM control.pipia WHERE reference = %s", (REFERENCE,))
        status, by, at, via, note, kept_days, text, signature, pem, record = cur.fetchone()
        cur.execute("SELECT action, actor FROM ops.audit WHERE detail->>'reference' = %s ORDER BY seq", (REFERENCE,))
        audit = cur.fetchall()
    assert (status, by, via, note) == ("approved", APPROVER, "airflow:approval", "风险可控")
    assert at is not None and kept_days >= 3 * 365
    assert verify_signature(pem.encode(), text.encode(), signature)
    assert audit == [("pipia.drafted", "airflow:transfer_assessment"), ("pipia.approved", APPROVER)]
    assert {c["entity"]: c["rows"] for c in record["categories"]}["customers"] > 100  # counted from the export
    assert "transactions" in record["sensitive"]["entities"]
    assert {r["risk"] for r in record["risks"]} >= {"unauthorised_access", "cross_border", "reidentification"}
    page = next((tmp_path / "output" / "SH-PD-0042" / "pipia").glob("*/pipia.html")).read_text()
    assert "个人信息保护影响评估" in page and "Personal information protection impact assessment" in page


def test_a_decision_by_someone_the_assessment_does_not_name_is_not_recorded(dags, target, sample_contract,
                                                                           sample_export):
    dag = dags.get_dag("transfer_assessment")
    respond_when_asked("transfer_assessment", "approve_assessment", ["Approve"], {"id": "x", "name": "路人甲"})
    run = dag.test(run_conf=_conf(sample_contract, sample_export, pipia="PIPIA-SH-PD-0042-DAG-2"))
    assert run.get_state() == "failed"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT status, decided_by FROM control.pipia WHERE reference = 'PIPIA-SH-PD-0042-DAG-2'")
        assert cur.fetchone() == ("drafted", None)


def test_branch_transfer_refuses_to_load_without_an_approved_assessment_and_a_dry_run_needs_none(
        dags, target, sample_contract, sample_export):
    dag = dags.get_dag("branch_transfer")
    conf = {"branch_id": "SH-PD-0042", "contract": str(sample_contract), "source": str(sample_export[0]),
            "pipia": "PIPIA-NOT-APPROVED-1"}
    assert dag.test(run_conf=conf).get_state() == "failed"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM ops.audit WHERE action = 'run_started'")
        assert cur.fetchone() == (0,)  # refused before the run began
    assert dag.test(run_conf=conf | {"dry_run": True}).get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT mode, status FROM ops.runs WHERE mode = 'dry_run'")
        assert cur.fetchall() == [("dry_run", "success")]
