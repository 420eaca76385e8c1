"""Airflow glue for ``vault_upkeep``: the survey of :mod:`handover.upkeep` over the target store, its
remediation items (and the alert for overdue ones), and the report file (HTML with charts). Returns the run's
id and counts only (XCom): the keys of the records found stay in the store."""

from __future__ import annotations

import datetime as dt
import logging

from handover_airflow.review import _policy
from handover_airflow.settings import keys, open_store, output_root

log = logging.getLogger(__name__)


def _day(today: str | None) -> dt.date:
    return dt.date.fromisoformat(today) if today else dt.date.today()


def survey(requested_by: str, today: str | None = None, chunk_rows: int | None = None) -> dict:
    """The month's survey recorded (a re-run of the month replaces it)."""
    from handover import upkeep

    day = _day(today)
    master, _, _ = keys()
    with open_store() as conn:
        result = upkeep.survey(conn, master, day, chunk_rows=chunk_rows or upkeep.CHUNK_ROWS)
        run_id = upkeep.record(conn, result, requested_by=requested_by)
    found = upkeep.open_items(result.counts)
    log.info("vault upkeep %s (run %d): %d records re-checked; %s", upkeep.month_of(day).isoformat()[:7], run_id,
             result.counts["revalidation"]["checked"], ", ".join(f"{k} {n}" for k, n in found.items()))
    return {"run_id": run_id, "today": day.isoformat(), "found": found}


def remediate(surveyed: dict) -> dict:
    """A remediation item per kind of finding that names records; closed when it names none."""
    from handover import upkeep

    from handover_airflow.alerts import notify

    with open_store() as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT counts FROM control.upkeep_runs WHERE id = %s", (surveyed["run_id"],))
            counts = cur.fetchone()[0]
        conn.rollback()
        done = upkeep.remediate(conn, surveyed["run_id"], counts, _policy(), _day(surveyed["today"]))
    if done["overdue"]:
        notify(f"[Handover] {len(done['overdue'])} remediation item(s) overdue",
               "\n".join(f"{o['check']}: owner {o['owner']}, due {o['due_on']}" for o in done["overdue"]))
    return {"run_id": surveyed["run_id"], "opened": done["opened"], "reopened": done["reopened"],
            "closed": done["closed"], "overdue": len(done["overdue"])}


def write_report(surveyed: dict) -> dict:
    """The run as an HTML file (counts, charts, the records to look at by key), recorded with the run."""
    from handover import review, upkeep

    from handover_airflow.ui import render_upkeep_report

    with open_store() as conn:
        data = upkeep.latest(conn)
        items = review.latest(conn)["items"]
        folder = output_root() / "upkeep"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"upkeep-{data['run']['month']}.html"
        path.write_text(render_upkeep_report(data, [i for i in items if i["check"].startswith("upkeep_")]),
                        encoding="utf-8")
        with conn.cursor() as cur:
            cur.execute("UPDATE control.upkeep_runs SET report_path = %s WHERE id = %s", (str(path), surveyed["run_id"]))
        conn.commit()
    return {"run_id": surveyed["run_id"], "report": str(path)}
