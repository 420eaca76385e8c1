"""Exports we did not write, at scale: the three shapes of tests/corpus/exports beside our own generator.

    python bench/corpus.py [--customers 2000 20000] [--shapes bank custonly retail] [--workers 2]
                           [--results bench/RESULTS.md]

For each size: each shape of the independent export corpus (written by another contributor,
tests/corpus/exports/PROVENANCE.md) is built by its own generator and transferred (`local_run.run_all`,
per-chunk steps in forked workers) into a fresh database; then every row is checked against the corpus's
truth and our contract (misplaced rows: must be 0), and a retention purge's dry run on the transfer's day
is checked for active customers (must be 0). Beside it, in the same run, the sample branch our own
generator writes (`handover.sample`, bench/generate.py's vocabulary) at the same number of customers goes
through the same path: rows/s of both and their ratio, so a figure measured on our data is never the only one.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg2
from run import admin_dsn, fresh_db, machine

from tests.support import export_corpus

BRANCHES = {"bank": "JC-HY-420105", "custonly": "HX-DC-411625", "retail": "LL-FS-440604"}


def _transfer(dsn: str, contract: Path, folder: Path, work: Path, workers: int) -> tuple[float, dict]:
    from handover import local_run
    from handover.crypto import MasterKey
    from handover.run import RunContext

    ctx = RunContext(run_id=f"bench-{folder.name}", contract_path=str(contract), dsn=dsn,
                     master_key=MasterKey(os.urandom(32)), work_root=str(work / "work"),
                     output_root=str(work / "out"), source_dir=str(folder), chunk_rows=20_000, target_region="CN",
                     signing_key_text=base64.b64encode(os.urandom(32)).decode())
    started = time.perf_counter()
    result = local_run.run_all(ctx, workers=workers)
    return time.perf_counter() - started, json.loads(Path(result["manifest"]).read_text())["counts"]


def _purged_active(dsn: str, truth: dict, contract) -> int:
    from handover.purge import rules, store

    as_of = dt.date.fromisoformat(truth["as_of"])
    keep = rules.Keep.parse(contract.retention["relationship"]["keep"])
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id FROM vault.customers")
        before = {r[0] for r in cur.fetchall()}
        store.purge_vault(conn, as_of, held_branches=set(), held_customers=set(), dry_run=True)
        cur.execute("SELECT customer_id FROM vault.customers")
        deleted = before - {r[0] for r in cur.fetchall()}
        conn.rollback()
    active = {c for c, day in truth["last_activity"].items() if rules.due_date(dt.date.fromisoformat(day), keep) > as_of}
    return len(deleted & active)


def run_shape(admin: str, shape: str, customers: int, workers: int, tmp: Path) -> dict:
    from handover.contract import load_contract

    folder = tmp / f"{shape}-{customers}"
    started = time.perf_counter()
    truth = export_corpus.builder()(shape, customers, str(folder), seed=0)
    built = time.perf_counter() - started
    contract_path = export_corpus.CORPUS / "contracts" / f"{shape}.yaml"
    contract = load_contract(contract_path)
    dsn = fresh_db(admin, f"handover_bench_corpus_{shape}")
    seconds, counts = _transfer(dsn, contract_path, folder, tmp / f"run-{shape}-{customers}", workers)
    expected = export_corpus.expected_dispositions(truth, contract)
    found, _ = export_corpus.found_dispositions(dsn, contract.entities)
    misplaced = sum(1 for row, want in expected.items() if found.get(row, "duplicate") != want)
    rows = sum(c["source_rows"] for c in counts.values())
    return {"shape": shape, "customers": customers, "rows": rows, "seconds": seconds, "built": built,
            "misplaced": misplaced, "purged_active": _purged_active(dsn, truth, contract),
            "with_issues": sum(c["loaded_with_issues"] for c in counts.values()),
            "quarantined": sum(c["quarantined"] for c in counts.values())}


def run_sample(admin: str, customers: int, workers: int, tmp: Path) -> dict:
    from handover import sample

    folder = tmp / f"sample-{customers}"
    sample.generate(folder, customers=customers)
    dsn = fresh_db(admin, "handover_bench_corpus_sample")
    seconds, counts = _transfer(dsn, ROOT / "contracts" / "sample_branch.yaml", folder,
                                tmp / f"run-sample-{customers}", workers)
    return {"rows": sum(c["source_rows"] for c in counts.values()), "seconds": seconds}


def report(results: list[dict], samples: dict[int, dict], workers: int) -> str:
    lines = [(f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — exports we did not write (bench/corpus.py) — "
             f"{machine()}"), "",
             (f"Workers {workers}. Misplaced rows: rows not where the corpus's truth and our contract say (must be 0); "
             "active purged: customers a dry-run purge on the transfer's day would delete although their "
             "last activity is inside the retention period (must be 0)."), "",
             ("| shape | customers | source rows | misplaced | active purged | quarantined | loaded with issues | "
             "seconds | rows/s | rows/s ÷ our sample's |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ours = samples[r["customers"]]
        rate, ours_rate = r["rows"] / r["seconds"], ours["rows"] / ours["seconds"]
        lines.append(f"| {r['shape']} | {r['customers']:,} | {r['rows']:,} | **{r['misplaced']}** | "
                     f"**{r['purged_active']}** | {r['quarantined']:,} | {r['with_issues']:,} | {r['seconds']:.1f} | "
                     f"{rate:,.0f} | {rate / ours_rate:.2f}× |")
    for customers, ours in sorted(samples.items()):
        lines.append(f"| our sample (handover.sample) | {customers:,} | {ours['rows']:,} | — | — | — | — | "
                     f"{ours['seconds']:.1f} | {ours['rows'] / ours['seconds']:,.0f} | 1.00× |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--shapes", nargs="+", default=list(BRANCHES))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--results", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    admin = admin_dsn()
    results, samples = [], {}
    with tempfile.TemporaryDirectory(prefix="handover-corpus-") as tmp:
        for customers in args.customers:
            samples[customers] = run_sample(admin, customers, args.workers, Path(tmp))
            for shape in args.shapes:
                results.append(run_shape(admin, shape, customers, args.workers, Path(tmp)))
                print(json.dumps(results[-1]), flush=True)
    text = report(results, samples, args.workers)
    print("\n" + text)
    if args.results:
        path = Path(args.results)
        header = "# Benchmark results (`make bench`)\n\nNewest first. Each run measures its own floor.\n\n"
        old = path.read_text(encoding="utf-8").removeprefix(header) if path.exists() else ""
        path.write_text(header + text + "\n" + old, encoding="utf-8")
    return 1 if any(r["misplaced"] or r["purged_active"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
