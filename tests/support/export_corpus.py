"""The export corpus of tests/corpus/exports (written by another contributor, PROVENANCE.md there) as the
team reads it: its generator, and where its truth and our contract say every row must end.

Shared by the end-to-end test (tests/e2e/test_export_corpus.py) and the benchmark (bench/corpus.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import psycopg2

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "exports"
TRUTH_TO_DISPOSITION = {"load": "loaded", "withhold": "quarantined", "exclude": "excluded", "duplicate": "duplicate"}


def builder():
    """The corpus's own ``build(shape, customers, out_dir, seed=0, resend=False) -> truth``."""
    spec = importlib.util.spec_from_file_location("corpus_build", CORPUS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build


def expected_dispositions(truth: dict, contract) -> dict[tuple[str, int], str]:
    """Where every row must end: the truth's verdict, and for a field-level defect whose outcome depends on
    the contract, the column's on_invalid (quarantine → quarantined; null or keep → loaded with the issue).
    A child of such a row follows what its parent came to."""
    columns = {(e, c.header): c for e, spec in contract.entities.items() for c in spec.columns}
    first = {}
    for row in truth["rows"]:
        if row["expect"] != "duplicate":
            first.setdefault((row["entity"], row["key"]), row)

    def own(row) -> str | None:
        if row["expect"] != "depends":
            return TRUTH_TO_DISPOSITION[row["expect"]]
        if "field" in row and not any(d.startswith("parent") for d in row["defects"]):
            return "quarantined" if columns[(row["entity"], row["field"])].on_invalid == "quarantine" else "loaded"
        return None

    def resolved(row) -> str:
        found = own(row)
        if found is not None:
            return found
        for entity, key in (("customers", row.get("customer")), ("accounts", row.get("account")),
                            ("customers", row.get("parent")), ("cards", row.get("parent")),
                            ("accounts", row.get("parent"))):
            parent = first.get((entity, key))
            if key and parent is not None and parent is not row and resolved(parent) != "loaded":
                return "quarantined"
        return "loaded"

    return {(row["file"], row["line"]): resolved(row) for row in truth["rows"]}


def found_dispositions(dsn: str, entities) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int], list]]:
    found, issues = {}, {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for entity in entities:
            cur.execute(f"SELECT source_file, source_line, field_issues FROM vault.{entity}")
            for file, line, field_issues in cur.fetchall():
                found[(file, line)] = "loaded"
                issues[(file, line)] = field_issues
        for table, disposition in (("quarantine", "quarantined"), ("exclusions", "excluded")):
            cur.execute(f"SELECT source_file, source_line FROM ops.{table}")
            found.update({row: disposition for row in cur.fetchall()})
    return found, issues


