"""Verify one chunk: normalise every column as the contract types it, check it with the entity's GX suite,
and decide, field by field, what each bad value does to its row.

A bad value is found by the reader (a formula or an Excel error in a cell), the normaliser (a date that
cannot be read, a partial date, a number in a date column, an amount with too many decimals), the
document rules (a number that fails its document type's check, an unknown type) or the suite (an invalid
mobile, a gender the ID number contradicts …). Each finding is laid at a column, and that column's
``on_invalid`` decides (`handover.contract`): ``quarantine`` the row (identifiers, keys and required
columns always do), load it with the value ``null``, or ``keep`` the value (free text: a remark is data).
A row keeps the findings it was loaded with as ``column:reason`` (``_issues``), so the reconciliation and
the manifest count every one: nothing is silent.

Problems of the whole row (a ragged row, bytes that do not decode …) come from the reader and quarantine
it. The chunk goes on with its normalised values, row reasons and field issues; the summary that goes to
XCom and the manifest holds counts only.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa

from handover import canonical, documents
from handover.contract import EntitySpec
from handover.normalise import bad_reason, decimals, normalise_column
from handover.quality import Validator
from handover.validators import currency_decimals
from handover.workarea import ChunkRef, WorkArea, read_table, write_table

_validator: Validator | None = None


def validator() -> Validator:
    global _validator
    if _validator is None:
        _validator = Validator()
    return _validator


class Findings:
    """Reason codes found in a chunk, by the column they are laid at and the row's position."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[int, set[str]]] = {}

    def add(self, column: str, positions, reason: str) -> None:
        found = self.cells.setdefault(column, {})
        for pos in positions:
            found.setdefault(int(pos), set()).add(reason)

    def merge(self, cells: dict[str, dict[int, set[str]]], positions: np.ndarray | None = None) -> None:
        """Add another set of findings; ``positions`` maps their row numbers onto this chunk's."""
        for column, found in cells.items():
            target = self.cells.setdefault(column, {})
            for pos, codes in found.items():
                target.setdefault(int(positions[pos]) if positions is not None else pos, set()).update(codes)


def _code_list(spec: EntitySpec, col) -> dict[str, str]:
    """The column's code list: the canonical field's defaults and the contract's own ``codes``."""
    base = {} if col.is_extra else canonical.codes(col.name)
    return {**base, **dict(col.codes)}


def _map_codes(clean: pd.Series, codes: dict[str, str]) -> pd.Series:
    # code lists are short: look each distinct value up once, not each row
    found, distinct = pd.factorize(clean, use_na_sentinel=True)
    mapped = np.array([None, *(codes.get(v.lower(), v) for v in distinct)], dtype=object)
    return pd.Series(mapped[found + 1], index=clean.index, name=clean.name, dtype=object)


def normalise_frame(spec: EntitySpec, raw: pd.DataFrame) -> tuple[pd.DataFrame, Findings, dict[str, set[int]]]:
    """Normalised values, the findings of the normaliser (by column and row position), and per column the
    rows whose value could not be read."""
    findings = Findings()
    unreadable: dict[str, set[int]] = {}
    frame = pd.DataFrame(index=raw.index)
    for col in spec.columns:
        values = raw[col.name]
        if not isinstance(values.dtype, pd.StringDtype):  # text as the work area gives it is passed on as it is
            values = values.astype(object).where(values.notna(), None)
        time = spec.time_column(col.name) if col.type == "datetime" else None
        if time is not None:
            values = _with_time(values, raw[time.name])
        fmt = "free_text" if col.pii == "free_text" else col.format
        clean, bad = normalise_column(values, col.type, fmt, serial=col.excel_serial, partial=col.partial_dates)
        codes = _code_list(spec, col)
        if codes and col.type == "string":
            clean = _map_codes(clean, codes)
        frame[col.name] = clean.astype(object).where(clean.notna(), None)
        positions = bad.to_numpy().nonzero()[0]
        if len(positions):
            texts = values.iloc[positions].astype(str).tolist()
            why = {t: bad_reason(t, col.type) for t in set(texts)}  # once per distinct bad value
            for pos, text in zip(positions.tolist(), texts, strict=True):
                findings.add(col.name, (pos,), why[text])
        unreadable[col.name] = set(positions.tolist())
    if "id_number" in frame:
        _documents(frame)
    _amount_scales(spec, frame, findings)
    return frame, findings, unreadable


def _with_time(dates: pd.Series, times: pd.Series) -> pd.Series:
    """A date column and the column with its time of day (交易日期 + 交易时间) as one date-time text."""
    date = dates.astype(object).where(dates.notna(), None)
    time = times.astype(object).where(times.notna(), None)
    both = date.notna() & time.notna() & time.map(lambda t: isinstance(t, str) and bool(t.strip()))
    joined = date.copy()
    joined[both] = date[both].str.strip() + " " + time[both].str.strip()
    return joined


def _documents(frame: pd.DataFrame) -> None:
    """No document type given (no column, or an empty cell): a customer's number is a resident ID, a
    corporate customer's a USCC, unless said otherwise. Then each number is spelled as its type spells it."""
    if "id_type" not in frame:
        frame["id_type"] = None  # for the checks only: the contract has no such column
    missing = frame["id_type"].isna() & frame["id_number"].notna()
    if missing.any():
        corporate = frame["customer_type"].eq("corporate").fillna(False) if "customer_type" in frame else False
        frame.loc[missing, "id_type"] = np.where(missing & corporate, "uscc", "resident_id")[missing.to_numpy()]
    frame["id_number"] = documents.normalise_numbers(frame["id_number"], frame["id_type"]).to_numpy(dtype=object)
    if "uscc" in frame:  # the USCC column, where empty, has the USCC the document number gives
        given = frame["id_type"].eq("uscc").fillna(False) & frame["uscc"].isna()
        frame.loc[given, "uscc"] = frame.loc[given, "id_number"]


def _amount_scales(spec: EntitySpec, frame: pd.DataFrame, findings: Findings) -> None:
    """An amount with more decimals than its currency has (JPY none, CNY two) or than the contract's
    ``scale`` allows is a finding (``amount_precision``), never rounded without a word."""
    for col in spec.columns:
        if col.type != "amount":
            continue
        values = frame[col.name]
        present = values.notna().to_numpy()
        if not present.any():
            continue
        if col.scale is not None:
            allowed = np.full(len(values), col.scale)
        elif "currency" in frame:
            allowed = frame["currency"].map(currency_decimals).to_numpy()
        else:
            continue  # no currency column: the store's two decimals (the normaliser's rule)
        used = np.zeros(len(values), dtype=int)
        used[present] = [decimals(v) for v in values[present]]
        findings.add(col.name, np.flatnonzero(present & (used > allowed)), "amount_precision")


def _cell_issues(spec: EntitySpec, raw: pd.DataFrame, frame: pd.DataFrame, findings: Findings,
                 unreadable: dict[str, set[int]]) -> None:
    """The reader's findings in cells (formulas, Excel errors), laid at their columns. Unless its column
    keeps such a value as text, the cell holds no value to check: it is cleared before validation (and
    counted as unreadable), so its row gets that one reason, not a second one for the same cell."""
    if "_issues" not in raw:
        return
    keeps = {c.name for c in spec.columns if c.on_invalid == "keep"}
    for pos, items in enumerate(raw["_issues"].tolist()):
        if items is not None and len(items):
            for item in items:
                column, _, reason = item.partition(":")
                findings.add(column, (pos,), reason)
                if column not in keeps and column in frame:
                    frame.iloc[pos, frame.columns.get_loc(column)] = None
                    unreadable.setdefault(column, set()).add(pos)


def decide(spec: EntitySpec, frame: pd.DataFrame, findings: Findings, clean_rows: np.ndarray
           ) -> tuple[dict[int, set[str]], dict[int, list[str]]]:
    """Each finding through its column's ``on_invalid``: row reasons (the row is quarantined) and field
    issues (the row loads, with the value nulled or kept). Values set to ``null`` are cleared in ``frame``."""
    columns = {c.name: c for c in spec.columns}
    reasons: dict[int, set[str]] = {}
    issues: dict[int, list[str]] = {}
    for name, found in findings.cells.items():
        col = columns.get(name)
        what = col.on_invalid if col is not None else "quarantine"  # a derived column (id_type): the row's
        nulled = []
        for pos, codes in found.items():
            if not clean_rows[pos]:
                continue  # the reader's problem decides that row
            if what == "quarantine":
                reasons.setdefault(pos, set()).update(codes)
            else:
                issues.setdefault(pos, []).extend(f"{name}:{code}" for code in sorted(codes))
                if what == "null":
                    nulled.append(pos)
        if nulled:
            frame.iloc[nulled, frame.columns.get_loc(name)] = None
    return reasons, issues


def verify_chunk(spec: EntitySpec, ref: ChunkRef, area: WorkArea) -> dict:
    """The chunk normalised and checked, written to its verified file; returns its counts (reason codes,
    field issues) and ``validation``, the suite's summary (no values)."""
    source = read_table(area.raw(ref))
    raw = source.to_pandas()
    frame, findings, unreadable = normalise_frame(spec, raw)
    _cell_issues(spec, raw, frame, findings, unreadable)
    problems = raw["_problem"]
    clean_rows = problems.isna().to_numpy()
    clean_positions = clean_rows.nonzero()[0]
    renumber = np.cumsum(clean_rows) - 1  # a clean row's position among the clean rows
    unparseable = {c: set(renumber[_clean(ps, clean_rows)].tolist()) for c, ps in unreadable.items()}
    verdict = None
    if clean_rows.any():
        verdict = validator().validate_frame(spec, frame if clean_rows.all() else frame[clean_rows], unparseable)
        findings.merge(verdict.cells, clean_positions)
    reasons, issues = decide(spec, frame, findings, clean_rows)
    problem_positions = (~clean_rows).nonzero()[0].tolist()
    for pos, problem in zip(problem_positions, problems.iloc[problem_positions].tolist(), strict=True):
        reasons[pos] = {problem}

    table = pa.table({c.name: pa.array(frame[c.name], pa.string(), from_pandas=True) for c in spec.columns})
    if "id_number" in frame and spec.column_for("uscc") is None:
        # A USCC given as the document number is the customer's USCC too (its own blind index and mask)
        uscc = frame["id_number"].where(frame["id_type"].eq("uscc").fillna(False), None)
        if uscc.notna().any():
            table = table.append_column("uscc", pa.array(uscc, pa.string(), from_pandas=True))
    table = table.append_column("_reasons", _lists(len(frame), {p: sorted(r) for p, r in reasons.items()}))
    loaded_issues = {p: v for p, v in issues.items() if p not in reasons}
    table = table.append_column("_issues", _lists(len(frame), loaded_issues))
    for name in ("_line", "_problem", "_raw"):
        table = table.append_column(name, source.column(name))
    # The raw text of the row, for the quarantine payload (repair works on what the branch sent).
    for col in spec.columns:
        table = table.append_column(f"_src_{col.name}", source.column(col.name))
    write_table(table, area.verified(ref))
    codes = Counter(code for r in reasons.values() for code in r)
    return {**ref.as_dict(), "reasons": dict(sorted(codes.items())),
            "rows_with_reasons": len(reasons),
            "field_issues": dict(sorted(Counter(i for v in loaded_issues.values() for i in v).items())),
            "validation": verdict.summary if verdict else []}


def _lists(n: int, by_row: dict[int, list[str]]) -> pa.Array:
    """A list-of-strings column from the few rows that have items (most rows have none: an empty list)."""
    with_items = sorted(by_row)
    counts = np.zeros(n, np.int32)
    counts[with_items] = [len(by_row[pos]) for pos in with_items]
    items = [item for pos in with_items for item in by_row[pos]]
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    return pa.ListArray.from_arrays(offsets, pa.array(items, pa.string()))


def _clean(positions: set[int], clean_rows: np.ndarray) -> np.ndarray:
    """The given row positions that hold clean rows, as an array."""
    found = np.fromiter(positions, np.int64, count=len(positions))
    return found[clean_rows[found]]
