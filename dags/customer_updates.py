"""
### Customer updates (更新信息: keeping contacts current, PIPL Art. 46)

A change file from the branch or the service desk — CSV or XLSX, the customers' key column and the columns
that changed, under the contract's own headers (an empty cell: not changed) — applied to the vault with its
history, as dbt snapshots keep one:

1. **check_changes** — the file's columns against the contract's customers: the key column is there, every
   other column is a field a change file may change (contacts, the name, occupation, the document's expiry);
   anything else refuses the file before it is read. The run goes on record (`ops.update_runs`).
2. **extract_changes**, **verify_changes** (one per chunk) — the transfer's own path: read in chunks into a
   private work area, normalised, checked by the customers' suite and the Chinese validators.
3. **apply_changes** — each row applied (the earlier version of the record kept encrypted in
   `vault.customer_history` with `valid_from`/`valid_to`; new ciphertext, blind indexes and masks; the analytics
   row updated and k-anonymity enforced again), quarantined with its reason (`ops.quarantine`, entity
   `customer_updates`: unknown customer, two different changes of one customer, a bad value), excluded (an
   erased customer), unchanged (the vault has these values: the same file twice changes nothing) or a
   duplicate. A changed mobile or e-mail gets a confirmation to the old and to the new contact, written to the
   outbox in the change's transaction. Killed and run again, it goes on from the rows not yet decided.
4. **reconcile_changes** — rows read = applied + quarantined + excluded + unchanged + duplicate, or the run
   fails; counts to `ops.update_runs` and the audit log.
5. **deliver_confirmations** — the outbox drained by the notices' deliverer (connections `handover_smtp`,
   `handover_sms`; Variable `handover_notice_delivery`): nothing is sent twice.
6. **close_work_area** (teardown; **open_work_area** is its setup) — the plaintext work area removed, whatever happened.

Params: `contract`, `change_file` (absolute, or relative to the contract's export folder), `sheet` (XLSX; default
the first), `changed_on` (the day the confirmations name; default today, Shanghai), `chunk_rows`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, setup, task, teardown
from handover_airflow.alerts import on_failure
from handover_airflow.updates import mark_update_failed, run_update


@dag(
    dag_id="customer_updates",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "customers"],
    default_args={"owner": "handover", "retries": 2, "retry_delay": dt.timedelta(seconds=15),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    on_failure_callback=mark_update_failed,
    params={
        "contract": Param("contracts/sample_branch.yaml", type="string", description="Path of the data contract"),
        "change_file": Param("客户信息变更.csv", type="string",
                             description="The change file (absolute, or relative to the contract's export folder)"),
        "sheet": Param(None, type=["null", "string"], description="XLSX: the sheet (default: the first)"),
        "changed_on": Param(None, type=["null", "string"], format="date",
                            description="The day the confirmations name (YYYY-MM-DD; default today)"),
        "chunk_rows": Param(10_000, type="integer", minimum=1, description="Rows per chunk"),
    },
)
def customer_updates():
    @setup
    def open_work_area() -> str:
        from handover import updates
        return run_update(updates.open_work_area)

    @task
    def check_changes(work: str) -> dict:
        from handover import updates
        return run_update(updates.check_changes)

    @task
    def extract_changes(checked: dict) -> list[dict]:
        from handover import updates
        return run_update(updates.extract_changes)

    @task
    def verify_changes(ref: dict) -> dict:
        from handover import updates
        return run_update(updates.verify_changes, ref)

    @task(retries=3)
    def apply_changes(verified: list[dict]) -> dict:
        from handover import updates
        return run_update(updates.apply_changes)

    @task
    def reconcile_changes(applied: dict) -> dict:
        from handover import updates
        return run_update(updates.reconcile_changes)

    @task(retries=5, retry_delay=dt.timedelta(minutes=5))  # what is due later is sent by the retries
    def deliver_confirmations(reconciled: dict, params=None) -> dict:
        from handover_airflow.notices import deliver_notices
        return deliver_notices({"contract": params["contract"], "branch_id": None})

    @teardown
    def close_work_area(work: str) -> dict:
        from handover import updates
        return run_update(updates.close_work_area)

    work = open_work_area()
    verified = verify_changes.expand(ref=extract_changes(check_changes(work)))
    delivered = deliver_confirmations(reconcile_changes(apply_changes(verified)))
    delivered >> close_work_area(work).as_teardown(setups=work)


customer_updates()
