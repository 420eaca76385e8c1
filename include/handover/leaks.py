"""The leak scan: does any customer's identifier or name show up where it must not?

Every identifier value and customer name of the branch's export becomes a **needle**; the scan then
searches what an analyst can read in the store, the run's task logs, its XCom values and the files it
hands over. A hit names its place — ``schema.table.column`` and the row's ctid, ``file`` and line,
``xcom task/key`` — and the kind of value (``mobile``, ``id_number``, ``customer name`` …), never the
value: the report of a leak must not be a second leak.

**Needles** (:func:`needles_from_export`) are read with the export's own readers, in chunks, and
normalised with :func:`handover.normalise.normalise_column`, so a needle is the value as the vault knows
it. Identifiers are the values of every column with an identifier ``format`` (resident ID, USCC, bank
card, mobile, landline, e-mail — the same columns the vault seals under a blind index or as a direct
identifier) and of every other ``pii: direct`` column whose values look like an identifier (letters,
digits and separators only: passport and permit numbers kept as extras). Each is kept *compact*:
separators removed, upper-case (``+86 138-0013-8000`` → ``13800138000``; the raw compact form is added
when it differs). Values shorter than :data:`MIN_IDENTIFIER` characters are dropped (too short to
tell from a date or an amount); a landline also gives its local number alone when that is 8 digits —
found only as a whole run of digits (eight digits turn up by chance inside other numbers: a generalised
ID's ``440000/1990`` holds ``40000199``).
E-mails are kept whole, lower-case. Names are the customers' ``name`` field, from :data:`MIN_NAME`
characters; a name that is not all CJK (Latin, digits, brackets) needs :data:`MIN_OTHER_NAME`
characters (``Li`` would hit every English sentence). Rows the readers quarantine give their
identifier-shaped values and all-CJK names too: their data is a customer's all the same.

Memory: the needles are Python strings in a dict/set, about 80–100 bytes each; a branch of a million
customers gives some 3–5 million needles, 0.3–0.5 GB in the task that scans. Beyond a few million, scan
per entity or keep digests instead.

**Matching** (:func:`scan_text`), after full-width characters are folded to ASCII (offsets stay true):

- *identifier runs*: at most two letters, then a digit, then letters and digits, with one or two
  separators (space, ``-``, ``(``, ``)``, ``/``) allowed before a digit — ``110105 19900101 002X`` and
  ``138-0013-8000`` are one run each. A run is compacted and every window of every identifier length
  present among the needles is looked up, so an identifier is found inside a longer run
  (``+86 13800138000`` → ``8613800138000``, ``tel13800138000``). Decided so on purpose: a leak glued to
  other characters is still a leak. The price is chance hits inside long unrelated numbers, about
  (needles of that length) / 10^length per window: negligible from 11 digits up — which is why the
  8-digit landline local numbers are matched as whole runs only. ``.`` is not a separator (it splits
  amounts, not identifiers);
- *e-mail addresses*, found by pattern and compared lower-case;
- *CJK runs* (with the middle dot of minority names): every window of every length of the all-CJK names
  present — names are found inside sentences (``客户张伟来电``). A name that is also an ordinary word
  (文静, 高兴) is not counted where the text uses it as the word — inside a longer dictionary word or after a
  degree adverb (龙江路, 很高兴): the masker's own rule, :func:`handover.pii.word_use.used_as_word`;
- other names: one case-insensitive search for all of them.

Text holding JSON ``\\uXXXX`` escapes is scanned decoded (offsets then refer to the decoded text).
Not found: values split by other characters than the separators above, encoded (base64, URL encoding,
hashes — which is what tokens and blind indexes are) or transformed (masks like ``138****5678``).

**Places**: :func:`scan_database` reads every text-like column (text, varchar, char, json, jsonb, xml,
arrays of them, domains over them) of every table, view and materialised view a role may SELECT
(``has_schema_privilege`` USAGE and ``has_column_privilege`` SELECT), with server-side cursors; when the
role does not exist, what it would read — schema ``analytics`` — and the report says so. A column is
read as its distinct values (the rows of a value that hits are then looked up to name them); a column
whose every value is a pseudonym token (:data:`TOKEN`, checked in SQL) is counted and not read — a
token is an HMAC and holds no value, and the analytics tier is mostly tokens.
:func:`scan_files` reads files line by line; :func:`scan_values` takes named values (XCom).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from handover.contract import Column, Contract, EntitySpec
from handover.errors import HandoverError
from handover.normalise import HALFWIDTH  # the one full-width → ASCII table (length-preserving)
from handover.pii.word_use import used_as_word
from handover.workarea import RAW, WorkArea

IDENTIFIER_FORMATS = frozenset({"resident_id", "document", "uscc", "bank_card", "mobile", "landline", "email"})
NAME_FIELD = "name"  # customers.name: people's and firms' names
CUSTOMER_NAME = "customer name"
MIN_IDENTIFIER = 8
MIN_NAME = 2
MIN_OTHER_NAME = 5
ANALYST = "handover_analyst"  # handover.store.roles.ANALYST (not imported: that module needs psycopg2.sql)
ANALYTICS_SCHEMA = "analytics"

_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")
_IDENTIFIER_SHAPED = re.compile(r"^[0-9A-Za-z \t\-.()/+]+$")
_RUN = re.compile(r"[A-Za-z]{0,2}[0-9](?:[0-9A-Za-z]|[ \t\-()/]{1,2}(?=[0-9]))*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u00b7\u30fb\u2022"
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
_ALL_CJK = re.compile(f"^[{_CJK_CHARS}]+$")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def compact(value: str) -> str:
    """An identifier without its separators, upper-case: the form needles and text runs are compared in."""
    return _SEPARATORS.sub("", value).upper()


@dataclass(repr=False)
class Needles:
    """What must not be found, by kind. Its repr and every report show counts only."""

    identifiers: dict[str, str] = field(default_factory=dict)  # compact form → kind
    # landline local numbers alone (8 digits): found only as a whole run of digits, never inside a longer
    # one — eight digits occur by chance in other numbers (a generalised ID's 440000/1990 holds 40000199)
    local_numbers: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)  # lower-case address → kind
    names: set[str] = field(default_factory=set)  # all-CJK names
    other_names: set[str] = field(default_factory=set)  # lower-case
    _lengths: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    _other: re.Pattern | None = None

    def add_identifier(self, kind: str, value: str | None, *, raw: str | None = None) -> None:
        for text in (value, raw):
            if not text:
                continue
            text = text.translate(HALFWIDTH).strip()
            if "@" in text:
                if kind == "email" or _EMAIL.fullmatch(text):
                    self.emails.setdefault(text.lower(), kind)
                continue
            if not _IDENTIFIER_SHAPED.match(text):
                continue
            self._add_compact(kind, compact(text))
            if kind == "landline":  # the local number alone, as people often write it
                parts = re.split(r"[^0-9]+", text)
                local = max(parts, key=len)
                if len(local) >= 8 and local != parts[0]:
                    self.local_numbers.setdefault(local, kind)
        self._lengths = None

    def _add_compact(self, kind: str, value: str) -> None:
        if len(value) >= MIN_IDENTIFIER:
            self.identifiers.setdefault(value, kind)

    def add_name(self, value: str | None, *, trusted: bool = True) -> None:
        if not value:
            return
        name = value.translate(HALFWIDTH).strip()
        if _ALL_CJK.match(name):
            if len(name) >= MIN_NAME:
                self.names.add(name)
        elif trusted and len(name) >= MIN_OTHER_NAME:
            self.other_names.add(name.lower())
            self._other = None
        self._lengths = None

    @property
    def lengths(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The identifier lengths and the CJK name lengths present (windows are taken only of these)."""
        if self._lengths is None:
            self._lengths = (tuple(sorted({len(v) for v in self.identifiers})),
                             tuple(sorted({len(v) for v in self.names})))
        return self._lengths

    def other_pattern(self) -> re.Pattern | None:
        if self._other is None and self.other_names:
            alternatives = sorted(self.other_names, key=len, reverse=True)
            self._other = re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)
        return self._other

    def counts(self) -> dict[str, int]:
        kinds = Counter(self.identifiers.values()) + Counter(self.emails.values()) + Counter(
            self.local_numbers.values())
        kinds[CUSTOMER_NAME] = len(self.names) + len(self.other_names)
        return dict(sorted(kinds.items()))

    def __len__(self) -> int:
        return (len(self.identifiers) + len(self.local_numbers) + len(self.emails) + len(self.names)
                + len(self.other_names))

    def __repr__(self) -> str:
        return f"Needles({self.counts()})"


# --------------------------------------------------------------------------------------------------
# Needles from the export
# --------------------------------------------------------------------------------------------------

def identifier_columns(spec: EntitySpec) -> list[Column]:
    """The columns whose values are identifiers: an identifier format, or direct PII other than the name
    (whose values are then taken only when identifier-shaped: an address is not)."""
    return [c for c in spec.columns if c.format in IDENTIFIER_FORMATS or (c.is_extra and c.pii == "direct")]


def needles_from_export(contract: Contract, source_dir: str | Path | None = None, *,
                        sources: Iterable[tuple[EntitySpec, Path]] | None = None,
                        chunk_rows: int = 100_000) -> Needles:
    """Every identifier value and customer name of the branch's export, read in chunks.

    `sources`: the (spec, folder) to read each entity from — a source-database table is read from its
    dump (see `handover.transfer`); by default every file entity of the contract from `source_dir`
    (or the contract's location). Tables are skipped then: their dump exists only in a run's work area.
    """
    import pandas as pd

    from handover.normalise import normalise_column
    from handover.sources import read_chunks

    if sources is None:
        folder = contract.source_dir(source_dir)
        sources = [(s, folder) for s in contract.entities.values() if s.source.format != "table"]
    needles = Needles()
    for spec, folder in sources:
        wanted = identifier_columns(spec)
        name = spec.column_for(NAME_FIELD) if spec.name == "customers" else None
        if not wanted and name is None:
            continue
        position = {c.header: i for i, c in enumerate(spec.columns)}
        for chunk in read_chunks(spec, Path(folder), chunk_rows):
            clean = [p is None for p in chunk.problems]
            for col in wanted:
                raw = pd.Series([r[position[col.header]] if len(r) > position[col.header] else None
                                 for r in chunk.rows], dtype=object)
                values, _ = normalise_column(raw, col.type, col.format)
                kind = col.name
                for value, original in zip(values.tolist(), raw.tolist(), strict=True):
                    if original:
                        needles.add_identifier(kind, value, raw=original)
            if name is not None:
                at = position[name.header]
                for row, ok in zip(chunk.rows, clean, strict=True):
                    needles.add_name(row[at] if len(row) > at else None, trusted=ok)
    return needles


def needles_from_chunks(contract: Contract, area: WorkArea) -> Needles:
    """The same needles, from a run's extracted chunks (its work area's raw chunks: every source row's
    cells as text) instead of reading the export again."""
    from pyarrow import feather

    from handover.normalise import normalise_column

    needles = Needles()
    for spec in contract.entities.values():
        wanted = identifier_columns(spec)
        name = spec.column_for(NAME_FIELD) if spec.name == "customers" else None
        if not wanted and name is None:
            continue
        for chunk in area.chunks(RAW, spec.name):
            table = feather.read_table(area.raw(chunk), memory_map=False)
            for col in wanted:
                raw = table.column(col.name).to_pandas().astype(object)
                raw = raw.where(raw.notna(), None)
                values, _ = normalise_column(raw, col.type, col.format)
                for value, original in zip(values.tolist(), raw.tolist(), strict=True):
                    if original:
                        needles.add_identifier(col.name, value, raw=original)
            if name is not None:
                clean = table.column("_problem").is_null().to_pylist()
                for value, ok in zip(table.column(name.name).to_pylist(), clean, strict=True):
                    needles.add_name(value, trusted=ok)
    return needles


# --------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------

_BAND = re.compile(r"^(?:[0-9]{4}-[0-9]{4}|[0-9]{4}|[0-9]{6}/[0-9]{4}/[MF]|\*)$")


def is_generalisation(value: str | None) -> bool:
    """A value a generaliser makes (`handover.pii.values.generalize`): a birth band (1990-1994) or year, an ID's
    region/year/sex (440000/1990/M), a province or a province and its city (广东省深圳市), a plate's province,
    the suppressed ``*``, a tag. Such a value names a place or a period, not a person, even where it happens
    to contain a customer's two-character name (江门 in 广东省江门市): it is matched as what it is."""
    if not value:
        return False
    text = value.strip()
    if _BAND.match(text) or (text.startswith("<") and text.endswith(">")):
        return True
    from handover.pii.patterns import CITIES, PROVINCES

    rest = text
    for province in sorted(PROVINCES, key=len, reverse=True):
        if rest.startswith(province):
            rest = rest[len(province):]
            rest = re.sub(r"^(?:壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)", "", rest)
            break
    else:
        if len(text) == 1 and "\u4e00" <= text <= "\u9fff":
            return True  # a plate's province
    if not rest:
        return True
    city = re.sub(r"(?:自治州|地区|盟|市)$", "", rest)
    return bool(city) and (city in CITIES or len(rest) <= 8 and rest.endswith(("市", "自治州", "地区", "盟")))

def _unescape(text: str) -> str:
    decoded = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    # A character beyond the BMP arrives as a surrogate pair of escapes.
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def scan_text(text: str, needles: Needles) -> list[tuple[str, int]]:
    """(kind, offset) of every needle found in `text`; never the value. See the module's docstring."""
    if not text or not needles:
        return []
    text = text.translate(HALFWIDTH)
    if "\\u" in text:
        text = _unescape(text)
    id_lengths, name_lengths = needles.lengths
    hits: dict[tuple[str, int], None] = {}
    identifiers, local_numbers = needles.identifiers, needles.local_numbers
    if id_lengths or local_numbers:
        shortest = id_lengths[0] if id_lengths else 8
        for m in _RUN.finditer(text):
            run = m.group()
            if local_numbers:  # the whole run: digits and separators (after up to two letters: tel)
                core = run.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
                if core.strip("0123456789 \t-()/") == "":
                    kind = local_numbers.get("".join(ch for ch in core if ch.isdigit()))
                    if kind is not None:
                        hits[(kind, m.start())] = None
            if len(run) < shortest:
                continue
            # Offsets into the compact run map back to the text through the kept characters.
            kept = [i for i, ch in enumerate(run) if ch.isascii() and ch.isalnum()]
            packed = "".join(run[i] for i in kept).upper()
            for size in id_lengths:
                if size > len(packed):
                    break
                for start in range(len(packed) - size + 1):
                    kind = identifiers.get(packed[start:start + size])
                    if kind is not None:
                        hits[(kind, m.start() + kept[start])] = None
    if needles.emails and "@" in text:
        for m in _EMAIL.finditer(text):
            kind = needles.emails.get(m.group().lower())
            if kind is not None:
                hits[(kind, m.start())] = None
    if name_lengths:
        names = needles.names
        for m in _CJK_RUN.finditer(text):
            run = m.group()
            for size in name_lengths:
                if size > len(run):
                    break
                for start in range(len(run) - size + 1):
                    at = m.start() + start
                    # a name that the text uses as a word (文静地, 龙江路) is not the customer: the masker's rule
                    if run[start:start + size] in names and not used_as_word(text, at, at + size):
                        hits[(CUSTOMER_NAME, at)] = None
    other = needles.other_pattern()
    if other is not None:
        for m in other.finditer(text):
            hits[(CUSTOMER_NAME, m.start())] = None
    return sorted(hits, key=lambda h: h[1])


# --------------------------------------------------------------------------------------------------
# Findings and the report
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """One hit: the place (``analytics.customers.note``, a file, ``xcom task/key``), where in it (a row's
    ctid, a line, an offset) and the kind of value. Never the value."""

    place: str
    at: str
    kind: str

    def __str__(self) -> str:
        return f"{self.place} ({self.at}): {self.kind}"


class LeakError(HandoverError):
    """Customer values were found where they must not be; the message names the places, not the values, and
    says what happened to the data and what the user can do (``what_now``)."""

    def __init__(self, report: LeakReport, what_now: str = "") -> None:
        self.report = report
        super().__init__(report.render() + (f"\n{what_now}" if what_now else ""))


@dataclass
class LeakReport:
    """Hits counted per place and kind, with the first few of each place kept as examples."""

    examples_per_place: int = 5
    counts: Counter = field(default_factory=Counter)  # (place, kind) → hits
    findings: list[Finding] = field(default_factory=list)
    scanned: Counter = field(default_factory=Counter)  # what was searched: "columns", "rows", "files", …
    notes: list[str] = field(default_factory=list)

    def add(self, place: str, at: str, kind: str) -> None:
        self.counts[(place, kind)] += 1
        if sum(1 for f in self.findings if f.place == place) < self.examples_per_place:
            self.findings.append(Finding(place, at, kind))

    @property
    def clean(self) -> bool:
        return not self.counts

    def per_place(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (place, kind), n in sorted(self.counts.items()):
            out.setdefault(place, {})[kind] = n
        return out

    def summary(self) -> dict:
        return {"hits": sum(self.counts.values()), "places": self.per_place(), "scanned": dict(self.scanned),
                "notes": list(self.notes)}

    def render(self) -> str:
        scanned = ", ".join(f"{n} {what}" for what, n in sorted(self.scanned.items())) or "nothing"
        lines = [f"leak scan: searched {scanned}"] + [f"  note: {n}" for n in self.notes]
        if self.clean:
            return "\n".join([*lines, "no customer identifier or name found"])
        lines.append(f"{sum(self.counts.values())} customer value(s) found in {len(self.per_place())} place(s) "
                     "(the values are not shown):")
        for place, kinds in self.per_place().items():
            lines.append(f"  {place}: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
            lines += [f"    at {f.at}: {f.kind}" for f in self.findings if f.place == place]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Places: files, named values, the database
# --------------------------------------------------------------------------------------------------

_OVERLAP = 256  # characters a long line's windows share: a value across a window's edge is still whole in one


def scan_files(paths: Iterable[str | Path], needles: Needles, report: LeakReport | None = None) -> LeakReport:
    """Every line of every regular file (log files, the manifest, the checklist); a missing file, or one that
    is not a regular file (``/dev/zero``, a FIFO: never opened), is noted. A line longer than the
    ``log_line_chars`` limit is scanned in overlapping windows of that size: memory never grows with it."""
    from handover.limits import limit
    from handover.sources import file_type

    report = report if report is not None else LeakReport()
    window = limit("log_line_chars")
    for path in paths:
        path = Path(path)
        kind = file_type(path)
        if kind != "regular file":
            report.notes.append(f"{path}: not scanned ({kind}, not a regular file)")
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                report.scanned["files"] += 1
                number, tail, at, seen = 1, "", 0, set()  # at: where this window starts in its line
                while piece := fh.readline(window):
                    text = tail + piece
                    for found, offset in scan_text(text, needles):
                        if (found, at + offset) not in seen:  # a window's overlap is not reported twice
                            seen.add((found, at + offset))
                            report.add(str(path), f"line {number}", found)
                    if piece.endswith("\n"):
                        number, tail, at, seen = number + 1, "", 0, set()
                    else:  # the same line goes on: keep its end, so a value across the edge is seen whole
                        at += len(text) - min(_OVERLAP, len(text))
                        tail = text[-_OVERLAP:]
        except OSError as exc:
            report.notes.append(f"{path}: not readable ({exc.strerror or type(exc).__name__})")
    return report


def scan_values(named: Mapping[str, object], needles: Needles, report: LeakReport | None = None) -> LeakReport:
    """Named values (XCom: ``task/key`` → value); a value that is not text is scanned as its JSON."""
    report = report if report is not None else LeakReport()
    for name, value in named.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        report.scanned["values"] += 1
        for kind, offset in scan_text(text, needles):
            report.add(f"xcom {name}", f"offset {offset}", kind)
    return report


_TEXT_COLUMNS = """
WITH cols AS (
    SELECT n.nspname AS schema, c.relname AS rel, c.oid AS relid, c.relkind, c.relispartition,
           a.attname AS col, a.attnum,
           coalesce(nullif(t.typbasetype, 0), t.oid) AS typid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
      AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY(%(schemas)s::text[]))
)
SELECT cols.schema, cols.rel, cols.relkind, cols.col
FROM cols
JOIN pg_type b ON b.oid = cols.typid
LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
WHERE (b.typcategory = 'S' OR b.typname IN ('json', 'jsonb', 'xml')
       OR e.typcategory = 'S' OR e.typname IN ('json', 'jsonb', 'xml'))
  AND (%(role)s::name IS NULL OR (has_schema_privilege(%(role)s::name, cols.schema, 'USAGE')
                                  AND has_column_privilege(%(role)s::name, cols.relid, cols.attnum, 'SELECT')))
  -- a partition is read through its parent, unless the role may read the partition only
  AND (NOT cols.relispartition OR (%(role)s::name IS NOT NULL
       AND NOT has_table_privilege(%(role)s::name, pg_partition_root(cols.relid), 'SELECT')))
ORDER BY cols.schema, cols.rel, cols.attnum
"""


def readable_columns(conn, role: str | None, schemas: Iterable[str] | None = None) -> dict[tuple[str, str, str],
                                                                                            list[str]]:
    """(schema, relation, relkind) → its text-like columns `role` may read (every one when role is None)."""
    with conn.cursor() as cur:
        cur.execute(_TEXT_COLUMNS, {"role": role, "schemas": None if schemas is None else list(schemas)})
        out: dict[tuple[str, str, str], list[str]] = {}
        for schema, rel, relkind, col in cur.fetchall():
            out.setdefault((schema, rel, relkind), []).append(col)
    return out


TOKEN = r"^tok_[0-9a-f]{16}$"  # a pseudonym token (`handover.pii.operators`): an HMAC, it holds no value


def _place(relkind: str):
    """Where a row is: its partition and ctid for a heap relation; nothing for a view (rows are numbered)."""
    from psycopg2 import sql

    heap = relkind in ("r", "p", "m")
    return sql.SQL("tableoid::regclass::text || ' ctid ' || ctid::text") if heap else sql.SQL("NULL")


def _scan_column(conn, schema: str, rel: str, relkind: str, column: str, needles: Needles, report: LeakReport,
                 chunk_rows: int) -> None:
    """One column: skipped if it holds pseudonym tokens only (checked in SQL); otherwise each *distinct*
    value scanned once — a column of a million rows has far fewer values — and the rows of a value that
    hits looked up to name their places."""
    from psycopg2 import sql

    table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(rel))
    value = sql.SQL("{}::text").format(sql.Identifier(column))
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT EXISTS (SELECT FROM {t} WHERE {v} IS NOT NULL) AND NOT EXISTS "
                            "(SELECT FROM {t} WHERE {v} !~ {token})").format(t=table, v=value,
                                                                               token=sql.Literal(TOKEN)))
        if cur.fetchone()[0]:
            report.scanned["token_columns"] += 1
            return
    hits: dict[str, set[str]] = {}
    general = column.endswith("_general")  # generalised values: matched as what they are
    with conn.cursor(name="handover_leak_scan") as cur:
        cur.itersize = chunk_rows
        cur.execute(sql.SQL("SELECT {v} FROM {t} WHERE {v} IS NOT NULL GROUP BY 1").format(v=value, t=table))
        for (text,) in cur:
            report.scanned["distinct_values"] += 1
            kinds = {k for k, _ in scan_text(text, needles)}
            if general and kinds and is_generalisation(text):
                kinds.discard(CUSTOMER_NAME)
            if kinds:
                hits.setdefault(text, set()).update(kinds)
    with conn.cursor() as cur:
        for text, kinds in hits.items():
            cur.execute(sql.SQL("SELECT {p} FROM {t} WHERE {v} = %s LIMIT 100").format(
                p=_place(relkind), t=table, v=value), (text,))
            for number, (where,) in enumerate(cur.fetchall(), 1):
                for kind in kinds:
                    report.add(f"{schema}.{rel}.{column}", where or f"row {number}", kind)


def scan_database(conn, needles: Needles, role: str | None = ANALYST, *, schemas: Iterable[str] | None = None,
                  report: LeakReport | None = None, chunk_rows: int = 5_000) -> LeakReport:
    """Every text-like column of every relation `role` may read (None: every relation of `schemas`, or of
    every schema but PostgreSQL's own). A role that does not exist is scanned as what it would read: the
    ``analytics`` schema, if there is one. Reads only; the transaction is rolled back at the end."""
    from psycopg2 import sql

    report = report if report is not None else LeakReport()
    autocommit = conn.autocommit
    if autocommit:
        conn.autocommit = False  # server-side cursors live in a transaction
    try:
        if role is not None:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                missing = cur.fetchone() is None
                cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (ANALYTICS_SCHEMA,))
                present = cur.fetchone() is not None
            if missing:
                report.notes.append(f"role {role} does not exist: scanned what it would read, schema "
                                    f"{ANALYTICS_SCHEMA}" + ("" if present else " — which does not exist either"))
                role, schemas = None, [ANALYTICS_SCHEMA]
        places = readable_columns(conn, role, schemas)
        if role == ANALYST and schemas is None:
            # the analytics schema is the analysts' whether or not this database has granted it yet (roles
            # are cluster-wide, grants per database): scanned in full as well
            for place, columns in readable_columns(conn, None, [ANALYTICS_SCHEMA]).items():
                places[place] = sorted(set(places.get(place, [])) | set(columns))
        for (schema, rel, relkind), columns in places.items():
            report.scanned["tables"] += 1
            report.scanned["columns"] += len(columns)
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(rel)))
                report.scanned["rows"] += cur.fetchone()[0]
            for column in columns:
                _scan_column(conn, schema, rel, relkind, column, needles, report, chunk_rows)
    finally:
        conn.rollback()
        if autocommit:
            conn.autocommit = True
    return report


# --------------------------------------------------------------------------------------------------
# Before the load: the run's staged analytics values
# --------------------------------------------------------------------------------------------------

def staged_text_columns(entity: str) -> list[tuple[str, str]]:
    """(analytics column, how it is made) of the text an analyst will read: masked free text, generalised
    values, masks and kept text — not tokens or keys (an HMAC holds no value)."""
    from handover.analytics import analytics_columns

    return [(c.name, c.how) for c in analytics_columns(entity)
            if c.sql_type == "text" and c.how in ("masked", "general", "mask", "kept")]


def scan_staged(conn, contract: Contract, tag: str, needles: Needles, report: LeakReport,
                thresholds: dict[str, float] | None = None) -> list:
    """The analytics values this run would load (its staged, loaded rows), before anything is committed:
    every export identifier and customer name (`scan_text`, a generalised value matched as what it is),
    and a second opinion on residual personal data (`handover.residual`: third parties' names, phones,
    identifiers the export does not hold). Hits go to ``report``; returns the residual verdicts over their
    thresholds (place, kinds and rates, example lines — never a value)."""
    from psycopg2 import sql

    from handover import analytics, residual
    from handover.store import staging

    over = []
    limits = thresholds or residual.THRESHOLDS
    with conn.cursor() as cur:
        for entity in contract.entities:
            rows = staging.loaded(entity, tag)
            spec = contract.entities[entity]
            for column, how in staged_text_columns(entity):
                staged = sql.Identifier(analytics.STAGED_PREFIX + column)
                place = f"analytics.{entity}.{column}"
                cur.execute(sql.SQL("SELECT {c}, count(*), min(source_line) FROM {r} s WHERE {c} IS NOT NULL "
                                    "GROUP BY 1").format(c=staged, r=rows))
                verdict = residual.ColumnVerdict(place)
                for text, n, line in cur.fetchall():
                    report.scanned["staged_values"] += 1
                    kinds = {k for k, _ in scan_text(text, needles)}
                    if how == "general" and kinds and is_generalisation(text):
                        kinds.discard(CUSTOMER_NAME)
                    for kind in kinds:
                        report.add(place, f"{spec.source.file} line {line}", kind)
                    if how in ("masked", "kept"):
                        verdict.values += n
                        for kind in residual.suspicions(text):
                            verdict.suspected[kind] += n
                            if len(verdict.examples) < 5:
                                verdict.examples.append(f"{spec.source.file} line {line}")
                report.scanned["staged_columns"] += 1
                if verdict.over(limits):
                    over.append(verdict)
    return over


class StagedLeakError(LeakError):
    """The analytics values a run staged hold personal data: the load was stopped before it began."""

    def __init__(self, report: LeakReport, residual_over: list) -> None:
        self.residual = residual_over
        lines = [report.render() if not report.clean else "leak scan of the staged analytics values: no "
                 "export identifier or customer name found"]
        for v in residual_over:
            kinds = ", ".join(f"{k} in {n} of {v.values} values ({n / max(v.values, 1):.2%})"
                              for k, n in sorted(v.suspected.items()) if k in v.over())
            lines.append(f"  second opinion (handover.residual): {v.place}: suspected {kinds}; e.g. at "
                         + "; ".join(v.examples[:3]))
        lines.append("Nothing was loaded: the vault and the analytics tier are as they were before this run, no "
                     "manifest is published, and this run's staged rows are removed when it ends.")
        if not report.clean:
            lines.append("What to do about the export's own values above (its customers' names and identifiers, "
                         "which an analyst must never read): mask them — analytics.masking in the contract, e.g. "
                         "a column rule for a kept column, or a text rule for free text — and run again. They "
                         "cannot be declared false alarms.")
        if residual_over:
            lines.append("What to do about the second opinion's suspicions above (not the export's values, but "
                         "what looks like a name, phone or identifier): if they are personal data the masking "
                         "missed, mask it (analytics.masking in the contract) and run again; if they are false "
                         "alarms, raise that column's rate in the contract (analytics.residual: {<kind>: <rate>}) "
                         "and run again.")
        self.report = report
        HandoverError.__init__(self, "\n".join(lines))
