"""Sources: the branch's export files, read in bounded chunks.

Every reader yields `RawChunk`s: the contract's columns as text exactly as the file holds them (never
type-inferred: an ID number must not become a float), the file line each row started on, and a
source-level problem per row (``ragged_row``, ``encoding_error``) that sends the row to quarantine.
`inspect_source` checks a source against the contract before anything is read in earnest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from handover.contract import EntitySpec
from handover.errors import SourceError


@dataclass
class RawChunk:
    columns: list[str]  # contract headers, in contract order
    rows: list[list[str | None]]
    lines: list[int]
    problems: list[str | None]
    raw: list[bytes | None] = field(default_factory=list)  # the row's original bytes when it has a problem

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class SourceInfo:
    entity: str
    path: str
    file: str  # the name as the contract gives it
    sha256: str
    bytes: int
    encoding: str | None
    sheet: str | None
    headers: tuple[str, ...]


def source_path(spec: EntitySpec, source_dir: Path) -> Path:
    return Path(source_dir) / spec.source.file


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def match_headers(spec: EntitySpec, found: list[str], file: str, where: str) -> list[int]:
    """Position of each contract column in the file's header row; every mismatch is an error."""
    cleaned = [(h or "").strip().lstrip("\ufeff").strip() for h in found]
    declared = {c.header for c in spec.columns}
    if not declared & set(cleaned):
        # Not one header matches: this row is probably data (a headerless export). Quote none of it.
        raise SourceError(file, f"none of the contract's {len(declared)} columns is in the {where}; "
                          "the export may have no header row", line=1,
                          hint="export the data again with its header row, or correct the contract")
    problems = []
    positions: list[int] = []
    for col in spec.columns:
        hits = [i for i, h in enumerate(cleaned) if h == col.header]
        if not hits:
            problems.append(f"column {col.header} declared in the contract is not in the {where}")
        elif len(hits) > 1:
            problems.append(f"column {col.header} appears {len(hits)} times in the {where}")
        else:
            positions.append(hits[0])
    for i, h in enumerate(cleaned):
        if h and h not in declared:
            problems.append(f"column {h} (position {i + 1}) is not in the contract: map it as a field or an "
                            "extra column so nothing is dropped silently")
        if not h and any(cleaned[i + 1:]):  # a trailing blank header is Excel's habit; a blank inside is not
            problems.append(f"the column at position {i + 1} has no header")
    if problems:
        raise SourceError(file, "; ".join(problems), line=1,
                          hint="correct the contract's columns or the export's header row")
    return positions


def inspect_source(spec: EntitySpec, source_dir: Path) -> SourceInfo:
    """Check that a declared source exists and has the declared columns; hash it."""
    path = source_path(spec, source_dir)
    if not path.is_file():
        raise SourceError(path, f"the file declared for {spec.name} does not exist",
                          hint="check entities." + spec.name + ".source.file and the source folder")
    if spec.source.format == "csv":
        from handover.sources import csv as reader
    else:
        from handover.sources import xlsx as reader
    encoding, headers = reader.read_header(spec, path)
    match_headers(spec, headers, str(path), "header row" if spec.source.format == "csv" else
                  f"header row of sheet {spec.source.sheet}")
    return SourceInfo(entity=spec.name, path=str(path), file=spec.source.file, sha256=file_sha256(path),
                      bytes=path.stat().st_size, encoding=encoding, sheet=spec.source.sheet,
                      headers=tuple(headers))


def read_chunks(spec: EntitySpec, source_dir: Path, chunk_rows: int) -> Iterator[RawChunk]:
    path = source_path(spec, source_dir)
    if spec.source.format == "csv":
        from handover.sources import csv as reader
    else:
        from handover.sources import xlsx as reader
    yield from reader.read_chunks(spec, path, chunk_rows)
