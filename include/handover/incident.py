"""Incident response (应急预案; PIPL Art. 57; the network-security incident reporting rules in force since
2025-11-01): contain, rotate the keys, find who is affected, draft the notices, keep the clock — every step
in the audit trail, and a closing report. A *dry run* rehearses every step and changes nothing: it counts what
each would do (the drill is what makes a plan real).

1. :func:`open_incident` — ``control.incidents``: reference, kind, scope (branches, window, tables), when it
   was detected, the reporting deadline (:data:`REPORT_WITHIN`: 4 hours to the provincial CAC for a
   significant incident).
2. :func:`contain` — every login that is a member of ``handover_analyst`` or ``handover_vault_reader`` made
   ``NOLOGIN`` and its sessions ended (``pg_terminate_backend``); who was contained is kept in
   ``control.incident_logins`` so that access is given back deliberately, one login at a time.
3. :func:`rotate_master_key` — every wrapped key re-wrapped under the new master key in one transaction (the
   store's data, purpose and pseudonym keys; each backup's key file at the destination; each archived
   original's header), then proven: the old key opens none of them, the new key opens all.
   :func:`retokenise_analytics` — when the scope's ``keys`` name the pseudonym key: a new pseudonym key and
   every token of the analytics tier re-made under it, in one transaction with its audit entry
   (:mod:`handover.retokenise`); the old key is gone and no old token is left. Once per incident: a re-run
   of the step finds the entry and changes nothing.
4. :func:`affected` — the customers in scope (branch, loaded or changed in the window): counts per branch
   in the report; the list itself sealed (AES-256-GCM under the master key) beside the report.
5. :func:`draft_notices` — the Art. 57 notice to the authority (what happened, the categories, the causes,
   the possible harm, what was done, what individuals can do, a contact) as a bilingual file, and one
   notice per affected customer through the customer outbox (``control.notices``/``control.outbox``) in
   state ``draft``: nothing is sent until :func:`release_notices`.
6. :func:`close` — the timeline read back from the audit trail and the closing report.

No customer value in the report, the audit or XCom: counts, references, times.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from psycopg2 import sql

from handover.crypto import KeyringError, MasterKey, encrypt_stream
from handover.errors import HandoverError

REPORT_WITHIN = dt.timedelta(hours=4)
KINDS = ("leak", "unauthorised_access", "ransomware", "loss", "other")
KEYS = ("master", "pseudonym")  # the keys an incident's scope may name as exposed
CONTAINED_ROLES = ("handover_analyst", "handover_vault_reader")
_WRAP_LEN = 3 + 12 + 32 + 16  # WRAP_VERSION + nonce + key + tag (handover.crypto.MasterKey.wrap)


class IncidentError(HandoverError):
    """An incident step that cannot run as asked; the message says what to do."""


def _audit(conn, incident: str, step: str, actor: str, *, commit: bool = True, **detail) -> None:
    from handover.store import ops

    ops.audit(conn, f"incident.{step}", run_id=None, branch_id=None, actor=actor, commit=commit, incident=incident,
              **detail)


def open_incident(conn, reference: str, kind: str, *, branches: list[str], window: tuple[str | None, str | None],
                  tables: list[str], detected_at: dt.datetime, dry_run: bool, actor: str,
                  keys: list[str] = ("master",)) -> dict:
    if kind not in KINDS:
        raise IncidentError(f"kind is one of {', '.join(KINDS)}")
    unknown = sorted(set(keys) - set(KEYS))
    if unknown:
        raise IncidentError(f"keys in scope are among {', '.join(KEYS)} (not {', '.join(unknown)})")
    due = detected_at + REPORT_WITHIN
    scope = {"branches": sorted(branches), "window": list(window), "tables": sorted(tables), "keys": sorted(keys)}
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO control.incidents (reference, kind, scope, detected_at, report_due_at, dry_run,
                           opened_by) VALUES (%s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (reference) DO UPDATE SET dry_run = EXCLUDED.dry_run,
                           status = CASE WHEN control.incidents.status = 'closed' THEN 'closed' ELSE 'open' END
                       RETURNING status""",
                    (reference, kind, json.dumps(scope), detected_at, due, dry_run, actor))
        if cur.fetchone()[0] == "closed":
            conn.rollback()
            raise IncidentError(f"incident {reference} is closed; a new incident needs a new reference")
    conn.commit()
    _audit(conn, reference, "opened", actor, kind=kind, scope=scope, dry_run=dry_run,
           report_due_at=due.isoformat())
    return {"reference": reference, "kind": kind, "scope": scope, "detected_at": detected_at.isoformat(),
            "report_due_at": due.isoformat(), "dry_run": dry_run}


def contain(conn, reference: str, *, dry_run: bool, actor: str, logins_like: str = "%") -> dict:
    """The analyst and vault-reader logins refused (NOLOGIN) and their sessions ended. ``logins_like``: a LIKE
    pattern the logins must match (a server shared with other stores' logins)."""
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
                    "JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = ANY(%s) AND m.rolcanlogin "
                    "AND m.rolname LIKE %s AND NOT m.rolsuper ORDER BY 1", (list(CONTAINED_ROLES), logins_like))
        logins = [r for (r,) in cur.fetchall()]
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = ANY(%s)", (logins,))
        sessions = cur.fetchone()[0]
        ended = 0
        if not dry_run:
            for login in logins:
                cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(login)))
                cur.execute("INSERT INTO control.incident_logins (reference, login) VALUES (%s, %s) "
                            "ON CONFLICT DO NOTHING", (reference, login))
            conn.commit()
            cur.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE usename = ANY(%s)", (logins,))
            ended = cur.fetchone()[0]
    conn.commit()
    done = {"logins": len(logins), "sessions": sessions, "sessions_ended": ended, "dry_run": dry_run}
    _audit(conn, reference, "contained", actor, **done)
    return done


def _rewrap(blob: bytes, purpose: str, old: MasterKey, new: MasterKey) -> bytes:
    return new.wrap(old.unwrap(blob, purpose), purpose)


def _archive_header(path: Path) -> tuple[int, bytes]:
    with open(path, "rb") as f:
        if f.read(4) != b"HOS1":
            raise IncidentError(f"{path} is not an encrypted archive")
        n = int.from_bytes(f.read(2), "big")
        return n, f.read(n)


def rotate_master_key(conn, reference: str, old: MasterKey, new: MasterKey | None, *, dest=None,
                      archives: list[tuple[str, str]] = (), cold_dest=None, dry_run: bool, actor: str) -> dict:
    """Every wrapped key under ``new``; then the proof that ``old`` opens none of them. ``archives``: (path,
    purpose) of each archived original; ``cold_dest``: the cold archive's destination (its objects' keys are
    kept in the store and beside the parts: both re-wrapped)."""
    from handover import cold_archive
    from handover.backup import snapshot

    with conn.cursor() as cur:
        cur.execute("SELECT purpose, wrapped FROM ops.keys ORDER BY purpose FOR UPDATE")
        rows = [(p, bytes(w)) for p, w in cur.fetchall()]
        cold = cold_archive.wrapped_keys(cur, lock=True)
    backup_ids = snapshot.backups(dest) if dest is not None else []
    counts = {"store_keys": len(rows), "backup_keys": len(backup_ids), "archives": len(archives),
              "cold_archive_keys": len(cold)}
    if dry_run or new is None:
        conn.rollback()
        for purpose, wrapped in rows:  # the rehearsal still proves today's key opens what it must
            old.unwrap(wrapped, purpose)
        done = counts | {"dry_run": True, "rotated": False,
                         "reason": "dry run" if dry_run else "no new master key (Variable handover_master_key_next)"}
        _audit(conn, reference, "keys_rotation_rehearsed" if dry_run else "keys_not_rotated", actor, **done)
        return done
    if new.key_id == old.key_id:
        conn.rollback()
        raise IncidentError("the new master key is the old one: generate a new one (32 random bytes, base64)")
    with conn.cursor() as cur:
        for purpose, wrapped in rows:
            cur.execute("UPDATE ops.keys SET wrapped = %s, master_key_id = %s, rewrapped_at = clock_timestamp() "
                        "WHERE purpose = %s", (_rewrap(wrapped, purpose, old, new), new.key_id, purpose))
    for object_id, purpose, wrapped in cold:  # the cold archive's objects: in the store, and beside the parts
        rewrapped = _rewrap(wrapped, purpose, old, new)
        with conn.cursor() as cur:
            cur.execute("UPDATE control.cold_archive_objects SET wrapped_key = %s, master_key_id = %s "
                        "WHERE object_id = %s", (rewrapped, new.key_id, object_id))
        if cold_dest is not None:
            cold_archive.put_key(cold_dest, object_id, rewrapped)
    for backup_id in backup_ids:  # each backup's key file, at the destination
        purpose = f"backup:{backup_id}"
        wrapped = dest.get(f"keys/{backup_id}.key")
        dest.put(f"keys/{backup_id}.key", iter([_rewrap(wrapped, purpose, old, new)]))
    for path, purpose in archives:  # the archived originals' headers: same length, rewritten in place
        n, wrapped = _archive_header(Path(path))
        rewrapped = _rewrap(wrapped, purpose, old, new)
        if len(rewrapped) != n:
            raise IncidentError(f"{path}: its wrapped key has an unexpected length")
        with open(path, "r+b") as f:
            f.seek(6)
            f.write(rewrapped + new.key_id.encode().ljust(16)[:16])
    conn.commit()
    proof = prove_rotation(conn, old, new, dest=dest, archives=archives)
    done = counts | {"dry_run": False, "rotated": True, "old_master_key_id": old.key_id,
                     "new_master_key_id": new.key_id, **proof}
    _audit(conn, reference, "keys_rotated", actor, **done)
    if proof["opened_by_old"]:
        raise IncidentError(f"the old master key still opens {proof['opened_by_old']} key(s) after the rotation")
    return done


RETOKENISED = "analytics_retokenised"


def retokenise_analytics(conn, reference: str, master: MasterKey, *, dry_run: bool, actor: str) -> dict:
    """The analytics tier under a new pseudonym key (``master``: the one that wraps the store's keys now). A dry
    run counts the token cells; a re-run after the step succeeded returns what it did."""
    from handover import retokenise

    with conn.cursor() as cur:
        cur.execute("SELECT detail FROM ops.audit WHERE action = %s AND detail->>'incident' = %s "
                    "ORDER BY seq DESC LIMIT 1", (f"incident.{RETOKENISED}", reference))
        row = cur.fetchone()
    conn.rollback()
    if row is not None:
        return {k: v for k, v in row[0].items() if k != "incident"} | {"already_done": True}
    if dry_run:
        tables = retokenise.survey(conn)
        conn.rollback()
        done = {"dry_run": True, "retokenised": False, "tables": tables,
                "token_cells": sum(n for t in tables.values() for n in t["tokens"].values())}
        _audit(conn, reference, "analytics_retokenise_rehearsed", actor, **done)
        return done
    try:
        done = retokenise.retokenise(conn, master) | {"dry_run": False, "retokenised": True}
        done["token_cells"] = sum(n for t in done["tables"].values() for n in t["tokens"].values())
        _audit(conn, reference, RETOKENISED, actor, commit=False, **done)
        conn.commit()
    except retokenise.RetokeniseError as exc:
        conn.rollback()
        raise IncidentError(str(exc)) from None
    except BaseException:
        conn.rollback()
        raise
    return done


def prove_rotation(conn, old: MasterKey, new: MasterKey, *, dest=None, archives=()) -> dict:
    """How many wrapped keys each master key opens: after a rotation, the old none and the new all."""
    blobs = []
    with conn.cursor() as cur:
        cur.execute("SELECT purpose, wrapped FROM ops.keys")
        blobs += [(p, bytes(w)) for p, w in cur.fetchall()]
        from handover import cold_archive

        blobs += [(p, w) for _, p, w in cold_archive.wrapped_keys(cur)]
    conn.rollback()
    if dest is not None:
        from handover.backup import snapshot

        blobs += [(f"backup:{b}", dest.get(f"keys/{b}.key")) for b in snapshot.backups(dest)]
    blobs += [(purpose, _archive_header(Path(path))[1]) for path, purpose in archives]

    def opens(master: MasterKey, blob: bytes, purpose: str) -> bool:
        try:
            master.unwrap(blob, purpose)
            return True
        except KeyringError:
            return False

    return {"checked": len(blobs), "opened_by_old": sum(opens(old, b, p) for p, b in blobs),
            "opened_by_new": sum(opens(new, b, p) for p, b in blobs)}


def affected(conn, reference: str, master: MasterKey, folder: Path, *, actor: str) -> dict:
    """The customers in the incident's scope: counts per branch; the list sealed into ``folder``."""
    with conn.cursor() as cur:
        cur.execute("SELECT scope FROM control.incidents WHERE reference = %s", (reference,))
        scope = cur.fetchone()[0]
        start, end = (list(scope.get("window") or []) + [None, None])[:2]
        cur.execute("""SELECT branch_id, customer_id FROM vault.customers
                       WHERE (cardinality(%(branches)s::text[]) = 0 OR branch_id = ANY(%(branches)s))
                         AND (%(start)s::date IS NULL OR loaded_at >= %(start)s::date)
                         AND (%(end)s::date IS NULL OR loaded_at < %(end)s::date + 1)
                       ORDER BY 1, 2""", {"branches": scope.get("branches") or [], "start": start, "end": end})
        rows = cur.fetchall()
    conn.rollback()
    per_branch: dict[str, int] = {}
    for branch, _ in rows:
        per_branch[branch] = per_branch.get(branch, 0) + 1
    folder.mkdir(parents=True, exist_ok=True)
    sealed = folder / "affected.csv.enc"
    import io

    plain = "".join(f"{b},{c}\n" for b, c in rows).encode()
    with open(sealed, "wb") as dst:
        info = encrypt_stream(io.BytesIO(plain), dst, master, f"incident:{reference}")
    with conn.cursor() as cur:
        cur.execute("UPDATE control.incidents SET affected = %s WHERE reference = %s",
                    (json.dumps({"customers": len(rows), "by_branch": per_branch}), reference))
    conn.commit()
    done = {"customers": len(rows), "by_branch": per_branch, "sealed": str(sealed),
            "sealed_sha256": info["cipher_sha256"], "tables": scope.get("tables") or []}
    _audit(conn, reference, "affected_listed", actor, customers=len(rows), by_branch=per_branch,
           sealed_sha256=info["cipher_sha256"])
    return done


AUTHORITY_TEMPLATE = """个人信息安全事件报告（草稿）· Personal information security incident report (draft)
编号 Reference: {reference}
类型 Kind: {kind}
发现时间 Detected: {detected_at}    报告时限 Report due (4 h, provincial CAC): {report_due_at}

一、事件经过 What happened: {what}
二、涉及的个人信息种类 Categories: {categories}
三、原因 Causes: {causes}
四、可能造成的危害 Possible harm: {harm}
五、已采取的补救措施 What was done: {measures}
六、个人可采取的减轻危害的措施 What individuals can do: {individuals}
七、联系方式 Contact: {contact}
涉及人数 Individuals affected: {customers}（按网点 by branch: {by_branch}）
"""


def draft_notices(conn, reference: str, folder: Path, *, contact: str, categories: list[str], actor: str,
                  dry_run: bool, what: str = "", causes: str = "") -> dict:
    """The authority's notice as a file; one individual notice per affected customer through the outbox in state
    ``draft`` (none in a dry run)."""
    from handover.notices.outbox import idempotency_key

    with conn.cursor() as cur:
        cur.execute("SELECT kind, scope, detected_at, report_due_at, affected, steps FROM control.incidents "
                    "WHERE reference = %s", (reference,))
        kind, scope, detected, due, found, steps = cur.fetchone()
    conn.rollback()
    found = found or {"customers": 0, "by_branch": {}}
    measures = "; ".join(steps or []) or "containment, key rotation"
    text = AUTHORITY_TEMPLATE.format(
        reference=reference, kind=kind, detected_at=detected.isoformat(), report_due_at=due.isoformat(),
        what=what or f"{kind} — 范围 scope: {json.dumps(scope, ensure_ascii=False)}",
        categories="、".join(categories) or "—", causes=causes or "调查中 under investigation",
        harm="身份冒用、诈骗、财产损失的风险 risk of impersonation, fraud and financial loss",
        measures=measures, individuals="警惕冒充我行的来电和短信；如发现异常请致电联系人；可申请更正或删除 "
                                       "Beware of calls and messages claiming to be us; call the contact below",
        contact=contact, customers=found["customers"],
        by_branch=json.dumps(found["by_branch"], ensure_ascii=False))
    folder.mkdir(parents=True, exist_ok=True)
    authority = folder / "authority-notice.txt"
    authority.write_text(text, encoding="utf-8")
    drafted = 0
    if not dry_run and found["customers"]:
        notice_kind = f"incident:{reference}"[:60]
        with conn.cursor() as cur:
            cur.execute("SELECT branch_id, customer_id, address_enc IS NOT NULL, mobile_enc IS NOT NULL "
                        "FROM vault.customers WHERE (cardinality(%(b)s::text[]) = 0 OR branch_id = ANY(%(b)s))",
                        {"b": scope.get("branches") or []})
            customers = cur.fetchall()
            runs: dict[str, int] = {}
            for branch, customer, has_address, has_mobile in customers:
                if branch not in runs:
                    cur.execute("INSERT INTO control.notice_runs (branch_id, kind, contract_sha256, prepared_on, "
                                "deadline, channels, requested_by, status) VALUES (%s, %s, %s, current_date, "
                                "current_date, %s, %s, 'draft') RETURNING id",
                                (branch, notice_kind, hashlib.sha256(text.encode()).hexdigest(),
                                 ["sms", "letter"], actor))
                    runs[branch] = cur.fetchone()[0]
                channel = "sms" if has_mobile else "letter" if has_address else None
                cur.execute("INSERT INTO control.notices (run_id, branch_id, customer_id, kind, status, channel) "
                            "VALUES (%s, %s, %s, %s, 'queued', %s) ON CONFLICT (branch_id, kind, customer_id) "
                            "WHERE kind <> 'contact_change' DO NOTHING RETURNING id",
                            (runs[branch], branch, customer, notice_kind, channel or "announcement"))
                row = cur.fetchone()
                if row and channel:
                    cur.execute("INSERT INTO control.outbox (notice_id, idempotency_key, branch_id, customer_id, "
                                "channel, state) VALUES (%s, %s, %s, %s, %s, 'draft') ON CONFLICT DO NOTHING",
                                (row[0], idempotency_key(branch, customer, notice_kind, channel), branch, customer,
                                 channel))
                    drafted += 1
        conn.commit()
    done = {"authority_notice": str(authority), "individual_drafts": drafted, "dry_run": dry_run,
            "report_due_at": due.isoformat()}
    _audit(conn, reference, "notices_drafted", actor, individual_drafts=drafted, dry_run=dry_run,
           authority_sha256=hashlib.sha256(text.encode()).hexdigest())
    return done


def release_notices(conn, reference: str, actor: str) -> int:
    """The individual drafts of an incident queued for delivery (the customer_notice deliverer sends them)."""
    with conn.cursor() as cur:
        cur.execute("UPDATE control.outbox o SET state = 'queued' FROM control.notices n WHERE n.id = o.notice_id "
                    "AND n.kind = %s AND o.state = 'draft'", (f"incident:{reference}"[:60],))
        n = cur.rowcount
    conn.commit()
    _audit(conn, reference, "notices_released", actor, released=n)
    return n


def record_step(conn, reference: str, step: str) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE control.incidents SET steps = steps || %s::jsonb WHERE reference = %s",
                    (json.dumps([step]), reference))
    conn.commit()


def timeline(conn, reference: str) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute("SELECT seq, at, action, actor, detail FROM ops.audit WHERE detail->>'incident' = %s "
                    "ORDER BY seq", (reference,))
        rows = cur.fetchall()
    conn.rollback()
    return [{"seq": s, "at": at.isoformat(), "action": a, "actor": who,
             "detail": {k: v for k, v in d.items() if k != "incident"}} for s, at, a, who, d in rows]


def close(conn, reference: str, folder: Path, *, actor: str, now: dt.datetime | None = None) -> dict:
    """The closing report (JSON and HTML): the clock, every step's counts, the timeline from the audit trail."""
    import html

    now = now or dt.datetime.now(dt.UTC)
    with conn.cursor() as cur:
        cur.execute("SELECT kind, scope, detected_at, report_due_at, dry_run, affected FROM control.incidents "
                    "WHERE reference = %s", (reference,))
        kind, scope, detected, due, dry_run, found = cur.fetchone()
    conn.rollback()
    _audit(conn, reference, "closed", actor, dry_run=dry_run)
    events = timeline(conn, reference)
    drafted_at = next((e["at"] for e in events if e["action"] == "incident.notices_drafted"), None)
    clock = {"detected_at": detected.isoformat(), "report_due_at": due.isoformat(),
             "authority_draft_at": drafted_at,
             "within_clock": drafted_at is not None and dt.datetime.fromisoformat(drafted_at) <= due,
             "minutes_left_at_close": round((due - now).total_seconds() / 60)}
    report = {"reference": reference, "kind": kind, "scope": scope, "dry_run": dry_run, "clock": clock,
              "affected": found or {}, "timeline": events}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "closing-report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    rows = "".join(f"<tr><td>{e['seq']}</td><td>{html.escape(e['at'])}</td><td>{html.escape(e['action'])}</td>"
                   f"<td>{html.escape(json.dumps(e['detail'], ensure_ascii=False))}</td></tr>" for e in events)
    (folder / "closing-report.html").write_text(
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(reference)}</title></head>"
        f"<body><h1>事件处置总结报告 Incident closing report — {html.escape(reference)}</h1>"
        f"<p>{'演练 DRY RUN — nothing was changed' if dry_run else '处置 RESPONSE'} · {html.escape(kind)}</p>"
        f"<p>发现 detected {clock['detected_at']} · 报告时限 report due {clock['report_due_at']} · "
        f"{'在时限内 within the 4-hour clock' if clock['within_clock'] else 'NOT within the clock'}</p>"
        f"<p>涉及客户 customers affected: {(found or {}).get('customers', 0)}</p>"
        f"<table border='1'><tr><th>#</th><th>at</th><th>step</th><th>counts</th></tr>{rows}</table>"
        "</body></html>", encoding="utf-8")
    with conn.cursor() as cur:
        cur.execute("UPDATE control.incidents SET status = CASE WHEN dry_run THEN 'rehearsed' ELSE 'closed' END, "
                    "closed_at = clock_timestamp(), report_path = %s WHERE reference = %s",
                    (str(folder / "closing-report.html"), reference))
    conn.commit()
    return {"reference": reference, "report": str(folder / "closing-report.html"), "within_clock":
            clock["within_clock"], "steps": len(events)}
