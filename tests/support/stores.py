"""Stores the tests share: the run context of a sample transfer, the one signing key, and copies of a
template database (`CREATE DATABASE … TEMPLATE`) — one expensive state built once, handed out as copies.
"""

from __future__ import annotations

import base64
from pathlib import Path

from handover.crypto import MasterKey
from handover.run import RunContext

SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()  # the tests' one Ed25519 signing key


def run_context(pg_dsn, master_key_text, contract, folder, tmp_path, run_id, **kw) -> RunContext:
    """A transfer's context as the tests make it: region CN, the tests' signing key, 100-row chunks."""
    kw.setdefault("target_region", "CN")
    kw.setdefault("signing_key_text", SIGNING_KEY)
    return RunContext(run_id=run_id, contract_path=str(contract), dsn=pg_dsn,
                      master_key=MasterKey.from_text(master_key_text), work_root=str(Path(tmp_path) / "work"),
                      output_root=str(Path(tmp_path) / "out"), source_dir=str(folder),
                      chunk_rows=kw.pop("chunk_rows", 100), **kw)


def copy_database(admin_dsn: str, template: str, name: str) -> str:
    """A new database ``name`` made from ``template`` (which no session may be connected to)."""
    import time

    import psycopg2
    import psycopg2.errors
    from psycopg2.extensions import make_dsn, parse_dsn

    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        for attempt in range(20):
            # nothing may be connected to a template while it is copied — autovacuum visits it now and then
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template,))
            try:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except psycopg2.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.1)
    admin.close()
    return make_dsn(**(parse_dsn(admin_dsn) | {"dbname": name}))
