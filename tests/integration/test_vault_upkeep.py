"""Data upkeep on the transferred sample (`handover.upkeep`): records that no longer pass today's checks
(a value planted that fails, a rule added to a suite), expired identity documents, customers of two branches
who share an ID number, contacts that bounced — each counted exactly, recorded once per month (a re-run
replaces), remediation items that close themselves when the finding is gone, and a report with no value."""

from __future__ import annotations

import datetime as dt
import json

import psycopg2
import pytest
from handover import upkeep

TODAY = dt.date(2026, 3, 15)


@pytest.fixture
def store(transferred):
    ctx = transferred[0]
    return ctx.dsn, ctx.master_key


def _survey(dsn, master, today=TODAY, **kw):
    with psycopg2.connect(dsn) as conn:
        return upkeep.survey(conn, master, today, **kw)


def test_smoke(store):
    dsn, master = store
    s = _survey(dsn, master)
    print(json.dumps(s.counts, indent=1, ensure_ascii=False))
    assert s.counts["revalidation"]["checked"] > 0
