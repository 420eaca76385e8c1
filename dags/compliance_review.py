"""
### Compliance review (合规审计, PIPL Art. 54)

Weekly, Monday 06:00 Asia/Shanghai, and on demand: the checks of how the store keeps and uses personal
information, each a pass or fail, a severity and its evidence as counts (never values) —

consent and notice coverage · objections and withdrawals carried out in time · records past their
retention date · erasure requests past their deadline (15 days by default) · analytics free text with
suspected residual personal information (the second detector) · who holds which store role against the
access policy file (`contracts/access_policy.yaml`; no vault reader without a recorded reason and expiry) ·
the age of the master and signing keys · backup freshness, the last full read and the last drill ·
quarantine unresolved after 30 days · the audit trail's integrity (hash chain and signed checkpoints).

1. **review_compliance** — the checks recorded (`control.reviews`, `control.review_findings`); each failure
   opens a remediation item (整改措施: owner from the policy file, due by severity: high 7 days, medium 30,
   low 90) or reopens its closed one; a passing check closes its item; overdue items alert.
2. **write_report** — `<output>/compliance/review-<id>.html`: findings, open items, the week-over-week chart
   (the Handover page shows the same).

Params: `today` (the review's date; default today). Variables `handover_review` (JSON thresholds),
`handover_access_policy` (the policy file's path).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure


@dag(
    dag_id="compliance_review",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="Asia/Shanghai"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "compliance"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(minutes=5),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={"today": Param(None, type=["null", "string"], format="date", description="The review's date")},
)
def compliance_review():
    @task
    def review_compliance(params=None, dag_run=None) -> dict:
        from handover_airflow.review import review

        kind = "weekly" if dag_run.run_type == "scheduled" else "manual"
        return review(kind, f"airflow:{dag_run.dag_id}", params.get("today"))

    @task
    def write_report(reviewed: dict) -> dict:
        from handover_airflow.review import write_report as write

        return write(reviewed)

    write_report(review_compliance())


compliance_review()
