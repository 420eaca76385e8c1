"""Airflow glue for ``compliance_review``: the checks of :mod:`handover.review` run against the target store,
their remediation items, the alert for overdue ones, and the report file (HTML, with the week-over-week
chart the Handover page shows). Returns ids and counts only (XCom)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from handover_airflow.runtime import _setting
from handover_airflow.settings import destination, keys, open_store, output_root

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
POLICY_VARIABLE = "handover_access_policy"
SETTINGS_VARIABLE = "handover_review"  # JSON: erasure_days, quarantine_days, master_key_days … (handover.review)


def _policy():
    from handover.review import load_policy

    path = _setting(POLICY_VARIABLE, "HANDOVER_ACCESS_POLICY", str(ROOT / "contracts" / "access_policy.yaml"))
    return load_policy(path) if Path(path).exists() else None


def _settings() -> dict:
    from airflow.sdk import Variable

    return json.loads(Variable.get(SETTINGS_VARIABLE, default=None) or "{}")


def review(kind: str, requested_by: str, today: str | None = None) -> dict:
    """Every check run and recorded; the remediation items opened, reopened and closed; overdue ones alerted."""
    from handover import audit_trail
    from handover import review as compliance
    from handover.crypto import fingerprint

    from handover_airflow.alerts import notify

    day = dt.date.fromisoformat(today) if today else dt.date.today()
    master, _, pem = keys()
    signer = fingerprint(pem)
    try:
        stored = audit_trail.stored(destination())
    except Exception as exc:  # noqa: BLE001 — an unreachable destination: the store's own checkpoints still count
        log.warning("checkpoints beside the backups not read (%s)", type(exc).__name__)
        stored = []
    policy = _policy()
    with open_store() as conn:
        findings = compliance.run_checks(conn, day, settings=_settings(), policy=policy, master_key_id=master.key_id,
                                         signer=signer, checkpoints=stored, trusted={signer})
        review_id = compliance.record(conn, findings, kind=kind, requested_by=requested_by)
        done = compliance.remediate(conn, review_id, findings, policy, day)
    if done["overdue"]:
        notify(f"[Handover] {len(done['overdue'])} remediation item(s) overdue",
               "\n".join(f"{o['check']}: owner {o['owner']}, due {o['due_on']}" for o in done["overdue"]))
    failed = [f.check for f in findings if not f.passed]
    log.info("compliance review %d: %d checks passed, %d failed (%s)", review_id, len(findings) - len(failed),
             len(failed), ", ".join(failed) or "none")
    return {"review_id": review_id, "failed": failed, "opened": done["opened"], "reopened": done["reopened"],
            "closed": done["closed"], "overdue": len(done["overdue"])}


def write_report(reviewed: dict) -> dict:
    """The review as an HTML file (findings, open items, the trend chart), recorded with the review."""
    from handover import review as compliance

    from handover_airflow.ui import render_review_report

    with open_store() as conn:
        latest, history = compliance.latest(conn), compliance.history(conn)
        folder = output_root() / "compliance"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"review-{reviewed['review_id']:06d}.html"
        path.write_text(render_review_report(latest, history), encoding="utf-8")
        with conn.cursor() as cur:
            cur.execute("UPDATE control.reviews SET report_path = %s WHERE id = %s", (str(path), reviewed["review_id"]))
        conn.commit()
    return {"review_id": reviewed["review_id"], "report": str(path)}
