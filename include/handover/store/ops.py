"""The ``ops`` records of a run — the run itself, its archived originals, its manifest — and the append-only
audit log (no customer data). Every statement on them a run makes is here."""

from __future__ import annotations

import json
from pathlib import Path


def start_run(conn, run_id: str, branch_id: str, contract_sha256: str, mode: str, driver: str = "process") -> None:
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO ops.runs (run_id, branch_id, contract_sha256, mode, status, driver, heartbeat_at)
            VALUES (%s, %s, %s, %s, 'running', %s, clock_timestamp())
            ON CONFLICT (run_id) DO UPDATE SET status = 'running', contract_sha256 = EXCLUDED.contract_sha256,
                mode = EXCLUDED.mode, finished_at = NULL, driver = EXCLUDED.driver,
                heartbeat_at = EXCLUDED.heartbeat_at
        """, (run_id, branch_id, contract_sha256, mode, driver))
    conn.commit()


def running_runs(conn, branch_id: str, *, other_than: str) -> list[str]:
    """The branch's runs still marked running, but ``other_than``."""
    with conn.cursor() as cur:
        cur.execute("SELECT run_id FROM ops.runs WHERE branch_id = %s AND status = 'running' AND run_id <> %s",
                    (branch_id, other_than))
        return [r for (r,) in cur.fetchall()]


def record_archives(conn, branch_id: str, run_id: str, entries: list[dict], folder: Path) -> None:
    """The encrypted originals of a run's sources (:func:`handover.archive.archive_file`'s entries, stored in
    ``folder``); an original archived by an earlier run keeps its first run."""
    with conn.cursor() as cur:
        for e in entries:
            cur.execute("INSERT INTO ops.archives (branch_id, sha256, file, bytes, archive_path, archive_sha256, "
                        "master_key_id, first_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (branch_id, sha256) DO NOTHING",
                        (branch_id, e["sha256"], e["file"], e["bytes"], str(folder / e["archive"]),
                         e["archive_sha256"], e["master_key_id"], run_id))
    conn.commit()


def record_manifest(conn, run_id: str, branch_id: str, written: dict) -> None:
    """A run's signed manifest (:func:`handover.manifest.write`'s result); a re-run writes the same one."""
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO ops.manifests (run_id, branch_id, manifest, sha256, manifest_text, signature, public_key,
                                       signer_fingerprint) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (run_id) DO UPDATE SET manifest = EXCLUDED.manifest, sha256 = EXCLUDED.sha256,
                manifest_text = EXCLUDED.manifest_text, signature = EXCLUDED.signature,
                public_key = EXCLUDED.public_key, signer_fingerprint = EXCLUDED.signer_fingerprint
        """, (run_id, branch_id, written["text"], written["sha256"], written["text"], written["signature"],
              written["public_key"], written["fingerprint"]))
    conn.commit()


def finish_run(conn, run_id: str, status: str, counts: dict | None = None, validation: dict | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE ops.runs SET status = %s, finished_at = now(), counts = coalesce(%s, counts), "
                    "validation = coalesce(%s, validation) WHERE run_id = %s",
                    (status, None if counts is None else json.dumps(counts),
                     None if validation is None else json.dumps(validation), run_id))
    conn.commit()


def audit(conn, action: str, *, run_id: str | None, branch_id: str | None, actor: str, commit: bool = True,
          **detail) -> None:
    """Append one entry. `detail` holds counts, hashes and names of things — never a customer value.
    ``commit=False``: the entry is part of the caller's transaction (it stands or falls with what it records)."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO ops.audit (run_id, branch_id, actor, action, detail) VALUES (%s, %s, %s, %s, %s)",
                    (run_id, branch_id, actor, action, json.dumps(detail, ensure_ascii=False, default=str)))
    if commit:
        conn.commit()
