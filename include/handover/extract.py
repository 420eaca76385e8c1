"""Extract: a source file, read in chunks, written as text-only Arrow chunks into the work area.

Each chunk keeps every row with the file line it started on; rows the reader could not split or decode
keep their original bytes for quarantine. The entity's extract report (rows read, chunks) is what the
reconciliation later checks every disposition against.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from handover import faults
from handover.contract import EntitySpec
from handover.progress import Progress
from handover.sources import read_chunks, source_path
from handover.workarea import ChunkRef, WorkArea, write_private, write_table


def extract_entity(spec: EntitySpec, source_dir: Path, area: WorkArea, chunk_rows: int) -> list[ChunkRef]:
    entity = spec.name
    refs: list[ChunkRef] = []
    rows = 0
    names = [c.name for c in spec.columns]
    progress = Progress(f"extract {entity}")
    file = spec.source.file if spec.source.format == "table" else source_path(spec, source_dir).name
    for number, chunk in enumerate(read_chunks(spec, source_dir, chunk_rows)):
        columns = dict(zip(names, _columns(chunk.rows, len(names)), strict=True))
        columns["_line"] = pa.array(chunk.lines, pa.int64())
        columns["_problem"] = pa.array(chunk.problems, pa.string())
        columns["_raw"] = pa.array(chunk.raw, pa.binary())
        columns["_issues"] = pa.array(chunk.issues or [None] * len(chunk), pa.list_(pa.string()))
        ref = ChunkRef(entity, number, len(chunk), file)
        write_table(pa.table(columns), area.raw(ref))
        refs.append(ref)
        rows += len(chunk)
        progress.add(len(chunk))
        faults.point("extract.after_first_chunk")
    progress.finish()
    report = {"entity": entity, "file": file, "rows": rows, "chunks": len(refs)}
    write_private(area.extract_report(entity), json.dumps(report).encode())
    return refs


def _columns(rows: list[list[str | None]], width: int) -> list[pa.Array]:
    """The rows' values (`width` each) as one string array per column: Arrow converts all the cells in one
    call and takes every column out of them, instead of a Python list per column."""
    lists = pa.array(rows, pa.list_(pa.string()))
    if not pc.all(pc.equal(pc.list_value_length(lists), width)).as_py():
        raise ValueError("a reader gave a row with the wrong number of values")
    every = np.arange(len(rows) * width, dtype=np.int64).reshape(-1, width)
    cells = lists.flatten()
    return [cells.take(every[:, i]) for i in range(width)]


def extract_report(area: WorkArea, entity: str) -> dict:
    return json.loads(area.extract_report(entity).read_text())
