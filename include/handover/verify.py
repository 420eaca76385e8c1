"""Verify one chunk: normalise every column as the contract types it, then check it with the entity's GX suite.

A row collects reason codes from three places: the reader (``ragged_row``, ``encoding_error``), the
normaliser (``unparseable_date``, …) and the suite (``invalid_resident_id``, …). The chunk goes on with
its normalised values and reasons; the summary that goes to XCom and the manifest holds counts only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from handover import canonical
from handover.contract import EntitySpec
from handover.normalise import normalise_column
from handover.quality import Validator
from handover.workarea import read_table, subdir, write_table

_validator: Validator | None = None


def validator() -> Validator:
    global _validator
    if _validator is None:
        _validator = Validator()
    return _validator


def normalise_frame(spec: EntitySpec, raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, set[str]], dict[str, set[int]]]:
    """Normalised values, reason codes by row position (rows without any are not listed), and per column
    the rows whose value could not be read."""
    reasons: dict[int, set[str]] = {}
    unreadable: dict[str, set[int]] = {}
    frame = pd.DataFrame(index=raw.index)
    for col in spec.columns:
        values = raw[col.name]
        if not isinstance(values.dtype, pd.StringDtype):  # text as the work area gives it is passed on as it is
            values = values.astype(object).where(values.notna(), None)
        fmt = "free_text" if col.pii == "free_text" else col.format
        clean, bad = normalise_column(values, col.type, fmt)
        codes = canonical.CODES.get(col.name if not col.is_extra else "")
        if codes and col.type == "string":
            # code lists are short: look each distinct value up once, not each row
            found, distinct = pd.factorize(clean, use_na_sentinel=True)
            mapped = np.array([None, *(codes.get(v.lower(), v) for v in distinct)], dtype=object)
            clean = pd.Series(mapped[found + 1], index=clean.index, name=clean.name, dtype=object)
        frame[col.name] = clean.astype(object).where(clean.notna(), None)
        positions = bad.to_numpy().nonzero()[0].tolist()
        for pos in positions:
            reasons.setdefault(pos, set()).add(f"unparseable_{col.type}")
        unreadable[col.name] = set(positions)
    if "id_number" in frame:
        # No document type given (no column, or an empty cell): a mainland customer's number is a
        # resident ID unless said otherwise. Without an id_type column this one is only for the checks.
        if "id_type" not in frame:
            frame["id_type"] = None
        missing = frame["id_type"].isna() & frame["id_number"].notna()
        frame.loc[missing, "id_type"] = "resident_id"
    return frame, reasons, unreadable


def verify_chunk(spec: EntitySpec, ref: dict, area: Path) -> dict:
    source = read_table(Path(ref["path"]))
    raw = source.to_pandas()
    frame, reasons, unreadable = normalise_frame(spec, raw)
    problems = raw["_problem"]
    clean_rows = problems.isna().to_numpy()
    clean_positions = clean_rows.nonzero()[0]
    renumber = np.cumsum(clean_rows) - 1  # a clean row's position among the clean rows
    unparseable = {c: set(renumber[_clean(ps, clean_rows)].tolist()) for c, ps in unreadable.items()}
    verdict = None
    if clean_rows.any():
        verdict = validator().validate_frame(spec, frame if clean_rows.all() else frame[clean_rows], unparseable)
        for pos, found in verdict.reasons.items():
            reasons.setdefault(int(clean_positions[pos]), set()).update(found)
    problem_positions = (~clean_rows).nonzero()[0].tolist()
    for pos, problem in zip(problem_positions, problems.iloc[problem_positions].tolist(), strict=True):
        reasons[pos] = {problem}

    table = pa.table({c.name: pa.array(frame[c.name], pa.string(), from_pandas=True) for c in spec.columns})
    # Most rows have no reason: build the list column from the rows that do.
    with_reasons = sorted(reasons)
    counts = np.zeros(len(frame), np.int32)
    counts[with_reasons] = [len(reasons[pos]) for pos in with_reasons]
    codes = [code for pos in with_reasons for code in sorted(reasons[pos])]
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    table = table.append_column("_reasons", pa.ListArray.from_arrays(offsets, pa.array(codes, pa.string())))
    for name in ("_line", "_problem", "_raw"):
        table = table.append_column(name, source.column(name))
    # The raw text of the row, for the quarantine payload (repair works on what the branch sent).
    for col in spec.columns:
        table = table.append_column(f"_src_{col.name}", source.column(col.name))
    path = subdir(area, "verified", spec.name) / Path(ref["path"]).name
    write_table(table, path)
    return {**ref, "path": path.as_posix(), "reasons": dict(sorted(Counter(codes).items())),
            "rows_with_reasons": len(with_reasons),
            "validation": verdict.summary if verdict else []}


def _clean(positions: set[int], clean_rows: np.ndarray) -> np.ndarray:
    """The given row positions that hold clean rows, as an array."""
    found = np.fromiter(positions, np.int64, count=len(positions))
    return found[clean_rows[found]]
