"""`make bench`: backup, full verify and restore of a loaded target store, beside a bare "COPY every table out" floor.

    python bench/backup.py [--customers 100000] [--transactions 500000] [--interactions 100000]
                           [--workers 2] [--chunk-rows 100000] [--small-customers 10000]
                           [--results bench/RESULTS.md]

1. A loaded store: the transfer of the generated branch (cached under .handover/bench/<sizes>/, the same
   as bench/run.py's) into a fresh database `handover_bench_backup`.
2. Floor: in one REPEATABLE READ, READ ONLY transaction, every table of `snapshot.tables` COPYed out with
   `snapshot.content_copy` (the very SQL a backup runs) into a sink that only counts the bytes — what any
   backup of the same snapshot must at least do. Best of two (the first also warms the caches).
3. `snapshot.take` into a LocalFolder under .handover/bench/backup-dest (cleared first): the plaintext
   (ordered COPY text) against the stored ciphertext bytes is the compression ratio.
4. `snapshot.verify(full=True)`: every object's ciphertext hashed, then decrypted and its plaintext hashed.
5. `snapshot.restore` into another fresh database (`handover_bench_restore`).
Each of take / verify / restore runs in a child process of its own (``--stage``), so that its peak RSS is
its own; take runs again on a store built from a tenth of the customers (--small-customers), to compare
peak RSS: memory must not grow with the size of the store (frames are at most 4 MiB). Figures are reported
as ratios to the floor measured in the same run (machines here are shared). The databases are dropped at
the end; the backups stay under .handover/bench/ (cleared by the next run).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import psycopg2

DEST = ROOT / ".handover" / "bench" / "backup-dest"
DATABASES = {"big": "handover_bench_backup", "small": "handover_bench_backup_small",
             "restore": "handover_bench_restore"}
_MASTER_ENV, _SIGNER_ENV = "HANDOVER_BENCH_BACKUP_MASTER", "HANDOVER_BENCH_BACKUP_SIGNER"


class CountingSink:
    """A COPY TO target that keeps nothing: the bytes are counted, no more."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data) -> int:
        self.bytes += len(data)
        return len(data)


def copy_floor(dsn: str) -> dict:
    """Every table of the store COPYed out of one snapshot, in backup order, into a counting sink."""
    from handover.backup import snapshot

    sink = CountingSink()
    with psycopg2.connect(dsn) as conn:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        started = time.perf_counter()
        with conn.cursor() as cur:
            found = snapshot.tables(cur)
            for table in found:
                cur.copy_expert(snapshot.content_copy(table).as_string(conn), sink)
        seconds = time.perf_counter() - started
        conn.rollback()
    conn.close()
    return {"seconds": seconds, "bytes": sink.bytes, "tables": len(found)}


# --- the stages, each in a child process of its own (`--stage`) -------------------------------------------

def _keys():
    from handover.crypto import MasterKey, signing_key

    return MasterKey.from_text(os.environ[_MASTER_ENV]), signing_key(os.environ[_SIGNER_ENV])


def stage(name: str, dsn: str | None, dest_path: str | None, backup_id: str | None) -> dict:
    from handover.backup import snapshot

    master, signer = _keys()
    dest = snapshot.LocalFolder(dest_path) if dest_path else None
    out: dict = {"stage": name}
    if name == "idle":  # the imports and the keys alone: what every stage's peak RSS starts from
        started = time.perf_counter()
    elif name == "take":
        with psycopg2.connect(dsn) as conn:
            started = time.perf_counter()
            manifest = snapshot.take(conn, dest, master, signer)
            out["seconds"] = time.perf_counter() - started
        conn.close()
        objects = manifest["objects"].values()
        out |= {"backup_id": manifest["backup_id"], "objects": len(manifest["objects"]),
                "rows": sum(o["rows"] for o in objects), "plain_bytes": sum(o["plain_bytes"] for o in objects),
                "cipher_bytes": sum(o["cipher_bytes"] for o in objects)}
    elif name == "verify":
        started = time.perf_counter()
        checked = snapshot.verify(dest, backup_id, full=True, master=master)
        out["seconds"] = time.perf_counter() - started
        out["checked"] = checked
    elif name == "restore":
        with psycopg2.connect(dsn) as conn:
            started = time.perf_counter()
            restored = snapshot.restore(conn, dest, backup_id, master)
            out["seconds"] = time.perf_counter() - started
        conn.close()
        out |= {"rows": sum(restored.values()), "tables": len(restored)}
    else:
        raise SystemExit(f"unknown stage {name!r}")
    out.setdefault("seconds", time.perf_counter() - started)
    out["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def run_stage(name: str, env: dict, *, dsn: str | None = None, dest: Path | None = None,
              backup_id: str | None = None) -> dict:
    command = [sys.executable, __file__, "--stage", name]
    for flag, value in (("--dsn", dsn), ("--dest", dest), ("--backup-id", backup_id)):
        if value is not None:
            command += [flag, str(value)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"the {name} stage failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the report ---------------------------------------------------------------------------------------------

def _mib(kb: int) -> float:
    return kb / 1024


def report(sizes: dict, small_customers: int, floor_: dict, idle: dict, take: dict, verify: dict,
           restore: dict, small: dict | None) -> str:
    from run import machine

    rows, plain, cipher = take["rows"], take["plain_bytes"], take["cipher_bytes"]
    f = floor_["seconds"]

    def line(stage_: str, seconds: float, rate: str, rss: str) -> str:
        return f"| {stage_} | {seconds:.1f} | {seconds / f:.1f}× | {rate} | {rss} |"

    lines = [
        f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — backup (`bench/backup.py`) — {machine()}",
        "",
        (f"Store: the transfer of {sizes['customers']:,} customers, {sizes['transactions']:,} transactions, "
         f"{sizes['interactions']:,} interactions — {take['objects']} tables, {rows:,} rows, "
         f"{plain / 1e6:,.1f} MB of ordered COPY text. Each stage in a child process of its own; "
         "MB = 10⁶ bytes of that text."),
        "",
        "| stage | seconds | ratio to floor | rows/s or MB/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
        line(f"floor: COPY every table out of one snapshot into a byte counter ({floor_['tables']} tables, "
             "best of 2)", f, f"{floor_['bytes'] / 1e6 / f:,.1f} MB/s", "—"),
        line("take (count, COPY out, SHA-256, zlib, AES-GCM, spool, store)", take["seconds"],
             f"{rows / take['seconds']:,.0f} rows/s · {plain / 1e6 / take['seconds']:,.1f} MB/s",
             f"{_mib(take['rss_kb']):,.0f}"),
        line("verify, full (ciphertext SHA-256, then decrypt, inflate, plaintext SHA-256)", verify["seconds"],
             f"{plain / 1e6 / verify['seconds']:,.1f} MB/s", f"{_mib(verify['rss_kb']):,.0f}"),
        line("restore into a fresh database (verify, COPY in, content hash)", restore["seconds"],
             f"{restore['rows'] / restore['seconds']:,.0f} rows/s", f"{_mib(restore['rss_kb']):,.0f}"),
        "",
        (f"- compression: {plain / 1e6:,.1f} MB of plaintext stored as {cipher / 1e6:,.1f} MB of ciphertext "
         f"→ **{plain / cipher:.2f}×**"),
        (f"- floor bytes {floor_['bytes']:,} vs the backup's plaintext bytes {plain:,}"
         + ("" if floor_["bytes"] == plain else " (**differ**)")),
        f"- a stage child's RSS with only the imports and keys: {_mib(idle['rss_kb']):,.0f} MiB",
    ]
    if small:
        lines.append(
            f"- take's peak RSS on a store from {small_customers:,} customers ({small['rows']:,} rows, "
            f"{small['plain_bytes'] / 1e6:,.1f} MB): {_mib(small['rss_kb']):,.0f} MiB → ratio big/small "
            f"**{take['rss_kb'] / small['rss_kb']:.2f}×**")
    lines.append("")
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------------

def loaded_store(admin: str, db: str, sizes: dict, workers: int, chunk_rows: int) -> str:
    from run import dataset, fresh_db, transfer_into

    folder = dataset(**sizes)
    dsn = fresh_db(admin, db)
    started = time.perf_counter()
    transfer_into(dsn, folder, workers, chunk_rows)
    print(f"store {db}: {folder.name} transferred in {time.perf_counter() - started:.0f}s", flush=True)
    return dsn


def drop_databases(admin: str) -> None:
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in DATABASES.values():
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--transactions", type=int, default=500_000)
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the transfer's workers")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--small-customers", type=int, default=None,
                        help="size of the store for the peak-RSS comparison of take (default: a tenth); 0 to skip")
    parser.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--keep", action="store_true", help="keep the databases (default: dropped at the end)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: one stage, in a child process
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    parser.add_argument("--backup-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        print(json.dumps(stage(args.stage, args.dsn, args.dest, args.backup_id)))
        return 0

    from run import admin_dsn, fresh_db

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    env = os.environ | {_MASTER_ENV: base64.b64encode(os.urandom(32)).decode(),
                        _SIGNER_ENV: base64.b64encode(os.urandom(32)).decode()}
    admin = admin_dsn()
    sizes = {"customers": args.customers, "transactions": args.transactions, "interactions": args.interactions}
    scale = args.small_customers if args.small_customers is not None else args.customers // 10
    try:
        dsn = loaded_store(admin, DATABASES["big"], sizes, args.workers, args.chunk_rows)
        floor_ = min((copy_floor(dsn) for _ in range(2)), key=lambda r: r["seconds"])
        print(f"floor: {floor_['bytes'] / 1e6:,.1f} MB COPYed out in {floor_['seconds']:.1f}s", flush=True)
        idle = run_stage("idle", env)

        shutil.rmtree(DEST, ignore_errors=True)
        take = run_stage("take", env, dsn=dsn, dest=DEST / "big")
        print(f"take: {take['seconds']:.1f}s ({take['backup_id']})", flush=True)
        verify = run_stage("verify", env, dest=DEST / "big", backup_id=take["backup_id"])
        print(f"verify (full): {verify['seconds']:.1f}s", flush=True)
        restore = run_stage("restore", env, dsn=fresh_db(admin, DATABASES["restore"]), dest=DEST / "big",
                            backup_id=take["backup_id"])
        print(f"restore: {restore['seconds']:.1f}s", flush=True)
        if restore["rows"] != take["rows"]:
            raise SystemExit(f"restore gave {restore['rows']:,} rows, the backup has {take['rows']:,}")

        small = None
        if scale:
            ratio = scale / args.customers
            small_sizes = {"customers": scale, "transactions": int(args.transactions * ratio),
                           "interactions": int(args.interactions * ratio)}
            small_dsn = loaded_store(admin, DATABASES["small"], small_sizes, args.workers, args.chunk_rows)
            small = run_stage("take", env, dsn=small_dsn, dest=DEST / "small")
            print(f"take, small store: {small['seconds']:.1f}s", flush=True)
    finally:
        if not args.keep:
            drop_databases(admin)

    text = report(sizes, scale, floor_, idle, take, verify, restore, small)
    print("\n" + text)
    if args.results:
        with Path(args.results).open("a", encoding="utf-8") as out:
            out.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
