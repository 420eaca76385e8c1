"""
### Data upkeep (维护资料)

Monthly, on the 2nd at 03:00 Asia/Shanghai, and on demand: the vault looked at with today's rules
(`handover.upkeep`) —

1. **survey_vault** — every stored record re-checked, a chunk at a time, with the transfer's normaliser and GX
   suites (how many no longer pass, and why: `column:reason`); identity documents past their expiry date;
   customers of different branches who share an ID number or USCC (merge candidates); contacts a notice could
   not reach (bounced or undelivered, not corrected since). Recorded in `control.upkeep_runs` and
   `control.upkeep_findings` (keys and reason codes only); a re-run of the month replaces it.
2. **open_remediation** — one remediation item per kind of finding that names records (`upkeep_revalidation`,
   `upkeep_expired_documents`, `upkeep_merge_candidates`, `upkeep_bounced_contacts`; owner from the access
   policy file), closed when it names none; overdue items alert.
3. **write_report** — `<output>/upkeep/upkeep-<month>.html`: counts, charts, the records to look at by key.

Params: `today` (the run's date; default today), `chunk_rows` (records per chunk).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure


@dag(
    dag_id="vault_upkeep",
    schedule=CronTriggerTimetable("0 3 2 * *", timezone="Asia/Shanghai"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "upkeep"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(minutes=5),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={"today": Param(None, type=["null", "string"], format="date", description="The run's date"),
            "chunk_rows": Param(5000, type="integer", minimum=100, description="Records per chunk")},
)
def vault_upkeep():
    @task
    def survey_vault(params=None, dag_run=None) -> dict:
        from handover_airflow.upkeep import survey

        return survey(f"airflow:{dag_run.dag_id}", params.get("today"), params.get("chunk_rows"))

    @task
    def open_remediation(surveyed: dict) -> dict:
        from handover_airflow.upkeep import remediate

        return remediate(surveyed)

    @task
    def write_report(surveyed: dict, remediated: dict) -> dict:
        from handover_airflow.upkeep import write_report as write

        return write(surveyed)

    surveyed = survey_vault()
    write_report(surveyed, open_remediation(surveyed))


vault_upkeep()
