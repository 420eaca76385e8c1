"""Backups against a real PostgreSQL and a local folder: backup → verify → restore into a fresh database →
the same content; tampering detected and refused; nothing stored in plaintext."""

from __future__ import annotations

import base64
import datetime as dt
import json

import psycopg2
import pytest
from handover.backup import snapshot
from handover.backup.snapshot import BackupError, LocalFolder
from handover.crypto import MasterKey, signing_key

from tests.conftest import scratch_database
from tests.support.stores import SIGNING_KEY


@pytest.fixture
def store(transferred, pg_dsn):
    """The sample transferred into the test's store (a copy of the session's template)."""
    return pg_dsn, transferred[1]


@pytest.fixture
def backed_up(store, master_key_text, tmp_path):
    dsn, planted = store
    dest = LocalFolder(tmp_path / "backups")
    with psycopg2.connect(dsn) as conn:
        manifest = snapshot.take(conn, dest, MasterKey.from_text(master_key_text), signing_key(SIGNING_KEY))
    return dsn, dest, manifest, planted


def _contents(dsn: str) -> dict[str, str]:
    import hashlib

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        out = {}
        for table in snapshot.tables(cur):
            digest = hashlib.sha256()
            cur.copy_expert(snapshot.content_copy(table).as_string(conn), snapshot.HashingSink(digest))
            out[f"{table.schema}.{table.name}"] = digest.hexdigest()
    return out


def test_backup_verify_restore_gives_the_same_content(backed_up, pg_admin_dsn, master_key_text):
    dsn, dest, manifest, _ = backed_up
    assert snapshot.verify(dest, manifest["backup_id"], full=True,
                           master=MasterKey.from_text(master_key_text))["hashed"] == len(manifest["objects"])
    assert manifest["objects"]["vault.customers.csv.z.enc"]["rows"] > 100
    assert manifest["runs"] == ["run-1"]
    with scratch_database(pg_admin_dsn, "handover_test_restore") as fresh:
        with psycopg2.connect(fresh) as conn:
            restored = snapshot.restore(conn, dest, manifest["backup_id"], MasterKey.from_text(master_key_text))
        assert restored["vault.transactions"] == manifest["objects"]["vault.transactions.csv.z.enc"]["rows"]
        assert _contents(fresh) == _contents(dsn)
        with psycopg2.connect(fresh) as conn, conn.cursor() as cur:  # the audit log stays append-only
            cur.execute("INSERT INTO ops.audit (actor, action) VALUES ('test', 'after_restore')")
            with pytest.raises(psycopg2.Error, match="append-only"):
                cur.execute("DELETE FROM ops.audit")


def test_stored_objects_are_ciphertext(backed_up, sample_export, tmp_path):
    _, dest, manifest, _ = backed_up
    folder, _ = sample_export
    raw = (folder / "客户信息.csv").read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    customers = text.splitlines()[1:40]
    samples = {cell.encode() for line in customers for cell in line.split(",") if len(cell) >= 6}
    samples |= {b"SH-PD-0042", b"run-1", b"customer_id"}  # plain identifiers of the store too
    assert len(samples) > 50
    for name in dest.list(manifest["backup_id"]):
        if name.endswith(".enc"):
            blob = (tmp_path / "backups" / name).read_bytes()
            assert not any(s in blob for s in samples), name


def test_a_flipped_byte_in_an_object_is_detected_and_restore_refuses(backed_up, pg_admin_dsn, master_key_text,
                                                                      tmp_path):
    _, dest, manifest, _ = backed_up
    path = tmp_path / "backups" / manifest["backup_id"] / "vault.customers.csv.z.enc"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(BackupError, match="vault.customers.*SHA-256"):
        snapshot.verify(dest, manifest["backup_id"])
    with scratch_database(pg_admin_dsn, "handover_test_restore") as fresh, psycopg2.connect(fresh) as conn:
        with pytest.raises(BackupError):
            snapshot.restore(conn, dest, manifest["backup_id"], MasterKey.from_text(master_key_text))
        with conn.cursor() as cur:  # refused before anything was written
            cur.execute("SELECT to_regclass('vault.customers')")
            assert cur.fetchone()[0] is None


def test_a_flipped_byte_in_the_manifest_is_detected(backed_up, tmp_path):
    _, dest, manifest, _ = backed_up
    path = tmp_path / "backups" / manifest["backup_id"] / "manifest.json"
    text = path.read_bytes().replace(b'"rows": ', b'"rows":  ', 1)
    path.write_bytes(text)
    with pytest.raises(BackupError, match="signature"):
        snapshot.verify(dest, manifest["backup_id"])


def test_a_frame_from_another_object_does_not_open(backed_up, master_key_text, tmp_path):
    _, dest, manifest, _ = backed_up
    root = tmp_path / "backups" / manifest["backup_id"]
    (root / "vault.accounts.csv.z.enc").write_bytes((root / "ops.keys.csv.z.enc").read_bytes())
    key = snapshot._open_key(dest, manifest, MasterKey.from_text(master_key_text))
    with dest.open(f"{manifest['backup_id']}/vault.accounts.csv.z.enc") as stream, \
            pytest.raises(BackupError, match="does not authenticate"):
        list(snapshot._open_frames(stream, key, manifest["backup_id"], "vault.accounts.csv.z.enc"))


def test_a_backup_whose_key_is_deleted_cannot_be_opened(backed_up, pg_admin_dsn, master_key_text):
    _, dest, manifest, _ = backed_up
    dest.delete(f"keys/{manifest['backup_id']}.key")
    with pytest.raises(BackupError, match="shredded"):
        snapshot.verify(dest, manifest["backup_id"], full=True, master=MasterKey.from_text(master_key_text))


def test_restore_refuses_a_non_empty_target_unless_told(backed_up, master_key_text):
    dsn, dest, manifest, _ = backed_up
    master = MasterKey.from_text(master_key_text)
    before = _contents(dsn)
    with psycopg2.connect(dsn) as conn:
        with pytest.raises(BackupError, match="not empty"):
            snapshot.restore(conn, dest, manifest["backup_id"], master)
        snapshot.restore(conn, dest, manifest["backup_id"], master, overwrite=True)
    assert _contents(dsn) == before


def test_the_manifest_holds_no_key_and_no_customer_value(backed_up):
    _, dest, manifest, _ = backed_up
    wrapped = dest.get(f"keys/{manifest['backup_id']}.key")
    text = dest.get(f"{manifest['backup_id']}/manifest.json")
    assert wrapped not in text and base64.b64encode(wrapped) not in text and wrapped.hex().encode() not in text
    assert set(manifest) == {"format", "backup_id", "taken_at", "schema_version", "schema_fingerprint", "key_id",
                             "master_key_id", "runs", "objects"}
    assert set(manifest["objects"]["vault.customers.csv.z.enc"]) == {
        "schema", "table", "rows", "branches", "plain_sha256", "plain_bytes", "cipher_sha256", "cipher_bytes"}
    assert json.loads(text) == manifest


def test_backup_to_s3_with_object_lock_verifies_restores_and_stays_locked(store, s3, pg_admin_dsn,
                                                                          master_key_text):
    dsn, _ = store
    s3.create_bucket(Bucket="handover-backups", ObjectLockEnabledForBucket=True)
    dest = snapshot.S3Bucket(s3, "handover-backups", "branch/", lock_mode="GOVERNANCE", retain_days=7,
                             part_size=5 << 20)
    master = MasterKey.from_text(master_key_text)
    with psycopg2.connect(dsn) as conn:
        manifest = snapshot.take(conn, dest, master, signing_key(SIGNING_KEY))
    backup_id = manifest["backup_id"]
    assert snapshot.verify(dest, backup_id, full=True, master=master)["hashed"] == len(manifest["objects"])
    # (moto's GetObjectRetention answers 500; HeadObject carries the same retention)
    version = s3.head_object(Bucket="handover-backups", Key=f"branch/{backup_id}/vault.customers.csv.z.enc")
    assert version["ObjectLockMode"] == "GOVERNANCE"
    assert version["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC) + dt.timedelta(days=6)
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket="handover-backups", Key=f"branch/{backup_id}/vault.customers.csv.z.enc",
                         VersionId=version["VersionId"])
    key = s3.head_object(Bucket="handover-backups", Key=f"branch/keys/{backup_id}.key")
    assert "ObjectLockMode" not in key  # a data key stays deletable: the backup can be shredded
    with scratch_database(pg_admin_dsn, "handover_test_restore") as fresh:
        with psycopg2.connect(fresh) as conn:
            snapshot.restore(conn, dest, backup_id, master)
        assert _contents(fresh) == _contents(dsn)


def test_a_multipart_upload_killed_midway_leaves_no_object(s3):
    s3.create_bucket(Bucket="handover-killed")
    dest = snapshot.S3Bucket(s3, "handover-killed", part_size=5 << 20)

    def dying():
        yield b"x" * (6 << 20)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dest.put("b1/vault.customers.csv.z.enc", dying())
    assert dest.list() == []
    assert s3.list_multipart_uploads(Bucket="handover-killed").get("Uploads", []) == []


def test_a_backup_killed_before_its_manifest_is_not_accepted_and_the_next_succeeds(store, master_key_text,
                                                                                   tmp_path, monkeypatch):
    dsn, _ = store
    dest = LocalFolder(tmp_path / "killed")
    master = MasterKey.from_text(master_key_text)
    real_put = dest.put

    def put(name, chunks):
        if name.startswith("keys/"):
            raise KeyboardInterrupt  # killed after the objects, before the key and the manifest
        return real_put(name, chunks)

    monkeypatch.setattr(dest, "put", put)
    with psycopg2.connect(dsn) as conn, pytest.raises(KeyboardInterrupt):
        snapshot.take(conn, dest, master, signing_key(SIGNING_KEY), backup_id="b-killed")
    with pytest.raises(BackupError, match="manifest.json: missing"):
        snapshot.verify(dest, "b-killed")
    monkeypatch.setattr(dest, "put", real_put)
    with psycopg2.connect(dsn) as conn:
        manifest = snapshot.take(conn, dest, master, signing_key(SIGNING_KEY))
    assert snapshot.verify(dest, manifest["backup_id"], full=True, master=master)["full"]


def test_the_recovery_plan_from_nothing_but_the_kit_and_the_backups(backed_up, master_key_text, tmp_path,
                                                                    monkeypatch, pg_admin_dsn, capsys):
    """The day the store and Airflow are both gone: the kit (made earlier with `handover keys kit`) and its
    passphrase give the keys back; with them alone `handover backup restore` rebuilds the store."""
    from handover import cli

    dsn, dest, manifest, _ = backed_up
    monkeypatch.setenv("HANDOVER_KIT_PASSPHRASE", "a passphrase kept by two officers")
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    monkeypatch.setenv("HANDOVER_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setattr("handover.backup.keykit.SCRYPT", {"n": 2 ** 14, "r": 8, "p": 1})
    kit = tmp_path / "offline" / "handover.kit"
    kit.parent.mkdir()
    assert cli.main(["keys", "kit", "--out", str(kit)]) == 0
    assert cli.main(["keys", "kit", "--out", str(kit)]) == 2  # never overwritten
    assert oct(kit.stat().st_mode & 0o777) == "0o600"

    for name in ("HANDOVER_MASTER_KEY", "HANDOVER_SIGNING_KEY", "AIRFLOW_VAR_HANDOVER_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["keys", "recover", str(kit), "--out-dir", str(tmp_path / "keys")]) == 0
    monkeypatch.setenv("HANDOVER_MASTER_KEY", (tmp_path / "keys" / "master.key").read_text().strip())
    monkeypatch.setenv("HANDOVER_SIGNING_KEY", (tmp_path / "keys" / "signing.key").read_text().strip())
    capsys.readouterr()

    assert cli.main(["backup", "list", "--dest", dest.root]) == 0
    assert manifest["backup_id"] in capsys.readouterr().out
    assert cli.main(["backup", "verify", "--dest", dest.root, "--full"]) == 0
    with scratch_database(pg_admin_dsn, "handover_test_recovery_plan") as fresh:
        assert cli.main(["backup", "restore", "--dest", dest.root, "--dsn", fresh]) == 0
        restored, original = _contents(fresh), _contents(dsn)
        assert restored.pop("ops.audit") != original.pop("ops.audit")  # + the restore's own entry
        assert restored.pop("ops.audit_head") != original.pop("ops.audit_head")  # …which the chain's head holds
        assert restored == original
        assert cli.main(["backup", "restore", "--dest", dest.root, "--dsn", fresh]) == 2  # not empty
        assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keys" / "master.key").read_text().strip() not in kit.read_text()


def test_a_database_error_in_a_restore_is_recorded_without_its_detail_lines():
    """PostgreSQL names the offending values in DETAIL: only the first line is recorded or re-raised."""
    import psycopg2.errors
    from handover.backup import ledger

    class Violation(psycopg2.errors.ForeignKeyViolation):
        def __str__(self) -> str:
            return ('insert or update on table "accounts" violates foreign key constraint "fk"\n'
                    'DETAIL:  Key (customer_id)=(C00000042) is not present in table "customers".')

    recorded = ledger.summary(Violation())
    assert recorded == 'Violation: insert or update on table "accounts" violates foreign key constraint "fk"'
    assert "C00000042" not in recorded
