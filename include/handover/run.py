"""One transfer run: where its files live and what it talks to.

Airflow's glue builds a `RunContext` in every task from the DAG's params and Airflow's secrets; the
domain steps take it and nothing else. It is never serialised (the master key stays in memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handover.crypto import MasterKey
from handover.names import slug
from handover.workarea import WorkArea

DEFAULT_CHUNK_ROWS = 100_000


def run_tag(run_id: str) -> str:
    """A short, SQL- and path-safe name for a run (Airflow run ids hold ':' and '+')."""
    return slug(run_id)


@dataclass(frozen=True)
class RunContext:
    run_id: str
    contract_path: str
    dsn: str
    master_key: MasterKey = field(repr=False)
    work_root: str
    output_root: str
    source_dir: str | None = None
    branch_id: str | None = None  # what the trigger says it transfers; must match the contract
    source_dsn: str | None = field(default=None, repr=False)  # connection handover_source, if configured
    target_region: str | None = None  # where the target store is (its connection's `region` extra)
    cross_border_approval: str | None = None  # reference of a recorded approval (PIPL Art. 38–40)
    recipient: str | None = None  # who receives the data for the receiving party (manifest)
    pipia: str | None = None  # reference of the approved impact assessment (else the contract's; handover.pipia)
    signing_key_text: str | None = field(default=None, repr=False)  # Ed25519 key that signs manifests
    archive_root: str | None = None  # where encrypted originals are kept (default: beside the output)
    dry_run: bool = False
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    actor: str = "handover"
    driver: str = "process"  # process (run_all holds the branch's lock throughout) | airflow (a task at a time)
    # the backend pids of this run's own lock sessions (handover.store.runlock): set by whoever takes the lock
    guard_pids: set = field(default_factory=set, repr=False, compare=False)

    @property
    def tag(self) -> str:
        return run_tag(self.run_id)

    @property
    def area(self) -> WorkArea:
        return WorkArea.of_run(self.work_root, self.tag)

    @property
    def work_dir(self) -> Path:
        return self.area.root

    def contract(self):
        from handover.contract import load_contract

        return load_contract(self.contract_path)

    @property
    def archive_dir(self) -> Path:
        return Path(self.archive_root) if self.archive_root else Path(self.output_root).parent / "archive"

    def output_dir(self, branch_id: str) -> Path:
        return Path(self.output_root) / branch_id / self.tag
