"""`make bench`: the customer notice run for a branch of 100,000 customers — notices prepared per second, and
messages rendered, sent and recorded per second against an SMTP server and an SMS gateway on loopback.

    python bench/notices.py [--customers 100000] [--batch 500] [--results bench/RESULTS.md]

1. A fresh database `handover_bench_notices`: the store's schema, and the sample contract's branch with
   synthetic customers written straight into the vault (their contacts encrypted with the branch's data key,
   as a load writes them): 70 % with a mobile (SMS), 20 % with only an e-mail, 10 % with only an address
   (a letter).
2. `outbox.prepare` (one transaction: a notice and an outbox message per customer).
3. The deliverer with no rate limit (the providers' limit is what bounds it in production) against the tests'
   servers (tests/support/mailserver.py): every message rendered, sent, its receipt recorded — two commits a
   message. The SMTP connection is reused within a batch; each SMS is one HTTPS-less HTTP request.
The database is dropped at the end; the letters go to a temporary folder, removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import psycopg2

DATABASE = "handover_bench_notices"
SECRET = "bench-secret"


def fill_vault(dsn: str, master, contract, customers: int) -> None:
    """Synthetic loaded customers: ciphertext contacts, as a load leaves them."""
    import io

    from handover import canonical
    from handover.store import partitions, schema
    from handover.store.keys import Keyring

    conn = psycopg2.connect(dsn)
    try:
        schema.ensure_schema(conn)
        keys = Keyring(conn, master, contract.branch_id)
        cipher = keys.cipher
        cols = ["customer_id", "name_enc", "mobile_enc", "email_enc", "address_enc", "consent_transfer",
                "key_id", "row_hash", "source_file", "source_line", "loaded_run_id"]
        buf = io.StringIO()
        for i in range(customers):
            kind = i % 10
            mobile = f"139{i:08d}" if kind < 7 else None
            email = f"c{i}@example.cn" if kind in (7, 8) else None
            address = f"上海市浦东新区示例路{i}号" if kind == 9 else None
            values = [f"C{i:07d}", cipher.encrypt(f"客户{i}", "vault.customers.name"),
                      cipher.encrypt(mobile, "vault.customers.mobile"), cipher.encrypt(email, "vault.customers.email"),
                      cipher.encrypt(address, "vault.customers.address"), "t", cipher.key_id,
                      i.to_bytes(8, "big") * 4, "客户信息.csv", i + 2, "bench"]
            buf.write("\t".join("\\N" if v is None else ("\\\\x" + v.hex()) if isinstance(v, bytes) else str(v)
                                for v in values) + "\n")
        buf.seek(0)
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bench_customers (customer_id text, name_enc bytea, mobile_enc bytea, "
                        "email_enc bytea, address_enc bytea, consent_transfer boolean, key_id text, row_hash bytea, "
                        "source_file text, source_line integer, loaded_run_id text)")
            cur.copy_expert("COPY bench_customers FROM STDIN", buf)
            partitions.build(cur, canonical.entity("customers"), contract.branch_id, ["branch_id", *cols],
                             f"SELECT %(branch)s, {', '.join(cols)} FROM bench_customers", {"branch": contract.branch_id})
        conn.commit()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args(argv)

    from handover.contract import load_contract
    from handover.crypto import MasterKey, encode_key, new_key
    from handover.notices import deliver, outbox
    from handover.notices.channels import LetterBatch, SmsGateway, SmsSettings, SmtpChannel, SmtpSettings
    from run import admin_dsn, fresh_db, machine

    from tests.support.mailserver import SmsGatewayServer, SmtpServer

    admin = admin_dsn()
    dsn = fresh_db(admin, DATABASE)
    master = MasterKey.from_text(encode_key(new_key()))
    contract = load_contract(ROOT / "contracts" / "sample_branch.yaml")
    started = time.perf_counter()
    fill_vault(dsn, master, contract, args.customers)
    filled = time.perf_counter() - started

    smtp, gateway = SmtpServer(), SmsGatewayServer(SECRET)
    letters = Path(tempfile.mkdtemp(prefix="handover-bench-letters-"))
    try:
        conn = psycopg2.connect(dsn)
        try:
            t0 = time.perf_counter()
            prepared = outbox.prepare(conn, contract, prepared_on=dt.date.today(), requested_by="bench")
            prepare_s = time.perf_counter() - t0
            channels = {"email": SmtpChannel(SmtpSettings("127.0.0.1", smtp.port, sender="n@bank.example.cn")),
                        "sms": SmsGateway(SmsSettings(gateway.url, SECRET)), "letter": LetterBatch(letters)}
            d = deliver.Deliverer(conn, deliver.ciphers(conn, master), deliver.RunFacts(conn, {contract.branch_id: contract}),
                                  channels, deliver.DeliverySettings(batch=args.batch, per_second=0, deadline=None))
            t0 = time.perf_counter()
            counts = d.drain()
            deliver_s = time.perf_counter() - t0
        finally:
            conn.close()
        sent = sum(v for k, v in counts.items() if k.endswith(("_sent", "_delivered")))
        handed = {"sms": len(gateway.messages), "email": len(smtp.arrived),
                  "letter": len(list(letters.glob("*.txt")))}
    finally:
        smtp.stop()
        gateway.stop()
        import shutil

        shutil.rmtree(letters, ignore_errors=True)
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (DATABASE,))
            cur.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        conn.close()
    assert sum(handed.values()) == sent == prepared["new"], (handed, sent, prepared)
    lines = [f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — customer notices (`bench/notices.py`) — {machine()}",
             "", (f"{args.customers:,} loaded customers (vault filled directly in {filled:.1f} s); batches of "
                  f"{args.batch}, no rate limit; servers on loopback (tests/support/mailserver.py)."), "",
             "| stage | seconds | per second |", "|---|---:|---:|",
             f"| prepare (notice + outbox message, one transaction) | {prepare_s:.1f} | {prepared['new'] / prepare_s:,.0f} |",
             f"| deliver (decrypt, render, send, record) | {deliver_s:.1f} | {sent / deliver_s:,.0f} |", "",
             f"- handed to the servers: SMS {handed['sms']:,}, e-mail {handed['email']:,}, letters {handed['letter']:,}",
             ""]
    text = "\n".join(lines)
    print(text)
    if args.results:
        with Path(args.results).open("a", encoding="utf-8") as out:
            out.write("\n" + text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    sys.exit(main())
