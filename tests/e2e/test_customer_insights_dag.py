"""`customer_insights` through Airflow (`dag.test()`) on the transferred sample: the models run as the analyst
role, the aggregates land in `insights`, suppressed below the contract's k; counts only in XCom and the audit."""

from __future__ import annotations

import psycopg2
from handover.contract import load_contract
from handover.store import roles


def test_customer_insights_publishes_suppressed_aggregates(dags, transferred, target, sample_contract, caplog):
    from psycopg2.extensions import parse_dsn

    with psycopg2.connect(target) as conn:
        roles.ensure_roles(conn, parse_dsn(target)["dbname"])
    dag = dags.get_dag("customer_insights")
    assert dag is not None, dags.import_errors
    run = dag.test(run_conf={"contract": str(sample_contract), "as_of": "2025-03-31"})
    assert run.get_state() == "success"
    k = load_contract(sample_contract).min_k
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT as_of::text, min_k, customers, cells, suppressed FROM insights.runs")
        (as_of, min_k, customers, cells, suppressed), = cur.fetchall()
        cur.execute("SELECT count(*) FROM analytics.customers")
        assert customers == cur.fetchone()[0]
        cur.execute("SELECT min(customers), count(*) FILTER (WHERE suppressed) FROM insights.segments")
        smallest, hidden = cur.fetchone()
        cur.execute("SELECT detail FROM ops.audit WHERE action = 'insights.computed'")
        (detail,), = cur.fetchall()
    assert (as_of, min_k) == ("2025-03-31", k) and smallest >= k and hidden == suppressed
    assert detail["cells"] == cells and detail["min_k"] == k
    ti = run.get_task_instance("compute_insights")
    assert ti.state == "success"
