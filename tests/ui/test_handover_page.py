"""The "Handover" page through the real Airflow API app (``airflow.api_fastapi.app.create_app``, plugins from
``plugins/``), against a real store: the sample branch transferred (and dry-run), backed up twice, checked,
drilled, purged (dry run) and with erasure requests and a legal hold.

- without a token every route answers 401 (a forged token 403, an expired one 401);
- a signed-in user whose role does not grant the Handover view (no role at all) gets 403 on every route,
  and sees nothing of the store; every SimpleAuthManager role from Viewer up is granted it;
- hostile path parameters (NUL, control characters, very long, ``..``, unicode) answer 404, never 500;
- with a JWT from Airflow's auth manager — as a Bearer header, or as the ``_token`` cookie the UI uses —
  the page and its JSON show the transfer's counts as the signed manifest has them;
- no customer value appears, not even one planted in an error message or a legal hold's reason;
- the page loads nothing from anywhere (no http(s):// at all, no script) and draws its charts as SVG;
- the manifest download is the stored text byte for byte, and its signature verifies;
- an unreachable or unconfigured store is a 503 with a message, no traceback;
- :mod:`handover.overview` on a store with nothing in it gives empty lists.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
import os
import re
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import psycopg2
import pytest
from handover import overview
from psycopg2.extensions import parse_dsn

from tests.conftest import scratch_database
from tests.support.airflow_api import token as _token
from tests.support.stores import SIGNING_KEY, airflow_connection
from tests.support.stores import run_context as _ctx
from tests.support.stores import sample_identifiers as _identifiers

BRANCH = "SH-PD-0042"
RUN = "manual__2026-11-30T07:18:09.610996+00:00"  # as Airflow names a run: colons and a plus to quote
DRY_RUN = "manual__2026-11-30T08:00:00+00:00"
PURGE_DAY = dt.date(2031, 1, 1)  # the sample's records are from 2024–2025: much is due by then
ENTITIES = ("customers", "accounts", "transactions", "interactions")


# -- the store ---------------------------------------------------------------------------------------

def _customers(folder: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((folder / "客户信息.csv").read_bytes().decode("gb18030"))))


def _backups(conn, dsn_admin: str, tmp: Path, master, planted_values: dict) -> list[str]:
    from handover.backup import ledger, snapshot
    from handover.backup.snapshot import LocalFolder
    from handover.crypto import signing_key

    dest = LocalFolder(tmp / "backups")
    taken = []
    for _ in range(2):
        start = time.monotonic()
        manifest = snapshot.take(conn, dest, master, signing_key(SIGNING_KEY))
        ledger.record_backup(conn, manifest, str(dest), time.monotonic() - start)
        backup_id = manifest["backup_id"]
        ledger.checked(conn, backup_id, "quick", lambda b=backup_id: snapshot.verify(dest, b, sample=3))
        taken.append(backup_id)
        time.sleep(1.1)  # backup ids are per second
    newest = taken[-1]
    ledger.checked(conn, newest, "keys", lambda: snapshot.check_keys(dest, newest, master))
    ledger.checked(conn, newest, "drill", lambda: ledger.drill(dsn_admin, dest, newest, master))
    # A failed check and a failed restore whose messages carry customer values, as a careless error could:
    # the page must show neither value.
    ledger.record_check(conn, taken[0], "full", False, 0.4,
                        error=f'invalid input syntax for type date: "{planted_values["mobile"]}"\n'
                              f'DETAIL:  Failing row contains ({planted_values["name"]}).')
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.restores (backup_id, target, tables, overwrite, requested_by, status, "
                    "finished_at, seconds, rows) VALUES (%s, 'handover_target', NULL, true, 'ops-admin', 'success', "
                    "clock_timestamp(), 2.5, %s)", (newest, json.dumps({"vault.customers": 170, "ops.runs": 2})))
        cur.execute("INSERT INTO control.restores (backup_id, target, tables, overwrite, requested_by, status, "
                    "finished_at, seconds, error) VALUES (%s, 'handover_target', %s, false, 'ops-admin', 'failed', "
                    "clock_timestamp(), 0.3, %s)",
                    (taken[0], ["vault.customers"],
                     ('duplicate key value violates unique constraint "customers_pkey" '
                      f"Key (branch_id, customer_id)=({BRANCH}, {planted_values['id_number']}) already exists")))
    conn.commit()
    return taken


def _retention(conn, master, people: list[dict]) -> dict:
    from handover.crypto import Hasher
    from handover.purge import erasure, rules
    from handover.purge import store as purge_store
    from handover.store.keys import get_or_create

    records = purge_store.purge_vault(conn, PURGE_DAY, held_branches=set(), held_customers=set(), dry_run=True)
    housekeeping = purge_store.purge_ops(conn, PURGE_DAY, rules.housekeeping({}), held_branches=set(), dry_run=True)
    conn.rollback()  # a dry run: exactly what the DAG's purge_records records, nothing deleted
    counts = {"records": records, "housekeeping": housekeeping, "held": {"branches": [], "customers": 0}}
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.purges (dry_run, today, counts, status, finished_at) "
                    "VALUES (true, %s, %s, 'dry_run', clock_timestamp())", (PURGE_DAY, json.dumps(counts)))
    conn.commit()
    hasher = Hasher(get_or_create(conn, master, "blind_index")[1])
    erased, pending, held = people[0], people[1], people[2]
    erasure.file_request(conn, hasher, "mobile", erased["手机号码"], branch_id=None, basis="individual_request",
                         requested_by=erased["姓名"])  # who asked: never shown
    erasure.file_request(conn, hasher, "mobile", "13912345678", branch_id=None, basis="consent_withdrawn",
                         requested_by="branch office")
    decided = erasure.carry_out(conn, hasher, PURGE_DAY)
    erasure.file_request(conn, hasher, "customer_id", pending["客户编号"], branch_id=BRANCH,
                         basis="individual_request", requested_by="branch office")
    erasure.place_hold(conn, hasher, reason=f"诉讼保全 {held['姓名']} {held['证件号码']}", placed_by="legal",
                       kind="mobile", value=held["手机号码"])
    return {"decided": decided, "per_class": sum(r.get("deleted", 0) for r in records + housekeeping)}


INSIGHT_DAYS = (dt.date(2025, 1, 31), dt.date(2025, 3, 31))


def _insights(conn, dsn: str) -> list[dict]:
    """Two insight runs (a trend), under k = 5."""
    from handover import insights
    from handover.store import roles

    roles.ensure_roles(conn, parse_dsn(dsn)["dbname"])
    return [insights.compute(conn, as_of=day, min_k=5, computed_by="test") for day in INSIGHT_DAYS]


@pytest.fixture(scope="module")
def store(pg_admin_dsn, sample_export, sample_contract, tmp_path_factory):
    """One store for the module (a transfer is the slow part): the sample transferred under an Airflow-style
    run id, a dry run of it, two backups with checks and a drill, restores, a purge, erasures, a hold."""
    from handover import local_run
    from handover.crypto import MasterKey

    folder, planted = sample_export
    master_text = base64.b64encode(os.urandom(32)).decode()
    tmp = tmp_path_factory.mktemp("ui-store")
    with scratch_database(pg_admin_dsn, f"handover_test_ui_{uuid.uuid4().hex[:10]}") as dsn:
        result = local_run.run_all(_ctx(dsn, master_text, sample_contract, folder, tmp, RUN))
        manifest = json.loads(Path(result["manifest"]).read_text())
        local_run.run_all(_ctx(dsn, master_text, sample_contract, folder, tmp, DRY_RUN, dry_run=True))
        master = MasterKey.from_text(master_text)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT customer_id FROM vault.customers WHERE mobile_bidx IS NOT NULL "
                        "AND id_number_bidx IS NOT NULL ORDER BY customer_id")
            indexed = {r[0] for r in cur.fetchall()}
        people = [r for r in _customers(folder) if r["客户编号"].strip() in indexed]
        planted_values = {"mobile": people[3]["手机号码"], "name": people[3]["姓名"],
                          "id_number": people[3]["证件号码"]}
        conn = psycopg2.connect(dsn)
        try:
            backups = _backups(conn, pg_admin_dsn, tmp, master, planted_values)
            retention = _retention(conn, master, people)
            insight_runs = _insights(conn, dsn)
        finally:
            conn.close()
        secret_values = _identifiers(folder) + [v for p in people[:4] for v in (p["姓名"], p["手机号码"],
                                                                                  p["证件号码"])]
        yield SimpleNamespace(dsn=dsn, manifest=manifest, planted=planted, folder=folder, backups=backups,
                              retention=retention, insights=insight_runs, secret_values=[v for v in secret_values if len(v) >= 2])


# -- the Airflow API app -------------------------------------------------------------------------------

@pytest.fixture
def client(api, store, monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_TARGET", airflow_connection(store.dsn))
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_SIGNING_KEY", SIGNING_KEY)
    with TestClient(api) as c:  # with its lifespan, as the API server runs it
        yield c


def _bearer() -> dict:
    return {"Authorization": f"Bearer {_token()}"}


def _paths() -> list[str]:
    run = quote(RUN, safe="")
    return ["/handover/", "/handover/api/overview", f"/handover/manifests/{run}",
            f"/handover/manifests/{run}/signature", f"/handover/manifests/{run}/public-key", "/handover/insights.csv"]


class _Rows(HTMLParser):
    """Every table row of a page, as the text of its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _rows(page: str) -> list[list[str]]:
    parser = _Rows()
    parser.feed(page)
    return parser.rows


def _n(text: str) -> int:
    return int(text.replace(",", ""))


# -- authentication ----------------------------------------------------------------------------------

def test_every_route_answers_401_without_a_token(client):
    for path in _paths():
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "Not authenticated"}, path
    # A browser without a session gets a sign-in page, still 401.
    response = client.get("/handover/", headers={"Accept": "text/html"})
    assert response.status_code == 401 and "Sign in" in response.text


def test_the_dependency_is_app_wide_so_no_route_can_forget_it(client):
    """Every route of the mounted app, present and future, is behind Airflow's get_user; FastAPI's docs and
    OpenAPI routes (which app-wide dependencies do not cover) are not served at all."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.routing import APIRoute

    sub = next(r.app for r in client.app.routes if getattr(r, "path", None) == "/handover")
    handover_app = sub.app  # the lazy wrapper builds the FastAPI app on first use
    assert get_user in [d.dependency for d in handover_app.router.dependencies]
    routes = [r for r in handover_app.routes if isinstance(r, APIRoute)]
    assert {r.path for r in routes} >= {"/", "/api/overview", "/manifests/{run_id}", "/manifests/{run_id}/signature"}
    for route in routes:
        path = "/handover" + re.sub(r"\{[^}]+\}", "some-run", route.path)
        for method in route.methods:
            assert client.request(method, path).status_code == 401, (method, path)
    for path in ("/handover/docs", "/handover/redoc", "/handover/openapi.json"):
        assert client.get(path).status_code in (401, 404), path


def test_a_forged_token_is_403_and_an_expired_one_401(client):
    forged = _token()[:-4] + "AAAA"
    for path in _paths():
        assert client.get(path, headers={"Authorization": f"Bearer {forged}"}).status_code == 403, path
    expired = _token(expires_in=-3600)
    assert client.get("/handover/api/overview", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


# -- authorisation ----------------------------------------------------------------------------------

def test_a_signed_in_user_without_the_handover_view_gets_403_on_every_route(client, store):
    """Authenticated is not authorised: Airflow's auth manager decides (the custom view "Handover"), and a
    user whose role grants nothing — here none at all — sees nothing of the store, on any route."""
    from fastapi.routing import APIRoute
    from handover_airflow.ui import FORBIDDEN

    roleless = {"Authorization": f"Bearer {_token(role=None)}"}
    for path in _paths():
        response = client.get(path, headers=roleless)
        assert response.status_code == 403, path
        assert response.json() == {"detail": FORBIDDEN}, path
    page = client.get("/handover/", headers=roleless | {"Accept": "text/html"})
    assert page.status_code == 403 and "does not grant the <b>Handover</b> view" in page.text
    assert RUN not in page.text and BRANCH not in page.text and "Sign in" not in page.text
    sub = next(r.app for r in client.app.routes if getattr(r, "path", None) == "/handover")
    for route in (r for r in sub.app.routes if isinstance(r, APIRoute)):  # every route, present and future
        path = "/handover" + re.sub(r"\{[^}]+\}", quote(RUN, safe=""), route.path)
        for method in route.methods:
            assert client.request(method, path, headers=roleless).status_code == 403, (method, path)
    from fastapi.testclient import TestClient

    with TestClient(client.app, cookies={"_token": _token(role=None)}) as browser:  # the UI's cookie alike
        assert browser.get("/handover/api/overview").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "user", "op", "admin"])
def test_every_airflow_role_from_viewer_up_is_granted_the_handover_view(client, role):
    headers = {"Authorization": f"Bearer {_token(role=role)}"}
    for path in _paths():
        assert client.get(path, headers=headers).status_code == 200, (role, path)


def test_the_view_is_asked_of_the_auth_manager_by_its_name(client, monkeypatch):
    """Whatever the auth manager (FAB: "can read on Handover"), it is asked for the custom view by name."""
    from airflow.api_fastapi.app import get_auth_manager

    asked = []
    manager = get_auth_manager()

    def deny(*, method, resource_name, user):
        asked.append((method, resource_name, user.get_name()))
        return False

    monkeypatch.setattr(manager, "is_authorized_custom_view", deny)
    assert client.get("/handover/api/overview", headers=_bearer()).status_code == 403
    assert asked == [("GET", "Handover", "handover-viewer")]

    def broken(**_):
        raise KeyError("NOT_A_ROLE")

    monkeypatch.setattr(manager, "is_authorized_custom_view", broken)
    response = client.get("/handover/api/overview", headers=_bearer())
    assert response.status_code == 403 and "NOT_A_ROLE" not in response.text  # cannot decide: no


HOSTILE_RUN_IDS = ["%00", "run%00id", "%01", "%0A", "%1B%5B2J", "%7F", "x" * 251, "x" * 8000, "..", "%2E%2E",
                   "...", "%E2%80%AE", "张三", "%E5%BC%A0%E4%B8%89%F0%9F%98%80", "%FF", "%C0%AF", "%ED%A0%80",
                   "'%3B%20DROP%20TABLE%20ops.manifests%3B%20--", "%25", "%22%3E%3Cscript%3E"]


def _raw_get(app, raw_path: str, headers: dict) -> tuple[int, bytes]:
    """GET ``raw_path`` exactly as written (an HTTP client would resolve ``..`` before sending it): the ASGI
    scope a server builds from the request line, percent-decoding the path as uvicorn does."""
    import asyncio
    from urllib.parse import unquote

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": unquote(raw_path), "raw_path": raw_path.encode("utf-8"),
             "root_path": "", "query_string": b"", "server": ("testserver", 80), "client": ("testclient", 5000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()] + [(b"host", b"testserver")]}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
def test_a_hostile_run_id_answers_404_never_500(client, run_id):
    for suffix in ("", "/signature", "/public-key"):
        status, body = _raw_get(client.app, f"/handover/manifests/{run_id}{suffix}", _bearer())
        assert status in (400, 404), (run_id, suffix, status, body[:200])
        assert b"Traceback" not in body
        if len(run_id) > 250 or any(c in run_id for c in ("%0", "%1", "%7F")):  # never sent to the store
            # (a line break matches no route at all: Starlette's own 404)
            assert json.loads(body)["detail"] in ("no manifest for that run: not a run id", "Not Found"), run_id


# -- what the page shows -----------------------------------------------------------------------------

def test_page_and_json_show_the_transfers_counts_with_a_bearer_token(client, store):
    page = client.get("/handover/", headers=_bearer())
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    data = client.get("/handover/api/overview", headers=_bearer())
    assert data.status_code == 200 and data.headers["content-type"] == "application/json"
    counts = store.manifest["counts"]
    for entity, expected in store.planted["expected"].items():  # what the sample generator planted
        assert {k: counts[entity][k] for k in expected} == expected

    # JSON: the run's reconciliation is the signed manifest's, reasons split into quarantine and exclusion.
    run = next(t for t in data.json()["transfers"] if t["run_id"] == RUN)
    assert run["branch_id"] == BRANCH and run["status"] == "success" and run["mode"] == "transfer"
    assert run["counts_source"] == "manifest" and run["counts_agree"] is True
    by_entity = {e["entity"]: e for e in run["reconciliation"]["entities"]}
    assert set(by_entity) == set(ENTITIES)
    for entity in ENTITIES:
        e, c = by_entity[entity], counts[entity]
        assert {k: e[k] for k in ("source_rows", "loaded", "quarantined", "excluded", "duplicates", "balanced")} == \
            {k: c[k] for k in ("source_rows", "loaded", "quarantined", "excluded", "duplicates", "balanced")}
        assert e["quarantined_by_reason"] | e["excluded_by_reason"] == c["reasons"]
        assert sum(e["excluded_by_reason"].values()) == c["excluded"]
    assert by_entity["customers"]["excluded_by_reason"] == {"no_consent": counts["customers"]["excluded"]}
    totals = run["reconciliation"]["totals"]
    assert totals["loaded"] == sum(counts[e]["loaded"] for e in ENTITIES)
    assert run["validation"]["failed"] >= 1 and run["validation"]["expectations"] > run["validation"]["failed"]
    assert run["manifest"]["verification"]["state"] == "valid"
    assert run["manifest"]["verification"]["trusted"] is True  # signed by the configured signing key
    dry = next(t for t in data.json()["transfers"] if t["run_id"] == DRY_RUN)
    assert dry["mode"] == "dry_run" and dry["reconciliation"]["totals"]["loaded"] == totals["loaded"]

    # The page: the run's row of totals, and each entity's row of its reconciliation.
    rows = _rows(page.text)
    main = next(r for r in rows if r[0] == RUN and len(r) == 14)
    assert [_n(v) for v in main[6:11]] == [totals[k] for k in ("source_rows", "loaded", "quarantined", "excluded",
                                                                "duplicates")]
    assert main[11] == "yes" and main[13].startswith("valid")
    for entity in ENTITIES:
        c = counts[entity]
        found = [r for r in rows if r[0] == entity and len(r) == 9]
        assert found, entity
        for r in found:  # the run and its dry run: the same export, the same counts
            assert (_n(r[1]), _n(r[2]), _n(r[3]), _n(r[5]), _n(r[7])) == \
                (c["source_rows"], c["loaded"], c["quarantined"], c["excluded"], c["duplicates"]), entity
    customers = next(r for r in rows if r[0] == "customers" and len(r) == 9)
    for reason, n in counts["customers"]["reasons"].items():  # quarantine reasons, then exclusion reasons
        assert f"{reason} {n:,}" in (customers[6] if reason == "no_consent" else customers[4]), reason

    # Backups, checks, restores, purge and erasures are there too (ids and counts).
    assert all(b in page.text for b in store.backups)
    backups = {b["backup_id"]: b for b in data.json()["backups"]}
    assert backups[store.backups[-1]]["checks"]["drill"]["ok"] is True
    assert backups[store.backups[-1]]["checks"]["keys"]["ok"] is True
    assert backups[store.backups[0]]["checks"]["full"]["ok"] is False
    assert {r["status"] for r in data.json()["restores"]} == {"success", "failed"}
    purge, = data.json()["purges"]
    assert purge["dry_run"] and purge["deleted"] == store.retention["per_class"] > 0
    erasures = data.json()["erasures"]
    assert erasures["by_state"] == {"done": 1, "no_match": 1, "pending": 1}
    assert data.json()["legal_holds"] == {"branches": [], "customers": 1}


def test_the_ui_cookie_works_like_the_bearer_header(client, store):
    from fastapi.testclient import TestClient

    with TestClient(client.app, cookies={"_token": _token()}) as browser:
        for path in _paths():
            assert browser.get(path).status_code == 200, path
        run = next(t for t in browser.get("/handover/api/overview").json()["transfers"] if t["run_id"] == RUN)
        assert run["reconciliation"]["totals"]["loaded"] == sum(store.manifest["counts"][e]["loaded"] for e in ENTITIES)
    with TestClient(client.app, cookies={"_token": "not-a-token"}) as stranger:
        assert stranger.get("/handover/").status_code == 403


def test_no_customer_value_appears(client, store):
    page = client.get("/handover/", headers=_bearer()).text
    data = client.get("/handover/api/overview", headers=_bearer())
    texts = {"page": page, "json": data.text, "json (decoded)": json.dumps(data.json(), ensure_ascii=False)}
    assert len(store.secret_values) > 50
    for name, text in texts.items():
        leaked = [v for v in store.secret_values if v in text]
        assert leaked == [], f"{len(leaked)} customer values in the {name}"
    # What was planted in error messages was masked, the messages themselves kept.
    backups = {b["backup_id"]: b for b in data.json()["backups"]}
    assert backups[store.backups[0]]["checks"]["full"]["detail"]["error"] == \
        'invalid input syntax for type date: "…"'
    failed, = (r for r in data.json()["restores"] if r["status"] == "failed")
    assert failed["error"] == ('duplicate key value violates unique constraint "customers_pkey" '
                               "Key (branch_id, customer_id)=(…) already exists")
    assert 'invalid input syntax for type date: "…"' in html.unescape(page)
    assert "match_digest" not in data.text and "requested_by" not in json.dumps(data.json()["erasures"])


def test_the_page_is_self_contained_and_draws_svg(client):
    response = client.get("/handover/", headers=_bearer())
    page = response.text
    assert re.findall(r"https?://", page, flags=re.IGNORECASE) == []  # no CDN, no external host, nothing
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert page.count("<svg") >= 2 + 3 and "<rect" in page  # transfers, backups; insights: sizes and trend and "<polyline" in page
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'self'" in policy


# -- manifests ---------------------------------------------------------------------------------------

def test_the_manifest_download_is_the_signed_text_and_its_signature_verifies(client, store):
    from handover.crypto import fingerprint, verify_signature

    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT manifest_text, signature, public_key, signer_fingerprint FROM ops.manifests "
                    "WHERE run_id = %s", (RUN,))
        text, signature, public_key, signer = cur.fetchone()
    base = f"/handover/manifests/{quote(RUN, safe='')}"
    document = client.get(base, headers=_bearer())
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/json"
    assert document.headers["content-disposition"] == \
        'attachment; filename="manifest-manual__2026-11-30T07_18_09.610996_00_00.json"'
    assert document.content == text.encode("utf-8")
    assert json.loads(document.content)["counts"] == store.manifest["counts"]
    sig = client.get(f"{base}/signature", headers=_bearer())
    assert sig.status_code == 200 and "attachment" in sig.headers["content-disposition"]
    assert sig.text.strip() == signature
    key = client.get(f"{base}/public-key", headers=_bearer())
    assert key.status_code == 200 and key.text == public_key
    assert verify_signature(key.content, document.content, sig.text.strip())
    assert fingerprint(key.content) == signer
    assert not verify_signature(key.content, document.content.replace(b'"loaded"', b'"Loaded"', 1), sig.text.strip())
    missing = client.get("/handover/manifests/no-such-run", headers=_bearer())
    assert missing.status_code == 404


# -- the store unavailable ---------------------------------------------------------------------------

def test_an_unreachable_store_is_a_503_with_a_message(client, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_TARGET", json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "nobody", "password": "s3cret-pw",
         "schema": "nowhere", "extra": {"connect_timeout": 2}}))
    for path, accept in (("/handover/", "text/html"), ("/handover/api/overview", "application/json")):
        response = client.get(path, headers=_bearer() | {"Accept": accept})
        assert response.status_code == 503, path
        assert "unreachable" in response.text and "handover_target" in response.text
        assert "Traceback" not in response.text and "s3cret-pw" not in response.text
    monkeypatch.delenv("AIRFLOW_CONN_HANDOVER_TARGET")
    response = client.get("/handover/api/overview", headers=_bearer())
    assert response.status_code == 503 and "not configured" in response.json()["detail"]


def test_a_store_error_is_a_503_that_quotes_no_value(client, monkeypatch, pg_admin_dsn, caplog):
    """A constraint violation raised while the page reads (planted: ops.runs replaced by a view whose
    function raises check_violation with a DETAIL quoting a mobile, as PostgreSQL's own DETAIL quotes a
    row) is a 503 naming the store; neither the page nor the server log holds the quoted value."""
    from handover.store import connect, schema

    with scratch_database(pg_admin_dsn, f"handover_ui_err_{uuid.uuid4().hex[:8]}") as dsn:
        with connect(dsn, "test") as conn:
            schema.ensure_schema(conn)
            with conn.cursor() as cur:
                cur.execute("""
                    CREATE FUNCTION public.planted_violation() RETURNS boolean LANGUAGE plpgsql AS $$
                    BEGIN
                      RAISE EXCEPTION 'new row for relation "runs" violates check constraint "planted"'
                        USING ERRCODE = 'check_violation', CONSTRAINT = 'planted', SCHEMA = 'ops',
                              TABLE = 'runs', DETAIL = 'Failing row contains (13912345678, 张伟).';
                    END $$;
                    ALTER TABLE ops.runs RENAME TO runs_real;
                    CREATE VIEW ops.runs AS SELECT r.* FROM ops.runs_real r
                      RIGHT JOIN (SELECT public.planted_violation() AS boom OFFSET 0) p ON p.boom;""")
            conn.commit()
        monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_TARGET", airflow_connection(dsn))
        caplog.set_level("DEBUG")
        for path, accept in (("/handover/", "text/html"), ("/handover/api/overview", "application/json")):
            response = client.get(path, headers=_bearer() | {"Accept": accept})
            assert response.status_code == 503, (path, response.text[:300])
            assert "could not be read" in response.text and "handover_target" in response.text
            assert "13912345678" not in response.text and "张伟" not in response.text
            assert "Traceback" not in response.text
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "check_violation" in logged and "planted" in logged
        assert "13912345678" not in logged and "Failing row" not in logged


# -- the plugin's registration -----------------------------------------------------------------------

def test_the_plugin_mounts_the_app_and_adds_a_nav_entry(client):
    response = client.get("/api/v2/plugins", headers=_bearer())
    assert response.status_code == 200, response.text
    plugin = next(p for p in response.json()["plugins"] if p["name"] == "handover")
    assert plugin["fastapi_apps"] == [{"app": "handover_airflow.ui.HandoverApp", "url_prefix": "/handover",
                                       "name": "Handover"}]
    view, = plugin["external_views"]
    assert view["name"] == "Handover" and view["destination"] == "nav" and view["href"] == "/handover/"
    assert client.get("/api/v2/plugins/importErrors", headers=_bearer()).json()["total_entries"] == 0


def test_the_plugin_file_imports_nothing_heavy():
    """Every Airflow component (the task runner too) imports the plugins folder: FastAPI, Airflow's security
    module, psycopg2 and the domain package wait for the page's first request in the API server."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    probe = ("import sys, airflow.plugins_manager\n"
             f"sys.path.insert(0, {str(ROOT / 'plugins')!r})\n"
             "import handover_plugin\n"
             "heavy = ('fastapi', 'psycopg2', 'airflow.api_fastapi.core_api.security', 'handover.overview')\n"
             "print('heavy:' + ','.join(m for m in heavy if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.strip().splitlines()[-1] == "heavy:"


# -- handover.overview without Airflow ---------------------------------------------------------------

def test_overview_of_a_store_with_nothing_in_it(pg_dsn):
    from handover.store import schema
    from handover_airflow import ui

    with psycopg2.connect(pg_dsn) as conn:
        bare = overview.overview(conn)  # not even the schemas: a database nobody has used yet
        assert bare["transfers"] == [] and bare["backups"] == [] and bare["restores"] == []
        assert bare["purges"] == [] and bare["erasures"] == {"by_state": {}, "total": 0, "requests": []}
        assert bare["legal_holds"] == {"branches": [], "customers": 0} and bare["schema_version"] is None
        assert overview.manifest(conn, RUN) is None
        schema.ensure_schema(conn)
        empty = overview.overview(conn)
        assert empty["schema_version"] == schema.SCHEMA_VERSION
        assert {k: empty[k] for k in ("transfers", "backups", "restores", "purges")} == \
            {"transfers": [], "backups": [], "restores": [], "purges": []}
        assert empty["erasures"]["total"] == 0 and overview.manifest(conn, RUN) is None
    json.dumps(empty)
    page = ui.render_page(empty)
    assert "No transfer has run against this store yet." in page and "No backup" in page


def test_a_tampered_manifest_does_not_verify():
    from handover.crypto import fingerprint, public_pem, sign, signing_key

    key = signing_key(SIGNING_KEY)
    text = json.dumps({"counts": {"customers": {"loaded": 1}}}, sort_keys=True)
    pem = public_pem(key).decode()
    signature = sign(key, text.encode())
    good = overview.verification(text, signature, pem, fingerprint(pem.encode()))
    assert good["state"] == "valid" and good["signature_valid"]
    assert overview.verification(text.replace("1", "2"), signature, pem)["state"] == "invalid"
    assert overview.verification(text, signature, pem, "00" * 32)["state"] == "invalid"  # not the recorded signer
    assert overview.verification(text, "not base64!", pem)["state"] == "invalid"
    assert overview.verification(text, signature, "not a key")["state"] == "invalid"
    assert overview.verification(text, None, None)["state"] == "unsigned"
    assert overview.verification(None, None, None)["state"] == "missing"
    assert overview.verification(text, signature, pem, trusted_fingerprint="ab" * 32)["trusted"] is False


@pytest.mark.parametrize(("message", "shown"), [
    ('invalid input syntax for type numeric: "¥1,234.50"', 'invalid input syntax for type numeric: "…"'),
    (('new row for relation "customers_sh" violates check constraint "customers_branch"\n'
      "DETAIL:  Failing row contains (SH-PD-0042, C0001, 张三)."),
     'new row for relation "customers_sh" violates check constraint "customers_branch"'),
    ("Key (branch_id, customer_id)=(SH-PD-0042, C0001) already exists",
     "Key (branch_id, customer_id)=(…) already exists"),
    ("20261130T071836Z-700566/vault.customers.csv.z.enc: missing, the manifest says 1024",
     "20261130T071836Z-700566/vault.customers.csv.z.enc: missing, the manifest says 1024"),
    (None, None),
])
def test_error_messages_are_shown_without_values(message, shown):
    assert overview.safe_message(message) == shown


# -- customer insights --------------------------------------------------------------------------------

def test_the_page_draws_the_insights_sizes_and_trend_and_offers_the_csv(client, store):
    page = client.get("/handover/", headers=_bearer()).text
    data = client.get("/handover/api/overview", headers=_bearer()).json()["insights"]
    assert data["run"]["as_of"] == INSIGHT_DAYS[-1].isoformat() and data["run"]["min_k"] == 5
    assert [t["as_of"] for t in data["trend"]] == [d.isoformat() for d in INSIGHT_DAYS]
    assert 'aria-label="Activity classes over time"' in page and 'aria-label="Activity classes of branch' in page
    assert all(n is None or n >= 5 for by_branch in data["sizes"].values() for sizes in by_branch.values()
               for n in sizes.values())
    for segment, n in data["sizes"]["activity"]["SH-PD-0042"].items():
        if n is not None:
            assert f"{segment}: {n:,} customers" in page
    response = client.get("/handover/insights.csv", headers=_bearer())
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == store.insights[-1]["cells"]
    assert all(int(r["customers"]) >= 5 for r in rows if r["customers"])
    assert not [v for v in store.secret_values if v in response.text]
