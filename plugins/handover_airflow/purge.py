"""Airflow glue for ``retention_purge``: the store, keys and settings from Airflow's secrets; the work of
each task over :mod:`handover.purge` (returns counts and states only — they land in XCom).

- Housekeeping periods: Variable ``handover_housekeeping`` (JSON, e.g. ``{"quarantine": "90d",
  "archives": "1y"}``), else :data:`handover.purge.rules.HOUSEKEEPING`.
- Reports: ``<output root>/purge/<day>-<purge id>.json`` (counts, states, dates; no identifier).
- Tombstones are also written beside the backups (``tombstones/<request>.json`` at connection
  ``handover_backup``), so a restore onto a new server, where this store's ``control`` is gone, still
  applies them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from handover_airflow.runtime import MASTER_KEY_VARIABLE, _secret, _setting, airflow_home

HOUSEKEEPING_VARIABLE = "handover_housekeeping"
log = logging.getLogger(__name__)


def _today(as_of: str | None) -> dt.date:
    from handover.purge.rules import today_in_shanghai

    return dt.date.fromisoformat(as_of) if as_of else today_in_shanghai()


def hasher(conn, master=None, *, create: bool = True):
    """The blind-index hasher of the store ``conn`` reaches. ``create=False`` reads the key without ever
    committing (inside a restore's transaction); None when the store has none (then nothing is indexed)."""
    from handover.crypto import Hasher, MasterKey
    from handover.store.keys import get_or_create

    master = master or MasterKey.from_text(_secret(MASTER_KEY_VARIABLE))
    if create:
        return Hasher(get_or_create(conn, master, "blind_index")[1])
    with conn.cursor() as cur:
        cur.execute("SELECT wrapped FROM ops.keys WHERE purpose = 'blind_index'")
        row = cur.fetchone()
    return Hasher(master.unwrap(bytes(row[0]), "blind_index")) if row else None


def output_root() -> Path:
    return Path(_setting("handover_output_root", "HANDOVER_OUTPUT_ROOT", str(airflow_home() / "handover" / "output")))


def work_root() -> Path:
    return Path(_setting("handover_work_root", "HANDOVER_WORK_ROOT", str(airflow_home() / "handover" / "work")))


def purge_records(dry_run: bool, as_of: str | None) -> dict:
    """Due records out of vault, analytics, ops (quarantine, exclusions, archives) and the work areas."""
    from airflow.sdk import Variable
    from handover.purge import erasure, rules, store
    from handover.run import run_tag
    from handover.store import ops

    from handover_airflow.backups import open_store

    today = _today(as_of)
    keep = rules.housekeeping(json.loads(Variable.get(HOUSEKEEPING_VARIABLE, default=None) or "{}"))
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
    from handover.purge import erasure
    from handover.store import ops

    from handover_airflow.backups import destination, open_store

    today = _today(as_of)
    with open_store() as conn:
        outcomes = erasure.carry_out(conn, hasher(conn), today, dry_run=dry_run)
        if not dry_run:
            states: dict[str, int] = {}
            for o in outcomes:
                states[o["state"]] = states.get(o["state"], 0) + 1
            ops.audit(conn, "erasure.decided", run_id=None, branch_id=None, actor="retention_purge",
                      requests=len(outcomes), states=states)
            mirror_tombstones(conn, destination())
    for o in outcomes:
        log.info("erasure request %s: %s%s", o["request"], o["state"], f" ({o['reason']})" if o["reason"] else "")
    return {"decided": len(outcomes), "dry_run": dry_run,
            "states": sorted({o["state"] for o in outcomes})}


def mirror_tombstones(conn, dest) -> int:
    """Each request's tombstones as one object beside the backups (written once; never expired)."""
    with conn.cursor() as cur:
        cur.execute("SELECT request_id, kind, encode(digest, 'hex'), erased_at FROM control.tombstones ORDER BY 1, 2, 3")
        by_request: dict[int, list] = {}
        for request_id, kind, hexdigest, erased_at in cur.fetchall():
            by_request.setdefault(request_id, []).append({"kind": kind, "digest": hexdigest,
                                                          "erased_at": erased_at.isoformat()})
    existing = set(dest.list("tombstones/"))
    written = 0
    for request_id, stones in by_request.items():
        name = f"tombstones/{request_id:012d}.json"
        if name not in existing:
            dest.put(name, iter([json.dumps(stones, sort_keys=True).encode()]))
            written += 1
    return written


def stored_tombstones(dest) -> list[tuple[str, bytes]]:
    out = []
    for name in dest.list("tombstones/"):
        out += [(s["kind"], bytes.fromhex(s["digest"])) for s in json.loads(dest.get(name))]
    return out


def write_report(purged: dict, erasures: dict) -> str:
    """The night's report: what went per class; every erasure request's state; for erased customers, the
    day the last backup that still holds them expires (backups stay encrypted until then)."""
    from handover.backup.retention import Policy
    from handover.purge import erasure

    from handover_airflow.backups import open_store, retention_settings

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
