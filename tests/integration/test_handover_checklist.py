"""Issue 3's handover guarantees on a real store: the original archived, cross-border refusal, the signed
manifest and its checklist, and `handover manifest verify` catching a changed byte — without Airflow."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest
from handover import local_run
from handover.cli import main as cli
from handover.errors import JurisdictionError

from tests.conftest import transferred_files
from tests.support.stores import run_context as _ctx


@pytest.fixture
def done(transferred, sample_store):
    """The sample transferred (run-1, with a recipient) into the test's store, and the test's copy of its
    manifest (its archive too, under the context's archive folder)."""
    path, result = transferred_files(transferred, sample_store)
    return transferred[0], path, result


def test_originals_are_archived_encrypted_and_restore_byte_for_byte(done, sample_export, tmp_path, monkeypatch,
                                                                   master_key_text):
    ctx, manifest_path, _ = done
    folder, _ = sample_export
    manifest = json.loads(manifest_path.read_text())
    assert {a["file"] for a in manifest["archive"]} == {s["file"] for s in manifest["sources"]}
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    for entry in manifest["archive"]:
        archived = ctx.archive_dir / "SH-PD-0042" / entry["archive"]
        original = (folder / entry["file"]).read_bytes()
        assert original[:64] not in archived.read_bytes()  # encrypted, not copied
        out = tmp_path / f"restored-{entry['file']}"
        assert cli(["archive", "restore", str(archived), str(out), "--branch", "SH-PD-0042"]) == 0
        assert out.read_bytes() == original
    # A changed byte in an archive is refused, and nothing is written.
    archived = ctx.archive_dir / "SH-PD-0042" / manifest["archive"][0]["archive"]
    data = bytearray(archived.read_bytes())
    data[len(data) // 2] ^= 1
    archived.write_bytes(bytes(data))
    assert cli(["archive", "restore", str(archived), str(tmp_path / "bad"), "--branch", "SH-PD-0042"]) == 2
    assert not (tmp_path / "bad").exists()


def test_a_rerun_archives_nothing_twice(done, pg_dsn, master_key_text, sample_contract, sample_export, tmp_path):
    ctx, _, _ = done
    before = sorted(p.name for p in (ctx.archive_dir / "SH-PD-0042").iterdir())
    local_run.run_all(_ctx(pg_dsn, master_key_text, sample_contract, sample_export[0], tmp_path, "run-2"))
    assert sorted(p.name for p in (ctx.archive_dir / "SH-PD-0042").iterdir()) == before
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT first_run_id) FROM ops.archives")
        assert cur.fetchone() == (4, 1)


def test_manifest_is_signed_and_verifies_against_the_store(done, pg_dsn, capsys):
    _, manifest_path, result = done
    manifest = json.loads(manifest_path.read_text())
    assert manifest["recipient"]["received_by"] == "受让方数据部 D-07"
    assert manifest["cross_border"] == {"cross_border": False, "source": "CN", "target": "CN"}
    assert set(manifest["content"]) == {"customers", "accounts", "transactions", "interactions"}
    assert manifest["content"]["customers"]["rows"] == manifest["counts"]["customers"]["loaded"]
    fp = result["signer_fingerprint"]
    assert cli(["manifest", "verify", str(manifest_path), "--fingerprint", fp, "--dsn", pg_dsn]) == 0
    out = capsys.readouterr().out
    assert "signature: valid" in out and "content hash matches" in out and "manifest verified" in out


def test_a_changed_byte_in_the_manifest_is_detected(done, tmp_path, capsys):
    _, manifest_path, _ = done
    data = manifest_path.read_bytes()
    forged = data.replace(b'"loaded": 177', b'"loaded": 178', 1)
    assert forged != data
    manifest_path.write_bytes(forged)
    assert cli(["manifest", "verify", str(manifest_path)]) == 1
    assert "signature: INVALID" in capsys.readouterr().out


def test_a_wrong_signer_is_detected(done, capsys):
    _, manifest_path, _ = done
    assert cli(["manifest", "verify", str(manifest_path), "--fingerprint", "00" * 32]) == 1
    assert "NOT the pinned fingerprint" in capsys.readouterr().out


def test_a_changed_byte_in_the_store_is_detected(done, pg_dsn, capsys):
    _, manifest_path, _ = done
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("UPDATE vault.accounts SET status = status || ' ' WHERE account_id = "
                    "(SELECT min(account_id) FROM vault.accounts)")
    assert cli(["manifest", "verify", str(manifest_path), "--dsn", pg_dsn]) == 1
    out = capsys.readouterr().out
    assert "accounts: MISMATCH" in out and "customers: 177 rows, content hash matches" in out


def test_checklist_is_bilingual_with_counts_reasons_and_duties(done, sample_export):
    _, manifest_path, _ = done
    html = manifest_path.with_name("checklist.html").read_text(encoding="utf-8")
    for text in ("网点转让数据交接清单", "Branch transfer handover checklist", "转让方", "Receiving party",
                 "invalid_resident_id", "身份证号校验失败", "no_consent", "PIPL Art. 22", "ZR-2026-0042",
                 ">177<", "handover manifest verify"):
        assert text in html, text
    folder, _ = sample_export
    first = (folder / "客户信息.csv").read_bytes().decode("gb18030").splitlines()[1].split(",")
    assert first[2].strip() not in html and first[6].strip() not in html


@pytest.mark.parametrize("target, approval, outcome", [
    ("HK", None, "needs a recorded approval"),
    (None, None, "does not declare its region"),
    ("SG", "free text approval!", "reference number"),
])
def test_cross_border_is_refused_without_a_recorded_approval(pg_dsn, master_key_text, sample_contract,
                                                            sample_export, tmp_path, target, approval, outcome):
    ctx = _ctx(pg_dsn, master_key_text, sample_contract, sample_export[0], tmp_path, "xb", target_region=target,
               cross_border_approval=approval)
    with pytest.raises(JurisdictionError) as err:
        local_run.run_all(ctx)
    assert outcome in str(err.value)
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.runs")
        assert cur.fetchone() == (0,)  # refused before anything was read (the schema holds the approved PIPIA)


def test_cross_border_with_approval_is_recorded_in_manifest_and_audit(pg_dsn, master_key_text, sample_contract,
                                                                     sample_export, tmp_path):
    ctx = _ctx(pg_dsn, master_key_text, sample_contract, sample_export[0], tmp_path, "xb-ok", target_region="HK",
               cross_border_approval="CAC-SA-2026-0815")
    manifest = json.loads(Path(local_run.run_all(ctx)["manifest"]).read_text())
    assert manifest["cross_border"] == {"cross_border": True, "source": "CN", "target": "HK",
                                        "approval": "CAC-SA-2026-0815"}
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT detail->>'approval' FROM ops.audit WHERE action = 'cross_border_approved'")
        assert cur.fetchone() == ("CAC-SA-2026-0815",)


def test_publishing_without_a_signing_key_fails_clearly(pg_dsn, master_key_text, sample_contract, sample_export,
                                                       tmp_path):
    from handover.crypto import KeyringError

    ctx = _ctx(pg_dsn, master_key_text, sample_contract, sample_export[0], tmp_path, "nokey", signing_key_text="")
    with pytest.raises(KeyringError) as err:
        local_run.run_all(ctx)
    assert "handover_signing_key" in str(err.value)


def test_a_manifest_of_version_1_with_row_text_hashes_still_verifies(done, pg_dsn, tmp_path, capsys):
    """Manifests written before the content hash had versions (row text, `content_hash_version` absent) are
    verified with the hash they were written with; today's (version 2: the binary row) differ from them, and
    a manifest's hashes are checked as the version it names."""
    from handover import manifest as manifest_mod
    from handover.crypto import fingerprint, public_pem, signing_key
    from handover.store import content

    from tests.support.stores import SIGNING_KEY

    _, manifest_path, result = done
    doc = json.loads(manifest_path.read_text())
    assert doc["manifest_version"] == 2 and doc["content_hash_version"] == content.VERSION == 2
    old = content.content_hashes(lambda: psycopg2.connect(pg_dsn), doc["content"], doc["branch"]["id"], version=1)
    assert {e: h["rows"] for e, h in old.items()} == {e: h["rows"] for e, h in doc["content"].items()}
    assert all(old[e]["sha256"] != doc["content"][e]["sha256"] for e in old)
    fp = fingerprint(public_pem(signing_key(SIGNING_KEY)))
    assert fp == result["signer_fingerprint"]

    def written(name: str, changed: dict, dropped: tuple = ()) -> str:
        folder = tmp_path / name
        manifest_mod.write({k: v for k, v in doc.items() if k not in dropped} | changed, folder,
                           signing_key(SIGNING_KEY))
        return str(folder / "manifest.json")

    version_1 = written("v1", {"manifest_version": 1, "content": old}, dropped=("content_hash_version",))
    assert cli(["manifest", "verify", version_1, "--fingerprint", fp, "--dsn", pg_dsn]) == 0
    assert capsys.readouterr().out.count("content hash matches") == 4
    relabelled = written("relabelled", {"content_hash_version": 1})  # version-2 hashes said to be version 1
    assert cli(["manifest", "verify", relabelled, "--fingerprint", fp, "--dsn", pg_dsn]) == 1
    assert capsys.readouterr().out.count("MISMATCH") == 4
    unknown = written("unknown", {"content_hash_version": 99})
    assert cli(["manifest", "verify", unknown, "--fingerprint", fp, "--dsn", pg_dsn]) == 1
    assert "content hashes: not checked — version 99 is not one this verifier knows" in capsys.readouterr().out
