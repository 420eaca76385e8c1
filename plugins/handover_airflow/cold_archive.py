"""Airflow glue for ``customer_archive``: each function is one task's work over :mod:`handover.cold_archive`
(counts, object ids and dates only — they land in XCom). The store, the keys and the destination come from
:mod:`handover_airflow.settings`; the archive's period from the contract's retention schedule (class
``archive_inactive``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from handover_airflow.runtime import master_key
from handover_airflow.settings import cold_archive_destination, hasher, open_store, output_root

log = logging.getLogger(__name__)


def _today(as_of: str | None) -> dt.date:
    from handover.purge.rules import today_in_shanghai

    return dt.date.fromisoformat(as_of) if as_of else today_in_shanghai()


def take_out_departed(as_of: str | None) -> dict:
    """Objects rewritten without the customers erased, purged or restored since they were written, and
    without the rows due today."""
    from handover import cold_archive
    from handover.purge import erasure

    dest, storage = cold_archive_destination()
    master = master_key()
    with open_store() as conn:
        with conn.cursor() as cur:
            held_branches, held_customers = erasure.holds(cur, erasure.CustomerIds(cur, hasher(conn, master)))
        conn.commit()
        rewritten = cold_archive.rewrite(conn, dest, master, storage=storage, today=_today(as_of),
                                         held_branches=set(held_branches), held_customers=set(held_customers))
    for r in rewritten:
        log.info("archive object %s rewritten as %s (%d kept)", r["object"], r["replaced_by"], r["kept"])
    return {"rewritten": len(rewritten), "kept": sum(r["kept"] for r in rewritten),
            "rows_due": sum(r["rows_due"] for r in rewritten),
            "old_parts_locked": sum(not r["old_parts_deleted"] for r in rewritten)}


def archive_inactive(contract_path: str, as_of: str | None, branch: str | None) -> list[dict]:
    """Every branch's (or ``branch``'s) customers without activity for the schedule's period, archived."""
    from handover import cold_archive
    from handover.contract import load_contract
    from handover.purge import erasure
    from handover.store import ops

    rule = cold_archive.period_rule(load_contract(contract_path).retention)
    today = _today(as_of)
    dest, storage = cold_archive_destination()
    master = master_key()
    out = []
    with open_store() as conn:
        blind = hasher(conn, master)
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT branch_id FROM ops.retention_classes ORDER BY 1")
            branches = [b for (b,) in cur.fetchall() if branch in (None, "", b)]
            held_branches, held_customers = erasure.holds(cur, erasure.CustomerIds(cur, blind))
        conn.commit()
        for b in branches:
            if b in held_branches:
                out.append({"branch_id": b, "held": "legal hold on the branch"})
                continue
            result = cold_archive.archive_branch(conn, dest, master, blind, b, rule, today,
                                                 held=set(held_customers), storage=storage)
            out.append(result)
            ops.audit(conn, "cold_archive.archived", run_id=None, branch_id=b, actor="customer_archive",
                      **{k: v for k, v in result.items() if k != "branch_id"})
            log.info("branch %s: %s customer(s) in %s", b, result.get("customers"), result.get("object"))
    return out


def check_archive() -> dict:
    from airflow.sdk.exceptions import AirflowFailException
    from handover import cold_archive

    dest, _ = cold_archive_destination()
    with open_store() as conn:
        try:
            return cold_archive.verify(conn, dest, master_key())
        except cold_archive.ColdArchiveError as exc:
            raise AirflowFailException(str(exc)) from None


def write_report(rewritten: dict, archived: list[dict], checked: dict, as_of: str | None) -> str:
    """``<output>/cold_archive/<day>.json``: what was archived, rewritten and checked (counts only)."""
    today = _today(as_of)
    out = output_root() / "cold_archive"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{today.isoformat()}.json"
    path.write_text(json.dumps({"day": today.isoformat(), "rewritten": rewritten, "archived": archived,
                                "checked": checked}, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return str(path)
