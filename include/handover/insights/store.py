"""Where the insights are published and read back: ``insights.runs`` (one per as-of day: the k, the
thresholds, the models' fingerprint, counts) and ``insights.segments`` (its cells; a suppressed cell has no
count). The analyst role reads both; the Handover page draws them; :func:`csv_text` is the analysts'
download (every cell neutralised against spreadsheet formulas).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from psycopg2.extras import execute_values

from handover.insights import models
from handover.insights.suppression import ALL, Cell
from handover.repair import neutralise

CSV_COLUMNS = ("as_of", "branch_id", "region", "dimension", "segment", "customers", "suppressed", "min_k")


def publish(conn, *, as_of: dt.date, min_k: int, thresholds: dict, cells: list[Cell], computed_by: str) -> int:
    """One transaction: the day's earlier run replaced by this one. Returns the run's id."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM insights.segments WHERE run_id IN (SELECT id FROM insights.runs WHERE as_of = %s)",
                    (as_of,))
        cur.execute("DELETE FROM insights.runs WHERE as_of = %s", (as_of,))
        customers = sum(c.customers for c in cells if c.dimension == "customers" and c.region == ALL)
        cur.execute("INSERT INTO insights.runs (as_of, min_k, thresholds, models, models_sha256, branches, "
                    "customers, cells, suppressed, computed_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "RETURNING id",
                    (as_of, min_k, json.dumps(thresholds), models.names(), models.fingerprint(),
                     sorted({c.branch_id for c in cells}), customers, len(cells),
                     sum(c.suppressed for c in cells), computed_by))
        run_id = cur.fetchone()[0]
        execute_values(cur, "INSERT INTO insights.segments (run_id, as_of, branch_id, region, dimension, segment, "
                            "customers, suppressed) VALUES %s",
                       [(run_id, as_of, *c.place, c.published, c.suppressed) for c in cells], page_size=2000)
    conn.commit()
    return run_id


def latest_cells(conn, *, as_of: dt.date | None = None) -> tuple[dict | None, list[dict]]:
    """The run of ``as_of`` (default: the latest) and its cells, as published."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('insights.runs') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None, []
        cur.execute("SELECT id, as_of, min_k, customers, cells, suppressed, computed_at FROM insights.runs "
                    + ("WHERE as_of = %s " if as_of else "") + "ORDER BY as_of DESC LIMIT 1",
                    (as_of,) if as_of else None)
        row = cur.fetchone()
        if row is None:
            return None, []
        run = dict(zip(("id", "as_of", "min_k", "customers", "cells", "suppressed", "computed_at"), row,
                       strict=True))
        cur.execute("SELECT branch_id, region, dimension, segment, customers, suppressed FROM insights.segments "
                    "WHERE run_id = %s ORDER BY branch_id, region, dimension, segment", (run["id"],))
        cells = [dict(zip(("branch_id", "region", "dimension", "segment", "customers", "suppressed"), r, strict=True))
                 for r in cur.fetchall()]
    return run, cells


def trend(conn, *, dimension: str = "activity", runs: int = 30) -> list[dict]:
    """Per as-of day (oldest first), the whole store's published branch-level cells of one dimension:
    ``{"as_of": …, "segments": {segment: customers}}`` (a suppressed cell is left out of the sum and named
    in ``"suppressed"``)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('insights.runs') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT r.as_of, s.segment, sum(s.customers), bool_or(s.suppressed) FROM "
                    "(SELECT id, as_of FROM insights.runs ORDER BY as_of DESC LIMIT %s) r "
                    "JOIN insights.segments s ON s.run_id = r.id AND s.region = %s AND s.dimension = %s "
                    "GROUP BY 1, 2 ORDER BY 1, 2", (runs, ALL, dimension))
        out: dict[dt.date, dict] = {}
        for day, segment, n, hidden in cur.fetchall():
            entry = out.setdefault(day, {"as_of": day.isoformat(), "segments": {}, "suppressed": []})
            entry["segments"][segment] = int(n or 0)
            if hidden:
                entry["suppressed"].append(segment)
    return list(out.values())


def csv_text(conn, *, as_of: dt.date | None = None) -> str | None:
    """The published aggregates of one run as CSV (UTF-8 with BOM, for spreadsheets); None without a run.
    Every cell neutralised: a segment or region named like a formula stays text."""
    run, cells = latest_cells(conn, as_of=as_of)
    if run is None:
        return None
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for c in cells:
        writer.writerow([neutralise(v) for v in (run["as_of"].isoformat(), c["branch_id"], c["region"],
                                                 c["dimension"], c["segment"],
                                                 "" if c["customers"] is None else c["customers"],
                                                 "yes" if c["suppressed"] else "", run["min_k"])])
    return out.getvalue()
