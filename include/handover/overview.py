"""What the "Handover" page shows, read from the target store: transfers and their reconciliation, the
signed manifests and whether their signatures hold, backups with their latest checks, restores, retention
purges and erasure requests.

Every function takes a psycopg2 connection to the target store, only reads (``SELECT``), and returns plain
dicts and lists that ``json.dumps`` takes as they are (times as ISO 8601 strings, numerics as numbers).
Nothing here returns a customer value: ids of runs, backups, branches and erasure requests, counts, reason
codes, dates, sizes, hashes and key fingerprints. ``control.erasure_requests.match_digest`` and the
quarantined payloads are never selected; free-text error messages pass through :func:`safe_message`.

A store that lacks a table (a new database, a store older than the ``control`` schema) gives empty lists:
the page of a store with nothing in it is a page that says so, not an error.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
from typing import Any

from handover.purge.store import EXCLUSION_REASONS

DISPOSITIONS = ("loaded", "quarantined", "excluded", "duplicates")
CHECK_KINDS = ("quick", "keys", "full", "drill")
ENTITY_ORDER = ("customers", "accounts", "cards", "transactions", "interactions")


# -- plain values --------------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """A JSON-able copy: datetimes and dates as ISO strings, numerics as int/float, tuples as lists."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_.$/-]*")
_KEY_VALUES = re.compile(r"=\s*\([^)]*\)")


def safe_message(text: str | None, limit: int = 240) -> str | None:
    """An error message fit for the page: its first line only (PostgreSQL puts a failing row in DETAIL),
    literals masked unless they look like identifiers (``"vault.customers"`` stays, ``"1990-13-45"`` goes),
    ``Key (…)=(…)`` values masked, at most ``limit`` characters."""
    if not text:
        return None
    lines = str(text).strip().splitlines()
    first = lines[0].strip() if lines else ""
    for marker in ("DETAIL:", "CONTEXT:", "HINT:", "Failing row contains"):
        cut = first.find(marker)
        if cut >= 0:
            first = first[:cut].rstrip()
    first = _KEY_VALUES.sub("=(…)", first)
    first = _QUOTED.sub(lambda m: m.group(0) if _IDENTIFIER.fullmatch(m.group(1) or m.group(2) or "")
                        else ("\"…\"" if m.group(0).startswith("\"") else "'…'"), first)
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _facts(detail: Any, depth: int = 0) -> dict:
    """A check's ``detail`` reduced to what the page may show: numbers and flags (nested one level, e.g.
    the tombstones applied after a drill), key ids, and a sanitised error message."""
    out: dict = {}
    if not isinstance(detail, dict):
        return out
    for key, value in detail.items():
        if isinstance(value, bool | int | float | decimal.Decimal):
            out[key] = plain(value)
        elif isinstance(value, dict) and depth == 0:
            out[key] = _facts(value, depth + 1)
        elif key == "error" and isinstance(value, str):
            out[key] = safe_message(value)
        elif key in ("key_id", "master_key_id") and isinstance(value, str):
            out[key] = value[:64]
    return out


def _counts_only(value: Any) -> dict:
    """A ``{name: number}`` mapping (rows per table, per class …), anything else dropped."""
    if not isinstance(value, dict):
        return {}
    return {str(k): plain(v) for k, v in value.items() if isinstance(v, bool | int | float | decimal.Decimal)}


def _exists(cur, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    return bool(cur.fetchone()[0])


def _entity_key(entity: str) -> tuple[int, str]:
    return (ENTITY_ORDER.index(entity) if entity in ENTITY_ORDER else len(ENTITY_ORDER), entity)


# -- transfers -----------------------------------------------------------------------------------------

def reconciliation(counts: dict | None) -> dict:
    """Per entity and in total: source rows, loaded, quarantined, excluded, duplicates, whether it balanced,
    and the reason codes split into quarantine reasons and exclusion reasons (a row with two reasons counts
    under each, so a reason column can add up to more than its disposition)."""
    entities = []
    totals = {"source_rows": 0, **{k: 0 for k in DISPOSITIONS}, "balanced": True}
    for entity in sorted(counts or {}, key=_entity_key):
        c = (counts or {})[entity]
        if not isinstance(c, dict):
            continue
        reasons = _counts_only(c.get("reasons"))
        row = {"entity": entity, "source_rows": int(c.get("source_rows") or 0),
               **{k: int(c.get(k) or 0) for k in DISPOSITIONS}, "balanced": bool(c.get("balanced")),
               "quarantined_by_reason": {r: n for r, n in sorted(reasons.items()) if r not in EXCLUSION_REASONS},
               "excluded_by_reason": {r: n for r, n in sorted(reasons.items()) if r in EXCLUSION_REASONS}}
        entities.append(row)
        for k in ("source_rows", *DISPOSITIONS):
            totals[k] += row[k]
        totals["balanced"] = totals["balanced"] and row["balanced"]
    if not entities:
        totals["balanced"] = None
    return {"entities": entities, "totals": totals}


def validation_summary(validation: dict | None) -> dict:
    """The run's expectation results per entity: how many expectations, how many failed, how many values
    were unexpected, and each failing expectation (its name, columns, reason code and counts)."""
    out = {"expectations": 0, "failed": 0, "unexpected": 0, "entities": []}
    for entity in sorted(validation or {}, key=_entity_key):
        items = [i for i in (validation or {})[entity] or [] if isinstance(i, dict)]
        failures = [{"expectation": str(i.get("expectation")), "columns": [str(c) for c in i.get("columns") or []],
                     "reason": i.get("reason"), "evaluated": int(i.get("evaluated") or 0),
                     "unexpected": int(i.get("unexpected") or 0)}
                    for i in items if not i.get("success", True)]
        row = {"entity": entity, "expectations": len(items), "failed": len(failures),
               "unexpected": sum(int(i.get("unexpected") or 0) for i in items), "failures": failures}
        out["entities"].append(row)
        out["expectations"] += row["expectations"]
        out["failed"] += row["failed"]
        out["unexpected"] += row["unexpected"]
    return out


def fingerprint_of(public_key_pem: str | bytes | None) -> str | None:
    if not public_key_pem:
        return None
    from handover.crypto import fingerprint

    try:
        return fingerprint(public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem)
    except Exception:  # noqa: BLE001 — a damaged or foreign key has no fingerprint to show
        return None


def verification(manifest_text: str | None, signature: str | None, public_key: str | None,
                 signer_fingerprint: str | None = None, sha256: str | None = None,
                 trusted_fingerprint: str | None = None) -> dict:
    """Whether a stored manifest is the one that was signed.

    ``state``: ``valid`` (the Ed25519 signature holds over the exact text, with the public key stored
    beside it, whose fingerprint is the recorded one), ``invalid`` (any of that fails), ``unsigned`` (no
    signature or key stored), ``missing`` (no manifest text). A valid signature by the key stored *beside*
    the manifest proves the text is unchanged, not who signed it: ``trusted`` says whether the signer is
    the configured signing key (``trusted_fingerprint``; ``None`` when that is not known).
    """
    from handover.crypto import verify_signature

    result: dict[str, Any] = {"state": "missing", "signature_valid": None, "fingerprint_matches": None,
                              "sha256_matches": None, "signer_fingerprint": signer_fingerprint, "trusted": None}
    if manifest_text is None:
        return result
    data = manifest_text.encode("utf-8")
    if sha256:
        result["sha256_matches"] = hashlib.sha256(data).hexdigest() == sha256
    if not signature or not public_key:
        result["state"] = "unsigned"
        return result
    try:
        valid = verify_signature(public_key.encode(), data, signature.strip())
    except Exception:  # noqa: BLE001 — a damaged key or signature is an invalid signature, not an error
        valid = False
    actual = fingerprint_of(public_key)
    result["signature_valid"] = valid
    result["fingerprint_matches"] = actual is not None and (signer_fingerprint or actual) == actual
    result["signer_fingerprint"] = actual or signer_fingerprint
    if trusted_fingerprint:
        result["trusted"] = actual is not None and actual == trusted_fingerprint.lower().replace(":", "")
    ok = valid and result["fingerprint_matches"] and result["sha256_matches"] is not False
    result["state"] = "valid" if ok else "invalid"
    return result


def transfers(conn, *, limit: int = 50, trusted_fingerprint: str | None = None) -> list[dict]:
    """The latest transfer runs, newest first: status, mode, times, reconciliation (from the signed
    manifest when there is one, else from ``ops.runs.counts``), validation summary and the manifest's
    verification state."""
    with conn.cursor() as cur:
        if not _exists(cur, "ops.runs"):
            return []
        with_manifests = _exists(cur, "ops.manifests")
        manifest_cols = ("m.manifest->'counts', m.manifest_text, m.signature, m.public_key, m.signer_fingerprint, "
                         "m.sha256, m.created_at, m.run_id IS NOT NULL" if with_manifests else
                         "NULL, NULL, NULL, NULL, NULL, NULL, NULL, false")
        join = "LEFT JOIN ops.manifests m ON m.run_id = r.run_id" if with_manifests else ""
        cur.execute(f"""
            SELECT r.run_id, r.branch_id, r.mode, r.status, r.started_at, r.finished_at, r.counts, r.validation,
                   {manifest_cols}
            FROM ops.runs r {join} ORDER BY r.started_at DESC, r.run_id DESC LIMIT %s""", (limit,))
        rows = cur.fetchall()
    out = []
    for (run_id, branch_id, mode, status, started, finished, run_counts, validation, manifest_counts, text,
         signature, public_key, signer, sha256, created, has_manifest) in rows:
        counts = manifest_counts if manifest_counts is not None else run_counts
        entry = {
            "run_id": run_id, "branch_id": branch_id, "mode": mode, "status": status,
            "started_at": plain(started), "finished_at": plain(finished),
            "seconds": round((finished - started).total_seconds(), 3) if started and finished else None,
            "counts_source": ("manifest" if manifest_counts is not None else "run" if run_counts is not None
                              else None),
            "counts_agree": (None if manifest_counts is None or run_counts is None
                             else reconciliation(manifest_counts) == reconciliation(run_counts)),
            "reconciliation": reconciliation(counts),
            "validation": validation_summary(validation),
            "manifest": None,
        }
        if has_manifest:
            entry["manifest"] = {"sha256": sha256, "created_at": plain(created),
                                 "bytes": len(text.encode("utf-8")) if text is not None else None,
                                 "verification": verification(text, signature, public_key, signer, sha256,
                                                              trusted_fingerprint)}
        out.append(entry)
    return out


def manifest(conn, run_id: str, *, trusted_fingerprint: str | None = None) -> dict | None:
    """One run's signed manifest as stored: its exact text, the base64 signature, the public key (PEM), the
    signer's fingerprint and the verification state; ``None`` when the run has no manifest."""
    with conn.cursor() as cur:
        if not _exists(cur, "ops.manifests"):
            return None
        cur.execute("SELECT run_id, branch_id, manifest_text, signature, public_key, signer_fingerprint, sha256, "
                    "created_at FROM ops.manifests WHERE run_id = %s", (run_id,))
        row = cur.fetchone()
    if row is None:
        return None
    run, branch_id, text, signature, public_key, signer, sha256, created = row
    return {"run_id": run, "branch_id": branch_id, "text": text, "signature": signature, "public_key": public_key,
            "signer_fingerprint": signer, "sha256": sha256, "created_at": plain(created),
            "verification": verification(text, signature, public_key, signer, sha256, trusted_fingerprint)}


# -- backups, restores ---------------------------------------------------------------------------------

def backups(conn, *, limit: int = 30) -> list[dict]:
    """The latest backups, newest first, each with its latest check of every kind (quick, keys, full,
    drill: ok, seconds, when, and the check's numbers)."""
    with conn.cursor() as cur:
        if not _exists(cur, "control.backups"):
            return []
        cur.execute("""
            SELECT backup_id, destination, taken_at, seconds, tables, rows, plain_bytes, cipher_bytes,
                   schema_version, key_id, master_key_id, runs, expired_at, expiry_reason
            FROM control.backups ORDER BY taken_at DESC, backup_id DESC LIMIT %s""", (limit,))
        names = [d[0] for d in cur.description]
        found = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        checks: dict[str, dict] = {}
        if found and _exists(cur, "control.backup_checks"):
            cur.execute("""
                SELECT DISTINCT ON (backup_id, kind) backup_id, kind, ok, seconds, detail, checked_at
                FROM control.backup_checks WHERE backup_id = ANY(%s)
                ORDER BY backup_id, kind, checked_at DESC, id DESC""", ([b["backup_id"] for b in found],))
            for backup_id, kind, ok, seconds, detail, checked_at in cur.fetchall():
                checks.setdefault(backup_id, {})[kind] = {"ok": ok, "seconds": plain(seconds),
                                                          "checked_at": plain(checked_at), "detail": _facts(detail)}
    out = []
    for b in found:
        entry = {k: plain(v) for k, v in b.items()}
        entry["runs"] = list(b["runs"] or [])
        entry["checks"] = {kind: checks.get(b["backup_id"], {}).get(kind)
                           for kind in (*CHECK_KINDS, *sorted(set(checks.get(b["backup_id"], {})) - set(CHECK_KINDS)))}
        latest = [c for c in entry["checks"].values() if c]
        entry["ok"] = None if not latest else all(c["ok"] for c in latest)
        out.append(entry)
    return out


def restores(conn, *, limit: int = 20) -> list[dict]:
    """The latest restores (into the store or elsewhere), newest first: status, rows, seconds."""
    with conn.cursor() as cur:
        if not _exists(cur, "control.restores"):
            return []
        cur.execute("""
            SELECT id, backup_id, target, tables, overwrite, requested_by, status, started_at, finished_at,
                   seconds, rows, error
            FROM control.restores ORDER BY started_at DESC, id DESC LIMIT %s""", (limit,))
        rows = cur.fetchall()
    out = []
    for (rid, backup_id, target, tables, overwrite, requested_by, status, started, finished, seconds, rows_json,
         error) in rows:
        per_table = _counts_only(rows_json)
        out.append({"id": rid, "backup_id": backup_id, "target": target, "tables": list(tables or []) or None,
                    "overwrite": overwrite, "requested_by": requested_by, "status": status,
                    "started_at": plain(started), "finished_at": plain(finished), "seconds": plain(seconds),
                    "rows": sum(per_table.values()) if rows_json is not None else None,
                    "rows_per_table": per_table, "error": safe_message(error)})
    return out


# -- retention purge, erasure requests, legal holds ----------------------------------------------------

def _purge_counts(counts: Any) -> dict:
    counts = counts if isinstance(counts, dict) else {}
    records, per_class = [], {}
    for row in counts.get("records") or []:
        if not isinstance(row, dict):
            continue
        if "held" in row:
            records.append({"branch_id": row.get("branch_id"), "held": True})
            continue
        records.append({k: plain(row.get(k)) for k in ("branch_id", "entity", "class", "rule", "cutoff", "deleted",
                                                        "remaining")})
    housekeeping = [{k: plain(row.get(k)) for k in ("class", "rule", "cutoff", "deleted")}
                    for row in counts.get("housekeeping") or [] if isinstance(row, dict)]
    for row in records + housekeeping:
        if row.get("class"):
            per_class[row["class"]] = per_class.get(row["class"], 0) + int(row.get("deleted") or 0)
    held = counts.get("held") if isinstance(counts.get("held"), dict) else {}
    return {"deleted": sum(per_class.values()), "deleted_per_class": per_class, "records": records,
            "housekeeping": housekeeping,
            "held": {"branches": [str(b) for b in held.get("branches") or []],
                     "customers": int(held.get("customers") or 0)}}


def purges(conn, *, limit: int = 20) -> list[dict]:
    """The latest retention purges, newest first: real or dry run, the day purged as of, status, what was
    (or would be) deleted per class and per branch and entity, and what legal holds kept."""
    with conn.cursor() as cur:
        if not _exists(cur, "control.purges"):
            return []
        cur.execute("SELECT id, started_at, finished_at, dry_run, today, status, counts FROM control.purges "
                    "ORDER BY started_at DESC, id DESC LIMIT %s", (limit,))
        rows = cur.fetchall()
    return [{"id": pid, "started_at": plain(started), "finished_at": plain(finished), "dry_run": dry_run,
             "today": plain(today), "status": status, **_purge_counts(counts)}
            for pid, started, finished, dry_run, today, status, counts in rows]


def _outcome(outcome: Any) -> dict:
    outcome = outcome if isinstance(outcome, dict) else {}
    out = {}
    for key, value in outcome.items():
        if isinstance(value, bool | int | float | decimal.Decimal):
            out[key] = plain(value)
        elif isinstance(value, dict):
            out[key] = _counts_only(value)
    return out


def erasures(conn, *, limit: int = 50) -> dict:
    """Erasure requests: how many in each state, and the latest requests (kind of identifier, branch, basis,
    state, the reason when refused, the day it is tried again, counts of what was erased). The identifier's
    keyed hash (``match_digest``) is never read."""
    with conn.cursor() as cur:
        if not _exists(cur, "control.erasure_requests"):
            return {"by_state": {}, "total": 0, "requests": []}
        cur.execute("SELECT state, count(*) FROM control.erasure_requests GROUP BY state ORDER BY state")
        by_state = {state: n for state, n in cur.fetchall()}
        cur.execute("""
            SELECT id, match_kind, branch_id, basis, received_at, state, reason, retry_after, decided_at, outcome
            FROM control.erasure_requests ORDER BY received_at DESC, id DESC LIMIT %s""", (limit,))
        rows = cur.fetchall()
    requests = [{"id": rid, "kind": kind, "branch_id": branch_id, "basis": basis, "received_at": plain(received),
                 "state": state, "reason": safe_message(reason), "retry_after": plain(retry),
                 "decided_at": plain(decided), "outcome": _outcome(outcome)}
                for rid, kind, branch_id, basis, received, state, reason, retry, decided, outcome in rows]
    return {"by_state": by_state, "total": sum(by_state.values()), "requests": requests}


def legal_holds(conn) -> dict:
    """Active legal holds, counted: on whole branches (their ids) and on single customers (a number only:
    the hold's reason is free text and is not shown)."""
    with conn.cursor() as cur:
        if not _exists(cur, "control.legal_holds"):
            return {"branches": [], "customers": 0}
        cur.execute("SELECT branch_id, match_kind IS NOT NULL FROM control.legal_holds WHERE released_at IS NULL")
        rows = cur.fetchall()
    return {"branches": sorted({b for b, on_customer in rows if b and not on_customer}),
            "customers": sum(1 for _, on_customer in rows if on_customer)}


# -- everything ----------------------------------------------------------------------------------------

def schema_version(conn) -> int | None:
    with conn.cursor() as cur:
        if not _exists(cur, "ops.schema_version"):
            return None
        cur.execute("SELECT max(version) FROM ops.schema_version")
        return cur.fetchone()[0]


def customers(conn) -> dict:
    """The customers told and heard: transfer notices per branch by status, objections and withdrawals by
    source and their erasure requests' state, marketing opt-outs; and kept current: change files applied,
    their rows by disposition, earlier versions kept, confirmations of changed contacts (counts only)."""
    out: dict = {"notices": {}, "objections": {"objection": {}, "withdrawal": {}, "marketing_optouts": 0},
                 "updates": {}}
    with conn.cursor() as cur:
        if not _exists(cur, "control.notices"):
            return out
        cur.execute("SELECT branch_id, status, count(*) FROM control.notices WHERE kind = 'transfer' "
                    "GROUP BY 1, 2 ORDER BY 1, 2")
        for branch, status, n in cur.fetchall():
            out["notices"].setdefault(branch, {})[status] = n
    from handover.notices.objections import report
    from handover.updates import report as updates_report

    out["objections"] = report(conn)
    out["updates"] = updates_report(conn)
    return out


def compliance(conn) -> dict:
    """The latest compliance review, its open remediation items, the reviews' trend (handover.review)."""
    from handover import review

    return plain({"latest": review.latest(conn), "history": review.history(conn)})


def upkeep(conn) -> dict:
    """The latest data upkeep run's counts and the months before it (handover.upkeep); no record's key."""
    from handover import upkeep as vault_upkeep

    data = vault_upkeep.latest(conn, items=0)
    return plain({"run": data["run"], "history": data["history"]})


INSIGHT_DIMENSIONS = ("activity", "rfm_segment", "product", "channel")  # what the page draws of a run


def insights(conn) -> dict:
    """The latest customer-insights run (:mod:`handover.insights`): its k and counts, the branches' published
    segment sizes per dimension (None where suppressed), and the activity classes over the last runs."""
    from handover.insights import store as published

    run, cells = published.latest_cells(conn)
    if run is None:
        return {"run": None, "sizes": {}, "trend": []}
    sizes: dict = {}
    for c in cells:
        if c["region"] == "all" and c["dimension"] in INSIGHT_DIMENSIONS:
            sizes.setdefault(c["dimension"], {}).setdefault(c["branch_id"], {})[c["segment"]] = c["customers"]
    regions = len({(c["branch_id"], c["region"]) for c in cells if c["region"] != "all"})
    return {"run": {"as_of": run["as_of"].isoformat(), "min_k": run["min_k"], "customers": run["customers"],
                    "cells": run["cells"], "suppressed": run["suppressed"], "regions": regions,
                    "computed_at": run["computed_at"].isoformat()},
            "sizes": sizes, "trend": published.trend(conn)}


def overview(conn, *, runs: int = 50, backup_limit: int = 30, trusted_fingerprint: str | None = None) -> dict:
    """Everything the page shows, as one JSON-able dict. Reads only; leaves the connection's transaction
    rolled back."""
    try:
        result = {
            "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "schema_version": schema_version(conn),
            "transfers": transfers(conn, limit=runs, trusted_fingerprint=trusted_fingerprint),
            "backups": backups(conn, limit=backup_limit),
            "restores": restores(conn),
            "purges": purges(conn),
            "erasures": erasures(conn),
            "legal_holds": legal_holds(conn),
            "customers": customers(conn),
            "compliance": compliance(conn),
            "insights": insights(conn),
            "upkeep": upkeep(conn),
        }
    finally:
        conn.rollback()
    json.dumps(result)  # the promise of this module: fails here, in tests, not in a caller's encoder
    return result


__all__ = ["backups", "customers", "erasures", "insights", "legal_holds", "manifest", "overview", "plain", "purges", "reconciliation",
           "restores", "safe_message", "transfers", "upkeep", "validation_summary", "verification"]
