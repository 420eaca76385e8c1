"""Stores the tests share: the run context of a sample transfer, the one signing key, and copies of a
template database (`CREATE DATABASE … TEMPLATE`) — one expensive state built once, handed out as copies.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

from handover.crypto import MasterKey
from handover.run import RunContext
from psycopg2.extensions import parse_dsn

SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()  # the tests' one Ed25519 signing key
SAMPLE_BRANCH = "SH-PD-0042"  # the sample export's branch (contracts/sample_branch.yaml)
AFTER_AML = dt.date(2030, 1, 1)  # the sample's transactions are from 2024: 5 years on, AML retention has run


SAMPLE_CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "sample_branch.yaml"


def airflow_connection(dsn: str, *, region: str | None = "CN") -> str:
    """An Airflow connection (``AIRFLOW_CONN_…``, JSON) for a PostgreSQL database; ``region`` the extra the
    target store's connection carries (None: no extra, e.g. a restore target)."""
    p = parse_dsn(dsn)
    conn = {"conn_type": "postgres", "host": p.get("host", "127.0.0.1"), "port": int(p.get("port", 5432)),
            "login": p.get("user", "postgres"), "schema": p["dbname"]}
    if region is not None:
        conn["extra"] = {"region": region}
    if p.get("password"):
        conn["password"] = p["password"]
    return json.dumps(conn)


def approve_pipia(dsn: str, contract=SAMPLE_CONTRACT, folder=None) -> str | None:
    """The contract's impact assessment (its ``transfer.pipia``) drafted, signed and approved by the approver it
    names, in the store ``dsn`` — what `handover pipia draft` and `handover pipia approve` record, and what a
    transfer needs before it loads. Idempotent; the store's schema is ensured (a superuser's DSN)."""
    import tempfile

    import psycopg2
    from handover import pipia
    from handover.contract import load_contract
    from handover.crypto import signing_key
    from handover.errors import HandoverError
    from handover.store import schema

    try:
        contract = load_contract(contract)
    except HandoverError:
        return None  # a contract wrong on purpose: the run reports it
    if not contract.pipia_reference:
        return None
    with psycopg2.connect(dsn) as conn:
        schema.ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM control.pipia WHERE reference = %s", (contract.pipia_reference,))
            row = cur.fetchone()
        conn.rollback()
        if row is None or row[0] == "drafted":
            out = Path(folder or tempfile.mkdtemp(prefix="handover-pipia-"))
            pipia.assess(conn, contract, out, signing_key(SIGNING_KEY), counts={},
                         crossing={"cross_border": False, "source": contract.jurisdiction, "target": "CN"},
                         actor="tests")
            pipia.decide(conn, contract.pipia_reference, "approved", by=contract.pipia_approver, via="tests")
    return contract.pipia_reference


def run_context(pg_dsn, master_key_text, contract, folder, tmp_path, run_id, **kw) -> RunContext:
    """A transfer's context as the tests make it: region CN, the tests' signing key, 100-row chunks; the
    contract's impact assessment approved in the store (`approve_pipia`)."""
    if pg_dsn:
        approve_pipia(pg_dsn, contract, Path(tmp_path) / "pipia")
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


def analytics_rows(dsn: str, customer: str) -> int:
    """The customer's rows in the analytics tier (customers, accounts, interactions, and the transactions of
    their accounts), found as erasure finds them: through the vault rows' content hashes (row_hash)."""
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        n = 0
        for entity in ("customers", "accounts", "interactions"):
            cur.execute(f"SELECT count(*) FROM analytics.{entity} a JOIN vault.{entity} v USING (branch_id, row_hash) "
                        "WHERE v.customer_id = %s", (customer,))
            n += cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM analytics.transactions a JOIN vault.transactions v USING (branch_id, row_hash) "
                    "JOIN vault.accounts x ON x.branch_id = v.branch_id AND x.account_id = v.account_id "
                    "WHERE x.customer_id = %s", (customer,))
        return n + cur.fetchone()[0]


def sample_identifiers(folder: Path) -> list[str]:
    """Names, ID numbers and mobiles from the sample customers file: what must never leak."""
    lines = (folder / "客户信息.csv").read_bytes().decode("gb18030").splitlines()[1:40]
    values = []
    for line in lines:
        cells = line.split(",")
        values += [c.strip() for c in (cells[2], cells[6], cells[8]) if len(c.strip()) >= 2]
    return values
