"""
### Incident response (应急响应, PIPL Art. 57)

Manual. When personal information leaks, is reached by someone who should not, or is lost — or as a drill
(`dry_run`, the default: every step rehearsed and counted, nothing changed):

1. **open_incident** — `control.incidents`: reference, kind, scope (branches, time window, tables), the
   reporting clock (4 hours from detection to the provincial CAC for a significant incident).
2. **contain** — every login of `handover_analyst` and `handover_vault_reader` made `NOLOGIN`, their
   sessions ended (connection `handover_admin`, else the target's login; Variable `handover_incident_logins`:
   a LIKE pattern when the server hosts other stores' logins).
3. **rotate_master_key** — every wrapped key (store, backups, archived originals) re-wrapped under Variable
   `handover_master_key_next`, then proven: the old key opens nothing. Put the new key in
   `handover_master_key` afterwards.
   **retokenise_analytics** — when `keys` names the pseudonym key: a new pseudonym key, every token of the
   analytics tier re-made under it in one transaction, the old key removed and proven gone (no old token
   left); in a dry run, the token cells counted. Without it in scope: nothing.
4. **list_affected** — customers in scope: counts per branch; the list sealed (AES-256-GCM) in
   `<output>/incidents/<reference>/affected.csv.enc`.
5. **draft_notices** — the Art. 57 notice to the authority (`authority-notice.txt`) and one notice per affected
   customer in the customer outbox as a `draft` (released with `handover.incident.release_notices`).
6. **close_incident** — the timeline from the audit trail, the clock, the closing report (`closing-report.html`).

Params: `incident_ref`, `kind` (leak, unauthorised_access, ransomware, loss, other), `branches`, `window_start`,
`window_end`, `tables`, `keys` (exposed: `master`, `pseudonym`), `detected_at`, `dry_run`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from handover_airflow.alerts import on_failure


@dag(
    dag_id="incident_response",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "compliance", "incident"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(seconds=20),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={
        "incident_ref": Param("", type="string", minLength=4, description="The incident's reference"),
        "kind": Param("leak", enum=["leak", "unauthorised_access", "ransomware", "loss", "other"]),
        "branches": Param([], type="array", description="Branches in scope (empty: every branch)"),
        "window_start": Param(None, type=["null", "string"], format="date", description="Scope: loaded from"),
        "window_end": Param(None, type=["null", "string"], format="date", description="Scope: loaded until"),
        "tables": Param([], type="array", description="Tables in scope (the categories in the notices)"),
        "keys": Param(["master"], type="array", items={"enum": ["master", "pseudonym"]},
                      description="Keys that may be exposed: the pseudonym key re-tokenises the analytics tier"),
        "detected_at": Param(None, type=["null", "string"], description="When it was detected (ISO 8601; "
                                                                        "default now): the clock starts here"),
        "dry_run": Param(True, type="boolean", description="Rehearse: count every step, change nothing"),
    },
)
def incident_response():
    @task
    def open_incident(params=None, dag_run=None) -> dict:
        from handover_airflow.incident import open_incident as open_

        return open_(params, f"airflow:{dag_run.dag_id}")

    @task(retries=0)  # a containment is not repeated blindly
    def contain(opened: dict, dag_run=None) -> dict:
        from handover_airflow.incident import contain as contain_

        return contain_(opened, f"airflow:{dag_run.dag_id}")

    @task(retries=0)  # a rotation is one transaction; a failed one is looked at, not retried
    def rotate_master_key(opened: dict, contained: dict, dag_run=None) -> dict:
        from handover_airflow.incident import rotate_master_key as rotate

        return rotate(opened, f"airflow:{dag_run.dag_id}")

    @task  # one transaction: a retry starts over; a re-run after success changes nothing
    def retokenise_analytics(opened: dict, rotated: dict, dag_run=None) -> dict:
        from handover_airflow.incident import retokenise_analytics as retokenise

        return retokenise(opened, rotated, f"airflow:{dag_run.dag_id}")

    @task
    def list_affected(opened: dict, rotated: dict, retokenised: dict, dag_run=None) -> dict:
        from handover_airflow.incident import list_affected as list_

        return list_(opened, rotated, f"airflow:{dag_run.dag_id}")

    @task
    def draft_notices(opened: dict, found: dict, dag_run=None) -> dict:
        from handover_airflow.incident import draft_notices as draft

        return draft(opened, found, f"airflow:{dag_run.dag_id}")

    @task
    def close_incident(opened: dict, drafted: dict, dag_run=None) -> dict:
        from handover_airflow.incident import close_incident as close

        return close(opened, f"airflow:{dag_run.dag_id}")

    opened = open_incident()
    rotated = rotate_master_key(opened, contain(opened))
    found = list_affected(opened, rotated, retokenise_analytics(opened, rotated))
    close_incident(opened, draft_notices(opened, found))


incident_response()
