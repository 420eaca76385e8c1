"""Sources: the branch's export files, read in bounded chunks.

Every reader yields `RawChunk`s: the contract's columns as text exactly as the file holds them (never
type-inferred: an ID number must not become a float), the file line each row started on, and a
source-level problem per row that sends the row to quarantine with its original content (bytes for a
CSV, the cells' text for an XLSX), so nothing is dropped or altered without a trace:

- ``unterminated_quote``: a quoted field still open at the end of the file (a cut file, a stray quote);
  everything from its line to the end is kept in the row's bytes;
- ``blank_row``: a row with cells but no content (whitespace, delimiters only); an empty line is not a row;
- ``ragged_row``: more or fewer fields than the header, or a value in a column that has no header;
- ``encoding_error``: bytes that do not decode in the file's encoding, or UTF-8 text in a GB18030 file;
- ``control_character``: NUL or another control character (not tab, CR, LF): never data, and NUL cannot
  be stored in PostgreSQL text;
- ``repeated_header``: the header row again, inside the data (two exports concatenated);
- ``stray_bom``: a byte-order mark inside the data (files concatenated); never stripped silently;
- ``oversized_field``: a field longer than `FIELD_LIMIT` characters (`FREE_TEXT_LIMIT` for free text);
- ``excel_error``: a cell holding an Excel error (``#N/A``, ``#REF!`` …): the value was lost in Excel;
- ``formula_like``: a cell a spreadsheet would run as a formula (``=…``, ``@…``, ``+cmd``).

The last two are a cell's, not the row's: the reader reports them per column (`cell_issues`), and the
column's ``on_invalid`` decides — a formula in a free-text remark is kept as text (and neutralised
wherever it leaves the store), one in a name or an ID number quarantines the row.
- ``merged_cell`` (XLSX): a row covered by a merged range: Excel shows one value in every row of the
  range, the file holds it only in the first cell;
- ``uncalculated_formula`` (XLSX): a formula cell whose result was never stored: it would read as empty.

`inspect_source` checks a source against the contract before anything is read in earnest. Every problem
that makes a whole file unreadable (missing, empty, no header, wrong encoding, not a CSV/XLSX, a missing
sheet or column) is a `SourceError` naming the file, the line and what to do.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from handover.contract import EntitySpec
from handover.errors import SourceError


@dataclass
class RawChunk:
    columns: list[str]  # contract headers, in contract order
    rows: list[Sequence[str | None]]  # each row's values (the CSV reader gives tuples, see there)
    lines: list[int]
    problems: list[str | None]
    raw: list[bytes | None] = field(default_factory=list)  # the row's original bytes when it has a problem
    issues: list[list[str] | None] = field(default_factory=list)  # per row, "column:reason" of cells (or None)

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
    lines: int | None = None  # a CSV's physical lines: beside the records read, a quote that swallowed lines shows
    real_path: str | None = None  # where it is, every link followed (inside the export folder)
    type: str | None = None  # "regular file" (anything else is refused)


_PATTERN = re.compile(r"[*?\[]")


def source_path(spec: EntitySpec, source_dir: Path) -> Path:
    """The file of a source, which must lie inside the export folder (or a folder the contract allows:
    ``source.allowed_folders``) once every link is followed: ``../elsewhere.csv``, an absolute path and a
    symlink out of the folder are refused. A name with ``*`` or ``?`` (``客户信息_*.csv``: exports carry their
    date) is a pattern that must match exactly one file of the folder."""
    name = spec.source.file
    if not _PATTERN.search(name):
        path = Path(source_dir) / name
    else:
        found = sorted(p for p in Path(source_dir).glob(name) if p.is_file())
        if len(found) != 1:
            raise SourceError(Path(source_dir) / name, f"the pattern declared for {spec.name} matches "
                              f"{len(found)} files; it must match exactly one",
                              hint=f"make entities.{spec.name}.source.file match one file of the folder")
        path = found[0]
    _contained(spec, path, Path(source_dir))
    return path


def _contained(spec: EntitySpec, path: Path, folder: Path) -> None:
    real = path.resolve()
    places = [folder.resolve(), *spec.source.allowed_folders]
    if not any(real.is_relative_to(place) for place in places):
        raise SourceError(path, f"the file declared for {spec.name} is outside the export folder (it resolves to "
                          f"{real})", hint="put the file into the export folder, or list its folder in the "
                                           "contract's source.allowed_folders")


def file_type(path: Path) -> str:
    """What a path is, by its status (a FIFO is never opened: that would wait for a writer)."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or type(exc).__name__})"
    for test, name in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO (a pipe)"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def file_sha256(path: Path) -> str:
    return _digest_and_lines(path)[0]


def _digest_and_lines(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and its physical lines (line feeds, or carriage returns in a file without any,
    plus a last line without one), in one pass."""
    digest, lf, cr, last = hashlib.sha256(), 0, 0, b""
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            lf += block.count(b"\n")
            cr += block.count(b"\r")
            last = block[-1:]
    breaks = lf or cr
    return digest.hexdigest(), breaks + (1 if last not in (b"", b"\n", b"\r") else 0)


def clean_header(h: str | None) -> str:
    return (h or "").strip().lstrip("\ufeff").strip()


_DELIMITERS = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}
TITLE_ROWS = 20  # how far below the first row a header row is looked for, to tell a title row from no header


def _check_delimiter(spec: EntitySpec, found: list[str], file: str, where: str, line: int) -> None:
    """A header row that only matches when split by another delimiter: say so, not "no header row"."""
    if spec.source.format != "csv":
        return
    declared = {c.header for c in spec.columns}
    text = spec.source.delimiter.join(h or "" for h in found)
    for delimiter, name in _DELIMITERS.items():
        if delimiter != spec.source.delimiter and len(declared & {clean_header(p) for p in text.split(delimiter)}) >= 2:
            raise SourceError(file, f"the {where} is separated by {name}, not by "
                              f"{_DELIMITERS.get(spec.source.delimiter, repr(spec.source.delimiter))}", line=line,
                              hint=f"set entities.{spec.name}.source.delimiter to the file's delimiter")


def check_title_rows(spec: EntitySpec, first: list[str], following: Iterator[tuple[list, int]], file: str,
                     line: int) -> None:
    """When the first row with content holds none of the contract's columns, look a few rows further: a
    header row below a title ("XX支行客户信息表") gets its own error; otherwise `match_headers` reports a
    file without a header row. Nothing of the rows is quoted."""
    declared = {c.header for c in spec.columns}
    if declared & {clean_header(h) for h in first}:
        return
    for seen, (row, number) in enumerate(following):
        if seen >= TITLE_ROWS:
            return
        if len(declared & {clean_header(h if isinstance(h, str) else None) for h in row}) >= min(2, len(declared)):
            raise SourceError(file, f"the header row is line {number}, below {number - line} other line(s) "
                              "(a title or a note?)", line=number,
                              hint="delete the lines above the header row, or export the data again without them")


def _named(header: str) -> str:
    """A header as a message may show it: short, whatever the file holds."""
    return header if len(header) <= 40 else header[:40] + "…"


def match_headers(spec: EntitySpec, found: list[str], file: str, where: str, line: int = 1) -> list[int]:
    """Position of each contract column in the file's header row; every mismatch is an error (the first
    ``message_items`` of them listed: a message never grows with the file)."""
    from handover.limits import LimitError, limit, listed

    if len(found) > limit("columns"):
        raise LimitError(f"{file}, line {line}: the {where} has {len(found):,} columns, more than the limit of "
                         f"{limit('columns'):,} — not an export of {spec.name}? (HANDOVER_LIMIT_COLUMNS)")
    cleaned = [clean_header(h) for h in found]
    declared = {c.header for c in spec.columns}
    if not declared & set(cleaned):
        _check_delimiter(spec, found, file, where, line)
        # Not one header matches: this row is probably data (a headerless export). Quote none of it.
        raise SourceError(file, f"none of the contract's {len(declared)} columns is in the {where}; "
                          "the export may have no header row", line=line,
                          hint="export the data again with its header row, or correct the contract")
    problems = []
    positions: list[int] = []
    for col in spec.columns:
        hits = [i for i, h in enumerate(cleaned) if h == col.header]
        if not hits:
            problems.append(f"column {_named(col.header)} declared in the contract is not in the {where}")
        elif len(hits) > 1:
            problems.append(f"column {_named(col.header)} appears {len(hits)} times in the {where}")
        else:
            positions.append(hits[0])
    last_named = max((i for i, h in enumerate(cleaned) if h), default=-1)
    for i, h in enumerate(cleaned):
        if h and h not in declared:
            problems.append(f"column {_named(h)} (position {i + 1}) is not in the contract: map it as a field or "
                            "an extra column so nothing is dropped silently")
        if not h and i < last_named:  # a trailing blank header is Excel's habit; a blank inside is not
            problems.append(f"the column at position {i + 1} has no header")
    if problems:
        raise SourceError(file, "; ".join(listed(problems, "more problems")), line=line,
                          hint="correct the contract's columns or the export's header row")
    return positions


# --------------------------------------------------------------------------------------------------
# Row checks shared by the readers
# --------------------------------------------------------------------------------------------------

FIELD_LIMIT = 1_024  # characters: no name, number, address or code comes near it
FREE_TEXT_LIMIT = 32_767  # characters, for free-text columns: Excel's own limit for one cell
_BLANKS = " \t\r\n\f\v\u00a0\u3000\u200b\u200c\u200d\u2060\ufeff"
# Characters that never belong in a clean row: control characters (not tab, CR, LF), a BOM, and the
# surrogate escapes a reader leaves for bytes that did not decode.
SPECIAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\udc80-\udcff]")
_ESCAPED_RE = re.compile("[\udc80-\udcff]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What Excel (or LibreOffice) would evaluate: "=…", "@…", a sign followed by a name or a parenthesis
# ("+cmd", "-SUM("), or arithmetic leading to one ("-2+3+cmd|' /C calc'!A0"). "+86 138…" and "-1,234.50"
# are not formulas.
_FORMULA_RE = re.compile(r"[=@]|[+\-]\s*[A-Za-z_(]|[+\-][0-9.\s+\-*/]*[+\-*/]\s*[A-Za-z_(]"
                         # sign-led arithmetic, which Excel computes ("-2+3" shows 1); a phone number's
                         # groups are set off by spaces or dashes between digits, not operators between numbers
                         r"|[+\-][0-9.]+(?:\s*[+*/^]\s*[0-9.]+|-[0-9.]+)*\s*[+*/^]\s*[0-9.]+\s*$")
EXCEL_ERRORS = frozenset({"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!", "#SPILL!",
                          "#CALC!", "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"})
CELL_STARTS = frozenset("=@+-#" + _BLANKS)  # how a cell that may be a formula or an Excel error starts
_first_char = operator.itemgetter(slice(0, 1))


def is_blank_row(cells: Sequence[str | None]) -> bool:
    """A row with no content at all: every cell empty or only spaces/invisible characters."""
    for c in cells:
        if c and c.strip(_BLANKS):
            return False
    return True


def field_limits(spec: EntitySpec, positions: list[int], width: int) -> list[int]:
    """The longest value allowed at each position of a file's row."""
    limits = [FIELD_LIMIT] * width
    for col, pos in zip(spec.columns, positions, strict=True):
        limits[pos] = FREE_TEXT_LIMIT if col.pii == "free_text" else FIELD_LIMIT
    return limits


def cell_problem(cells: Sequence[str], header: list[str], limits: list[int], scanned: bool = False,
                 longest: int | None = None) -> str | None:
    """The reason a row whose fields split and decode cleanly must still go to quarantine, or None.

    `cells` are text ("" for empty). In order: control characters, a repeated header row, a stray
    byte-order mark, an oversized field. `header` is the file's header row, cleaned (`clean_header`).
    `scanned`: the caller has already searched the row for control characters and BOMs
    (`special_problem`) and found none; `longest`: an upper bound of the cells' lengths (the row's text
    length). Every check is one pass in C: this runs on every row of every file. (Excel errors and
    formulas are a cell's: `cell_issues`.)"""
    if not scanned:
        joined = "".join(cells)
        if SPECIAL_RE.search(joined):
            return special_problem(cells, header, joined)
    if header and cells and header[0] in cells[0] and _is_header(cells, header):
        return "repeated_header"
    if (longest if longest is not None else max(map(len, cells), default=0)) > FIELD_LIMIT:
        for cell, limit in zip(cells, limits, strict=False):
            if len(cell) > limit:
                return "oversized_field"
    return None


def cell_issues(cells: Sequence[str | None], positions: list[int], names: list[str]) -> list[str] | None:
    """The contract columns of a row whose cell holds an Excel error (``excel_error``) or looks like a
    formula (``formula_like``), as ``"<column>:<reason>"``; None when there is none."""
    found = None
    for position, name in zip(positions, names, strict=True):
        cell = cells[position] if position < len(cells) else None
        if cell and cell[:1] in CELL_STARTS:
            value = cell.strip(_BLANKS)
            reason = "excel_error" if value in EXCEL_ERRORS else "formula_like" if _FORMULA_RE.match(value) \
                else None
            if reason:
                found = (found or []) + [f"{name}:{reason}"]
    return found


def special_problem(cells: Sequence[str], header: list[str], text: str) -> str:
    """The problem of a row whose text `SPECIAL_RE` matched: undecodable bytes, a control character, or a
    byte-order mark (starting a repeated header row, or stray)."""
    if _ESCAPED_RE.search(text):
        return "encoding_error"
    if _CONTROL_RE.search(text):
        return "control_character"
    return "repeated_header" if _is_header(cells, header) else "stray_bom"


def _is_header(cells: Sequence[str | None], header: list[str]) -> bool:
    return [clean_header(c) for c in cells[:len(header)]] == header and not any(
        c and c.strip() for c in cells[len(header):])


def suspect_value(value: str | None, limit: int) -> bool:
    """A value of a quarantined row that must not travel on as text (control characters, oversized)."""
    return value is not None and (len(value) > limit or bool(_CONTROL_RE.search(value)))


def inspect_source(spec: EntitySpec, source_dir: Path) -> SourceInfo:
    """Check that a declared source is a regular file in the export folder and has the declared columns;
    hash it."""
    path = source_path(spec, source_dir)
    kind = file_type(path)
    if kind == "missing":
        raise SourceError(path, f"the file declared for {spec.name} does not exist",
                          hint="check entities." + spec.name + ".source.file and the source folder")
    if kind != "regular file":
        raise SourceError(path, f"the path declared for {spec.name} is a {kind}, not a regular file",
                          hint="point entities." + spec.name + ".source.file at the export's file")
    if spec.source.format == "csv":
        from handover.sources import csv as reader
    else:
        from handover.sources import xlsx as reader
    encoding, headers, line = reader.find_header(spec, path)
    match_headers(spec, headers, str(path), "header row" if spec.source.format == "csv" else
                  f"header row of sheet {spec.source.sheet}", line=line)
    digest, lines = _digest_and_lines(path)
    return SourceInfo(entity=spec.name, path=str(path), file=path.name, sha256=digest,
                      bytes=path.stat().st_size, encoding=encoding, sheet=spec.source.sheet,
                      headers=tuple(headers), lines=lines if spec.source.format == "csv" else None,
                      real_path=str(path.resolve()), type=kind)


def read_chunks(spec: EntitySpec, source_dir: Path, chunk_rows: int) -> Iterator[RawChunk]:
    path = source_path(spec, source_dir)
    if spec.source.format == "csv":
        from handover.sources import csv as reader
    else:
        from handover.sources import xlsx as reader
    yield from reader.read_chunks(spec, path, chunk_rows)
