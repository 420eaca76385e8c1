"""Airflow glue for the backup DAGs: the destination, the retention policy and the keys, from Airflow's
secrets; each function is one task's work over :mod:`handover.backup`.

- Destination: connection ``handover_backup``. An ``aws`` connection (login/password the access keys; extra
  ``bucket``, ``prefix``, ``endpoint_url`` for MinIO or another S3 API, ``region_name``, ``lock_mode``
  GOVERNANCE|COMPLIANCE, ``retain_days``) writes to S3 through boto3; any other connection with extra
  ``path`` writes to that folder. Without the connection: ``$AIRFLOW_HOME/handover/backups`` (the embedded
  default of ``make run``).
- Retention: Variable ``handover_backup_retention`` (JSON, restic's grammar, e.g. ``{"keep-daily": 7,
  "keep-weekly": 5, "keep-monthly": 12, "max-age": "2y"}``); without it, :data:`DEFAULT_RETENTION`.
- Keys: the master key (Variable ``handover_master_key``) wraps each backup's data key; the signing key
  (``handover_signing_key``) signs the manifests.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from handover_airflow.runtime import MASTER_KEY_VARIABLE, SIGNING_KEY_VARIABLE, _secret, airflow_home, target

BACKUP_CONN_ID = "handover_backup"
RETENTION_VARIABLE = "handover_backup_retention"
DEFAULT_RETENTION = {"keep-daily": 7, "keep-weekly": 5, "keep-monthly": 12, "keep-yearly": 2, "max-age": "3y"}
log = logging.getLogger(__name__)


def destination():
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException
    from handover.backup.snapshot import LocalFolder, S3Bucket

    try:
        conn = Connection.get(BACKUP_CONN_ID)
    except AirflowNotFoundException:
        return LocalFolder(airflow_home() / "handover" / "backups")
    extra = conn.extra_dejson or {}
    if conn.conn_type == "aws":
        import boto3

        client = boto3.client("s3", endpoint_url=extra.get("endpoint_url"),
                              region_name=extra.get("region_name", "us-east-1"),
                              aws_access_key_id=conn.login or None, aws_secret_access_key=conn.password or None)
        return S3Bucket(client, extra["bucket"], extra.get("prefix", ""), lock_mode=extra.get("lock_mode"),
                        retain_days=int(extra.get("retain_days", 30)))
    return LocalFolder(extra["path"])


def retention_policy():
    from airflow.sdk import Variable
    from handover.backup.retention import Policy

    text = Variable.get(RETENTION_VARIABLE, default=None)
    return Policy.parse(json.loads(text) if text else DEFAULT_RETENTION)


def _keys():
    from handover.crypto import MasterKey, public_pem, signing_key

    signer = signing_key(_secret(SIGNING_KEY_VARIABLE))
    return MasterKey.from_text(_secret(MASTER_KEY_VARIABLE)), signer, public_pem(signer)


def take_backup() -> dict:
    """A backup of the target store; returns its id and counts (no customer data)."""
    import psycopg2
    from handover.backup import snapshot

    master, signer, _ = _keys()
    dsn, _ = target()
    conn = psycopg2.connect(dsn, application_name="handover-backup")
    try:
        manifest = snapshot.take(conn, destination(), master, signer)
    finally:
        conn.close()
    rows = sum(o["rows"] for o in manifest["objects"].values())
    size = sum(o["cipher_bytes"] for o in manifest["objects"].values())
    log.info("backup %s: %d tables, %d rows, %d bytes stored", manifest["backup_id"], len(manifest["objects"]),
             rows, size)
    return {"backup_id": manifest["backup_id"], "tables": len(manifest["objects"]), "rows": rows, "bytes": size}


def verify_backup(backup_id: str | None = None, *, full: bool = False, sample: int | None = 3) -> dict:
    """Quick (signature, sizes, a rolling subset's ciphertext hashes) or full (every object decrypted)."""
    from handover.backup import snapshot

    dest = destination()
    master, _, pem = _keys()
    backup_id = backup_id or (snapshot.backups(dest) or [None])[-1]
    if backup_id is None:
        raise RuntimeError("no backup to verify")
    return snapshot.verify(dest, backup_id, public_key_pem=pem, full=full, sample=None if full else sample,
                           master=master)


def expire_backups() -> dict:
    """The retention policy applied: what is kept and why, what is removed (keys first)."""
    from handover.backup import snapshot

    _, _, pem = _keys()
    result = snapshot.expire(destination(), retention_policy(), dt.datetime.now(dt.UTC), public_key_pem=pem)
    log.info("backups kept %d, removed %d", len(result["keep"]), len(result["remove"]))
    return {"kept": result["keep"], "removed": result["remove"], "unverified": result["unverified"]}
