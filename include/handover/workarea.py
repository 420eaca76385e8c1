"""The run's work area: a folder private to one run that holds its plaintext chunks.

Created 0700 (files 0600) under the work root; removed by the DAG's teardown task whether the run
succeeded or failed. Nothing else ever holds plaintext customer data outside the source export.

Every file's place in it is named here, once (`WorkArea`); a chunk is a `ChunkRef`::

    <work root>/<run tag>/
        sources.json  jurisdiction.json  archive.json  classification.json  customer-names.arrow
        extract-<entity>.json  anonymity.json  reconciliation.json  resend.json  change.json (updates)
        dump/<table>.csv                       the source database's tables (handover.sources.database)
        raw/<entity>/00000.arrow               extracted: every cell as text, with its line
        verified/<entity>/00000.arrow          normalised and checked (+ 00000.validation.json)
        protected/<entity>/00000.arrow         what is staged: vault and analytics values
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

RAW, VERIFIED, PROTECTED = "raw", "verified", "protected"  # a chunk's stages, each a folder of the area


@dataclass(frozen=True)
class ChunkRef:
    """One chunk of one entity's source: what the per-chunk steps pass on. Its files are found by the
    work area (`WorkArea.chunk`); between tasks (XCom) it travels as `as_dict`."""

    entity: str
    index: int
    rows: int | None = None  # rows read into it (known once extracted)
    file: str | None = None  # the source file it was read from

    @property
    def stem(self) -> str:
        return f"{self.index:05d}"

    def as_dict(self) -> dict:
        return {"entity": self.entity, "chunk": self.index, "rows": self.rows, "file": self.file}

    @classmethod
    def of(cls, ref: dict | ChunkRef) -> ChunkRef:
        """A chunk from its `as_dict` (or a step's result that extends it)."""
        if isinstance(ref, ChunkRef):
            return ref
        return cls(ref["entity"], int(ref["chunk"]), ref.get("rows"), ref.get("file"))


@dataclass(frozen=True)
class WorkArea:
    """The places of one run's files under its folder ``root`` (nothing is created by asking)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of_run(cls, work_root: str | Path, tag: str) -> WorkArea:
        return cls(Path(work_root) / tag)

    # --- the run's records, one file each
    @property
    def sources(self) -> Path:  # each source as check_contract inspected it
        return self.root / "sources.json"

    @property
    def jurisdiction(self) -> Path:
        return self.root / "jurisdiction.json"

    @property
    def archived(self) -> Path:  # the encrypted originals' entries
        return self.root / "archive.json"

    @property
    def classification(self) -> Path:  # each ``pii: auto`` column's class
        return self.root / "classification.json"

    @property
    def customer_names(self) -> Path:
        return self.root / "customer-names.arrow"

    @property
    def anonymity(self) -> Path:
        return self.root / "anonymity.json"

    @property
    def reconciliation(self) -> Path:
        return self.root / "reconciliation.json"

    @property
    def resend(self) -> Path:
        return self.root / "resend.json"

    @property
    def change(self) -> Path:  # a change file's sheet and headers (handover.updates)
        return self.root / "change.json"

    @property
    def dump(self) -> Path:  # folder of the source database's tables
        return self.root / "dump"

    def extract_report(self, entity: str) -> Path:
        return self.root / f"extract-{entity}.json"

    # --- the chunks
    def chunk(self, stage: str, ref: ChunkRef) -> Path:
        """The chunk's file at one stage (`RAW`, `VERIFIED`, `PROTECTED`)."""
        return self.root / stage / ref.entity / f"{ref.stem}.arrow"

    def raw(self, ref: ChunkRef) -> Path:
        return self.chunk(RAW, ref)

    def verified(self, ref: ChunkRef) -> Path:
        return self.chunk(VERIFIED, ref)

    def protected(self, ref: ChunkRef) -> Path:
        return self.chunk(PROTECTED, ref)

    def validation(self, ref: ChunkRef) -> Path:
        """The validation summary of a verified chunk (counts, no values)."""
        return self.root / VERIFIED / ref.entity / f"{ref.stem}.validation.json"

    def chunks(self, stage: str, entity: str) -> list[ChunkRef]:
        """The entity's chunks written at a stage, in order (their index only)."""
        folder = self.root / stage / entity
        return [ChunkRef(entity, int(p.stem)) for p in sorted(folder.glob("*.arrow"))]

    def validations(self, entity: str) -> list[Path]:
        return sorted((self.root / VERIFIED / entity).glob("*.validation.json"))

    @property
    def extracted(self) -> bool:
        """Whether the export's chunks are here (after extraction, before the teardown)."""
        return (self.root / RAW).is_dir()


def open_area(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a file only the owner can read, atomically (a killed task leaves no half file)."""
    from handover import private_files

    private_files.write(path, data, replace=True)


def remove_area(path: Path) -> bool:
    path = Path(path)
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True


def write_table(table, path: Path) -> None:
    """Write an Arrow table as an Arrow IPC file (zstd-compressed buffers), private and atomic. The work
    area's files live for one run: IPC writes ~3x and reads ~4x faster than Parquet here."""
    from pyarrow import feather

    from handover import private_files

    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a stage's folder, on its first chunk
    with private_files.written(path, replace=True) as fh:  # a full disk: a PrivateFileError saying so
        feather.write_feather(table, fh, compression="zstd")


def read_table(path: Path, columns: list[str] | None = None):
    """A work-area file as an Arrow table: all its columns, or only ``columns`` (in that order)."""
    from pyarrow import feather

    return feather.read_table(path, columns=columns, memory_map=False)
