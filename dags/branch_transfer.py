"""
### Branch transfer (网点转让)

Moves one branch's customer records to the new owner's store, as its **data contract** describes them:

1. **check_contract** — the contract and every declared file and column are right, or the run stops
   naming the place. Nothing is read before this passes.
2. **prepare_store**, **dump_source_tables**, **archive_original** — schemas and keys; tables of a source
   database (connection `handover_source`) dumped from one snapshot; the untouched export encrypted into
   the archive with the SHA-256 of every file, before anything is transformed.
3. **extract_source** (one per source) — files read in chunks into the run's private work area.
   **prepare_chunks** gathers the customers' names (the deny list that finds them in free text) and
   classifies `pii: auto` columns by sampling (the decision goes into the manifest).
4. **verify_chunk → protect_chunk → stage_chunk** (one per chunk, in parallel) — normalise, check with
   the Great Expectations suite, encrypt identifiers (AES-256-GCM, blind index, display mask), make the
   analytics values (tokens, generalised quasi-identifiers, notes masked by Presidio), stage.
5. **settle** — checks across all chunks: duplicates, conflicts, consent, references.
6. **scan_before_load** — the analytics values staged for loading searched for the export's identifiers
   and names, and checked by a second detector that is not the masker (third parties' names, phones,
   identifiers): a hit, or a column over its threshold, stops the run before anything is loaded.
   **load_vault** — one transaction into `vault`, `analytics` and `ops.quarantine` / `ops.exclusions`,
   then the analytics customers' k-anonymity measured and, with the contract's `min_k`, enforced
   (skipped when `dry_run`).
7. **reconcile** — source rows = loaded + quarantined + excluded + duplicates, or the run fails; a loaded
   row with a field issue (a value nulled or kept by its column's `on_invalid`) is counted by reason.
   **act_on_resend** — a re-sent export: a customer loaded before and now without consent has processing
   stopped and an erasure request carried out under the retention schedule; customers absent from it are
   listed, and kept, reported or erased as the contract's `transfer.absent_customers` says.
8. **publish_manifest** — the handover manifest with the loaded tables' content hashes, signed (Ed25519),
   and the bilingual checklist (交接清单), to `ops.manifests` and the output folder.
9. **scan_for_leaks** — every identifier and customer name of the export searched for in what an analyst
   can read, the manifest and checklist, the run's task logs and XCom: a hit fails the run, naming the
   places, never the values.
10. **close_work_area** (teardown) — plaintext work area and staging removed, whether the run succeeded or not.

Params: `branch_id`, `contract` (path of the YAML), `source` (folder overriding the contract's),
`dry_run` (verify and report, load nothing), `cross_border_approval` (reference of the approval when the
data leaves its jurisdiction), `recipient` (who receives it), `pipia` (the approved impact assessment, else
the contract's `transfer.pipia.reference`: nothing is loaded without one — DAG `transfer_assessment`). Connection `handover_target` (extra `region`);
Variables `handover_master_key`, `handover_signing_key`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, setup, task, teardown
from handover_airflow.alerts import on_failure
from handover_airflow.assets import TARGET_STORE
from handover_airflow.runtime import mark_run_failed, run
from handover_airflow.traces import run_traces


@dag(
    dag_id="branch_transfer",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "transfer"],
    default_args={"owner": "handover", "retries": 2, "retry_delay": dt.timedelta(seconds=15),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    on_failure_callback=mark_run_failed,
    params={
        "branch_id": Param("", type="string", description="Branch code; must equal the contract's branch.id"),
        "contract": Param("contracts/sample_branch.yaml", type="string", description="Path of the data contract"),
        "source": Param(None, type=["null", "string"], description="Folder of the export (overrides the contract)"),
        "dry_run": Param(False, type="boolean", description="Verify and report; load nothing"),
        "chunk_rows": Param(100_000, type="integer", minimum=1, description="Rows per chunk"),
        "cross_border_approval": Param(None, type=["null", "string"],
                                       description="Reference of the recorded approval (PIPL Art. 38–40) when "
                                                   "the target store is outside the data's jurisdiction"),
        "recipient": Param(None, type=["null", "string"], description="Who receives the data (in the manifest)"),
        "pipia": Param(None, type=["null", "string"],
                       description="Reference of the approved impact assessment (else the contract's "
                                   "transfer.pipia.reference; DAG transfer_assessment)"),
    },
)
def branch_transfer():
    # Each task runs the step of handover.transfer with its name (imported in the task: nothing heavy at
    # parse time); `run` gives it the run's context and holds the branch's lock while it runs.
    @setup
    def open_work_area() -> str:
        from handover import transfer
        return run(transfer.open_work_area)

    @task
    def check_contract(work: str) -> list[str]:
        from handover import transfer
        return run(transfer.check_contract)["entities"]

    @task(retries=3)
    def prepare_store(entities: list[str]) -> dict:
        from handover import transfer
        return run(transfer.prepare_store)

    @task
    def dump_source_tables(store: dict) -> dict:
        from handover import transfer
        return run(transfer.dump_source_tables)

    @task
    def archive_original(dumped: dict) -> dict:
        from handover import transfer
        return run(transfer.archive_original)

    @task
    def extract_source(entity: str) -> list[dict]:
        from handover import transfer
        return run(transfer.extract_source, entity)

    @task
    def prepare_chunks(per_source: list[list[dict]]) -> list[dict]:
        from handover import transfer
        run(transfer.prepare_chunks)
        # Index by count: iterating a lazy XCom sequence probes one past its end and logs an error.
        return [ref for i in range(len(per_source)) for ref in per_source[i]]

    @task
    def verify_chunk(ref: dict) -> dict:
        from handover import transfer
        return run(transfer.verify_chunk, ref)

    @task
    def protect_chunk(ref: dict) -> dict:
        from handover import transfer
        return run(transfer.protect_chunk, ref)

    @task(retries=3)
    def stage_chunk(ref: dict) -> dict:
        from handover import transfer
        return run(transfer.stage_chunk, ref)

    @task(retries=3)
    def settle(staged: list[dict]) -> dict:
        from handover import transfer
        return run(transfer.settle)

    @task
    def scan_before_load(settled: dict) -> dict:
        from handover import transfer
        return run(transfer.scan_before_load)

    @task(retries=3)
    def load_vault(scanned: dict) -> dict:
        from handover import transfer
        return run(transfer.load_vault)

    @task
    def reconcile(loaded: dict) -> dict:
        from handover import transfer
        return run(transfer.reconcile)

    @task(retries=3)
    def act_on_resend(reconciled: dict) -> dict:
        from handover import transfer
        return run(transfer.act_on_resend)

    @task(outlets=[TARGET_STORE])  # branch_backup and customer_notice follow
    def publish_manifest(decided: dict, params=None, outlet_events=None) -> dict:
        from handover import transfer
        published = run(transfer.publish_manifest)
        outlet_events[TARGET_STORE].extra = {"contract": params["contract"], "branch_id": params["branch_id"],
                                             "dry_run": bool(params["dry_run"])}  # whom customer_notice tells
        return published

    @task
    def scan_for_leaks(manifest: dict) -> dict:
        from handover import transfer
        return run(transfer.scan_for_leaks, run_traces())

    @teardown
    def close_work_area(work: str) -> dict:
        from handover import transfer
        return run(transfer.close_work_area)

    work = open_work_area()
    entities = check_contract(work)
    store = prepare_store(entities)
    extracted = extract_source.expand(entity=entities)
    archive_original(dump_source_tables(store)) >> extracted
    staged = stage_chunk.expand(ref=protect_chunk.expand(ref=verify_chunk.expand(ref=prepare_chunks(extracted))))
    loaded = load_vault(scan_before_load(settle(staged)))
    manifest = publish_manifest(act_on_resend(reconcile(loaded)))
    scan_for_leaks(manifest) >> close_work_area(work).as_teardown(setups=work)


branch_transfer()
