"""The steps of a branch transfer, one function per DAG task, in the order the data flows.

    open_work_area → check_contract → prepare_store → dump_source_tables → archive_original
      → extract_source (per source) → prepare_chunks → verify_chunk → protect_chunk → stage_chunk (per chunk)
      → settle → scan_before_load → load_vault → reconcile → act_on_resend → publish_manifest
      → scan_for_leaks → close_work_area (teardown: work area and staging removed, success or not)

The DAG's tasks have these names and call these functions (dags/branch_transfer.py);
`handover.local_run.run_all` calls them in the same order in one process (its per-chunk steps in forked
workers).

Each step takes a `RunContext` and small references (a chunk's `ChunkRef` as a dict, counts), and returns
small references. Data moves through the run's work area (`ctx.area`: every file's place is named in
`handover.workarea`) and staging tables, never through the return values.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from handover import archive, faults, jurisdiction
from handover import manifest as manifest_mod
from handover.contract import AUTO, Contract, EntitySpec
from handover.crypto import signing_key
from handover.errors import ContractError, StoreError
from handover.run import RunContext, run_tag
from handover.sources import database, inspect_source
from handover.store import ops, partitions, schema, staging
from handover.store.connection import connect as store_connect
from handover.store.connection import open_connection, translated
from handover.store.content import content_hashes
from handover.store.keys import Keyring
from handover.store.keys import hasher as blind_index
from handover.workarea import RAW, ChunkRef, WorkArea, open_area, remove_area, write_private


@contextmanager
def connect(dsn: str, step: str = "store"):
    """A connection to the target store for one step (:func:`handover.store.connect`); a store error says
    what the step had and had not committed, and what to do (:data:`STEP_COMMITS`)."""
    committed, retry = STEP_COMMITS.get(step, STEP_COMMITS[None])
    with store_connect(dsn, step, committed=committed, retry=retry) as conn:
        yield conn


# What a store error leaves behind, step by step — what was and was not committed — and what to do when
# the error is one a retry can clear (a lost connection); a violated constraint says to remove its cause.
STEP_COMMITS = {
    None: ("what this step had not committed was rolled back and its earlier commits stay",
           "every step can be run again, and a re-run ends as one clean run"),
    "load": (("nothing of this run was loaded: the load is one transaction, and it was rolled back — the "
              "vault and the analytics tier are as before this run"), "run the task (or the transfer) again"),
    "stage_chunk": ("this chunk was not staged: its COPY is one transaction", "the task retries it"),
    "settle": ("no disposition of this run was written: settling is one transaction", "run it again"),
    "publish_manifest": ("the manifest may not be recorded in ops.manifests yet",
                         "run the step again (it writes the same manifest)"),
    "act_on_resend": ("each erasure request is its own transaction: those carried out stay",
                      "the rest are carried out by the next run or tonight's retention_purge"),
}


@contextmanager
def branch_guard(ctx: RunContext):
    """One task of a DAG run: the branch's lock held shared while it runs, the run's heartbeat stamped
    (`handover.store.runlock`); `BranchBusy` if a run driven by one process holds the branch."""
    from handover.store import runlock

    with translated("cannot take the branch's lock in the target store"):
        guard = runlock.task_guard(lambda: open_connection(ctx.dsn), ctx.contract().branch_id, ctx.run_id)
        pid = guard.__enter__()
    ctx.guard_pids.add(pid)
    try:
        yield
    finally:
        guard.__exit__(None, None, None)


def _mode(ctx: RunContext) -> str:
    return "dry_run" if ctx.dry_run else "transfer"


def open_work_area(ctx: RunContext) -> str:
    return open_area(ctx.work_dir).as_posix()


def check_contract(ctx: RunContext) -> dict:
    """The contract and every declared source are right, or the run stops here naming the place."""
    contract = ctx.contract()
    if ctx.branch_id and ctx.branch_id != contract.branch_id:
        raise ContractError(contract.path, [(f"branch.id: the run was triggered for branch {ctx.branch_id} "
                                             f"but the contract is for {contract.branch_id}")])
    crossing = jurisdiction.check(contract.jurisdiction, ctx.target_region, ctx.cross_border_approval)
    source_dir = contract.source_dir(ctx.source_dir)
    sources = [inspect_source(spec, source_dir).__dict__ for spec in contract.entities.values()
               if spec.source.format != "table"]
    database.inspect_tables(ctx.source_dsn, database.table_specs(contract))
    write_private(ctx.area.sources, json.dumps(sources, ensure_ascii=False).encode())
    write_private(ctx.area.jurisdiction, json.dumps(crossing).encode())
    return {"branch_id": contract.branch_id, "contract_sha256": contract.sha256,
            "entities": list(contract.entities)}


def prepare_store(ctx: RunContext) -> dict:
    contract = ctx.contract()
    with connect(ctx.dsn, "prepare_store") as conn:
        schema.ensure_schema(conn)
        if not ctx.dry_run:
            from handover import pipia

            # no load without an approved impact assessment (PIPL Art. 55), as none across a border without an
            # approval: named by the trigger or the contract, approved by its approver (handover.pipia)
            assessed = pipia.require_approved(conn, ctx.pipia or contract.pipia_reference, contract.branch_id)
        _sweep_abandoned(conn, ctx, contract.branch_id)
        keys = Keyring(conn, ctx.master_key, contract.branch_id)
        staging.create_tables(conn, contract, ctx.tag)
        ops.start_run(conn, ctx.run_id, contract.branch_id, contract.sha256, _mode(ctx), ctx.driver)
        if not ctx.dry_run:
            from handover.purge.store import bind_classes

            bind_classes(conn, contract)
        crossing = json.loads(ctx.area.jurisdiction.read_text())
        ops.audit(conn, "run_started", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  mode=_mode(ctx), contract_sha256=contract.sha256, data_key_id=keys.cipher.key_id,
                  master_key_id=ctx.master_key.key_id, cross_border=crossing)
        if not ctx.dry_run:
            ops.audit(conn, "pipia_checked", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                      **assessed)
        if crossing["cross_border"]:
            ops.audit(conn, "cross_border_approved", run_id=ctx.run_id, branch_id=contract.branch_id,
                      actor=ctx.actor, **crossing)
    return {"schema": schema.fingerprint(), "data_key_id": keys.cipher.key_id}


def _sweep_abandoned(conn, ctx: RunContext, branch_id: str) -> None:
    """Runs of this branch still marked running: one that is alive (its process holds the branch's lock, a
    task of it is running, or a DAG run's heartbeat is within its lease: `handover.store.runlock`) makes this
    run stop (`BranchBusy`) — one transfer of a branch at a time; the dead ones were killed: their plaintext
    work areas and staging tables are removed, and ops says so."""
    from handover.store import runlock

    stale = ops.running_runs(conn, branch_id, other_than=ctx.run_id)
    with conn.cursor() as cur:
        live = [r for r in stale if runlock.alive(cur, branch_id, r, ctx.guard_pids)]
    conn.commit()
    if live:
        raise runlock.BranchBusy(f"branch {branch_id} is being transferred by run {', '.join(live)}: one "
                                 "transfer of a branch runs at a time. Wait for it to end; a killed run is swept "
                                 "by the next run once its lock is gone (a process's at once, a DAG run's when "
                                 "Airflow fails it or its lease of HANDOVER_RUN_LEASE_SECONDS has run out)")
    for run_id in stale:
        tag = run_tag(run_id)
        removed = remove_area(WorkArea.of_run(ctx.work_root, tag).root)
        dropped = staging.drop_tables(conn, tag)
        unattached = partitions.drop_unattached(conn, branch_id)
        ops.finish_run(conn, run_id, "abandoned")
        ops.audit(conn, "run_abandoned", run_id=run_id, branch_id=branch_id, actor=ctx.actor,
                  swept_by=ctx.run_id, work_area_removed=removed, staging_tables_dropped=dropped,
                  unattached_partitions_dropped=unattached)


def _readable(ctx: RunContext, contract: Contract, spec: EntitySpec) -> tuple[EntitySpec, Path]:
    """The spec and folder to read an entity from: a source-database table is read from its dump."""
    if spec.source.format != "table":
        return spec, contract.source_dir(ctx.source_dir)
    dumped = replace(spec, source=replace(spec.source, file=database.dump_name(spec), format="csv",
                                          encoding="utf-8"))
    return dumped, ctx.area.dump


def dump_source_tables(ctx: RunContext) -> dict:
    """Tables of the source database, from one consistent snapshot, dumped into the work area."""
    contract = ctx.contract()
    specs = database.table_specs(contract)
    if not specs:
        return {}
    dumped = database.dump_tables(ctx.source_dsn, specs, ctx.area.dump)
    sources = json.loads(ctx.area.sources.read_text())
    for spec in specs:
        readable, folder = _readable(ctx, contract, spec)
        info = inspect_source(readable, folder).__dict__ | {"table": dumped[spec.name]["table"],
                                                            "snapshot": dumped[spec.name]["snapshot"]}
        sources.append(info)
    write_private(ctx.area.sources, json.dumps(sources, ensure_ascii=False).encode())
    with connect(ctx.dsn, "dump_source_tables") as conn:
        ops.audit(conn, "source_tables_dumped", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  tables={e: {k: v for k, v in d.items() if k != "file"} for e, d in dumped.items()})
    return {e: d["rows"] for e, d in dumped.items()}


def archive_original(ctx: RunContext) -> dict:
    """Before anything is transformed: every source file (or table dump), untouched, encrypted into the
    archive."""
    contract = ctx.contract()
    sources = json.loads(ctx.area.sources.read_text())
    entries = [archive.archive_file(Path(s["path"]), s["sha256"], contract.branch_id, ctx.archive_dir,
                                    ctx.master_key) for s in sources]
    write_private(ctx.area.archived, json.dumps(entries, ensure_ascii=False).encode())
    with connect(ctx.dsn, "archive_original") as conn:
        ops.record_archives(conn, contract.branch_id, ctx.run_id, entries, ctx.archive_dir / contract.branch_id)
        ops.audit(conn, "original_archived", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  files=[{"file": e["file"], "sha256": e["sha256"]} for e in entries])
    return {"files": len(entries)}


def extract_source(ctx: RunContext, entity: str) -> list[dict]:
    """The source read into chunks; their references (`ChunkRef.as_dict`: what the chunk tasks are mapped
    over)."""
    from handover.extract import extract_entity  # numpy, pyarrow: imported by the steps that read data

    contract = ctx.contract()
    spec, folder = _readable(ctx, contract, contract.entities[entity])
    return [ref.as_dict() for ref in extract_entity(spec, folder, ctx.area, ctx.chunk_rows)]


def verify_chunk(ctx: RunContext, ref: dict) -> dict:
    from handover.verify import verify_chunk as _verify

    contract = ctx.contract()
    chunk = ChunkRef.of(ref)
    result = _verify(contract.entities[chunk.entity], chunk, ctx.area)
    write_private(ctx.area.validation(chunk), json.dumps(result.pop("validation")).encode())
    return result


def prepare_chunks(ctx: RunContext) -> dict:
    """After extraction, before the chunks: the customers' names gathered (`customer_names`) and the
    ``pii: auto`` columns classified (`classify_auto_columns`)."""
    return {"names": len(customer_names(ctx)), "classified": classify_auto_columns(ctx)}


def classify_auto_columns(ctx: RunContext) -> dict[str, str]:
    """Each ``pii: auto`` extra column decided by sampling its values in the first chunk (counts only are
    kept: `handover.pii.classify`): an identifier or PII inside → sealed in the vault as a direct or
    free-text column; nothing → kept plain. Written to the work area (the chunks read it), the manifest
    and the audit log. Returns column → class."""
    contract = ctx.contract()
    auto = [(name, c) for name, spec in contract.entities.items() for c in spec.columns if c.pii == AUTO]
    path = ctx.area.classification
    if not auto:
        return {}
    if not path.exists():
        from handover.pii import classify_column, engine
        from handover.pii.operators import FREE_TEXT
        from handover.workarea import read_table

        analyzer = engine.analyzer(customer_names(ctx))
        decided = {}
        for entity, column in auto:
            first = ctx.area.raw(ChunkRef(entity, 0))
            values = read_table(first, [column.name]).column(column.name) if first.exists() else []
            found = classify_column(values, analyzer)
            pii = "none" if found.entity is None else "free_text" if found.entity == FREE_TEXT else "direct"
            decided[f"{entity}.{column.name}"] = found.report() | {"pii": pii}
        write_private(path, json.dumps(decided).encode())
        with connect(ctx.dsn, "classify_auto_columns") as conn:
            ops.audit(conn, "pii_auto_classified", run_id=ctx.run_id, branch_id=contract.branch_id,
                      actor=ctx.actor, columns=decided)
    return {k: v["pii"] for k, v in json.loads(path.read_text()).items()}


def _classified(ctx: RunContext) -> Contract:
    """The contract with each ``pii: auto`` column's class as this run decided it."""
    contract = ctx.contract()
    path = ctx.area.classification
    if not path.exists():
        return contract
    decided = json.loads(path.read_text())
    entities = {}
    for name, spec in contract.entities.items():
        columns = [replace(c, pii=decided[f"{name}.{c.name}"]["pii"]) if c.pii == AUTO else c
                   for c in spec.columns]
        entities[name] = replace(spec, columns=columns)
    return replace(contract, entities=entities)


def customer_names(ctx: RunContext) -> list[str]:
    """The branch's customer names, normalised and distinct — the deny list that finds a customer's name
    in free text wherever it occurs (`handover.pii`) — gathered from the extracted chunks into the work
    area once (here, if `prepare_chunks` has not run)."""
    import os

    import pyarrow as pa

    from handover import normalise
    from handover.workarea import read_table, write_table

    path = ctx.area.customer_names
    if not path.exists():
        spec = ctx.contract().entities["customers"]
        column = spec.column_for("name")
        names: set[str] = set()
        for chunk in ctx.area.chunks(RAW, "customers"):
            raw = read_table(ctx.area.raw(chunk), ["name"]).column("name").to_pandas()
            clean, _ = normalise.normalise_column(raw, column.type, column.format)
            names.update(v for v in clean.dropna().unique() if isinstance(v, str))
        own = path.with_name(f"{path.name}.{os.getpid()}")  # chunks may gather at once: each its own file
        write_table(pa.table({"name": pa.array(sorted(names), pa.string())}), own)
        os.replace(own, path)
    return read_table(path).column("name").to_pylist()


def protect_chunk(ctx: RunContext, ref: dict) -> dict:
    from handover import analytics
    from handover.vault import protect_chunk as _protect

    contract = _classified(ctx)
    chunk = ChunkRef.of(ref)
    spec = contract.entities[chunk.entity]
    with connect(ctx.dsn, "protect_chunk") as conn:
        keys = Keyring(conn, ctx.master_key, contract.branch_id)
    analyzer = None
    if any(f.pii == "free_text" for f in spec.model.fields):
        from handover.pii import engine

        analyzer = engine.analyzer(customer_names(ctx))

    def analytics_rows(table):
        return analytics.staged_values(analytics.analytics_chunk(
            spec, table, contract.masking, keys.pseudonym, analyzer, branch_id=contract.branch_id))

    _protect(spec, chunk, ctx.area, keys, contract.branch_id, analytics_rows)
    return {k: v for k, v in ref.items() if k != "validation"}


def stage_chunk(ctx: RunContext, ref: dict) -> dict:
    chunk = ChunkRef.of(ref)
    with connect(ctx.dsn, "stage_chunk") as conn:
        rows = staging.stage_chunk(conn, ctx.tag, ctx.area, chunk)
    return {"entity": chunk.entity, "chunk": chunk.index, "staged": rows}


def settle(ctx: RunContext) -> dict:
    """Checks across the whole dataset: duplicates, conflicts, erased customers, consent, references."""
    faults.point("settle.before")
    contract = ctx.contract()
    with connect(ctx.dsn, "settle") as conn:
        staging.mark_erased(conn, contract, ctx.tag, blind_index(conn, ctx.master_key))
        staging.settle(conn, contract, ctx.tag)
        counts = staging.disposition_counts(conn, contract, ctx.tag)
    return {e: {k: v for k, v in c.items() if k not in ("reasons", "loaded_summary")} for e, c in counts.items()}


def load_vault(ctx: RunContext) -> dict:
    contract = ctx.contract()
    if ctx.dry_run:
        return {"dry_run": True}
    from handover.store.merge import merge, prebuild_partitions  # the load's imports: only the load pays them
    from handover.vault import seal_payloads

    with connect(ctx.dsn, "load") as conn:
        keys = Keyring(conn, ctx.master_key, contract.branch_id)
        for name, spec in contract.entities.items():
            lines = staging.quarantined_lines(conn, name, ctx.tag)
            staging.stage_payloads(conn, name, ctx.tag, seal_payloads(spec, ctx.area, lines, keys))
        prebuilt = prebuild_partitions(lambda: open_connection(ctx.dsn),
                                       contract, ctx.tag, ctx.run_id)
        faults.point("load.after_prebuild")
        written = merge(conn, contract, ctx.tag, ctx.run_id, prebuilt)
        ops.audit(conn, "vault_loaded", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  written=written)
    write_private(ctx.area.anonymity, json.dumps(written["anonymity"]).encode())
    return written


def reconcile(ctx: RunContext) -> dict:
    from handover.extract import extract_report
    from handover.reconcile import reconcile as _reconcile
    from handover.reconcile import verify_destinations

    contract = ctx.contract()
    source_rows = {e: extract_report(ctx.area, e)["rows"] for e in contract.entities}
    with connect(ctx.dsn, "reconcile") as conn:
        dispositions = staging.disposition_counts(conn, contract, ctx.tag)
        destinations = None if ctx.dry_run else {
            e: verify_destinations(conn, e, ctx.tag, contract.branch_id, dispositions[e]["loaded_summary"])
            for e in contract.entities}
        try:
            result = _reconcile(source_rows, dispositions, destinations)
        except Exception as exc:
            ops.audit(conn, "reconciliation_failed", run_id=ctx.run_id, branch_id=contract.branch_id,
                      actor=ctx.actor, error=str(exc))
            raise
        ops.audit(conn, "reconciled", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  counts=result)
    write_private(ctx.area.reconciliation, json.dumps(result).encode())
    return {e: {k: v for k, v in c.items() if k != "reasons"} for e, c in result.items()}


def act_on_resend(ctx: RunContext) -> dict:
    """After the reconciliation: what a re-sent export says of customers an earlier run loaded — consent
    withdrawn (processing stopped, erasure under the retention schedule) and customers absent from it (the
    contract's keep | report | erase): `handover.resend`. Counts and the decision go to the manifest."""
    import datetime as dt

    from handover import resend
    from handover.purge.rules import ZONE

    contract = ctx.contract()
    with connect(ctx.dsn, "act_on_resend") as conn:
        hasher = blind_index(conn, ctx.master_key)
        report = resend.act(conn, contract, ctx.tag, hasher, today=dt.datetime.now(ZONE).date(),
                            actor=ctx.actor, dry_run=ctx.dry_run)
        if report.get("withdrawn", {}).get("customers") or report.get("absent", {}).get("customers"):
            ops.audit(conn, "resend_decided", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                      **{k: ({kk: vv for kk, vv in v.items() if kk != "customer_ids"} if isinstance(v, dict) else v)
                         for k, v in report.items()})
    write_private(ctx.area.resend, json.dumps(report).encode())
    return {k: v.get("customers") for k, v in report.items() if isinstance(v, dict)}


def _validation(ctx: RunContext, contract: Contract) -> dict:
    summaries = []
    for entity in contract.entities:
        for path in ctx.area.validations(entity):
            summaries.append((entity, json.loads(path.read_text())))
    return manifest_mod.aggregate_validation(summaries)


def _analytics_report(ctx: RunContext) -> dict:
    """What the manifest says of the analytics tier and the run's PII decisions (counts only): the
    k-anonymity report of the load, and how each ``pii: auto`` column was classified."""
    report = {}
    for key, path in (("anonymity", ctx.area.anonymity), ("pii_auto", ctx.area.classification)):
        if path.exists():
            report[key] = json.loads(path.read_text())
    return report


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def publish_manifest(ctx: RunContext) -> dict:
    from handover import checklist

    contract = ctx.contract()
    counts = json.loads(ctx.area.reconciliation.read_text())
    sources = json.loads(ctx.area.sources.read_text())
    for s in sources:
        s.pop("path", None)  # the path as the run saw it; the file's real path and type stay (real_path, type)
        s["headers"] = list(s["headers"])
    validation = _validation(ctx, contract)
    signer = signing_key(ctx.signing_key_text)  # fail before writing anything if it is missing
    archived = json.loads(ctx.area.archived.read_text())
    crossing = json.loads(ctx.area.jurisdiction.read_text())
    folder = ctx.output_dir(contract.branch_id)
    with connect(ctx.dsn, "publish_manifest") as conn:
        content = {} if ctx.dry_run else content_hashes(
            lambda: open_connection(ctx.dsn), contract.entities, contract.branch_id)
        doc = manifest_mod.build(run_id=ctx.run_id, mode=_mode(ctx), contract_summary=contract.summary(),
                                 sources=sources, counts=counts, validation=validation,
                                 schema_fingerprint=schema.fingerprint(), content=content, archive=archived,
                                 jurisdiction=crossing, recipient=ctx.recipient,
                                 analytics=_analytics_report(ctx), resend=_read_json(ctx.area.resend))
        written = manifest_mod.write(doc, folder, signer)
        checklist.write(doc, written["sha256"], written["fingerprint"], folder)
        ops.record_manifest(conn, ctx.run_id, contract.branch_id, written)
        ops.finish_run(conn, ctx.run_id, "success", counts=counts, validation=validation)
        ops.audit(conn, "manifest_published", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  manifest_sha256=written["sha256"], signer_fingerprint=written["fingerprint"])
    return {"manifest": written["path"].as_posix(), "sha256": written["sha256"],
            "signer_fingerprint": written["fingerprint"]}


def close_work_area(ctx: RunContext) -> dict:
    """Teardown: remove the work area (plaintext) and the run's staging tables, whatever happened."""
    removed = remove_area(ctx.work_dir)
    dropped = 0
    try:
        with connect(ctx.dsn, "close") as conn:
            dropped = staging.drop_tables(conn, ctx.tag)
            ops.audit(conn, "work_area_removed", run_id=ctx.run_id, branch_id=None, actor=ctx.actor,
                      removed=removed, staging_tables_dropped=dropped)
    except StoreError:
        pass  # the store may be what failed; staging holds no plaintext and the next close drops it
    return {"work_area_removed": removed, "staging_tables_dropped": dropped}


def mark_failed(ctx: RunContext, reason: str) -> None:
    with connect(ctx.dsn, "mark_failed") as conn:
        ops.finish_run(conn, ctx.run_id, "failed")
        ops.audit(conn, "run_failed", run_id=ctx.run_id, branch_id=None, actor=ctx.actor, reason=reason)


def scan_for_leaks(ctx: RunContext, traces: dict | None = None) -> dict:
    """After the manifest: no identifier or customer name of the export in what an analyst can read, in the
    handed-over files (manifest, checklist), nor in the run's task logs and XCom (`traces`: ``logs``, a
    list of log file paths; ``xcom``, ``task/key`` → value — Airflow's glue finds them). Any hit fails
    the run, naming the places and never the values; the audit log gets the counts."""
    from handover import leaks

    contract = ctx.contract()
    traces = traces or {}
    if ctx.area.extracted:  # the export as extracted: not read again
        needles = leaks.needles_from_chunks(contract, ctx.area)
    else:  # after the run (its work area removed): from the export itself
        needles = leaks.needles_from_export(contract, sources=[_readable(ctx, contract, spec)
                                                               for spec in contract.entities.values()],
                                            chunk_rows=ctx.chunk_rows)
    report = leaks.LeakReport()
    report.scanned["needles"] = len(needles)
    folder = ctx.output_dir(contract.branch_id)
    handed_over = sorted(p for p in folder.glob("*") if p.suffix in (".json", ".html")) if folder.is_dir() else []
    leaks.scan_files(handed_over, needles, report)
    leaks.scan_files(traces.get("logs") or [], needles, report)
    leaks.scan_values(traces.get("xcom") or {}, needles, report)
    with connect(ctx.dsn, "scan_for_leaks") as conn:
        leaks.scan_database(conn, needles, leaks.ANALYST, report=report)
        ops.audit(conn, "leak_scan", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  **report.summary())
    if not report.clean:
        raise leaks.LeakError(report, AFTER_LOAD)
    return {"hits": 0, "scanned": dict(report.scanned)}


AFTER_LOAD = (
    "What happened: this run's data is loaded and its manifest published — the analytics values were scanned "
    "before the load and passed; this last scan found the values above in what the run left behind or in "
    "what analysts can read now. What to do: a task log or XCom place — delete those log files or XCom rows "
    "(Airflow's `airflow db clean`, or the files named) and report the task that wrote them; a handed-over "
    "file — do not pass it on, and run the transfer again to write it anew; a table — it is readable by "
    "analysts now: revoke their access (handover roles) until the rows are removed (handover erase for a "
    "customer), then find how the value got there.")


def scan_before_load(ctx: RunContext) -> dict:
    """After settling, before anything is loaded: the analytics values this run staged are searched for the
    export's identifiers and customer names, and checked by a second detector that is not the masker
    (`handover.residual`) for third parties' names, phones and identifiers. A hit, or a column over its
    threshold, fails the run here: nothing is loaded and no manifest published."""
    from handover import leaks

    contract = ctx.contract()
    needles = leaks.needles_from_chunks(contract, ctx.area)
    report = leaks.LeakReport()
    report.scanned["needles"] = len(needles)
    with connect(ctx.dsn, "scan_before_load") as conn:
        over = leaks.scan_staged(conn, contract, ctx.tag, needles, report, contract.residual_thresholds)
        summary = report.summary() | {"residual_over": [
            {"place": v.place, "values": v.values, "suspected": dict(v.suspected)} for v in over]}
        ops.audit(conn, "staged_leak_scan", run_id=ctx.run_id, branch_id=contract.branch_id, actor=ctx.actor,
                  **summary)
    if not report.clean or over:
        raise leaks.StagedLeakError(report, over)
    return {"hits": 0, "scanned": dict(report.scanned)}
