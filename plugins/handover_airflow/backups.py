"""Airflow glue for the backup DAGs: each function is one task's work over :mod:`handover.backup` (no
customer data is returned: ids, counts, seconds — these land in XCom). The destination, the retention policy,
the keys and the store come from :mod:`handover_airflow.settings`; the record of it all is ``control`` in the
target store (:mod:`handover.backup.ledger`)."""

from __future__ import annotations

import datetime as dt
import logging
import time

from handover.purge import tombstones

from handover_airflow.runtime import dsn_from_connection, target
from handover_airflow.settings import DRILL_CONN_ID, destination, keys, open_store, retention_settings

log = logging.getLogger(__name__)


def _fail(exc: Exception):
    """A check that found a problem fails the task at once (a retry reads the same bytes) and alerts."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


def take_backup() -> dict:
    """A backup of the target store, recorded in ``control.backups``; returns its id and counts."""
    from handover.backup import ledger, snapshot

    master, signer, _ = keys()
    dest = destination()
    with open_store() as conn:
        start = time.monotonic()
        manifest = snapshot.take(conn, dest, master, signer)
        seconds = time.monotonic() - start
        ledger.record_backup(conn, manifest, str(dest), seconds)
        from handover import audit_trail

        checkpoint = audit_trail.checkpoint(conn, signer, dest)  # the audit chain's head, signed, beside them
    rows = sum(o["rows"] for o in manifest["objects"].values())
    size = sum(o["cipher_bytes"] for o in manifest["objects"].values())
    log.info("backup %s: %d tables, %d rows, %d bytes stored in %.1f s", manifest["backup_id"],
             len(manifest["objects"]), rows, size, seconds)
    return {"backup_id": manifest["backup_id"], "tables": len(manifest["objects"]), "rows": rows, "bytes": size,
            "seconds": round(seconds, 3), "audit_checkpoint": checkpoint.get("seq")}


def verify_backup(backup_id: str | None = None, *, full: bool = False, sample: int | None = 3) -> dict:
    """Quick (signature, sizes, a rolling subset's ciphertext hashes) or full (every object read and
    decrypted); recorded in ``control.backup_checks``."""
    from handover.backup import ledger, snapshot

    dest = destination()
    master, _, pem = keys()
    with open_store() as conn:
        backup_id = backup_id or (snapshot.backups(dest) or [None])[-1]
        if backup_id is None:
            raise _fail(snapshot.BackupError(f"no backup at {dest} to verify"))
        try:
            return ledger.checked(conn, backup_id, "full" if full else "quick", lambda: snapshot.verify(
                dest, backup_id, public_key_pem=pem, full=full, sample=None if full else sample, master=master))
        except snapshot.BackupError as exc:
            raise _fail(exc) from None


def check_all_backups() -> dict:
    """The daily check: every backup at the destination quick-verified, and the master key shown to open
    the newest one's data key (a lost or changed master key is found now, not on the day of a restore).
    Every outcome is recorded; any failure fails the task, after all were checked."""
    from handover.backup import ledger, snapshot

    dest = destination()
    master, _, pem = keys()
    found = snapshot.backups(dest)
    if not found:
        raise _fail(snapshot.BackupError(f"no backup at {dest}"))
    failures = []
    with open_store() as conn:
        for backup_id in found:
            try:
                ledger.checked(conn, backup_id, "quick",
                               lambda b=backup_id: snapshot.verify(dest, b, public_key_pem=pem, sample=3))
            except snapshot.BackupError as exc:
                failures.append(str(exc))
        newest = found[-1]
        try:
            ledger.checked(conn, newest, "keys", lambda: snapshot.check_keys(dest, newest, master))
        except snapshot.BackupError as exc:
            failures.append(str(exc))
    log.info("checked %d backups: %d failed", len(found), len(failures))
    if failures:
        raise _fail(snapshot.BackupError("; ".join(failures)))
    return {"backups": len(found), "newest": newest}


def full_read_due(logical_date: dt.datetime | None, forced: bool) -> bool:
    """The weekly full read: on Sundays (Asia/Shanghai), or when the run asks for it."""
    from zoneinfo import ZoneInfo

    when = (logical_date or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo("Asia/Shanghai"))
    return forced or when.weekday() == 6


def full_read() -> dict:
    """Read one whole backup: the one whose last full read is oldest (never read first, newest first)."""
    from handover.backup import snapshot

    dest = destination()
    found = snapshot.backups(dest)
    if not found:
        raise _fail(snapshot.BackupError(f"no backup at {dest}"))
    with open_store() as conn, conn.cursor() as cur:
        cur.execute("SELECT backup_id, max(checked_at) FROM control.backup_checks WHERE kind = 'full' AND ok "
                    "GROUP BY backup_id")
        last = dict(cur.fetchall())
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    choice = min(reversed(found), key=lambda b: last.get(b, epoch))  # ties: the newest
    return verify_backup(choice, full=True)


def restore_drill() -> dict:
    """Restore the latest good backup into a scratch database and compare every table with its manifest."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException
    from handover.backup import ledger

    dest = destination()
    master, _, pem = keys()
    try:
        admin_dsn = dsn_from_connection(Connection.get(DRILL_CONN_ID))
    except AirflowNotFoundException:
        admin_dsn = target()[0]
    with open_store() as conn:
        try:
            backup_id = ledger.latest_good(dest, public_key_pem=pem, conn=conn)
            stones = tombstones.known(conn, dest)
            result = ledger.checked(conn, backup_id, "drill", lambda: ledger.drill(
                admin_dsn, dest, backup_id, master, public_key_pem=pem,
                after_compare=lambda scratch: tombstones.apply_after_restore(scratch, master, stones, commit=True)))
        except ledger.BackupError as exc:
            raise _fail(exc) from None
        result["cold_archive"] = _check_cold_archive(conn, master, backup_id)
    log.info("restore drill of %s: %d tables, %d rows restored in %.1f s, compared in %.1f s; cold archive: %s",
             backup_id, result["tables"], result["rows"], result["restore_seconds"], result["compare_seconds"],
             result["cold_archive"])
    return result


def _check_cold_archive(conn, master, backup_id: str) -> dict:
    """The drill covers the cold archive too: the backups hold none of its rows, so a recovery needs its
    objects, their keys and its index (``control``) — every object opened and compared with the index;
    recorded beside the drill (``control.backup_checks`` kind ``cold_archive``)."""
    from handover import cold_archive
    from handover.backup import ledger

    from handover_airflow.settings import cold_archive_destination

    start = time.monotonic()
    try:
        result = cold_archive.verify(conn, cold_archive_destination()[0], master)
    except cold_archive.ColdArchiveError as exc:
        ledger.record_check(conn, backup_id, "cold_archive", False, time.monotonic() - start, error=str(exc))
        raise _fail(exc) from None
    ledger.record_check(conn, backup_id, "cold_archive", True, time.monotonic() - start, **result)
    return result


def choose_backup(requested: str | None) -> str:
    """``requested``, checked to exist and verify; or, for ``latest``/empty, the newest good one."""
    from handover.backup import ledger, snapshot

    dest = destination()
    _, _, pem = keys()
    try:
        if requested and requested != "latest":
            snapshot.verify(dest, requested, public_key_pem=pem, sample=1)
            return requested
        with open_store() as conn:
            return ledger.latest_good(dest, public_key_pem=pem, conn=conn)
    except snapshot.BackupError as exc:
        raise _fail(exc) from None


def restore(backup_id: str, target_conn_id: str, tables: list[str] | None, overwrite: bool, user: str) -> dict:
    """Restore ``backup_id`` into the store of connection ``target_conn_id``; recorded there."""
    from airflow.sdk import Connection
    from airflow.sdk.log import mask_secret
    from handover.backup import ledger

    conn_spec = Connection.get(target_conn_id)
    if conn_spec.password:
        mask_secret(conn_spec.password)
    master, _, pem = keys()
    dest = destination()
    try:
        with open_store() as live:  # the live store's tombstones too, when restoring somewhere else
            stones = tombstones.known(live, dest)
    except Exception:  # noqa: BLE001 — after a loss the live store may be gone: the destination's copies remain
        stones = tombstones.known(None, dest)
    with open_store(dsn_from_connection(conn_spec)) as conn:
        try:
            result = ledger.restore(conn, dest, backup_id, master, public_key_pem=pem, overwrite=overwrite,
                                    tables=tables or None, target=target_conn_id, requested_by=user,
                                    before_commit=lambda c: tombstones.apply_after_restore(c, master, stones))
        except ledger.BackupError as exc:
            raise _fail(exc) from None
    log.info("restored %s into %s: %d tables, %d rows in %.1f s", backup_id, target_conn_id, result["tables"],
             result["rows"], result["seconds"])
    return result


def expire_backups() -> dict:
    """The retention policy applied: what is kept and why, what is removed (keys first); recorded."""
    from handover.backup import ledger, snapshot
    from handover.backup.retention import Policy

    _, _, pem = keys()
    settings = retention_settings()
    result = snapshot.expire(destination(), Policy.parse(settings), dt.datetime.now(dt.UTC), public_key_pem=pem)
    for backup_id, reasons in result["keep"].items():
        log.info("keep %s: %s", backup_id, ", ".join(reasons))
    for backup_id in result["remove"]:
        log.info("removed %s (its data key first)", backup_id)
    with open_store() as conn:
        ledger.record_expiry(conn, settings, result)
    return {"kept": result["keep"], "removed": result["remove"], "unverified": result["unverified"]}
