"""
### Transfer assessment (个人信息保护影响评估, PIPIA — PIPL Art. 55–56)

Before a branch's records are provided to the receiving party, the impact assessment: drafted from the
contract and the branch's latest run (or the export), rated, approved by a person — then `branch_transfer`
may load (it refuses without an approved PIPIA named by the contract or the trigger).

1. **draft_assessment** — purposes, categories and counts, sensitive personal information, recipient,
   jurisdiction, the measures in force, the data map; each risk rated; signed (Ed25519) into
   `<output>/<branch>/pipia/<reference>/` (`pipia.json`, `.sig`, `.pub.pem`, the bilingual `pipia.html`) and
   recorded in `control.pipia`, kept at least three years after the decision.
2. **approve_assessment** — Airflow's Human-in-the-loop step (Required Actions in the UI, or the HITL REST
   API): *Approve* or *Reject*, with a note. The task waits in `awaiting_input` and holds no worker slot.
3. **record_decision** — the response recorded with who and when; only the approver the PIPIA names can
   approve it (the contract's `transfer.pipia.approver`, or the `approver` param).

Params: `contract`, `branch_id`, `source`, `approver`, `pipia` (its reference; default the contract's),
`cross_border_approval`. Connection `handover_target`; Variable `handover_signing_key`.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, task
from handover_airflow.alerts import on_failure


@dag(
    dag_id="transfer_assessment",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "compliance"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(seconds=30),
                  "on_failure_callback": on_failure},
    params={
        "contract": Param("contracts/sample_branch.yaml", type="string", description="Path of the data contract"),
        "branch_id": Param("", type="string", description="Branch code (empty: the contract's)"),
        "source": Param(None, type=["null", "string"], description="Folder of the export (overrides the contract)"),
        "approver": Param(None, type=["null", "string"], description="Who approves (default: the contract's)"),
        "pipia": Param(None, type=["null", "string"], description="The PIPIA's reference (default: the contract's)"),
        "cross_border_approval": Param(None, type=["null", "string"], description="Reference of a cross-border "
                                                                                  "approval, if the data leaves"),
    },
)
def transfer_assessment():
    @task
    def draft_assessment(params=None, dag_run=None) -> dict:
        from handover_airflow.assessment import draft_assessment as draft

        return draft(params, f"airflow:{dag_run.dag_id}")

    approve_assessment = HITLOperator(
        task_id="approve_assessment",
        subject="个人信息保护影响评估 PIPIA {{ ti.xcom_pull(task_ids='draft_assessment')['reference'] }}",
        body=("{% set d = ti.xcom_pull(task_ids='draft_assessment') %}**{{ d.reference }}** — overall risk "
              "**{{ d.overall }}**; approver: {{ d.approver }}\n\n| risk | rating |\n|---|---|\n"
              "{% for r, v in d.risks.items() %}| {{ r }} | {{ v }} |\n{% endfor %}\n"
              "The signed record and its bilingual page: `{{ d.path }}` (pipia.html beside it)."),
        options=["Approve", "Reject"],
        params={"note": Param("", type="string", description="The approver's note (recorded)")},
        response_timeout=dt.timedelta(days=14),
    )

    @task
    def record_decision(drafted: dict, response: dict) -> dict:
        from handover_airflow.assessment import record_decision as record

        return record(drafted, response)

    drafted = draft_assessment()
    drafted >> approve_assessment
    record_decision(drafted, approve_assessment.output)


transfer_assessment()
