"""The record of what was done to the store's backups — taken, checked, drilled, expired, restored — in the
``control`` schema, which no backup contains: restoring an old backup does not roll the record back.

Everything here is counts, ids, times and messages about objects; never a customer value.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from psycopg2 import sql

from handover.backup import snapshot
from handover.backup.snapshot import BackupError
from handover.store import ops, schema


def record_backup(conn, manifest: dict, destination: str, seconds: float) -> None:
    objects = manifest["objects"].values()
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO control.backups (backup_id, destination, taken_at, seconds, tables, rows, plain_bytes,
                cipher_bytes, schema_version, key_id, master_key_id, runs)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (backup_id) DO NOTHING
        """, (manifest["backup_id"], destination, manifest["taken_at"], round(seconds, 3), len(manifest["objects"]),
              sum(o["rows"] for o in objects), sum(o["plain_bytes"] for o in objects),
              sum(o["cipher_bytes"] for o in objects), manifest["schema_version"], manifest["key_id"],
              manifest["master_key_id"], manifest["runs"]))
    conn.commit()


def record_check(conn, backup_id: str, kind: str, ok: bool, seconds: float, **detail) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.backup_checks (backup_id, kind, ok, seconds, detail) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (backup_id, kind, ok, round(seconds, 3), json.dumps(detail, ensure_ascii=False, default=str)))
    conn.commit()


def checked(conn, backup_id: str, kind: str, check, **detail):
    """Run ``check()`` (a verify, a drill), record its outcome and time, return its result or re-raise."""
    start = time.monotonic()
    try:
        result = check()
    except BackupError as exc:
        conn.rollback()
        record_check(conn, backup_id, kind, False, time.monotonic() - start, **(detail | {"error": str(exc)}))
        raise
    facts = {k: v for k, v in (detail | (result or {})).items() if k != "backup_id"}
    record_check(conn, backup_id, kind, True, time.monotonic() - start, **facts)
    return result


def record_expiry(conn, policy: dict, result: dict) -> None:
    now = dt.datetime.now(dt.UTC)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.expiries (policy, kept, removed, unverified) VALUES (%s, %s, %s, %s)",
                    (json.dumps(policy), json.dumps(result["keep"], ensure_ascii=False), list(result["remove"]),
                     list(result["unverified"])))
        cur.execute("UPDATE control.backups SET expired_at = %s, expiry_reason = 'retention policy' "
                    "WHERE backup_id = ANY(%s) AND expired_at IS NULL", (now, list(result["remove"])))
    conn.commit()


def failed_backups(conn) -> set[str]:
    """Backups whose most recent check failed (none when this store has no record, e.g. a new server)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('control.backup_checks')")
        if cur.fetchone()[0] is None:
            return set()
        cur.execute("SELECT DISTINCT ON (backup_id) backup_id, ok FROM control.backup_checks "
                    "ORDER BY backup_id, checked_at DESC, id DESC")
        return {backup_id for backup_id, ok in cur.fetchall() if not ok}


def latest_good(dest, *, public_key_pem: bytes | None = None, conn=None) -> str:
    """The newest backup whose last recorded check did not fail (when ``conn`` has the record) and which
    passes a quick verify now."""
    failed = failed_backups(conn) if conn is not None else set()
    problems = []
    for backup_id in reversed(snapshot.backups(dest)):
        if backup_id in failed:
            problems.append(f"{backup_id}: its last check failed")
            continue
        try:
            snapshot.verify(dest, backup_id, public_key_pem=public_key_pem, sample=1)
        except BackupError as exc:
            problems.append(str(exc))
            continue
        return backup_id
    raise BackupError(f"no good backup at {dest}" + (": " + "; ".join(problems[:5]) if problems else ""))


def restore(conn, dest, backup_id: str, master, *, public_key_pem: bytes | None = None, overwrite: bool = False,
            tables: list[str] | None = None, target: str, requested_by: str, before_commit=None) -> dict:
    """:func:`snapshot.restore`, recorded in the target's ``control.restores`` (running → success|failed,
    with rows and seconds or the error) and its audit log. ``before_commit(conn)`` runs in the restore's
    transaction (the erasures' tombstones applied again); what it returns is recorded with the restore."""
    schema.ensure_schema(conn)
    with conn.cursor() as cur:
        # A restore killed midway rolled back (one transaction); its record says so.
        cur.execute("UPDATE control.restores SET status = 'interrupted', finished_at = clock_timestamp() "
                    "WHERE status = 'running' AND target = %s", (target,))
        cur.execute("INSERT INTO control.restores (backup_id, target, tables, overwrite, requested_by, status) "
                    "VALUES (%s, %s, %s, %s, %s, 'running') RETURNING id",
                    (backup_id, target, tables or None, overwrite, requested_by))
        restore_id = cur.fetchone()[0]
    conn.commit()
    start = time.monotonic()
    applied: dict = {}

    def hook(c) -> None:
        if before_commit is not None:
            applied.update(before_commit(c) or {})

    try:
        rows = snapshot.restore(conn, dest, backup_id, master, public_key_pem=public_key_pem, overwrite=overwrite,
                                tables=tables, before_commit=hook)
    except Exception as exc:
        conn.rollback()
        error = summary(exc)
        _finish(conn, restore_id, "failed", time.monotonic() - start, error=error)
        ops.audit(conn, "backup.restore_failed", run_id=None, branch_id=None, actor=requested_by,
                  backup_id=backup_id, target=target, error=error)
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"{backup_id}: the restore failed and was rolled back ({error})") from None
    seconds = time.monotonic() - start
    _finish(conn, restore_id, "success", seconds, rows=rows)
    ops.audit(conn, "backup.restored", run_id=None, branch_id=None, actor=requested_by, backup_id=backup_id,
              target=target, tables=sorted(rows), rows=sum(rows.values()), seconds=round(seconds, 3),
              tombstones=applied)
    return {"restore_id": restore_id, "backup_id": backup_id, "tables": len(rows), "rows": sum(rows.values()),
            "seconds": round(seconds, 3), "tombstones": applied}


def summary(exc: BaseException) -> str:
    """What may be recorded of an error: ours as they are (they name objects, never values); a database
    error by its first line only — PostgreSQL puts the offending values in its DETAIL lines."""
    from handover.errors import HandoverError

    if isinstance(exc, HandoverError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:500]


def _finish(conn, restore_id: int, status: str, seconds: float, *, rows: dict | None = None,
            error: str | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE control.restores SET status = %s, finished_at = clock_timestamp(), seconds = %s, "
                    "rows = %s, error = %s WHERE id = %s",
                    (status, round(seconds, 3), json.dumps(rows) if rows is not None else None, error, restore_id))
    conn.commit()


def drill(admin_dsn: str, dest, backup_id: str, master, *, public_key_pem: bytes | None = None,
          after_compare=None) -> dict:
    """A restore drill: the backup restored into a scratch database made for it (on the server
    ``admin_dsn`` reaches; the role needs CREATEDB), then every table's row count and content hash compared
    with the manifest; then ``after_compare(conn)`` (the tombstones applied, as after a real restore; its
    result is reported); the scratch database dropped. Raises :class:`BackupError` listing every mismatch."""
    import psycopg2
    from psycopg2.extensions import make_dsn, parse_dsn

    manifest = snapshot.read_manifest(dest, backup_id, public_key_pem)
    name = "handover_drill_" + "".join(c for c in backup_id.lower() if c.isalnum())[:40]
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    _drop(admin, name)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        scratch = psycopg2.connect(make_dsn(**(parse_dsn(admin_dsn) | {"dbname": name})),
                                   application_name="handover-restore-drill")
        try:
            start = time.monotonic()
            try:
                snapshot.restore(scratch, dest, backup_id, master, public_key_pem=public_key_pem)
            except BackupError as exc:
                raise BackupError(f"restore drill of {backup_id}: the restore failed: {exc}") from None
            restored = time.monotonic() - start
            mismatches = compare(scratch, manifest)
            compared = time.monotonic() - start - restored
            applied = after_compare(scratch) if after_compare is not None and not mismatches else None
        finally:
            scratch.close()
    finally:
        _drop(admin, name)
        admin.close()
    if mismatches:
        raise BackupError(f"restore drill of {backup_id}: {len(mismatches)} table(s) differ from the manifest: "
                          + "; ".join(mismatches))
    return {"backup_id": backup_id, "tables": len(manifest["objects"]),
            "rows": sum(o["rows"] for o in manifest["objects"].values()),
            "restore_seconds": round(restored, 3), "compare_seconds": round(compared, 3)} | (
                {"tombstones": applied} if applied is not None else {})


def compare(conn, manifest: dict) -> list[str]:
    """Each table of ``manifest`` in the store ``conn`` reaches: its row count and content hash (the
    ordered COPY text's SHA-256) against the manifest's; the differences, one line per table."""
    import hashlib

    mismatches = []
    with conn.cursor() as cur:
        found = {(t.schema, t.name): t for t in snapshot.tables(cur)}
        for name, entry in sorted(manifest["objects"].items()):
            table = found.get((entry["schema"], entry["table"]))
            if table is None:
                mismatches.append(f"{entry['schema']}.{entry['table']}: missing")
                continue
            cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(table.schema),
                                                                  sql.Identifier(table.name)))
            rows = cur.fetchone()[0]
            digest = hashlib.sha256()
            cur.copy_expert(snapshot.content_copy(table).as_string(conn), snapshot.HashingSink(digest))
            problems = []
            if rows != entry["rows"]:
                problems.append(f"{rows} rows, the manifest says {entry['rows']}")
            if digest.hexdigest() != entry["plain_sha256"]:
                problems.append("its content hash differs")
            if problems:
                mismatches.append(f"{name}: " + ", ".join(problems))
    conn.rollback()
    return mismatches


def _drop(admin, name: str) -> None:
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
