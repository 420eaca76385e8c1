"""Notes we did not write, through the whole pipeline: what the analyst can read of them afterwards.

    python bench/pii_tier.py [--corpus teller callcentre heldout] [--workers 2] [--results bench/RESULTS.md]
                             [--final]

For each hand-written corpus of tests/corpus/notes (written by other contributors, each folder's PROVENANCE.md)
a branch export is made from it — the corpus's customer master as 客户信息.csv, every note as a service
record in 服务记录.csv, the short ones also as transaction memos (摘要) in 交易流水.csv with an account each —
and transferred with `local_run.run_all` into a fresh store, the analytics tier included (the second opinion's
thresholds raised, so that the tier is loaded and measured rather than refused). Then every labelled span is
looked for in the analyst-readable text of its own record (`analytics.interactions.note_masked`,
`analytics.transactions.memo_masked`, joined by the record's token): a span is **left** when its text is
there as written, or — for numbers — when its digits are there in one run. Recall per kind is 1 − left/spans;
"third parties left" counts the names of people not on the customer master and every phone number left.

`--final` runs tests/corpus/notes/final, the held-out corpus: once, for the final figure (never for tuning).
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import admin_dsn, fresh_db, machine

from tests.support import notes_corpus

BRANCH = "NT-TIER-0001"
MEMO_LIMIT = 40  # notes this short are also a transaction's memo (摘要), as memos are short
KINDS = ("name", "third party", "phone", "identifier", "address", "plate")
DIGIT_LABELS = {"MOBILE", "LANDLINE", "ID", "CARD"}

CONTRACT = """\
contract_version: 1
branch: {{id: {branch}, name: 独立语料网点}}
transfer:
  transferring_party: {{name: 示例商业银行上海分行, uscc: 91310000MA1FL8LQ0T}}
  receiving_party: {{name: 示例村镇银行有限公司, uscc: 91310115MA1H7GXP4G}}
  agreement: {{transfer: ZR-2026-0001, confidentiality: BM-2026-0001}}
  jurisdiction: CN
retention:
  schedule: {schedule}
analytics:
  residual: {{name: 1.0, phone: 1.0, identifier: 1.0}}   # measure the tier, do not refuse it
source:
  location: .
entities:
  customers:
    source: {{file: 客户信息.csv, format: csv, encoding: utf-8}}
    columns:
      客户编号: {{field: customer_id, key: true, required: true, pii: none, retention: relationship}}
      姓名:     {{field: name, required: true, pii: direct, retention: relationship}}
      手机号码: {{field: mobile, format: mobile, pii: direct, on_invalid: "null", retention: relationship}}
      同意转移: {{field: consent_transfer, type: boolean, required: true, pii: none, retention: relationship}}
  accounts:
    source: {{file: 账户信息.csv, format: csv, encoding: utf-8}}
    columns:
      账号:     {{field: account_id, key: true, required: true, pii: none, retention: relationship}}
      客户编号: {{field: customer_id, required: true, pii: none, retention: relationship}}
  transactions:
    source: {{file: 交易流水.csv, format: csv, encoding: utf-8}}
    columns:
      流水号:   {{field: transaction_id, key: true, required: true, pii: none, retention: transaction_records}}
      账号:     {{field: account_id, required: true, pii: none, retention: transaction_records}}
      交易时间: {{field: occurred_at, type: datetime, required: true, pii: none, retention: transaction_records}}
      交易金额: {{field: amount, type: amount, required: true, pii: none, retention: transaction_records}}
      摘要:     {{field: memo, pii: free_text, retention: transaction_records}}
  interactions:
    source: {{file: 服务记录.csv, format: csv, encoding: utf-8}}
    columns:
      记录编号: {{field: interaction_id, key: true, required: true, pii: none, retention: service_notes}}
      客户编号: {{field: customer_id, required: true, pii: none, retention: service_notes}}
      服务时间: {{field: occurred_at, type: datetime, pii: none, retention: service_notes}}
      备注:     {{field: note, pii: free_text, retention: service_notes}}
"""


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def build_export(corpus: notes_corpus.Corpus, folder: Path) -> dict:
    """The export made from a corpus; returns record id → the note it holds, for both kinds of record."""
    folder.mkdir(parents=True)
    customers, seen = [], {}
    mobiles = dict(zip(corpus.customers, corpus.mobiles + [""] * len(corpus.customers), strict=False))
    for name in corpus.customers:
        if name not in seen:
            seen[name] = f"C{len(seen) + 1:05d}"
            customers.append([seen[name], name, mobiles.get(name, ""), "是"])
    fallback = customers[0][0]
    day = dt.datetime(2026, 6, 1, 9, 0)
    interactions, transactions, accounts = [], [], {}
    notes: dict[str, notes_corpus.Note] = {}
    memos: dict[str, notes_corpus.Note] = {}
    for i, note in enumerate(corpus.notes):
        named = [note.text[s:e] for s, e, label in note.spans if label == "CUSTOMER"]
        customer = next((seen[n] for n in named if n in seen), fallback)
        record = f"N{i + 1:06d}"
        interactions.append([record, customer, (day + dt.timedelta(minutes=i)).isoformat(sep=" "), note.text])
        notes[record] = note
        if len(note.text) <= MEMO_LIMIT:
            account = accounts.setdefault(customer, f"A{len(accounts) + 1:05d}")
            memo = f"T{i + 1:06d}"
            transactions.append([memo, account, (day + dt.timedelta(minutes=i)).isoformat(sep=" "), "100.00",
                                 note.text])
            memos[memo] = note
    _write_csv(folder / "客户信息.csv", ["客户编号", "姓名", "手机号码", "同意转移"], customers)
    _write_csv(folder / "账户信息.csv", ["账号", "客户编号"], [[a, c] for c, a in accounts.items()])
    _write_csv(folder / "交易流水.csv", ["流水号", "账号", "交易时间", "交易金额", "摘要"], transactions)
    _write_csv(folder / "服务记录.csv", ["记录编号", "客户编号", "服务时间", "备注"], interactions)
    (folder / "contract.yaml").write_text(CONTRACT.format(
        branch=BRANCH, schedule=(ROOT / "contracts" / "retention.yaml").as_posix()), encoding="utf-8")
    return {"interactions": notes, "transactions": memos}


def _tier_texts(dsn: str, master, records: dict) -> dict[str, dict[str, str | None]]:
    """record id → the analyst-readable text of it, per entity (joined by the record's token)."""
    import psycopg2
    import pyarrow as pa
    from handover.analytics import record_domain, token_name
    from handover.pii import apply_column
    from handover.pii.policy import Rule
    from handover.store.keys import Keyring

    out = {}
    with psycopg2.connect(dsn) as conn:
        keys = Keyring(conn, master, BRANCH)
        for entity, column in (("interactions", "note_masked"), ("transactions", "memo_masked")):
            ids = sorted(records[entity])
            if not ids:
                out[entity] = {}
                continue
            key = "interaction_id" if entity == "interactions" else "transaction_id"
            tokens = apply_column(pa.array(ids, pa.string()), Rule("pseudonymize", {"kind": record_domain(entity, BRANCH)}),
                                  column=key, hasher=keys.pseudonym).to_pylist()
            with conn.cursor() as cur:
                cur.execute(f"SELECT {token_name(entity)}, {column} FROM analytics.{entity} WHERE branch_id = %s",
                            (BRANCH,))
                by_token = dict(cur.fetchall())
            out[entity] = {i: by_token.get(t) for i, t in zip(ids, tokens, strict=True)}
    return out


def _left(text: str | None, span: str, label: str) -> bool:
    if text is None:
        return False
    if span in text:
        return True
    if label in DIGIT_LABELS:
        digits = re.sub(r"\D", "", span)
        return len(digits) >= 7 and digits in re.sub(r"\D", "", text)
    return False


def measure(records: dict, texts: dict) -> dict:
    total, left = Counter(), Counter()
    examples: list[tuple[str, str]] = []
    missing = 0
    for entity, notes in records.items():
        for record, note in notes.items():
            text = texts[entity].get(record)
            if text is None and note.text:
                missing += 1
            for start, end, label in note.spans:
                span = note.text[start:end]
                kind = notes_corpus.KINDS[label]
                keys = [kind] + (["third party"] if label == "PERSON" else [])
                gone = _left(text, span, label)
                for k in keys:
                    total[k] += 1
                    left[k] += gone
                if gone:
                    examples.append((label, entity))
    third = left["third party"] + left["phone"]
    return {"total": total, "left": left, "missing": missing, "third_left": third,
            "left_by_label": Counter(label for label, _ in examples)}


def run_corpus(admin: str, name: str, workers: int, tmp: Path) -> dict:
    from handover import local_run
    from handover.crypto import MasterKey
    from handover.run import RunContext

    corpus = notes_corpus.load(name)
    folder = tmp / f"export-{name}"
    records = build_export(corpus, folder)
    dsn = fresh_db(admin, f"handover_bench_tier_{name}")
    master = MasterKey(os.urandom(32))
    ctx = RunContext(run_id=f"tier-{name}", contract_path=str(folder / "contract.yaml"), dsn=dsn, master_key=master,
                     work_root=str(tmp / f"work-{name}"), output_root=str(tmp / f"out-{name}"), source_dir=str(folder),
                     chunk_rows=20_000, target_region="CN", signing_key_text=base64.b64encode(os.urandom(32)).decode())
    started = time.perf_counter()
    local_run.run_all(ctx, workers=workers)
    seconds = time.perf_counter() - started
    result = measure(records, _tier_texts(dsn, master, records))
    result |= {"corpus": name, "notes": len(corpus.notes), "memos": len(records["transactions"]),
               "seconds": seconds}
    return result


def report(results: list[dict]) -> str:
    lines = [(f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — notes we did not write, through the pipeline "
              f"(`bench/pii_tier.py`) — {machine()}"), "",
             ("Each hand-written corpus made into an export (notes as service records, the short ones also as "
              "transaction memos), transferred end to end; a labelled span is *left* when the analyst-readable "
              "text of its own record still holds it (numbers: their digits in one run)."), "",
             "| corpus | notes | memos | " + " | ".join(f"{k} recall (spans)" for k in KINDS)
             + " | third-party names + numbers left | seconds |",
             "|---|---:|---:|" + "---:|" * len(KINDS) + "---:|---:|"]
    for r in results:
        cells = []
        for k in KINDS:
            n = r["total"][k]
            cells.append(f"{1 - r['left'][k] / n:.3f} ({n})" if n else "—")
        lines.append(f"| {r['corpus']} | {r['notes']:,} | {r['memos']:,} | " + " | ".join(cells)
                     + f" | **{r['third_left']}** | {r['seconds']:.1f} |")
    lines.append("")
    for r in results:
        if r["left_by_label"]:
            lines.append(f"- {r['corpus']}: left by label — " + ", ".join(
                f"{label} {n}" for label, n in r["left_by_label"].most_common()))
        if r["missing"]:
            lines.append(f"- {r['corpus']}: {r['missing']} records not in the analytics tier")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", default=["teller", "callcentre", "heldout"])
    parser.add_argument("--final", action="store_true", help="also the final held-out corpus (once, at the end)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--results", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    corpora = list(args.corpus) + (["final"] if args.final else [])
    admin = admin_dsn()
    with tempfile.TemporaryDirectory(prefix="handover-tier-") as tmp:
        results = [run_corpus(admin, name, args.workers, Path(tmp)) for name in corpora]
    text = report(results)
    print(text)
    if args.results:
        path = Path(args.results)
        header = "# Benchmark results (`make bench`)\n\nNewest first. Each run measures its own floor.\n\n"
        old = path.read_text(encoding="utf-8").removeprefix(header) if path.exists() else ""
        path.write_text(header + text + "\n" + old, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
