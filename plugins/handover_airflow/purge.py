"""Airflow glue for ``retention_purge``: the store, keys and settings from Airflow's secrets; the work of
each task over :mod:`handover.purge` (returns counts and states only — they land in XCom).

- Settings (the store, the keys, the housekeeping periods, the folders): :mod:`handover_airflow.settings`.
- Reports: ``<output root>/purge/<day>-<purge id>.json`` (counts, states, dates; no identifier).
- Tombstones are also written beside the backups (:mod:`handover.purge.tombstones`), so a restore onto a
  new server, where this store's ``control`` is gone, still applies them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from handover_airflow.runtime import master_key
from handover_airflow.settings import (
    cold_archive_destination,
    destination,
    hasher,
    open_store,
    output_root,
    retention_settings,
    work_root,
)
from handover_airflow.settings import (
    housekeeping as housekeeping_periods,
)

log = logging.getLogger(__name__)


def _today(as_of: str | None) -> dt.date:
    from handover.purge.rules import today_in_shanghai

    return dt.date.fromisoformat(as_of) if as_of else today_in_shanghai()


def purge_records(dry_run: bool, as_of: str | None) -> dict:
    """Due records out of vault, analytics, ops (quarantine, exclusions, archives), the work areas and the
    cold archive."""
    from handover import cold_archive
    from handover.purge import erasure, store
    from handover.run import run_tag
    from handover.store import ops


    today = _today(as_of)
    keep = housekeeping_periods()
    with open_store() as conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO control.purges (dry_run, today) VALUES (%s, %s) RETURNING id", (dry_run, today))
            purge_id = cur.fetchone()[0]
            conn.commit()
            held_branches, held_customers = erasure.holds(cur, erasure.CustomerIds(cur, hasher(conn)))
            cur.execute("SELECT run_id FROM ops.runs WHERE status = 'running'")
            running = {run_tag(r) for (r,) in cur.fetchall()}
        records = store.purge_vault(conn, today, held_branches=set(held_branches),
                                    held_customers=set(held_customers), dry_run=dry_run)
        housekeeping = store.purge_ops(conn, today, keep, held_branches=set(held_branches), dry_run=dry_run)
        housekeeping.append(store.purge_work_areas(work_root(), today, keep["work_areas"], running, dry_run))
        # archived customers whose every record is due: marked, then out of their object after the erasures
        housekeeping.append(cold_archive.purge_due(conn, today, held_branches=set(held_branches),
                                                   held_customers=set(held_customers), dry_run=dry_run))
        if dry_run:
            conn.rollback()
        counts = {"records": records, "housekeeping": housekeeping,
                  "held": {"branches": sorted(held_branches), "customers": len(held_customers)}}
        with conn.cursor() as cur:
            cur.execute("UPDATE control.purges SET counts = %s, finished_at = clock_timestamp(), status = %s "
                        "WHERE id = %s", (json.dumps(counts), "dry_run" if dry_run else "success", purge_id))
        conn.commit()
        if not dry_run:
            ops.audit(conn, "retention.purged", run_id=None, branch_id=None, actor="retention_purge",
                      purge_id=purge_id, today=today.isoformat(), **_totals(records, housekeeping))
    for row in records + housekeeping:
        log.info("%s: %s", "would delete" if dry_run else "deleted", {k: v for k, v in row.items()})
    return {"purge_id": purge_id, "today": today.isoformat(), "dry_run": dry_run} | _totals(records, housekeeping)


def _totals(records: list[dict], housekeeping: list[dict]) -> dict:
    per_class: dict[str, int] = {}
    for row in records + housekeeping:
        if "class" in row:
            per_class[row["class"]] = per_class.get(row["class"], 0) + row.get("deleted", 0)
    return {"deleted_per_class": per_class}


def carry_out_erasures(dry_run: bool, as_of: str | None) -> dict:
    from handover import cold_archive
    from handover.purge import erasure, tombstones
    from handover.store import ops

    today = _today(as_of)
    with open_store() as conn:
        outcomes = erasure.carry_out(conn, hasher(conn), today, dry_run=dry_run)
        if not dry_run:
            states: dict[str, int] = {}
            for o in outcomes:
                states[o["state"]] = states.get(o["state"], 0) + 1
            ops.audit(conn, "erasure.decided", run_id=None, branch_id=None, actor="retention_purge",
                      requests=len(outcomes), states=states)
            tombstones.mirror(conn, destination())
            # the cold archive's objects written again without the customers erased tonight and the rows due
            cold, storage = cold_archive_destination()
            with conn.cursor() as cur:
                held_branches, held_customers = erasure.holds(cur, erasure.CustomerIds(cur, hasher(conn)))
            conn.commit()
            rewritten = cold_archive.rewrite(conn, cold, master_key(), storage=storage, today=today,
                                             held_branches=set(held_branches), held_customers=set(held_customers))
            if rewritten:
                ops.audit(conn, "cold_archive.rewritten", run_id=None, branch_id=None, actor="retention_purge",
                          objects=[r["object"] for r in rewritten], kept=sum(r["kept"] for r in rewritten))
    for o in outcomes:
        log.info("erasure request %s: %s%s", o["request"], o["state"], f" ({o['reason']})" if o["reason"] else "")
    return {"decided": len(outcomes), "dry_run": dry_run,
            "states": sorted({o["state"] for o in outcomes})}


def write_report(purged: dict, erasures: dict) -> str:
    """The night's report: what went per class; every erasure request's state; for erased customers, the
    day the last backup that still holds them expires (backups stay encrypted until then)."""
    from handover.backup.retention import Policy
    from handover.purge import erasure


    policy = Policy.parse(retention_settings())
    with open_store() as conn:
        requests = erasure.report(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT backup_id, taken_at FROM control.backups WHERE expired_at IS NULL ORDER BY taken_at")
            live = cur.fetchall()
    for request in requests:
        if request["state"] == "done" and request["decided_at"]:
            older = [taken for _, taken in live if taken < request["decided_at"]]
            request["backups_holding"] = len(older)
            expiry = policy.latest_expiry(max(older)) if older else None
            request["last_backup_copy_expires"] = expiry.date().isoformat() if expiry else None
    out = output_root() / "purge"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{purged['today']}-{purged['purge_id']}.json"
    path.write_text(json.dumps({"purge": purged, "erasures": erasures, "requests": requests}, ensure_ascii=False,
                               indent=2, default=str), encoding="utf-8")
    log.info("report: %s (%d requests)", path, len(requests))
    return str(path)
