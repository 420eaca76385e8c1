"""An archive object's parts: one table's rows as Parquet (zstd), sealed with the backups' envelope
encryption (AES-256-GCM frames bound to the object and the part: `handover.backup.snapshot`), stored in a
folder or an S3 bucket — there with Object Lock and a cold storage class where the bucket allows them.

The data key of an object is its own, wrapped by the master key and kept apart from the parts (in the
store's ``control.cold_archive_objects`` and, deletable, beside the parts as ``keys/<object>.key``):
deleting both shreds the object, even where Object Lock keeps the parts themselves.

Values go into Parquet as PostgreSQL writes them (``::text``; bytea as bytes): a restore casts them back
with the column's own type, so what comes back is what left, to the byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq

from handover.backup.snapshot import LocalFolder, S3Bucket, _open_frames, _Sealer
from handover.errors import HandoverError

COMPRESSION = "zstd"
DEFAULT_STORAGE_CLASS = "GLACIER_IR"  # cold, yet read at once: GLACIER and DEEP_ARCHIVE need a restore first


class ColdArchiveError(HandoverError):
    """An archive object that cannot be written, opened or matched with its index; says which and why."""


def to_parquet(columns: list[tuple[str, str]], rows: list[tuple]) -> bytes:
    """Rows (each value text, bytes or None, in ``columns`` order) as one Parquet file, zstd-compressed."""
    fields = [pa.field(name, pa.binary() if sqltype == "bytea" else pa.string()) for name, sqltype in columns]
    arrays = [pa.array([bytes(r[i]) if isinstance(r[i], memoryview) else r[i] for r in rows], type=f.type)
              for i, f in enumerate(fields)]
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), out, compression=COMPRESSION)
    return out.getvalue()


def from_parquet(data: bytes) -> tuple[list[tuple[str, str]], list[tuple]]:
    """(columns as (name, bytea|text), rows) of what :func:`to_parquet` wrote."""
    table = pq.read_table(io.BytesIO(data))
    columns = [(f.name, "bytea" if pa.types.is_binary(f.type) else "text") for f in table.schema]
    values = [table.column(name).to_pylist() for name, _ in columns]
    return columns, list(zip(*values, strict=True)) if values and values[0] else []


def seal(data: bytes, key: bytes, object_id: str, name: str) -> tuple[bytes, dict]:
    sealer = _Sealer(key, object_id, name)
    sealer.write(data)
    sealer.finish()
    cipher = b"".join(sealer.frames())
    return cipher, {"plain_sha256": sealer.plain.hexdigest(), "plain_bytes": len(data),
                    "cipher_sha256": hashlib.sha256(cipher).hexdigest(), "cipher_bytes": len(cipher)}


def unseal(dest, key: bytes, object_id: str, name: str, plain_sha256: str | None = None) -> bytes:
    stream = dest.open(name)
    try:
        data = b"".join(_open_frames(stream, key, object_id, name))
    except HandoverError as exc:
        raise ColdArchiveError(f"archive object {object_id}: {exc}") from None
    finally:
        stream.close()
    if plain_sha256 and hashlib.sha256(data).hexdigest() != plain_sha256:
        raise ColdArchiveError(f"archive object {object_id}, part {name}: its content differs from what was "
                               "archived (SHA-256)")
    return data


def put(dest, name: str, data: bytes, *, storage_class: str | None = DEFAULT_STORAGE_CLASS,
        lock_mode: str | None = None, retain_days: int = 0) -> dict:
    """Store one part; what the destination took: the storage class and the lock, each tried and dropped
    when the bucket refuses it (a bucket without Object Lock, an S3 API without the class)."""
    if isinstance(dest, LocalFolder) or not isinstance(dest, S3Bucket):
        dest.put(name, iter([data]))
        return {"where": "folder", "storage_class": None, "lock": None}
    extra: dict = {}
    if storage_class:
        extra["StorageClass"] = storage_class
    mode = lock_mode or dest.lock_mode
    if mode and not name.startswith("keys/"):
        days = retain_days or dest.retain_days
        extra |= {"ObjectLockMode": mode,
                  "ObjectLockRetainUntilDate": dt.datetime.now(dt.UTC) + dt.timedelta(days=days)}
    dropped = []
    while True:
        try:
            dest.client.put_object(Bucket=dest.bucket, Key=dest.prefix + name, Body=data, **extra)
            break
        except dest.client.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if "ObjectLockMode" in extra and code in ("InvalidRequest", "InvalidArgument", "NotImplemented",
                                                       "ObjectLockConfigurationNotFoundError"):
                extra = {k: v for k, v in extra.items() if not k.startswith("ObjectLock")}
                dropped.append("lock")
            elif "StorageClass" in extra and code in ("InvalidStorageClass", "InvalidArgument", "NotImplemented"):
                extra.pop("StorageClass")
                dropped.append("storage_class")
            else:
                raise
    return {"where": "s3", "storage_class": extra.get("StorageClass", "STANDARD"),
            "lock": ({"mode": extra["ObjectLockMode"], "until": extra["ObjectLockRetainUntilDate"].isoformat()}
                     if "ObjectLockMode" in extra else None), "refused": dropped}


def delete(dest, name: str) -> bool:
    """Remove a part if the destination lets us (Object Lock may not: then its shredded key is what
    protects it). True when it is gone."""
    try:
        if isinstance(dest, S3Bucket):
            versions = dest.client.list_object_versions(Bucket=dest.bucket, Prefix=dest.prefix + name)
            for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                if v["Key"] == dest.prefix + name:
                    dest.client.delete_object(Bucket=dest.bucket, Key=v["Key"], VersionId=v["VersionId"])
        else:
            dest.delete(name)
        return True
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("AccessDenied", "InvalidRequest"):
            return False
        raise
