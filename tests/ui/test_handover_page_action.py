"""The Handover page's one action, through the real Airflow API app against a real store (the transferred
sample): an operator records a customer's objection or withdrawal. The identifier travels in the form's
body only — never in a URL, the answer or a log line; a browser session (the UI's ``_token`` cookie) needs
the form's CSRF token, and a cross-site request is refused; processing stops at once."""

from __future__ import annotations

import csv
import io
import re

import psycopg2
import pytest

from tests.support.airflow_api import token as _token
from tests.support.stores import airflow_connection

BRANCH = "SH-PD-0042"


@pytest.fixture
def person(transferred, sample_export) -> dict:
    """A loaded customer with a mobile, as the export has them."""
    ctx, _, _ = transferred
    folder, _ = sample_export
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id FROM vault.customers WHERE mobile_bidx IS NOT NULL AND customer_id IN "
                    "(SELECT c.customer_id FROM vault.customers c JOIN analytics.customers a ON a.row_hash = c.row_hash)")
        loaded = {r[0] for r in cur.fetchall()}
    rows = csv.DictReader(io.StringIO((folder / "客户信息.csv").read_bytes().decode("gb18030")))
    return next(r for r in rows if r["客户编号"].strip() in loaded)


@pytest.fixture
def client(api, transferred, master_key_text, monkeypatch):
    from fastapi.testclient import TestClient

    ctx, _, _ = transferred
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_TARGET", airflow_connection(ctx.dsn))
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_MASTER_KEY", master_key_text)
    with TestClient(api, cookies={"_token": _token(role="op")}) as browser:
        yield browser


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)


def _objections(dsn: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id, kind, source, received_by FROM control.objections ORDER BY id")
        return cur.fetchall()


def test_an_operator_records_an_objection_from_the_page_and_processing_stops(client, transferred, person, caplog):
    ctx, _, _ = transferred
    page = client.get("/handover/")
    assert page.status_code == 200 and 'action="/handover/objections"' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    mobile = person["手机号码"]
    answer = client.post("/handover/objections", data={"csrf": _csrf(page.text), "kind": "objection",
                                                        "id_kind": "mobile", "identifier": mobile, "source": "letter"})
    assert answer.status_code == 200, answer.text
    assert "recorded for 1 customer" in answer.text and "erasure request" in answer.text
    assert _objections(ctx.dsn) == [(person["客户编号"].strip(), "objection", "letter", "page:handover-viewer")]
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics.customers a JOIN vault.customers c ON c.row_hash = a.row_hash "
                    "WHERE c.customer_id = %s", (person["客户编号"].strip(),))
        assert cur.fetchone()[0] == 0  # processing stopped at once
    assert mobile not in answer.text and mobile not in caplog.text and mobile not in str(answer.url)
    again = client.post("/handover/objections", data={"csrf": _csrf(page.text), "kind": "objection",
                                                       "id_kind": "mobile", "identifier": mobile})
    assert again.status_code == 200 and "had said so before" in again.text and len(_objections(ctx.dsn)) == 1
    counts = client.get("/handover/api/overview").json()["customers"]["objections"]["objection"]["by_source"]
    assert counts == {"letter": 1}


def test_a_browser_form_without_its_session_token_or_from_another_site_is_refused(client, transferred, person):
    ctx, _, _ = transferred
    form = {"kind": "withdrawal", "id_kind": "mobile", "identifier": person["手机号码"]}
    assert client.post("/handover/objections", data=form).status_code == 403
    assert client.post("/handover/objections", data=form | {"csrf": "0" * 64}).status_code == 403
    other = _token(role="op")  # another session's token is no good either
    from handover_airflow.ui import csrf_token

    assert client.post("/handover/objections", data=form | {"csrf": csrf_token(other + "x")}).status_code == 403
    good = _csrf(client.get("/handover/").text)
    refused = client.post("/handover/objections", data=form | {"csrf": good}, headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    assert _objections(ctx.dsn) == []


def test_a_bearer_client_needs_no_form_token_and_a_bad_identifier_is_told_without_its_value(client, transferred,
                                                                                             person):
    from fastapi.testclient import TestClient

    ctx, _, _ = transferred
    with TestClient(client.app) as api_client:
        headers = {"Authorization": f"Bearer {_token(role='op')}"}
        bad = api_client.post("/handover/objections", headers=headers,
                              data={"kind": "withdrawal", "id_kind": "mobile", "identifier": "12345x"})
        assert bad.status_code == 400 and "12345x" not in bad.text and "mobile" in bad.text
        nobody = api_client.post("/handover/objections", headers=headers,
                                 data={"kind": "withdrawal", "id_kind": "mobile", "identifier": "13800000000"})
        assert nobody.status_code == 404 and "13800000000" not in nobody.text
        no_branch = api_client.post("/handover/objections", headers=headers,
                                    data={"kind": "withdrawal", "id_kind": "customer_id", "identifier": "C1"})
        assert no_branch.status_code == 400
        done = api_client.post("/handover/objections", headers=headers,
                               data={"kind": "withdrawal", "id_kind": "customer_id", "branch_id": BRANCH,
                                     "identifier": person["客户编号"].strip()})
        assert done.status_code == 200, done.text
    assert [(k, s) for _, k, s, _ in _objections(ctx.dsn)] == [("withdrawal", "page")]
