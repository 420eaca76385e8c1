"""The work area names every file of a run in one place; the names on disk are the ones earlier runs wrote
(a killed run's area is found and swept by the next run)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from handover.workarea import PROTECTED, RAW, VERIFIED, ChunkRef, WorkArea, read_table, write_table


def test_a_chunks_files_keep_their_names_on_disk(tmp_path):
    area, ref = WorkArea(tmp_path), ChunkRef("customers", 7, rows=40, file="客户.csv")
    assert area.raw(ref) == tmp_path / "raw" / "customers" / "00007.arrow"
    assert area.verified(ref) == tmp_path / "verified" / "customers" / "00007.arrow"
    assert area.protected(ref) == tmp_path / "protected" / "customers" / "00007.arrow"
    assert area.validation(ref) == tmp_path / "verified" / "customers" / "00007.validation.json"
    assert area.extract_report("accounts") == tmp_path / "extract-accounts.json"
    assert [area.sources.name, area.archived.name, area.customer_names.name, area.dump.name] == [
        "sources.json", "archive.json", "customer-names.arrow", "dump"]


def test_a_runs_area_is_its_tag_under_the_work_root(tmp_path):
    assert WorkArea.of_run(str(tmp_path), "run-1").root == tmp_path / "run-1"
    assert WorkArea(str(tmp_path)).root == Path(tmp_path)


def test_a_chunk_reference_travels_as_a_dict_and_back():
    ref = ChunkRef("accounts", 3, rows=100, file="账户.xlsx")
    assert ChunkRef.of(ref.as_dict()) == ref
    # a step's result extends it (counts): still the same chunk
    assert ChunkRef.of(ref.as_dict() | {"reasons": {"invalid_mobile": 2}}) == ref
    assert ChunkRef.of(ref) is ref
    with pytest.raises(AttributeError):
        ref.index = 4  # frozen


@pytest.mark.parametrize("stage", [RAW, VERIFIED, PROTECTED])
def test_the_chunks_written_at_a_stage_are_found_in_order(tmp_path, stage):
    area = WorkArea(tmp_path)
    for index in (10, 2, 0):
        write_table(pa.table({"x": [index]}), area.chunk(stage, ChunkRef("customers", index)))
    assert (tmp_path / stage / "customers").stat().st_mode & 0o777 == 0o700  # made private by the writer
    found = area.chunks(stage, "customers")
    assert [c.index for c in found] == [0, 2, 10]
    assert read_table(area.chunk(stage, found[-1])).column("x").to_pylist() == [10]
    assert area.chunks(stage, "accounts") == []
    assert area.extracted == (stage == RAW)
