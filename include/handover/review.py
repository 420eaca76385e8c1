"""The compliance review (合规审计, PIPL Art. 54; GB/T 35273-2020 §11): checks of how the store's personal
information is kept and used, each a pass or fail with a severity and its evidence as counts — never a
value; what fails becomes a remediation item (整改措施) with an owner, a due date and a status.

Checks (:data:`CHECKS`, in this order): consent and notice coverage; objections and withdrawals carried out
in time; records past their retention date still present; erasure requests past their deadline (default 15
days); analytics free text with suspected residual personal information (the second detector,
:mod:`handover.residual`); who holds which store role against the access policy file (no vault reader
without a recorded reason and expiry); the age of the master and signing keys; backup freshness, the last
full read and the last drill; quarantine unresolved after 30 days; the audit trail's integrity
(:mod:`handover.audit_trail`).

**Remediation** (:func:`remediate`): a failing check opens an item (owner from the policy's ``owners``, due
after its severity's days) or reopens its closed one; a passing check closes its open item; an open item
past its due date is *overdue* (the glue alerts, once a day at most).

Recorded in ``control.reviews``, ``control.review_findings``, ``control.remediation`` (outside the backups).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from handover.errors import HandoverError

SEVERITIES = {"high": 7, "medium": 30, "low": 90}  # severity → days to remedy
DEFAULTS = {"erasure_days": 15, "objection_days": 15, "quarantine_days": 30, "master_key_days": 365,
            "signing_key_days": 730, "backup_hours": 26, "full_read_days": 8, "drill_days": 8,
            "residual_sample": 20000}


class PolicyError(HandoverError):
    """The access policy file is not what it should be (the place is named)."""


@dataclass
class Finding:
    check: str
    passed: bool
    severity: str
    evidence: dict = field(default_factory=dict)  # counts, ages in days — never a value


@dataclass(frozen=True)
class Grant:
    login: str
    reason: str | None
    expires: dt.date | None


@dataclass(frozen=True)
class AccessPolicy:
    roles: dict[str, tuple[Grant, ...]]
    owners: dict[str, str]

    def owner(self, check: str) -> str:
        return self.owners.get(check) or self.owners.get("default") or "个人信息保护负责人"


NEEDS_REASON = ("handover_vault_reader",)


def load_policy(path: str | Path) -> AccessPolicy:
    """The access policy file: ``roles: {role: [{login, reason, expires}]}``, ``owners: {check|default: name}``."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"the access policy {path} cannot be read ({type(exc).__name__})") from None
    problems, roles = [], {}
    for role, grants in (doc.get("roles") or {}).items():
        out = []
        for i, g in enumerate(grants or []):
            where = f"roles.{role}[{i}]"
            if not isinstance(g, dict) or not g.get("login"):
                problems.append(f"{where}: a mapping with login")
                continue
            expires = g.get("expires")
            if expires is not None and not isinstance(expires, dt.date):
                try:
                    expires = dt.date.fromisoformat(str(expires))
                except ValueError:
                    problems.append(f"{where}.expires: a date (YYYY-MM-DD)")
                    expires = None
            out.append(Grant(str(g["login"]), (str(g["reason"]).strip() or None) if g.get("reason") else None,
                             expires))
        roles[str(role)] = tuple(out)
    if problems:
        raise PolicyError(f"the access policy {path}: " + "; ".join(problems))
    return AccessPolicy(roles, {str(k): str(v) for k, v in (doc.get("owners") or {}).items()})


# -- the checks --------------------------------------------------------------------------------------------

def _one(cur, query: str, args=()) -> int:
    cur.execute(query, args)
    row = cur.fetchone()
    return int(row[0] or 0) if row else 0


def consent_and_notice(cur, today: dt.date, s: dict, **_) -> Finding:
    customers = _one(cur, "SELECT count(*) FROM vault.customers")
    no_consent = _one(cur, "SELECT count(*) FROM vault.customers WHERE consent_transfer IS NOT TRUE")
    told = _one(cur, "SELECT count(*) FROM vault.customers c WHERE EXISTS (SELECT 1 FROM control.notices n "
                     "WHERE n.branch_id = c.branch_id AND n.customer_id = c.customer_id "
                     "AND n.status IN ('delivered', 'letter', 'announcement', 'objected'))")
    pending = _one(cur, "SELECT count(*) FROM control.notices WHERE status IN ('queued', 'attempted')")
    untold = customers - told
    return Finding("consent_and_notice", no_consent == 0 and untold == 0, "high",
                   {"customers": customers, "without_consent": no_consent, "told": told, "not_told": untold,
                    "notices_pending": pending})


def objections_in_time(cur, today: dt.date, s: dict, **_) -> Finding:
    late_before = today - dt.timedelta(days=s["objection_days"])
    total = _one(cur, "SELECT count(*) FROM control.objections")
    late = _one(cur, "SELECT count(*) FROM control.objections o LEFT JOIN control.erasure_requests e "
                     "ON e.id = o.erasure_request_id WHERE o.received_at::date < %s "
                     "AND (e.id IS NULL OR e.state NOT IN ('done', 'no_match', 'refused'))", (late_before,))
    return Finding("objections_in_time", late == 0, "high", {"objections": total, "late": late,
                                                             "deadline_days": s["objection_days"]})


def retention_overdue(cur, today: dt.date, s: dict, **_) -> Finding:
    from handover.purge.rules import CLOSED_STATUSES, cutoff
    from handover.purge.store import _held, classes, due_query, refresh_activity

    rules = classes(cur)
    _held(cur, set())
    due, per_entity = 0, {}
    for (branch, entity), rule in sorted(rules.items()):
        refresh_activity(cur, branch)
        n = _one(cur, f"SELECT count(*) FROM ({due_query(entity, rule)}) q",
                 {"branch": branch, "cutoff": cutoff(today, rule.keep), "closed": list(CLOSED_STATUSES)})
        due += n
        per_entity[entity] = per_entity.get(entity, 0) + n
    cur.connection.rollback()  # refresh_activity wrote; a review changes nothing
    return Finding("retention_overdue", due == 0, "medium", {"past_retention": due, "by_entity": per_entity})


def erasure_overdue(cur, today: dt.date, s: dict, **_) -> Finding:
    before = today - dt.timedelta(days=s["erasure_days"])
    pending = _one(cur, "SELECT count(*) FROM control.erasure_requests WHERE state = 'pending'")
    late = _one(cur, "SELECT count(*) FROM control.erasure_requests WHERE state = 'pending' "
                     "AND received_at::date < %s", (before,))
    return Finding("erasure_overdue", late == 0, "high", {"pending": pending, "overdue": late,
                                                         "deadline_days": s["erasure_days"]})


def residual_pii(cur, today: dt.date, s: dict, **_) -> Finding:
    from handover.residual import judge

    evidence, failing = {}, 0
    for table, column in (("interactions", "note"), ("transactions", "memo")):
        cur.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = 'analytics' "
                    "AND table_name = %s AND column_name = %s", (table, column))
        if cur.fetchone() is None:
            continue
        cur.execute(f"SELECT {column} FROM analytics.{table} WHERE {column} IS NOT NULL LIMIT %s",
                    (s["residual_sample"],))
        verdict = judge((v for (v,) in cur.fetchall()), f"analytics.{table}.{column}")
        over = verdict.over()
        failing += bool(over)
        evidence[f"{table}.{column}"] = {"values": verdict.values, **dict(verdict.suspected),
                                         "over_threshold": sorted(over)}
    return Finding("residual_pii", failing == 0, "high", {"columns": evidence, "columns_over": failing})


def access_policy(cur, today: dt.date, s: dict, policy: AccessPolicy | None = None, **_) -> Finding:
    from handover.store.roles import ANALYST, OPERATOR, VAULT_READER

    held = unlisted = no_reason = expired = 0
    for role in (ANALYST, VAULT_READER, OPERATOR):
        cur.execute("SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
                    "JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = %s AND m.rolcanlogin", (role,))
        grants = {g.login: g for g in (policy.roles.get(role, ()) if policy else ())}
        for (login,) in cur.fetchall():
            held += 1
            grant = grants.get(login)
            if grant is None:
                unlisted += 1
            elif role in NEEDS_REASON and (not grant.reason or grant.expires is None):
                no_reason += 1
            elif grant.expires is not None and grant.expires < today:
                expired += 1
    ok = policy is not None and not (unlisted or no_reason or expired)
    return Finding("access_policy", ok, "high", {"role_holders": held, "not_in_policy": unlisted,
                                                 "vault_reader_without_reason_or_expiry": no_reason,
                                                 "expired": expired, "policy_file": policy is not None})


def key_age(cur, today: dt.date, s: dict, master_key_id: str | None = None, signer: str | None = None,
            **_) -> Finding:
    cur.execute("SELECT coalesce(max(rewrapped_at), min(created_at)) FROM ops.keys WHERE master_key_id = %s",
                (master_key_id,))
    since = cur.fetchone()[0]
    master_days = (today - since.date()).days if since else None
    cur.execute("SELECT min(at) FROM (SELECT min(created_at) AS at FROM ops.manifests WHERE signer_fingerprint = %s "
                "UNION ALL SELECT min(taken_at) FROM control.audit_checkpoints WHERE signer_fingerprint = %s) q",
                (signer, signer))
    first = cur.fetchone()[0]
    signing_days = (today - first.date()).days if first else None
    ok = (master_days or 0) <= s["master_key_days"] and (signing_days or 0) <= s["signing_key_days"]
    return Finding("key_age", ok, "medium", {"master_key_days": master_days, "signing_key_days": signing_days,
                                             "master_limit_days": s["master_key_days"],
                                             "signing_limit_days": s["signing_key_days"]})


def backups(cur, today: dt.date, s: dict, now: dt.datetime | None = None, **_) -> Finding:
    now = now or dt.datetime.now(dt.UTC)
    cur.execute("SELECT max(taken_at) FROM control.backups WHERE expired_at IS NULL")
    last = cur.fetchone()[0]
    ages = {}
    for kind in ("full", "drill"):
        cur.execute("SELECT max(checked_at) FROM control.backup_checks WHERE kind = %s AND ok", (kind,))
        at = cur.fetchone()[0]
        ages[kind] = round((now - at).total_seconds() / 86400, 1) if at else None
    hours = round((now - last).total_seconds() / 3600, 1) if last else None
    ok = (hours is not None and hours <= s["backup_hours"]
          and ages["full"] is not None and ages["full"] <= s["full_read_days"]
          and ages["drill"] is not None and ages["drill"] <= s["drill_days"])
    return Finding("backups", ok, "high", {"last_backup_hours": hours, "last_full_read_days": ages["full"],
                                           "last_drill_days": ages["drill"]})


def quarantine_unresolved(cur, today: dt.date, s: dict, **_) -> Finding:
    before = today - dt.timedelta(days=s["quarantine_days"])
    total = _one(cur, "SELECT count(*) FROM ops.quarantine WHERE resolved_at IS NULL")
    old = _one(cur, "SELECT count(*) FROM ops.quarantine WHERE resolved_at IS NULL AND quarantined_at::date < %s",
               (before,))
    return Finding("quarantine_unresolved", old == 0, "low", {"unresolved": total, "older_than_limit": old,
                                                              "limit_days": s["quarantine_days"]})


def audit_integrity(cur, today: dt.date, s: dict, checkpoints=(), trusted: set[str] | None = None, **_) -> Finding:
    from handover import audit_trail

    conn = cur.connection
    conn.rollback()
    verdict = audit_trail.verify(conn, list(checkpoints) + audit_trail.recorded(conn), trusted=trusted)
    return Finding("audit_integrity", verdict.ok, "high", {"entries": verdict.entries, **verdict.counts})


CHECKS = (consent_and_notice, objections_in_time, retention_overdue, erasure_overdue, residual_pii, access_policy,
          key_age, backups, quarantine_unresolved, audit_integrity)


def run_checks(conn, today: dt.date, *, settings: dict | None = None, **context) -> list[Finding]:
    """Every check, each in its own read (a check that cannot run is a failed finding saying why)."""
    s = DEFAULTS | (settings or {})
    out = []
    for check in CHECKS:
        try:
            with conn.cursor() as cur:
                out.append(check(cur, today, s, **context))
        except HandoverError:
            raise
        except Exception as exc:  # noqa: BLE001 — a check that cannot run is a finding, not a crash
            conn.rollback()
            out.append(Finding(check.__name__, False, "high", {"error": type(exc).__name__}))
        conn.rollback()
    return out


def record(conn, findings: list[Finding], *, kind: str, requested_by: str) -> int:
    """The review and its findings in ``control``; returns the review's id."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.reviews (kind, requested_by, passed, failed) VALUES (%s, %s, %s, %s) "
                    "RETURNING id", (kind, requested_by, sum(f.passed for f in findings),
                                     sum(not f.passed for f in findings)))
        review_id = cur.fetchone()[0]
        for f in findings:
            cur.execute("INSERT INTO control.review_findings (review_id, check_name, passed, severity, evidence) "
                        "VALUES (%s, %s, %s, %s, %s)", (review_id, f.check, f.passed, f.severity,
                                                        json.dumps(f.evidence, default=str)))
    conn.commit()
    return review_id


def remediate(conn, review_id: int, findings: list[Finding], policy: AccessPolicy | None, today: dt.date, *,
              actor: str = "compliance_review", action: str = "compliance.reviewed") -> dict:
    """Items opened, reopened, closed; the open ones overdue (for the alert). Only the findings' own checks
    are touched (``vault_upkeep`` passes its ``upkeep_*`` findings, and ``review_id`` its run's id); the
    overdue list is every open item's."""
    from handover.store import ops

    done = {"opened": [], "reopened": [], "closed": [], "overdue": []}
    with conn.cursor() as cur:
        for f in findings:
            cur.execute("SELECT id, status FROM control.remediation WHERE check_name = %s FOR UPDATE", (f.check,))
            row = cur.fetchone()
            if not f.passed:
                due = today + dt.timedelta(days=SEVERITIES[f.severity])
                owner = policy.owner(f.check) if policy else "个人信息保护负责人"
                if row is None:
                    cur.execute("INSERT INTO control.remediation (check_name, severity, owner, due_on, status, "
                                "opened_review_id, last_review_id) VALUES (%s, %s, %s, %s, 'open', %s, %s)",
                                (f.check, f.severity, owner, due, review_id, review_id))
                    done["opened"].append(f.check)
                elif row[1] == "closed":
                    cur.execute("UPDATE control.remediation SET status = 'open', reopened = reopened + 1, due_on = %s, "
                                "owner = %s, closed_at = NULL, last_review_id = %s, alerted_on = NULL WHERE id = %s",
                                (due, owner, review_id, row[0]))
                    done["reopened"].append(f.check)
                else:
                    cur.execute("UPDATE control.remediation SET last_review_id = %s WHERE id = %s", (review_id, row[0]))
            elif row is not None and row[1] == "open":
                cur.execute("UPDATE control.remediation SET status = 'closed', closed_at = clock_timestamp(), "
                            "last_review_id = %s WHERE id = %s", (review_id, row[0]))
                done["closed"].append(f.check)
        cur.execute("SELECT check_name, owner, due_on FROM control.remediation WHERE status = 'open' AND due_on < %s "
                    "AND (alerted_on IS NULL OR alerted_on < %s) ORDER BY due_on", (today, today))
        done["overdue"] = [{"check": c, "owner": o, "due_on": d.isoformat()} for c, o, d in cur.fetchall()]
        cur.execute("UPDATE control.remediation SET alerted_on = %s WHERE status = 'open' AND due_on < %s",
                    (today, today))
    conn.commit()
    ops.audit(conn, action, run_id=None, branch_id=None, actor=actor,
              review_id=review_id, failed=[f.check for f in findings if not f.passed],
              **{k: v for k, v in done.items() if k != "overdue"}, overdue=len(done["overdue"]))
    return done


def history(conn, limit: int = 12) -> list[dict]:
    """The latest reviews, oldest first: when, passed, failed, failed checks by severity."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('control.reviews')")
        if cur.fetchone()[0] is None:
            conn.rollback()
            return []
        cur.execute("""SELECT r.id, r.started_at, r.kind, r.passed, r.failed,
                              coalesce(jsonb_object_agg(f.severity, f.n) FILTER (WHERE f.severity IS NOT NULL), '{}')
                       FROM control.reviews r LEFT JOIN (SELECT review_id, severity, count(*) n
                            FROM control.review_findings WHERE NOT passed GROUP BY 1, 2) f ON f.review_id = r.id
                       GROUP BY r.id ORDER BY r.id DESC LIMIT %s""", (limit,))
        rows = cur.fetchall()
    conn.rollback()
    return [{"review_id": i, "at": at.isoformat(), "kind": k, "passed": p, "failed": f, "by_severity": sev}
            for i, at, k, p, f, sev in reversed(rows)]


def latest(conn) -> dict:
    """The latest review's findings and every open remediation item (for the page and the report)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('control.reviews')")
        if cur.fetchone()[0] is None:
            conn.rollback()
            return {"review": None, "findings": [], "items": []}
        cur.execute("SELECT id, started_at, kind FROM control.reviews ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
        findings = []
        if row:
            cur.execute("SELECT check_name, passed, severity, evidence FROM control.review_findings "
                        "WHERE review_id = %s ORDER BY id", (row[0],))
            findings = [asdict(Finding(c, p, s, e)) for c, p, s, e in cur.fetchall()]
        cur.execute("SELECT check_name, severity, owner, due_on, status, reopened, opened_at FROM control.remediation "
                    "WHERE status = 'open' ORDER BY due_on")
        items = [{"check": c, "severity": s, "owner": o, "due_on": d.isoformat(), "status": st, "reopened": r,
                  "opened_at": at.isoformat(), "overdue": d < dt.date.today()}
                 for c, s, o, d, st, r, at in cur.fetchall()]
    conn.rollback()
    review = {"review_id": row[0], "at": row[1].isoformat(), "kind": row[2]} if row else None
    return {"review": review, "findings": findings, "items": items}
