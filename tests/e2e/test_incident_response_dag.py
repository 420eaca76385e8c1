"""`incident_response` rehearsed end to end through Airflow (`dag.test()`) on the transferred sample, then run
for real: the analyst and vault-reader logins refused and their sessions ended, the master key rotated (the old
one opens nothing, the new one opens the vault), the analytics tier re-tokenised under a new pseudonym key (no
old token left), the affected customers counted and their list sealed, the Art. 57 notices drafted (the individuals' in the outbox, unsent), the clock and the timeline in the report."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import psycopg2
import pytest
from handover import incident
from handover.backup import snapshot
from handover.backup.snapshot import LocalFolder
from handover.crypto import MasterKey, decrypt_stream, signing_key
from handover.store.keys import Keyring
from psycopg2.extensions import make_dsn, parse_dsn

from tests.support.stores import SIGNING_KEY


@pytest.fixture
def staff(pg_admin_dsn, tmp_path):
    """An analyst and a vault reader, each a login of its own (named for this test only)."""
    prefix = f"hoinc_{os.getpid()}_{tmp_path.name[-6:]}".lower().replace("-", "_")
    admin = psycopg2.connect(pg_admin_dsn)
    admin.autocommit = True
    logins = {"handover_analyst": f"{prefix}_analyst", "handover_vault_reader": f"{prefix}_reader"}
    with admin.cursor() as cur:
        for role, login in logins.items():
            cur.execute(f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
            cur.execute(f"DROP ROLE IF EXISTS {login}")
            cur.execute(f"CREATE ROLE {login} LOGIN IN ROLE {role}")
    yield prefix, logins
    with admin.cursor() as cur:
        for login in logins.values():
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (login,))
            cur.execute(f"DROP ROLE IF EXISTS {login}")
    admin.close()


def _tokens(dsn) -> set[str]:
    """Every pseudonym token in the analytics tier's token columns."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_token FROM analytics.customers UNION SELECT mobile_token FROM analytics.customers "
                    "UNION SELECT account_token FROM analytics.accounts UNION SELECT customer_token FROM "
                    "analytics.transactions UNION SELECT interaction_token FROM analytics.interactions")
        return {t for (t,) in cur.fetchall() if t}


def _can_login(admin_dsn, login) -> bool:
    with psycopg2.connect(admin_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (login,))
        return cur.fetchone()[0]


def test_the_incident_plan_rehearsed_then_carried_out(dags, transferred, target, staff, sample_store, pg_admin_dsn,
                                                      master_key_text, monkeypatch, tmp_path):
    prefix, logins = staff
    old = MasterKey.from_text(master_key_text)
    new_text = base64.b64encode(os.urandom(32)).decode()
    new = MasterKey.from_text(new_text)
    dest = LocalFolder(tmp_path / "backups")
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_BACKUP", json.dumps({"conn_type": "fs",
                                                                  "extra": {"path": str(dest.root)}}))
    monkeypatch.setenv("HANDOVER_INCIDENT_LOGINS", f"{prefix}%")
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_MASTER_KEY_NEXT", new_text)
    with psycopg2.connect(target) as conn:
        snapshot.take(conn, dest, old, signing_key(SIGNING_KEY))
        with conn.cursor() as cur:  # the test's own copies of the archived originals
            cur.execute("UPDATE ops.archives SET archive_path = replace(archive_path, %s, %s)",
                        (str(sample_store.folder / "archive"), str(tmp_path / "archive")))
            cur.execute("SELECT archive_path, branch_id FROM ops.archives")
            archives = [(p, f"archive:{b}") for p, b in cur.fetchall()]
            cur.execute("SELECT count(*) FROM vault.customers")
            customers = cur.fetchone()[0]
    tokens = _tokens(target)
    assert archives and all(Path(p).exists() for p, _ in archives)
    dag = dags.get_dag("incident_response")
    assert dag is not None, dags.import_errors
    conf = {"incident_ref": "INC-2026-001", "kind": "leak", "branches": ["SH-PD-0042"], "window_start": None,
            "window_end": None, "tables": ["vault.customers"], "keys": ["master", "pseudonym"], "detected_at": None, "dry_run": True}

    # the drill: every step counted, nothing changed
    assert dag.test(run_conf=conf).get_state() == "success"
    assert _can_login(pg_admin_dsn, logins["handover_analyst"]) and _can_login(pg_admin_dsn, logins["handover_vault_reader"])
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT master_key_id FROM ops.keys")
        assert cur.fetchall() == [(old.key_id,)]
        assert _tokens(target) == tokens
        cur.execute("SELECT count(*) FROM control.outbox WHERE state = 'draft'")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT status FROM control.incidents WHERE reference = 'INC-2026-001'")
        assert cur.fetchone() == ("rehearsed",)
        steps = [s["action"] for s in incident.timeline(conn, "INC-2026-001")]
    assert steps == ["incident.opened", "incident.contained", "incident.keys_rotation_rehearsed",
                     "incident.analytics_retokenise_rehearsed", "incident.affected_listed", "incident.notices_drafted", "incident.closed"]

    # the real thing: an analyst is connected while it runs
    session = psycopg2.connect(make_dsn(**(parse_dsn(pg_admin_dsn) | {"user": logins["handover_analyst"]})))
    assert dag.test(run_conf=conf | {"incident_ref": "INC-2026-002", "dry_run": False}).get_state() == "success"
    assert not _can_login(pg_admin_dsn, logins["handover_analyst"])
    assert not _can_login(pg_admin_dsn, logins["handover_vault_reader"])
    with pytest.raises(psycopg2.Error):
        session.cursor().execute("SELECT 1")  # its session was ended
    with psycopg2.connect(target) as conn:
        proof = incident.prove_rotation(conn, old, new, dest=dest, archives=archives)
        assert proof["opened_by_old"] == 0 and proof["opened_by_new"] == proof["checked"] > len(archives)
        keyring = Keyring(conn, new, "SH-PD-0042")  # the new key opens the vault
        with conn.cursor() as cur:
            cur.execute("SELECT name_enc FROM vault.customers LIMIT 1")
            assert keyring.cipher.decrypt(cur.fetchone()[0], "vault.customers.name")
            cur.execute("SELECT affected, status FROM control.incidents WHERE reference = 'INC-2026-002'")
            affected, status = cur.fetchone()
            cur.execute("SELECT count(*) FROM control.outbox o JOIN control.notices n ON n.id = o.notice_id "
                        "WHERE n.kind = 'incident:INC-2026-002' AND o.state = 'draft'")
            drafts = cur.fetchone()[0]
        timeline = incident.timeline(conn, "INC-2026-002")
    assert status == "closed" and affected["customers"] == customers and 0 < drafts <= customers
    folder = tmp_path / "output" / "incidents" / "INC-2026-002"
    sealed = io.BytesIO()
    with open(folder / "affected.csv.enc", "rb") as src:
        decrypt_stream(src, sealed, new, "incident:INC-2026-002")
    assert len(sealed.getvalue().decode().splitlines()) == customers
    notice = (folder / "authority-notice.txt").read_text(encoding="utf-8")
    for part in ("事件经过", "涉及的个人信息种类", "原因", "可能造成的危害", "已采取的补救措施", "个人可采取", "联系方式"):
        assert part in notice
    report = json.loads((folder / "closing-report.json").read_text(encoding="utf-8"))
    assert report["clock"]["within_clock"] and len(report["timeline"]) == len(timeline) == 7
    rotated = next(e for e in timeline if e["action"] == "incident.keys_rotated")["detail"]
    assert rotated["opened_by_old"] == 0 and rotated["store_keys"] >= 4 and rotated["backup_keys"] == 1
    retokenised = next(e for e in timeline if e["action"] == "incident.analytics_retokenised")["detail"]
    assert retokenised["old_left"] == retokenised["unresolved"] == 0 and retokenised["token_cells"] > 1000
    remade = _tokens(target)
    assert len(remade) == len(tokens) and not remade & tokens  # every token re-made, no old one left
    contained = next(e for e in timeline if e["action"] == "incident.contained")["detail"]
    assert contained["logins"] == 2 and contained["sessions_ended"] >= 1
    # no customer value in what the incident wrote for people to read
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id FROM vault.customers LIMIT 5")
        ids = [c for (c,) in cur.fetchall()]
    written = notice + json.dumps(report, ensure_ascii=False)
    assert not [c for c in ids if c in written]
