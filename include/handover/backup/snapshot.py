"""Back up the target store from one snapshot, verify a backup, restore it — client-side encrypted.

**Backup** (:func:`take`): one ``REPEATABLE READ, READ ONLY`` transaction, so every table is read from the
same snapshot; each table of ``ops``, ``vault`` and ``analytics`` is streamed out by ``COPY (SELECT … ORDER
BY <primary key>) TO STDOUT`` (psycopg2 alone: no ``pg_dump``, whose version would have to match the
server's), compressed (zlib), then encrypted: AES-256-GCM in frames of at most 4 MiB of compressed bytes, a
fresh random nonce each, the frame's index, whether it is the last, the backup and the object bound in as
associated data — frames cannot be changed, dropped, reordered or moved to another object unnoticed, and
no GCM message comes near 2**31 bytes. A **fresh data key per backup**, wrapped by the master key, is
stored apart from the objects (``keys/<backup>.key``): deleting it shreds the backup, even where the objects
themselves are locked. Nothing reaches the destination unencrypted: :class:`_Sealer` is the only writer.

**Manifest** (signed, Ed25519, like the transfer's): for every object its rows, the SHA-256 and size of the
plaintext (the ordered COPY text: the table's content hash, which a restore recomputes) and of the
ciphertext; the schema version and fingerprint needed to recreate the tables; the key's id; the time; the
transfer runs it covers; for partitioned tables, the branches (a restore creates their partitions).

**Verify** (:func:`verify`): the manifest's signature; every object present with its size; the ciphertext
SHA-256 of every object, or of a rolling subset (``sample``); with ``full``, every object decrypted and its
plaintext SHA-256 compared too.

**Restore** (:func:`restore`): refuses a backup whose manifest or objects do not verify, and a non-empty
target unless ``overwrite``; creates the schema at the backup's version (it must be this code's version),
the branch partitions, then COPYs every table back in one transaction and recomputes each table's content
hash from the restored rows before it commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg2 import sql

from handover import canonical
from handover.crypto import KeyringError, MasterKey, fingerprint, new_key, public_pem, sign, verify_signature
from handover.errors import HandoverError
from handover.progress import Progress
from handover.store import partitions, schema

FORMAT = "handover.backup/1"
FRAME = 4 << 20  # compressed bytes per encrypted frame
_NONCE = 12
SCHEMAS = ("ops", "vault", "analytics")


# zlib level 1: on the bench store (100,000 customers) it takes half the time of level 6 and stores 6 %
# more (2.34× against 2.48×: much of the vault is ciphertext, which does not compress).
ZLIB_LEVEL = 1


class BackupError(HandoverError):
    """A backup that cannot be made, verified or restored; the message says which object and why."""


class LocalFolder:
    """A destination on a local (or mounted) file system: ``<root>/<backup id>/<object>`` and
    ``<root>/keys/<backup id>.key``. Files are written privately and atomically."""

    def __init__(self, root) -> None:
        self.root = os.fspath(root)

    def __str__(self) -> str:
        return f"folder {self.root}"

    def _path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def put(self, name: str, chunks: Iterator[bytes]) -> int:
        path = self._path(name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        from handover import private_files

        size = 0
        with private_files.written(path, replace=True) as out:  # a half object never shows, nor stays
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
        return size

    def get(self, name: str) -> bytes:
        try:
            with open(self._path(name), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise BackupError(f"{name}: missing from the backup destination") from None

    def open(self, name: str):
        """The object as a binary stream (read in pieces: objects can be large)."""
        try:
            return open(self._path(name), "rb")
        except FileNotFoundError:
            raise BackupError(f"{name}: missing from the backup destination") from None

    def size(self, name: str) -> int | None:
        try:
            return os.path.getsize(self._path(name))
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        try:
            os.remove(self._path(name))
        except FileNotFoundError:
            pass

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not os.path.isdir(base):
            return []
        return sorted(os.path.relpath(os.path.join(d, f), self.root) for d, _, files in os.walk(base)
                      for f in files if not f.endswith(".part"))


class S3Bucket:
    """A destination in an S3 bucket (AWS, MinIO, any S3 API), through a boto3 client: objects under
    ``<prefix><backup id>/``, keys under ``<prefix>keys/``. Objects larger than ``part_size`` go up in a
    multipart upload (the manifest keeps our own whole-object SHA-256: S3's multipart checksum is not one).
    With ``lock_mode`` (GOVERNANCE or COMPLIANCE; the bucket needs versioning and Object Lock), every backup
    object is written with a retention date ``retain_days`` ahead — but not the data keys: a key must stay
    deletable, or the backup could never be shredded (keep the keys where no default retention applies)."""

    def __init__(self, client, bucket: str, prefix: str = "", *, lock_mode: str | None = None,
                 retain_days: int = 30, part_size: int = 8 << 20) -> None:
        if lock_mode not in (None, "GOVERNANCE", "COMPLIANCE"):
            raise BackupError(f"lock_mode must be GOVERNANCE or COMPLIANCE, not {lock_mode!r}")
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.lock_mode, self.retain_days, self.part_size = lock_mode, retain_days, max(part_size, 5 << 20)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _lock(self, name: str) -> dict:
        if self.lock_mode is None or name.startswith("keys/"):
            return {}
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.retain_days)
        return {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": until}

    def put(self, name: str, chunks: Iterator[bytes]) -> int:
        key, extra = self.prefix + name, self._lock(name)
        buffer, size, upload, parts = bytearray(), 0, None, []
        try:
            for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self.part_size:
                    if upload is None:
                        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]
                    part = bytes(buffer[:self.part_size])
                    del buffer[:self.part_size]
                    etag = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload,
                                                   PartNumber=len(parts) + 1, Body=part)["ETag"]
                    parts.append({"PartNumber": len(parts) + 1, "ETag": etag})
            if upload is None:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer), **extra)
                return size
            if buffer:
                etag = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload,
                                               PartNumber=len(parts) + 1, Body=bytes(buffer))["ETag"]
                parts.append({"PartNumber": len(parts) + 1, "ETag": etag})
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                                  MultipartUpload={"Parts": parts})
            return size
        except BaseException:
            if upload is not None:  # an interrupted upload leaves no object behind
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise

    def get(self, name: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise BackupError(f"{name}: missing from the backup destination") from None

    def open(self, name: str):
        """The object as a binary stream (boto3's streaming body)."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"]
        except self.client.exceptions.NoSuchKey:
            raise BackupError(f"{name}: missing from the backup destination") from None

    def size(self, name: str) -> int | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)["ContentLength"]
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def list(self, prefix: str = "") -> list[str]:
        names = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=self.prefix + prefix):
            names += [o["Key"][len(self.prefix):] for o in page.get("Contents", [])]
        return sorted(names)


def _aad(backup_id: str, name: str, index: int, last: bool) -> bytes:
    return f"{FORMAT}\x00{backup_id}\x00{name}\x00{index}\x00{int(last)}".encode()


class _Sealer(io.RawIOBase):
    """A write-only stream: what is written is hashed, compressed and sealed into frames, spooled to a
    private temporary file (memory stays one frame, whatever the table's size) that the destination then
    stores. The plaintext never leaves this object."""

    def __init__(self, key: bytes, backup_id: str, name: str) -> None:
        self._aead, self._id, self._name = AESGCM(key), backup_id, name
        self._zip = zlib.compressobj(ZLIB_LEVEL)
        self._input, self._pending = bytearray(), bytearray()
        self.spool = tempfile.TemporaryFile()  # noqa: SIM115  (read back by `frames`, closed there)
        self.count = 0
        self.plain, self.cipher = hashlib.sha256(), hashlib.sha256()
        self.plain_bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        # COPY writes a row at a time: gather 1 MiB before hashing and compressing (per-call overhead).
        self._input += data
        if len(self._input) >= 1 << 20:
            self._compress()
        return len(data)

    def _compress(self) -> None:
        data = bytes(self._input)
        self._input.clear()
        self.plain.update(data)
        self.plain_bytes += len(data)
        self._pending += self._zip.compress(data)
        while len(self._pending) > FRAME:  # keep one frame back: only the final one is marked last
            self._seal(bytes(self._pending[:FRAME]), last=False)
            del self._pending[:FRAME]

    def finish(self) -> None:
        self._compress()
        self._pending += self._zip.flush()
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()

    def _seal(self, block: bytes, last: bool) -> None:
        nonce = os.urandom(_NONCE)
        body = self._aead.encrypt(nonce, block, _aad(self._id, self._name, self.count, last))
        frame = nonce + len(body).to_bytes(4, "big") + body
        self.cipher.update(frame)
        self.spool.write(frame)
        self.count += 1

    def frames(self, size: int = 8 << 20) -> Iterator[bytes]:
        """The sealed object, in pieces of ``size`` bytes; the spool is closed at the end."""
        with self.spool:
            self.spool.seek(0)
            while piece := self.spool.read(size):
                yield piece


def _read(stream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = stream.read(size - len(data))
        if not piece:
            break
        data += piece
    return data


def _open_frames(stream, key: bytes, backup_id: str, name: str) -> Iterator[bytes]:
    """The plaintext of a stored object (a binary stream), decrypted frame by frame and decompressed."""
    aead, unzip = AESGCM(key), zlib.decompressobj()
    index = 0
    header = _read(stream, _NONCE + 4)
    while True:
        if len(header) < _NONCE + 4:
            raise BackupError(f"{name}: truncated (frame {index} missing)")
        size = int.from_bytes(header[_NONCE:], "big")
        body = _read(stream, size)
        following = _read(stream, _NONCE + 4)
        last = not following
        try:
            block = aead.decrypt(header[:_NONCE], body, _aad(backup_id, name, index, last))
        except InvalidTag:
            raise BackupError(f"{name}: frame {index} does not authenticate (changed, truncated, reordered "
                              "or from another object)") from None
        yield unzip.decompress(block)
        if last:
            yield unzip.flush()
            return
        header, index = following, index + 1


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    key: tuple[str, ...]  # primary key columns: the order of the rows, so the content hash is stable
    partitioned: bool

    @property
    def object(self) -> str:
        return f"{self.schema}.{self.name}.csv.z.enc"


def tables(cur) -> list[Table]:
    """The store's tables, parents before children: ops, then vault and analytics in the model's order."""
    cur.execute("""
        SELECT n.nspname, c.relname, c.relkind = 'p',
               coalesce((SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i
                         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                         WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    """, (list(SCHEMAS),))
    order = {name: i for i, name in enumerate(canonical.ENTITIES)}
    found = [Table(s, n, tuple(k), p) for s, n, p, k in cur.fetchall()]
    return sorted(found, key=lambda t: (SCHEMAS.index(t.schema), order.get(t.name, -1), t.name))


def content_copy(table: Table) -> sql.Composed:
    order = sql.SQL(", ").join(map(sql.Identifier, table.key)) if table.key else sql.SQL("1")
    return sql.SQL("COPY (SELECT * FROM {}.{} ORDER BY {}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
        sql.Identifier(table.schema), sql.Identifier(table.name), order)


def _key_id(wrapped: bytes) -> str:
    return hashlib.sha256(wrapped).hexdigest()[:16]


def take(conn, dest, master: MasterKey, signer, *, backup_id: str | None = None,
         now: dt.datetime | None = None) -> dict:
    """Back up the store ``conn`` reaches into ``dest``; return the manifest (also stored, signed)."""
    now = now or dt.datetime.now(dt.UTC)
    backup_id = backup_id or now.strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(3).hex()
    key = new_key()
    wrapped = master.wrap(key, f"backup:{backup_id}")
    objects: dict[str, dict] = {}
    conn.rollback()
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version, fingerprint FROM ops.schema_version ORDER BY version DESC LIMIT 1")
            version, fingerprint_ = cur.fetchone()
            cur.execute("SELECT coalesce(array_agg(run_id ORDER BY started_at), '{}') FROM ops.runs "
                        "WHERE status = 'success'")
            runs = cur.fetchone()[0]
            found = tables(cur)
            progress = Progress(f"backup {backup_id}", len(found), unit="tables", every=30)
            for table in found:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(table.schema), sql.Identifier(table.name)))
                rows = cur.fetchone()[0]
                branches = []
                if table.partitioned:
                    cur.execute(sql.SQL("SELECT DISTINCT branch_id FROM {}.{} ORDER BY 1").format(
                        sql.Identifier(table.schema), sql.Identifier(table.name)))
                    branches = [b for (b,) in cur.fetchall()]
                sealer = _Sealer(key, backup_id, table.object)
                cur.copy_expert(content_copy(table).as_string(conn), sealer)
                sealer.finish()
                size = dest.put(f"{backup_id}/{table.object}", sealer.frames())
                objects[table.object] = {
                    "schema": table.schema, "table": table.name, "rows": rows, "branches": branches,
                    "plain_sha256": sealer.plain.hexdigest(), "plain_bytes": sealer.plain_bytes,
                    "cipher_sha256": sealer.cipher.hexdigest(), "cipher_bytes": size,
                }
                progress.add(1)
            progress.finish()
    finally:
        conn.rollback()
        conn.set_session(isolation_level="DEFAULT", readonly="DEFAULT")
    dest.put(f"keys/{backup_id}.key", iter([wrapped]))
    manifest = {
        "format": FORMAT, "backup_id": backup_id, "taken_at": now.isoformat(timespec="seconds"),
        "schema_version": version, "schema_fingerprint": fingerprint_,
        "key_id": _key_id(wrapped), "master_key_id": master.key_id, "runs": runs,
        "objects": objects,
    }
    text = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2).encode()
    dest.put(f"{backup_id}/manifest.json", iter([text]))
    dest.put(f"{backup_id}/manifest.json.sig", iter([sign(signer, text).encode()]))
    dest.put(f"{backup_id}/manifest.pub.pem", iter([public_pem(signer)]))
    return manifest


def read_manifest(dest, backup_id: str, public_key_pem: bytes | None = None) -> dict:
    """The backup's manifest, its signature checked (against ``public_key_pem`` if given — the key you
    trust — else against the key stored beside it, which only proves it was not changed by accident)."""
    text = dest.get(f"{backup_id}/manifest.json")
    signature = dest.get(f"{backup_id}/manifest.json.sig").decode()
    pem = public_key_pem or dest.get(f"{backup_id}/manifest.pub.pem")
    if not verify_signature(pem, text, signature):
        raise BackupError(f"{backup_id}: the manifest's signature does not verify (signer {fingerprint(pem)})")
    manifest = json.loads(text)
    if manifest.get("format") != FORMAT or manifest.get("backup_id") != backup_id:
        raise BackupError(f"{backup_id}: not a Handover backup manifest for this backup")
    return manifest


def verify(dest, backup_id: str, *, public_key_pem: bytes | None = None, sample: int | None = None,
           full: bool = False, master: MasterKey | None = None) -> dict:
    """Check a backup; return what was checked. ``sample``: hash the ciphertext of that many objects,
    chosen by the day (a rolling subset), instead of all; ``full`` (needs ``master``): decrypt every
    object and compare its plaintext too. Raises :class:`BackupError` naming the first problem."""
    manifest = read_manifest(dest, backup_id, public_key_pem)
    names = sorted(manifest["objects"])
    for name in names:
        size = dest.size(f"{backup_id}/{name}")
        if size != manifest["objects"][name]["cipher_bytes"]:
            raise BackupError(f"{backup_id}/{name}: {'missing' if size is None else f'{size} bytes'}, "
                              f"the manifest says {manifest['objects'][name]['cipher_bytes']}")
    if sample is not None and not full and names:
        start = dt.date.today().toordinal() % len(names)
        names = (names[start:] + names[:start])[:sample]
    key = _open_key(dest, manifest, master) if full else None
    for name in names:
        cipher = hashlib.sha256()
        with dest.open(f"{backup_id}/{name}") as stream:
            while piece := stream.read(8 << 20):
                cipher.update(piece)
        if cipher.hexdigest() != manifest["objects"][name]["cipher_sha256"]:
            raise BackupError(f"{backup_id}/{name}: its ciphertext's SHA-256 differs from the manifest's")
        if full:
            plain = hashlib.sha256()
            with dest.open(f"{backup_id}/{name}") as stream:
                for block in _open_frames(stream, key, backup_id, name):
                    plain.update(block)
            if plain.hexdigest() != manifest["objects"][name]["plain_sha256"]:
                raise BackupError(f"{backup_id}/{name}: its plaintext's SHA-256 differs from the manifest's")
    return {"backup_id": backup_id, "objects": len(manifest["objects"]), "hashed": len(names), "full": full}


def _open_key(dest, manifest: dict, master: MasterKey | None) -> bytes:
    if master is None:
        raise BackupError("the master key is needed to open a backup")
    backup_id = manifest["backup_id"]
    try:
        wrapped = dest.get(f"keys/{backup_id}.key")
    except BackupError:
        raise BackupError(f"{backup_id}: its data key is gone (shredded): the backup cannot be opened") from None
    if _key_id(wrapped) != manifest["key_id"]:
        raise BackupError(f"{backup_id}: the stored data key is not the one the manifest names")
    return master.unwrap(wrapped, f"backup:{backup_id}")


def check_keys(dest, backup_id: str, master: MasterKey) -> dict:
    """The master key opens the backup's data key, and that key opens the first frame of its smallest
    object: the keys a restore will need are the ones that work (raises :class:`BackupError` otherwise)."""
    manifest = read_manifest(dest, backup_id)
    try:
        key = _open_key(dest, manifest, master)
    except KeyringError as exc:
        raise BackupError(f"{backup_id}: {exc} (the backup was wrapped by master key "
                          f"{manifest['master_key_id']}; this is {master.key_id})") from None
    if manifest["objects"]:
        name = min(manifest["objects"], key=lambda n: manifest["objects"][n]["cipher_bytes"])
        with dest.open(f"{backup_id}/{name}") as stream:
            next(_open_frames(stream, key, backup_id, name), None)
    return {"master_key_id": master.key_id, "key_id": manifest["key_id"]}


def restore(conn, dest, backup_id: str, master: MasterKey, *, public_key_pem: bytes | None = None,
            overwrite: bool = False, tables: list[str] | None = None, before_commit=None) -> dict:
    """Restore a backup into the store ``conn`` reaches, in one transaction; return per-table rows.
    ``tables``: only these (``schema.table``, or a whole ``schema``); a table whose rows reference a
    selected one must be selected too (its references would dangle), which is checked before anything.
    ``before_commit(conn)`` runs inside that transaction once the rows are back and checked (the erasures'
    tombstones are applied there, so no erased customer is ever visible)."""
    manifest = read_manifest(dest, backup_id, public_key_pem)
    verify(dest, backup_id, public_key_pem=public_key_pem)  # every object present, its ciphertext intact
    if manifest["schema_fingerprint"] != schema.fingerprint():
        raise BackupError(f"{backup_id}: made at schema {manifest['schema_version']} "
                          f"({manifest['schema_fingerprint']}); this Handover makes {schema.fingerprint()}: "
                          "restore it with the version that made it")
    chosen = select(manifest, tables)
    key = _open_key(dest, manifest, master)
    schema.ensure_schema(conn)
    try:
        restored = _restore_tables(conn, dest, manifest, key, overwrite, chosen)
        if before_commit is not None:
            before_commit(conn)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return restored


def select(manifest: dict, tables: list[str] | None) -> set[tuple[str, str]]:
    """The manifest's tables a restore of ``tables`` covers (all of them for None); unknown names refused."""
    known = {(e["schema"], e["table"]) for e in manifest["objects"].values()}
    if not tables:
        return known
    chosen, unknown = set(), []
    for name in tables:
        schema_name, _, table = name.strip().partition(".")
        hit = {k for k in known if k[0] == schema_name and (not table or k[1] == table)}
        if not hit:
            unknown.append(name)
        chosen |= hit
    if unknown:
        raise BackupError(f"{manifest['backup_id']} has no table {', '.join(unknown)} (it has "
                          f"{', '.join(sorted(f'{s}.{t}' for s, t in known))})")
    return chosen


def _dependents(cur, chosen: set[tuple[str, str]]) -> dict[str, list[str]]:
    """For each table outside ``chosen`` whose foreign keys point into it: the tables it points at."""
    cur.execute("""
        SELECT DISTINCT cn.nspname, c.relname, pn.nspname, p.relname
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
        JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE k.contype = 'f' AND k.conparentid = 0 AND NOT c.relispartition
    """)
    out: dict[str, list[str]] = {}
    for cs, ct, ps, pt in cur.fetchall():
        if (ps, pt) in chosen and (cs, ct) not in chosen:
            out.setdefault(f"{cs}.{ct}", []).append(f"{ps}.{pt}")
    return out


def _restore_tables(conn, dest, manifest: dict, key: bytes, overwrite: bool,
                    chosen: set[tuple[str, str]]) -> dict[str, int]:
    backup_id = manifest["backup_id"]
    with conn.cursor() as cur:
        existing = {(t.schema, t.name): t for t in tables(cur)}
        dangling = _dependents(cur, chosen)
        if dangling:
            raise BackupError("restore these tables too — their rows refer to the chosen ones: " + "; ".join(
                f"{child} (refers to {', '.join(parents)})" for child, parents in sorted(dangling.items())))
        busy = []
        for entry in manifest["objects"].values():
            if (entry["schema"], entry["table"]) not in chosen:
                continue
            cur.execute(sql.SQL("SELECT EXISTS (SELECT FROM {}.{})").format(
                sql.Identifier(entry["schema"]), sql.Identifier(entry["table"])))
            # a new store has its version and the audit chain's head (at place 0) and is still empty
            if cur.fetchone()[0] and (entry["schema"], entry["table"]) not in (("ops", "schema_version"),
                                                                                ("ops", "audit_head")):
                busy.append(f"{entry['schema']}.{entry['table']}")
        if busy and not overwrite:
            raise BackupError(f"the target is not empty ({', '.join(busy[:5])}): restore with overwrite to "
                              "replace its contents")
        by_table = {(e["schema"], e["table"]): (name, e) for name, e in manifest["objects"].items()
                    if (e["schema"], e["table"]) in chosen}
        missing = sorted(f"{s}.{t}" for s, t in by_table if (s, t) not in existing)
        if missing:
            raise BackupError(f"the target has no table {', '.join(missing)}")
        order = [existing[k] for k in existing if k in by_table]  # parents first (`tables`)
        audit = ("ops", "audit") in chosen
        if audit:
            # the entries come back as they were, chain and all: neither refused nor chained again
            cur.execute("ALTER TABLE ops.audit DISABLE TRIGGER audit_append_only")
            cur.execute("ALTER TABLE ops.audit DISABLE TRIGGER audit_chain")
        for table in reversed(order):  # children first: what was there goes
            cur.execute(sql.SQL("DELETE FROM {}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.name)))
        restored = {}
        progress = Progress(f"restore {backup_id}", len(order), unit="tables", every=30)
        for table in order:
            name, entry = by_table[(table.schema, table.name)]
            ident = sql.SQL("{}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.name))
            for branch in entry["branches"]:
                cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES IN ({})").format(
                    sql.Identifier(table.schema, partitions.partition_name(table.name, branch)), ident,
                    sql.Literal(branch)))
            with dest.open(f"{backup_id}/{name}") as stream:
                cur.copy_expert(
                    sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv, HEADER true)").format(ident).as_string(conn),
                    _Reader(_open_frames(stream, key, backup_id, name)), size=1 << 20)
            digest = hashlib.sha256()
            cur.copy_expert(content_copy(table).as_string(conn), HashingSink(digest))
            if digest.hexdigest() != entry["plain_sha256"]:
                raise BackupError(f"{name}: the restored rows' content hash differs from the manifest's")
            restored[f"{table.schema}.{table.name}"] = entry["rows"]
            progress.add(1)
        progress.finish()
        if audit:
            cur.execute("ALTER TABLE ops.audit ENABLE TRIGGER audit_append_only")
            cur.execute("ALTER TABLE ops.audit ENABLE TRIGGER audit_chain")
            cur.execute("SELECT setval(pg_get_serial_sequence('ops.audit', 'id'), "
                        "coalesce((SELECT max(id) FROM ops.audit), 1))")
    return restored


class _Reader(io.RawIOBase):
    """A read stream over decrypted blocks, for COPY FROM."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks, self._buffer, self._at = blocks, b"", 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # A read position into the current block: psycopg2 reads 8 KiB at a time, and slicing off the
        # rest of a 10 MiB block on every read made restoring quadratic in the block's size.
        pieces, wanted = [], size
        while size < 0 or wanted > 0:
            if self._at >= len(self._buffer):
                block = next(self._blocks, None)
                if block is None:
                    break
                self._buffer, self._at = block, 0
                continue
            end = len(self._buffer) if size < 0 else min(len(self._buffer), self._at + wanted)
            pieces.append(self._buffer[self._at:end])
            wanted -= end - self._at
            self._at = end
        return b"".join(pieces)

    def readline(self, size: int = -1) -> bytes:  # psycopg2 reads by size; kept for completeness
        return self.read(size)


class HashingSink(io.RawIOBase):
    def __init__(self, digest) -> None:
        self._digest = digest

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._digest.update(bytes(data))
        return len(data)



def backups(dest) -> list[str]:
    """The ids of the backups at ``dest`` that have a manifest (a backup killed before its manifest has
    none: it is not a backup)."""
    return sorted({name.split("/")[0] for name in dest.list() if name.endswith("/manifest.json")})


def expire(dest, policy, now: dt.datetime, *, public_key_pem: bytes | None = None) -> dict:
    """Apply a retention policy (:mod:`handover.backup.retention`): each backup quick-verified, the plan
    made, and what it removes deleted — its data key first (crypto-shredding: even a locked object can no
    longer be opened), then its objects (a locked object stays until its retention date; deleting it then
    is the bucket's lifecycle's job). Returns the plan, with the reasons, and what was deleted."""
    from handover.backup import retention

    found, broken = [], {}
    for backup_id in backups(dest):
        try:
            manifest = read_manifest(dest, backup_id, public_key_pem)
            verify(dest, backup_id, public_key_pem=public_key_pem, sample=1)
            ok = True
        except BackupError as exc:
            manifest, ok = None, False
            broken[backup_id] = str(exc)
        taken = dt.datetime.fromisoformat(manifest["taken_at"]) if manifest else \
            dt.datetime.fromtimestamp(0, dt.UTC)
        found.append(retention.Backup(backup_id, taken, verified=ok))
    plan = retention.plan(found, policy, now)
    deleted: dict[str, int] = {}
    for backup_id in plan.remove:
        dest.delete(f"keys/{backup_id}.key")
        names = dest.list(f"{backup_id}/")
        for name in names:
            try:
                dest.delete(name)
            except Exception:  # noqa: BLE001, S112  (a locked object: its key is gone, it waits for its date)
                continue
        deleted[backup_id] = len(names)
    return {"keep": plan.keep, "remove": plan.remove, "deleted_objects": deleted, "unverified": sorted(broken)}
