"""What the Airflow glue reads from Airflow's secrets and variables, in one place: the target store, the
backups' destination and retention, the housekeeping periods, the keys, the output and work folders.
(:mod:`handover_airflow.runtime` builds a transfer's run context from the same secrets.)

- Destination: connection ``handover_backup``. An ``aws`` connection (login/password the access keys; extra
  ``bucket``, ``prefix``, ``endpoint_url`` for MinIO or another S3 API, ``region_name``, ``lock_mode``
  GOVERNANCE|COMPLIANCE, ``retain_days``) writes to S3 through boto3; any other connection with extra
  ``path`` writes to that folder. Without the connection: ``$AIRFLOW_HOME/handover/backups`` (the embedded
  default of ``make run``).
- Retention of backups: Variable ``handover_backup_retention`` (JSON, restic's grammar, e.g.
  ``{"keep-daily": 7, "keep-weekly": 5, "keep-monthly": 12, "max-age": "2y"}``); else :data:`DEFAULT_RETENTION`.
- Housekeeping periods: Variable ``handover_housekeeping`` (JSON, e.g. ``{"quarantine": "90d", "archives":
  "1y"}``), else :data:`handover.purge.rules.HOUSEKEEPING`.
- Keys: the master key (Variable ``handover_master_key``) wraps each backup's data key; the signing key
  (``handover_signing_key``) signs the manifests.
- Cold archive (customer_archive): connection ``handover_cold_archive``, as ``handover_backup`` (extra
  ``storage_class`` too: GLACIER_IR unless told); without it ``$AIRFLOW_HOME/handover/cold_archive``.
- Restore drills: a scratch database on the server of connection ``handover_drill`` if it exists (a role
  with CREATEDB), else on the target store's server with the target's login.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from handover_airflow.runtime import (
    MASTER_KEY_VARIABLE,
    SIGNING_KEY_VARIABLE,
    _secret,
    _setting,
    airflow_home,
    target,
)

BACKUP_CONN_ID = "handover_backup"
DRILL_CONN_ID = "handover_drill"
COLD_ARCHIVE_CONN_ID = "handover_cold_archive"
RETENTION_VARIABLE = "handover_backup_retention"
DEFAULT_RETENTION = {"keep-daily": 7, "keep-weekly": 5, "keep-monthly": 12, "keep-yearly": 2, "max-age": "3y"}
HOUSEKEEPING_VARIABLE = "handover_housekeeping"


def destination():
    return _destination(BACKUP_CONN_ID, "backups")[0]


def cold_archive_destination() -> tuple[object, dict]:
    """The cold archive's destination (connection ``handover_cold_archive``, as ``handover_backup``; extra
    ``storage_class`` too, default GLACIER_IR) and how its parts are stored; without the connection,
    ``$AIRFLOW_HOME/handover/cold_archive``."""
    from handover.cold_archive.sealed import DEFAULT_STORAGE_CLASS

    dest, extra = _destination(COLD_ARCHIVE_CONN_ID, "cold_archive")
    return dest, {"storage_class": extra.get("storage_class", DEFAULT_STORAGE_CLASS)}


def _destination(conn_id: str, folder: str):
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException
    from handover.backup.snapshot import LocalFolder, S3Bucket

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return LocalFolder(airflow_home() / "handover" / folder), {}
    extra = conn.extra_dejson or {}
    if conn.conn_type == "aws":
        import boto3
        from airflow.sdk.log import mask_secret

        if conn.password:
            mask_secret(conn.password)
        client = boto3.client("s3", endpoint_url=extra.get("endpoint_url"),
                              region_name=extra.get("region_name", "us-east-1"),
                              aws_access_key_id=conn.login or None, aws_secret_access_key=conn.password or None)
        return S3Bucket(client, extra["bucket"], extra.get("prefix", ""), lock_mode=extra.get("lock_mode"),
                        retain_days=int(extra.get("retain_days", 30))), extra
    return LocalFolder(extra["path"]), extra


def retention_settings() -> dict:
    from airflow.sdk import Variable

    text = Variable.get(RETENTION_VARIABLE, default=None)
    return json.loads(text) if text else DEFAULT_RETENTION


def keys():
    from handover.crypto import MasterKey, public_pem, signing_key

    signer = signing_key(_secret(SIGNING_KEY_VARIABLE))
    return MasterKey.from_text(_secret(MASTER_KEY_VARIABLE)), signer, public_pem(signer)


@contextmanager
def open_store(dsn: str | None = None):
    """A connection to the target store (or ``dsn``), its schema ensured (``control`` included)."""
    from handover.store import connect, schema

    with connect(dsn or target()[0], "backup", application_name="handover-backup") as conn:
        schema.ensure_schema(conn)
        yield conn


def hasher(conn, master=None, *, create: bool = True):
    """The blind-index hasher of the store ``conn`` reaches (:func:`handover.store.keys.hasher`), under the
    master key from Airflow's secrets unless one is given. ``create=False`` reads the key without ever
    committing (inside a restore's transaction); None when the store has none (then nothing is indexed)."""
    from handover.crypto import MasterKey
    from handover.store import keys

    return keys.hasher(conn, master or MasterKey.from_text(_secret(MASTER_KEY_VARIABLE)), create=create)


def output_root() -> Path:
    return Path(_setting("handover_output_root", "HANDOVER_OUTPUT_ROOT", str(airflow_home() / "handover" / "output")))


def work_root() -> Path:
    return Path(_setting("handover_work_root", "HANDOVER_WORK_ROOT", str(airflow_home() / "handover" / "work")))


def housekeeping() -> dict:
    """The housekeeping periods (:func:`handover.purge.rules.housekeeping` of Variable ``handover_housekeeping``)."""
    from airflow.sdk import Variable
    from handover.purge import rules

    return rules.housekeeping(json.loads(Variable.get(HOUSEKEEPING_VARIABLE, default=None) or "{}"))
