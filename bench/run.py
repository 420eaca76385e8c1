"""`make bench`: the transfer at scale, beside a bare "parse the CSVs + COPY the rows" floor of the same data.

    python bench/run.py [--customers 1000000] [--transactions 5000000] [--interactions 1000000]
                        [--workers 2] [--chunk-rows 100000] [--small-customers 100000] [--results bench/RESULTS.md]

1. Generates the branch (cached under .handover/bench/<sizes>/).
2. Floor: PostgreSQL parses each CSV and COPYs it into an unlogged text table — no Python in the path.
3. The transfer (`handover.local_run.run_all`, per-chunk steps in forked workers as the DAG's mapped tasks),
   into a fresh database: wall time and rows/s per stage, and peak RSS (this process and its workers).
4. The same at a tenth of the customers (or --small-customers), to compare peak RSS: memory must not
   grow with the size of the branch.
Figures are reported as ratios to the floor measured in the same run (machines here are shared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn

FILES = {"customers": ("客户信息.csv", "GB18030"), "accounts": ("账户信息.csv", "UTF8"),
         "transactions": ("交易流水.csv", "UTF8"), "interactions": ("服务记录.csv", "UTF8")}


def admin_dsn() -> str:
    configured = os.environ.get("HANDOVER_BENCH_DSN")
    if configured:
        return configured
    local = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    try:
        psycopg2.connect(local, connect_timeout=3).close()
        return local
    except psycopg2.Error:
        from handover.store import embedded

        return embedded.dsn(embedded.start(ROOT / ".handover" / "bench-pg"), "postgres")


def fresh_db(admin: str, name: str) -> str:
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return make_dsn(**(parse_dsn(admin) | {"dbname": name}))


def dataset(customers: int, transactions: int, interactions: int) -> Path:
    from generate import generate

    folder = ROOT / ".handover" / "bench" / f"c{customers}_t{transactions}_i{interactions}"
    if not (folder / "bench_contract.yaml").exists():
        started = time.perf_counter()
        generate(folder, customers=customers, transactions=transactions, interactions=interactions)
        print(f"generated {folder.name} in {time.perf_counter() - started:.0f}s", flush=True)
    return folder


def floor(admin: str, folder: Path, durable: bool = False) -> dict:
    """PostgreSQL parses the CSVs and COPYs them: the least any loader can do — into unlogged tables
    without indexes; or, `durable`, into logged tables (WAL) with a primary key on the first column and
    an index on the second (what any durable, indexed store pays besides the loader's own work)."""
    dsn = fresh_db(admin, "handover_bench_floor")
    rows, started = 0, time.perf_counter()
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for entity, (name, encoding) in FILES.items():
            path = folder / name
            with open(path, encoding="gb18030" if encoding == "GB18030" else "utf-8-sig") as fh:
                width = len(fh.readline().split(","))
            cols = ", ".join(f"c{i} text" for i in range(width))
            if durable:
                keyed = cols.replace("c0 text", 'c0 text COLLATE "C" PRIMARY KEY', 1)
                cur.execute(f"CREATE TABLE {entity} ({keyed})")
                cur.execute(f"CREATE INDEX ON {entity} (c1)")
            else:
                cur.execute(f"CREATE UNLOGGED TABLE {entity} ({cols})")
            with open(path, "rb") as fh:
                if encoding != "GB18030" and fh.read(3) != b"\xef\xbb\xbf":
                    fh.seek(0)
                cur.copy_expert(f"COPY {entity} FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING '{encoding}')", fh)
            cur.execute(f"SELECT count(*) FROM {entity}")
            rows += cur.fetchone()[0]
    return {"rows": rows, "seconds": time.perf_counter() - started}


def transfer_run(admin: str, folder: Path, workers: int, chunk_rows: int) -> dict:
    """Run in a child process so that its peak RSS (with its workers) is its own."""
    return transfer_into(fresh_db(admin, "handover_bench_transfer"), folder, workers, chunk_rows)


def transfer_into(dsn: str, folder: Path, workers: int, chunk_rows: int) -> dict:
    """The transfer of `folder` into the (empty) store `dsn`, in a child process; returns its timings,
    counts and peak RSS. The loaded store stays at `dsn` (bench/backup.py backs it up)."""
    code = f"""
import base64, json, os, resource, sys, time
sys.path.insert(0, {str(ROOT)!r})
from tests.support.stores import approve_pipia
from handover import local_run
from handover.crypto import MasterKey
from handover.run import RunContext
ctx = RunContext(run_id="bench", contract_path={str(folder / 'bench_contract.yaml')!r}, dsn=sys.argv[1],
                 master_key=MasterKey(os.urandom(32)), work_root={str(folder / 'work')!r},
                 output_root={str(folder / 'output')!r}, archive_root={str(folder / 'archive')!r},
                 chunk_rows={chunk_rows}, target_region="CN",
                 signing_key_text=base64.b64encode(os.urandom(32)).decode())
approve_pipia(sys.argv[1], ctx.contract_path)  # the branch's impact assessment approved, as its approver would: a transfer loads
timings = {{}}
started = time.perf_counter()
result = local_run.run_all(ctx, workers={workers}, timings=timings)
wall = time.perf_counter() - started
manifest = json.load(open(result["manifest"]))
print(json.dumps({{"wall": wall, "timings": timings, "counts": manifest["counts"],
                  "rss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rss_workers_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}))
"""
    done = subprocess.run([sys.executable, "-c", code, dsn], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the transfer failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def report(sizes: dict, floor_: dict, big: dict, small: dict | None, workers: int, chunk_rows: int) -> str:
    rows = sum(c["source_rows"] for c in big["counts"].values())
    peak = max(big["rss_self_kb"], big["rss_workers_kb"]) / 1024
    lines = [
        f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {machine()}",
        "",
        (f"Branch: {sizes['customers']:,} customers, {sizes['transactions']:,} transactions, "
        f"{sizes['interactions']:,} interactions ({rows:,} source rows); workers {workers}, chunk rows {chunk_rows:,}."),
        "",
        "| stage | seconds | rows/s | × floor | × durable floor |",
        "|---|---:|---:|---:|---:|",
    ]
    durable = floor_.get("durable_seconds")

    def times(seconds: float) -> str:
        return f"{seconds / floor_['seconds']:.2f}× | " + (f"{seconds / durable:.2f}×" if durable else "–")

    for stage, seconds in big["timings"].items():
        lines.append(f"| {stage} | {seconds:.1f} | {rows / seconds:,.0f} | {times(seconds)} |")
    lines += [
        f"| **transfer, end to end** | **{big['wall']:.1f}** | **{rows / big['wall']:,.0f}** | {times(big['wall'])} |",
        (f"| floor: PostgreSQL parse + COPY of the same CSVs | {floor_['seconds']:.1f} | "
        f"{floor_['rows'] / floor_['seconds']:,.0f} | 1× | |"),
        (f"| durable floor: the same COPY into logged tables with a primary key and an index | "
         f"{durable:.1f} | {floor_['rows'] / durable:,.0f} | {durable / floor_['seconds']:.2f}× | 1× |"
         if durable else ""),
        "",
        (f"- end to end / floor: **{big['wall'] / floor_['seconds']:.1f}×**; "
        f"load stage / floor: **{big['timings'].get('load', 0) / floor_['seconds']:.1f}×** "
        f"(settle + load: {(big['timings'].get('settle', 0) + big['timings'].get('load', 0)) / floor_['seconds']:.1f}×)"
        + (f"; load stage / durable floor: **{big['timings'].get('load', 0) / floor_['durable_seconds']:.1f}×**"
           if "durable_seconds" in floor_ else "")),
        (f"- peak RSS: {peak:,.0f} MiB (main process {big['rss_self_kb'] / 1024:,.0f} MiB, "
        f"largest worker {big['rss_workers_kb'] / 1024:,.0f} MiB)"),
    ]
    after = big["timings"].get("reconcile", 0) + big["timings"].get("manifest", 0)
    if durable:  # the goals of issue 16, each as measured in this run
        lines.append(f"- goals: end to end / durable floor **{big['wall'] / durable:.2f}×** (goal ≤ 3.3×); "
                     f"end to end {big['wall']:.0f} s (goal ≤ 180 s at 1,000,000 customers); reconcile + manifest "
                     f"{after:.1f} s (goal ≤ 15 s), {after / durable:.2f}× the durable floor; "
                     f"peak RSS {peak / 1024:.2f} GiB (goal ≤ 1 GiB)")
    if small:
        small_peak = max(small["rss_self_kb"], small["rss_workers_kb"]) / 1024
        lines.append(f"- peak RSS at a tenth of the customers: {small_peak:,.0f} MiB → ratio **{peak / small_peak:.2f}×** (goal ≤ 1.3×)")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=5_000_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--small-customers", type=int, default=None,
                        help="size of the comparison run for peak RSS (default: a tenth); 0 to skip")
    parser.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

    admin = admin_dsn()
    sizes = {"customers": args.customers, "transactions": args.transactions, "interactions": args.interactions}
    folder = dataset(**sizes)
    floor_ = floor(admin, folder)
    print(f"floor: {floor_['rows']:,} rows parsed + COPYed in {floor_['seconds']:.1f}s", flush=True)
    floor_["durable_seconds"] = floor(admin, folder, durable=True)["seconds"]
    print(f"durable floor: the same into logged, indexed tables in {floor_['durable_seconds']:.1f}s", flush=True)
    big = transfer_run(admin, folder, args.workers, args.chunk_rows)
    print(f"transfer: {big['wall']:.1f}s", flush=True)
    small = None
    scale = args.small_customers if args.small_customers is not None else args.customers // 10
    if scale:
        ratio = scale / args.customers
        small_folder = dataset(scale, int(args.transactions * ratio), int(args.interactions * ratio))
        small = transfer_run(admin, small_folder, args.workers, args.chunk_rows)
    text = report(sizes, floor_, big, small, args.workers, args.chunk_rows)
    print("\n" + text)
    results = Path(args.results)
    header = "# Benchmark results (`make bench`)\n\nNewest first. Each run measures its own floor.\n\n"
    old = results.read_text(encoding="utf-8").removeprefix(header) if results.exists() else ""
    results.write_text(header + text + "\n" + old, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
