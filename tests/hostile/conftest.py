"""The harness of the hostile corpus: run a whole transfer (no Airflow) and judge what came out.

`hostile` runs `local_run.run_all` on a contract against a fresh PostgreSQL database and returns an
`Outcome`. Whatever happens, it enforces the corpus's two rules:

- nothing but a `HandoverError` may escape the run (no bare traceback);
- no value the case planted (names, ID numbers, mobiles, formula text …) may appear in the error message,
  the manifest or the audit log.

and, when the run succeeds, that every entity reconciles: source rows = loaded + quarantined + excluded
+ duplicates.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
from handover import local_run
from handover.crypto import FieldCipher, MasterKey
from handover.errors import HandoverError
from handover.run import RunContext
from handover.store.keys import data_purpose
from handover.vault import open_payload

from tests.hostile.builders import BRANCH
from tests.hostile.checks import assert_balanced, assert_no_leak
from tests.support.stores import SIGNING_KEY, approve_pipia


@dataclass
class Outcome:
    dsn: str
    manifest: dict | None = None
    error: HandoverError | None = None
    quarantine: list[dict] = field(default_factory=list)
    exclusions: list[dict] = field(default_factory=list)
    vault: dict[str, list[dict]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # customer_id -> name, decrypted from the vault

    def counts(self, entity: str) -> dict:
        return self.manifest["counts"][entity]

    def reasons(self, entity: str = "customers") -> dict[int, set[str]]:
        """Quarantined rows of an entity: {source line: reason codes}."""
        return {q["line"]: set(q["reasons"]) for q in self.quarantine if q["entity"] == entity}

    def excluded(self, entity: str = "customers") -> dict[int, set[str]]:
        return {x["line"]: set(x["reasons"]) for x in self.exclusions if x["entity"] == entity}

    def at(self, line: int, entity: str = "customers") -> dict:
        return next(q for q in self.quarantine if q["entity"] == entity and q["line"] == line)

    def loaded_keys(self, entity: str = "customers") -> set[str]:
        return {r["key"] for r in self.vault.get(entity, [])}


def _fetch(dsn: str, master: MasterKey) -> tuple[list[dict], list[dict], dict[str, list[dict]], dict[str, str]]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ops.quarantine')")
        if cur.fetchone()[0] is None:
            return [], [], {}, {}
        cur.execute("SELECT wrapped FROM ops.keys WHERE purpose = %s", (data_purpose(BRANCH),))
        row = cur.fetchone()
        cipher = FieldCipher(master.unwrap(bytes(row[0]), data_purpose(BRANCH)), "x") if row else None
        cur.execute("SELECT entity, record_key, reasons, source_file, source_line, payload_enc FROM ops.quarantine "
                    "ORDER BY entity, source_line")
        quarantine = [{"entity": e, "key": k, "reasons": list(r), "file": f, "line": n,
                       "payload": open_payload(cipher, bytes(p))}
                      for e, k, r, f, n, p in cur.fetchall()]
        cur.execute("SELECT entity, record_key, reasons, source_file, source_line FROM ops.exclusions "
                    "ORDER BY entity, source_line")
        exclusions = [{"entity": e, "key": k, "reasons": list(r), "file": f, "line": n}
                      for e, k, r, f, n in cur.fetchall()]
        vault = {}
        for entity, key in (("customers", "customer_id"), ("accounts", "account_id"),
                            ("interactions", "interaction_id")):
            cur.execute(f"SELECT {key}, source_line FROM vault.{entity} ORDER BY 2")
            vault[entity] = [{"key": k, "line": n} for k, n in cur.fetchall()]
        cur.execute("SELECT customer_id, name_enc FROM vault.customers")
        names = {k: cipher.decrypt(bytes(b), "vault.customers.name") for k, b in cur.fetchall()}
        return quarantine, exclusions, vault, names


def _audit_text(dsn: str) -> str:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ops.audit')")
        if cur.fetchone()[0] is None:
            return ""
        cur.execute("SELECT detail::text FROM ops.audit")
        return "\n".join(r[0] for r in cur.fetchall())


@pytest.fixture
def hostile(pg_dsn, master_key_text, tmp_path):
    """run(contract, planted=…, chunk_rows=…) -> Outcome, with the corpus's rules enforced."""
    master = MasterKey.from_text(master_key_text)

    def run(contract: Path, planted: tuple[str, ...] | list[str] = (), chunk_rows: int = 4) -> Outcome:
        approve_pipia(pg_dsn, contract, tmp_path / "pipia")
        ctx = RunContext(run_id=f"hostile-{uuid.uuid4().hex[:8]}", contract_path=str(contract), dsn=pg_dsn,
                         master_key=master, work_root=str(tmp_path / "work"), output_root=str(tmp_path / "out"),
                         target_region="CN", signing_key_text=SIGNING_KEY, chunk_rows=chunk_rows)
        outcome = Outcome(pg_dsn)
        try:
            result = local_run.run_all(ctx)
            outcome.manifest = json.loads(Path(result["manifest"]).read_text(encoding="utf-8"))
        except HandoverError as exc:
            outcome.error = exc
            assert_no_leak(str(exc), planted)
        except Exception as exc:  # noqa: BLE001 - the rule under test: nothing but a HandoverError escapes
            pytest.fail(f"a bare {type(exc).__name__} escaped run_all")
        assert not ctx.work_dir.exists(), "the plaintext work area was left behind"
        if outcome.manifest is not None:
            assert_balanced(outcome.manifest)
            assert_no_leak(json.dumps(outcome.manifest, ensure_ascii=False), planted)
        assert_no_leak(_audit_text(pg_dsn), planted)
        outcome.quarantine, outcome.exclusions, outcome.vault, outcome.names = _fetch(pg_dsn, master)
        return outcome

    return run
