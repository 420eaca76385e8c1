"""k-anonymity of the analytics customers: measured every run, enforced when a minimum k is configured.

**The quasi-identifiers** (:data:`QUASI_IDENTIFIERS`) are the analytics customer columns an outsider
could know of a person: birth band, gender, region of the address, the generalised resident ID (province,
birth year, sex) and customer type. Tokens are not among them: a token is a pseudonym, one per person by
design, the join key of the tier — whoever holds the pseudonym key can re-identify anyway. Each group of
rows with equal quasi-identifiers is a class; a row's k is its class's size (NULL is a value like any
other: unknown birth dates form one class).

**Enforcing a minimum k** (local recoding, in stages; only rows in classes below k change):

1. ``decade``: birth band 5 years → 10 years (``1990-1994`` → ``1990-1999``), and the birth year in the
   generalised resident ID likewise (``440000/1990/M`` → ``440000/1990-1999/M``; a county code becomes
   its province's) — the two must move together, or the ID would keep what the band gave up;
2. ``province``: address region city → province (``广东省深圳市`` → ``广东省``);
3. ``suppressed``: rows still below k get every quasi-identifier set to ``*`` (:data:`SUPPRESSED`).

After each stage the classes are counted again: a coarsened row may now share a class with others.
Classes of k or more never shrink, so each stage looks at fewer rows. Fully suppressed rows reveal no
quasi-identifier and are left out of ``min_k`` (they are counted as ``suppressed``). Every step is one
step coarser and idempotent, so a second run over the same rows changes nothing.

**Where it runs: SQL, over the branch's partition of ``analytics.customers``.** k is a property of the
branch's whole customer population, not of a chunk; after the load those rows are in PostgreSQL, across
every run (a re-run loads only what changed), and a GROUP BY there costs one scan of one partition —
no customer rows travel to the worker. The coarsening rules themselves stay in Python (one place, the
generalisers of :mod:`handover.pii.operators`): they are applied to the *distinct* values of the
offending rows, and PostgreSQL joins the answers back.

The report has counts only, never a value: :meth:`Report.as_dict`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from psycopg2 import sql
from psycopg2.extras import execute_values

from handover.pii.values import generalize  # not via pii.operators: that brings Presidio's anonymizer

TABLE = sql.Identifier("analytics", "customers")
KEY = "customer_token"
SUPPRESSED = "*"
_LOCK = 7_340_013  # advisory lock (with the branch's hash): one enforcement per branch at a time

QUASI_IDENTIFIERS = ("birth_date_general", "gender", "address_general", "id_number_general", "customer_type")

_YEARS = re.compile(r"([0-9]{4})(?:-[0-9]{4})?")
_ID = re.compile(r"([0-9]{2})[0-9]{4}/([0-9]{4}(?:-[0-9]{4})?)/([A-Z])")


def _readable(value: str) -> bool:
    # '*' is suppressed already; <地址>-style tags stand for a value that could not be read
    return value != SUPPRESSED and not value.startswith("<")


def birth_decade(value: str) -> str:
    """``1990-1994`` or ``1990`` → ``1990-1999``; anything else unchanged."""
    m = _YEARS.fullmatch(value)
    if not m:
        return value
    start = int(m[1]) - int(m[1]) % 10
    return f"{start}-{start + 9}"


def id_decade(value: str) -> str:
    """``440105/1990/M`` → ``440000/1990-1999/M``; anything else unchanged."""
    m = _ID.fullmatch(value)
    return f"{m[1]}0000/{birth_decade(m[2])}/{m[3]}" if m else value


def address_province(value: str) -> str:
    """``广东省深圳市`` → ``广东省`` (a city without its province cannot be placed: it becomes the tag)."""
    return generalize("CN_ADDRESS", value, "province") if _readable(value) else value


# (stage, {column: one step coarser}); suppression follows the last stage.
STAGES: tuple[tuple[str, dict[str, Callable[[str], str]]], ...] = (
    ("decade", {"birth_date_general": birth_decade, "id_number_general": id_decade}),
    ("province", {"address_general": address_province}),
)


@dataclass
class Report:
    """Counts only. ``min_k``/``classes`` after enforcement, over rows not suppressed; ``rows_below_k_before``
    is what the run found; ``coarsened`` are rows released coarser, ``suppressed`` rows suppressed by this
    run; ``distribution`` is rows by class size before enforcement."""

    k_required: int | None
    rows: int = 0
    classes: int = 0
    min_k: int | None = None
    min_k_before: int | None = None
    rows_below_k_before: int = 0
    coarsened: int = 0
    suppressed: int = 0
    suppressed_total: int = 0
    distribution: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _qi_row() -> sql.Composable:
    return sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Identifier, QUASI_IDENTIFIERS)))


def _not_suppressed() -> sql.Composable:
    stars = sql.SQL(", ").join([sql.Literal(SUPPRESSED)] * len(QUASI_IDENTIFIERS))
    return sql.SQL("{} IS DISTINCT FROM ({})").format(_qi_row(), stars)


_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 9, "5-9"), (10, 19, "10-19"), (20, None, "20+"))


def measure(cur, branch_id: str) -> tuple[int, int, int | None, dict[str, int]]:
    """(rows, classes, min k, rows by class size) over the branch's customers not suppressed."""
    buckets = sql.SQL(", ").join(
        sql.SQL("coalesce(sum(k) FILTER (WHERE k >= {}{}), 0)").format(
            sql.Literal(lo), sql.SQL("") if hi is None else sql.SQL(" AND k <= {}").format(sql.Literal(hi)))
        for lo, hi, _ in _BUCKETS)
    cur.execute(sql.SQL(
        "SELECT coalesce(sum(k), 0), count(*), min(k), {buckets} FROM ("
        "SELECT count(*) AS k FROM {table} WHERE branch_id = %s AND {kept} GROUP BY {qi}) classes"
    ).format(buckets=buckets, table=TABLE, kept=_not_suppressed(),
             qi=sql.SQL(", ").join(map(sql.Identifier, QUASI_IDENTIFIERS))), (branch_id,))
    rows, classes, min_k, *by_size = cur.fetchone()
    return int(rows), int(classes), min_k, {label: int(n) for (_, _, label), n in zip(_BUCKETS, by_size, strict=True)}


def _find_offenders(cur, branch_id: str, k: int) -> int:
    cur.execute("TRUNCATE _kanon_offenders")
    cur.execute(sql.SQL(
        "INSERT INTO _kanon_offenders SELECT {key} FROM (SELECT {key}, count(*) OVER (PARTITION BY {qi}) AS k "
        "FROM {table} WHERE branch_id = %s AND {kept}) s WHERE k < %s"
    ).format(key=sql.Identifier(KEY), qi=sql.SQL(", ").join(map(sql.Identifier, QUASI_IDENTIFIERS)),
             table=TABLE, kept=_not_suppressed()), (branch_id, k))
    return cur.rowcount


def _coarsen(cur, branch_id: str, steps: dict[str, Callable[[str], str]]) -> None:
    """One stage on the offending rows: distinct values out, their coarser forms in, joined back."""
    cur.execute("TRUNCATE _kanon_coarse")
    pairs = []
    for column, step in steps.items():
        cur.execute(sql.SQL(
            "SELECT DISTINCT c.{col} FROM {table} c JOIN _kanon_offenders o USING ({key}) "
            "WHERE c.branch_id = %s AND c.{col} IS NOT NULL"
        ).format(col=sql.Identifier(column), table=TABLE, key=sql.Identifier(KEY)), (branch_id,))
        pairs += [(column, value, step(value)) for (value,) in cur.fetchall()]
    pairs = [p for p in pairs if p[1] != p[2]]
    if not pairs:
        return
    execute_values(cur, "INSERT INTO _kanon_coarse (col, value, coarse) VALUES %s", pairs)
    coarser = {column: sql.SQL("(SELECT m.coarse FROM _kanon_coarse m WHERE m.col = {} AND m.value = c.{})").format(
        sql.Literal(column), sql.Identifier(column)) for column in steps}
    cur.execute(sql.SQL(
        "WITH u AS (UPDATE {table} c SET {sets} FROM _kanon_offenders o "
        "WHERE c.branch_id = %s AND c.{key} = o.{key} AND ({changes}) RETURNING c.{key}) "
        "INSERT INTO _kanon_changed SELECT {key} FROM u ON CONFLICT DO NOTHING"
    ).format(
        table=TABLE, key=sql.Identifier(KEY),
        sets=sql.SQL(", ").join(sql.SQL("{0} = coalesce({1}, c.{0})").format(sql.Identifier(col), expr)
                                for col, expr in coarser.items()),
        changes=sql.SQL(" OR ").join(sql.SQL("{} IS NOT NULL").format(expr) for expr in coarser.values()),
    ), (branch_id,))


def _suppress(cur, branch_id: str) -> int:
    cur.execute(sql.SQL(
        "WITH s AS (UPDATE {table} c SET {sets} FROM _kanon_offenders o "
        "WHERE c.branch_id = %s AND c.{key} = o.{key} RETURNING c.{key}), "
        "d AS (DELETE FROM _kanon_changed x USING s WHERE x.{key} = s.{key}) SELECT count(*) FROM s"
    ).format(table=TABLE, key=sql.Identifier(KEY),
             sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(col), sql.Literal(SUPPRESSED))
                                     for col in QUASI_IDENTIFIERS)), (branch_id,))
    return cur.fetchone()[0]


def enforce(conn, branch_id: str, k_required: int | None) -> Report:
    """Measure the branch's k; with ``k_required``, coarsen then suppress the rows below it. Runs in the
    caller's transaction (commit it with the load, so the tier is never seen half-enforced)."""
    if k_required is not None and (not isinstance(k_required, int) or k_required < 1):
        raise ValueError("the minimum k must be a whole number of at least 1 (anonymity.min_k in the contract)")
    report = Report(k_required)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK, branch_id))
        rows, classes, report.min_k_before, report.distribution = measure(cur, branch_id)
        if k_required is not None and k_required > 1:
            cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS _kanon_offenders ({KEY} text COLLATE "C" PRIMARY KEY) '
                        "ON COMMIT DROP")
            cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS _kanon_changed ({KEY} text COLLATE "C" PRIMARY KEY) '
                        "ON COMMIT DROP")
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS _kanon_coarse (col text, value text, coarse text, "
                        "PRIMARY KEY (col, value)) ON COMMIT DROP")
            cur.execute("TRUNCATE _kanon_changed")
            report.rows_below_k_before = _find_offenders(cur, branch_id, k_required)
            offenders = report.rows_below_k_before
            for _stage, steps in STAGES:
                if not offenders:
                    break
                _coarsen(cur, branch_id, steps)
                offenders = _find_offenders(cur, branch_id, k_required)
            if offenders:
                report.suppressed = _suppress(cur, branch_id)
            cur.execute("SELECT count(*) FROM _kanon_changed")
            report.coarsened = cur.fetchone()[0]
            rows, classes, report.min_k, _ = measure(cur, branch_id)
        else:
            report.min_k = report.min_k_before
        report.rows, report.classes = rows, classes
        cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE branch_id = %s AND NOT {}").format(
            TABLE, _not_suppressed()), (branch_id,))
        report.suppressed_total = cur.fetchone()[0]
    return report

