"""Quarantined rows exported for repair: the rows as the branch sent them, with their reasons, for the
transferring branch to correct and send again.

The export is plaintext customer data by purpose, so it is written only where asked, readable by its
owner only (0600), and recorded in the audit log (counts, never values). Every cell is neutralised
against formula injection: a value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading apostrophe, so Excel and WPS show it as text instead of evaluating it (``=HYPERLINK(…)``
stays a string; ``-12.50`` reads ``'-12.50``: the apostrophe is the price of safety, and the repairer
removes it where a value really starts so). One CSV (UTF-8 with BOM, which Excel opens as UTF-8) or one
XLSX sheet per entity.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path

from handover.crypto import FieldCipher, MasterKey
from handover.errors import HandoverError
from handover.store.keys import branch_cipher
from handover.vault import open_payload

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LEADING = ["entity", "source_file", "source_line", "reasons"]


class RepairError(HandoverError):
    """The export cannot be made (no such branch, no key, a bad output place)."""


def neutralise(value) -> str:
    """A cell's text, made inert if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cipher(conn, master: MasterKey, branch_id: str) -> FieldCipher:
    """The branch's data key, read (never created: a branch without one has nothing to export)."""
    cipher = branch_cipher(conn, master, branch_id)
    if cipher is None:
        raise RepairError(f"branch {branch_id} has no data key in this store: nothing was transferred for it")
    return cipher


def quarantined_rows(conn, master: MasterKey, branch_id: str, entity: str | None = None) -> dict[str, list[dict]]:
    """Per entity, the branch's quarantined rows not resolved yet (file order): where they came from, why,
    and their cells."""
    cipher = _cipher(conn, master, branch_id)
    out: dict[str, list[dict]] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT entity, source_file, source_line, reasons, payload_enc FROM ops.quarantine "
                    "WHERE branch_id = %s AND (%s::text IS NULL OR entity = %s) AND resolved_at IS NULL "
                    "ORDER BY entity, source_file, "
                    "source_line", (branch_id, entity, entity))
        for name, source_file, line, reasons, blob in cur.fetchall():
            cells = open_payload(cipher, bytes(blob))
            if "raw_base64" in cells:  # a row the reader could not take apart: its text, as sent
                cells = {"original_row": _text(base64.b64decode(cells["raw_base64"]))}
            out.setdefault(name, []).append({"entity": name, "source_file": source_file, "source_line": line,
                                             "reasons": ";".join(reasons), **cells})
    return out


def _text(raw: bytes) -> str:
    """A row's bytes as text: UTF-8, else GB18030 (the two encodings branches export in)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def _columns(rows: list[dict]) -> list[str]:
    seen = dict.fromkeys(LEADING)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _write_private(path: Path, data: bytes) -> None:
    """A new file (never one another user made in a shared folder, never a link), 0600 (`private_files`)."""
    from handover import private_files

    private_files.write(path, data)


def export(conn, master: MasterKey, branch_id: str, out_dir: Path, fmt: str = "csv",
           entity: str | None = None) -> dict[str, int]:
    """Write the branch's quarantined rows into `out_dir` (one file or sheet per entity); return the rows
    written per entity."""
    if fmt not in ("csv", "xlsx"):
        raise RepairError(f"unknown export format {fmt!r}: use csv or xlsx")
    rows = quarantined_rows(conn, master, branch_id, entity)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if fmt == "csv":
        for name, entity_rows in rows.items():
            columns = _columns(entity_rows)
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\r\n")
            writer.writerow(columns)
            writer.writerows([neutralise(r.get(c)) for c in columns] for r in entity_rows)
            _write_private(out_dir / f"{branch_id}_{name}_quarantine.csv", buf.getvalue().encode("utf-8-sig"))
    else:
        from openpyxl import Workbook

        book = Workbook()
        book.remove(book.active)
        for name, entity_rows in rows.items():
            sheet = book.create_sheet(name)
            columns = _columns(entity_rows)
            sheet.append(columns)
            for r in entity_rows:
                sheet.append([neutralise(r.get(c)) for c in columns])
        buf = io.BytesIO()
        book.save(buf)
        _write_private(out_dir / f"{branch_id}_quarantine.xlsx", buf.getvalue())
    return {name: len(entity_rows) for name, entity_rows in rows.items()}
