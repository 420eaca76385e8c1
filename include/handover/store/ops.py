"""The ``ops`` records of a run: the run itself and the append-only audit log (no customer data)."""

from __future__ import annotations

import json


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


def finish_run(conn, run_id: str, status: str, counts: dict | None = None, validation: dict | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE ops.runs SET status = %s, finished_at = now(), counts = coalesce(%s, counts), "
                    "validation = coalesce(%s, validation) WHERE run_id = %s",
                    (status, None if counts is None else json.dumps(counts),
                     None if validation is None else json.dumps(validation), run_id))
    conn.commit()


def audit(conn, action: str, *, run_id: str | None, branch_id: str | None, actor: str, **detail) -> None:
    """Append one entry. `detail` holds counts, hashes and names of things — never a customer value."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO ops.audit (run_id, branch_id, actor, action, detail) VALUES (%s, %s, %s, %s, %s)",
                    (run_id, branch_id, actor, action, json.dumps(detail, ensure_ascii=False, default=str)))
    conn.commit()
