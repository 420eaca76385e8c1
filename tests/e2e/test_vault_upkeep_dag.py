"""`vault_upkeep` through Airflow (`dag.test()`) on the transferred sample with planted findings: the month's
run recorded with its counts, remediation items opened, the report file written (charts, keys, no value); a
second run of the month replaces the first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2

from tests.support.stores import sample_identifiers as _identifiers
from tests.support.upkeep import TODAY, _plant


def test_the_monthly_upkeep_records_remediates_and_reports(dags, transferred, target, sample_export):
    ctx = transferred[0]
    planted = _plant(target, ctx.master_key)
    dag = dags.get_dag("vault_upkeep")
    assert dag is not None, dags.import_errors
    for day in (TODAY, TODAY + dt.timedelta(days=1)):
        run = dag.test(run_conf={"today": day.isoformat(), "chunk_rows": 100})
        assert run.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT month, today, counts, report_path FROM control.upkeep_runs")
        (month, today, counts, path), = cur.fetchall()
        cur.execute("SELECT kind, count(*) FROM control.upkeep_findings GROUP BY 1")
        found = dict(cur.fetchall())
        cur.execute("SELECT check_name, status FROM control.remediation WHERE check_name LIKE 'upkeep%'")
        items = dict(cur.fetchall())
    assert (month, today) == (dt.date(2026, 3, 1), TODAY + dt.timedelta(days=1))
    assert counts["revalidation"]["entities"]["customers"]["chunks"] == 2
    assert found == {"revalidation": 1, "expired_document": 1, "merge_candidate": 2, "bounced_contact": 1}
    assert set(items) == {"upkeep_revalidation", "upkeep_expired_documents", "upkeep_merge_candidates",
                          "upkeep_bounced_contacts"} and set(items.values()) == {"open"}
    report = Path(path).read_text(encoding="utf-8")
    assert path.endswith("upkeep-2026-03.html") and "<svg" in report and planted["shared"] in report
    assert [v for v in _identifiers(sample_export[0]) if v in report] == []
