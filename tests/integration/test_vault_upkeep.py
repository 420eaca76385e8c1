"""Data upkeep on the transferred sample (`handover.upkeep`): records that no longer pass today's checks
(a stored value that fails, a rule added to a suite), expired identity documents, customers of two branches
who share an ID number, contacts that bounced — each counted exactly, in chunks or not; recorded once per
month (a re-run replaces); remediation items that close themselves when the finding is gone; a report and a
page section with no customer value."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import psycopg2
import pytest
from handover import overview, quality, review, upkeep
from handover.quality import Validator
from handover.store.keys import Keyring

from tests.support.stores import sample_identifiers as _identifiers
from tests.support.upkeep import OTHER, TODAY, _plant


@pytest.fixture
def store(transferred):
    ctx = transferred[0]
    return ctx.dsn, ctx.master_key


def _survey(dsn, master, today=TODAY, **kw) -> upkeep.Survey:
    with psycopg2.connect(dsn) as conn:
        return upkeep.survey(conn, master, today, **kw)


def _keys(items, kind) -> dict[tuple, tuple]:
    return {(i.branch_id, i.key): i.reasons for i in items if i.kind == kind}


def _stricter(tmp_path, monkeypatch) -> Validator:
    """Today's rules: the customers' suite now says every customer has an e-mail (a rule added since the
    transfer)."""
    folder = tmp_path / "suites"
    if folder.exists():  # rules changed once already in this test
        return Validator()
    shutil.copytree(quality.SUITES_DIR, folder)
    suite = json.loads((folder / "customers.json").read_text(encoding="utf-8"))
    suite["expectations"].append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"},
                                  "meta": {"reason": "missing_email"}})
    (folder / "customers.json").write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(quality, "SUITES_DIR", folder)
    return Validator()


def test_the_sample_as_transferred_passes_every_look(store):
    dsn, master = store
    s = _survey(dsn, master)
    assert s.counts["revalidation"]["checked"] > 1000 and s.items == []
    assert upkeep.open_items(s.counts) == dict.fromkeys(upkeep.KINDS, 0)


def test_planted_findings_are_counted_exactly_in_chunks_or_not(store, tmp_path, monkeypatch):
    dsn, master = store
    planted = _plant(dsn, master)
    branch = planted["branch"]
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers")
        customers = cur.fetchone()[0]
        cur.execute("SELECT branch_id, customer_id FROM vault.customers WHERE email_enc IS NULL")
        no_email = set(cur.fetchall())
    assert 0 < len(no_email) < customers

    whole = _survey(dsn, master)
    chunked = _survey(dsn, master, chunk_rows=25)
    assert chunked.counts["revalidation"]["entities"]["customers"]["chunks"] == -(-customers // 25)
    for s in (whole, chunked):
        assert _keys(s.items, "revalidation") == {(branch, planted["bad"]): ("mobile:invalid_mobile",)}
        assert s.counts["revalidation"]["entities"]["customers"]["reasons"] == {"mobile:invalid_mobile": 1}
        assert s.counts["revalidation"]["failing"] == 1
        assert _keys(s.items, "expired_document") == {(branch, planted["expired"]): ("id_expiry:expired_resident_id",)}
        assert s.counts["merge_candidate"] == {"groups": 1, "customers": 2, "by_identifier": {"id_number": 1}}
        assert set(_keys(s.items, "merge_candidate")) == {(branch, planted["shared"]), (OTHER, "X-0001")}
        assert _keys(s.items, "bounced_contact") == {(branch, planted["bounced"]): ("mobile:sms_bounced",)}
    assert {i.group for i in whole.items if i.kind == "merge_candidate"} == {1}

    # a rule added since: every customer without an e-mail no longer passes, with that reason
    ruled = _survey(dsn, master, validator=_stricter(tmp_path, monkeypatch), entities=("customers",))
    failing = _keys(ruled.items, "revalidation")
    expected = no_email | {(branch, planted["bad"])}
    assert set(failing) == expected
    # the list is bounded, the counts are not
    capped = _survey(dsn, master, validator=_stricter(tmp_path, monkeypatch), entities=("customers",), listed=3)
    assert len(_keys(capped.items, "revalidation")) == 3
    assert capped.counts["revalidation"]["failing"] == len(expected)
    assert ruled.counts["revalidation"]["entities"]["customers"]["reasons"]["email:missing_email"] == len(no_email)
    # the day before the document expires, it has not
    assert _survey(dsn, master, TODAY - dt.timedelta(days=1)).counts["expired_document"]["expired"] == 0


def _remediation(dsn) -> dict:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT check_name, status, reopened FROM control.remediation WHERE check_name LIKE 'upkeep%'")
        return {c: (s, r) for c, s, r in cur.fetchall()}


def _run(dsn, master, today=TODAY, **kw) -> int:
    with psycopg2.connect(dsn) as conn:
        s = upkeep.survey(conn, master, today, **kw)
        run_id = upkeep.record(conn, s, requested_by="tests")
        upkeep.remediate(conn, run_id, s.counts, None, today)
    return run_id


def test_a_rerun_of_the_month_replaces_and_items_close_when_the_finding_is_gone(store):
    dsn, master = store
    planted = _plant(dsn, master)
    first = _run(dsn, master)
    items = _remediation(dsn)
    assert items == {check: ("open", 0) for check, _ in upkeep.CHECKS.values()}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT kind, count(*) FROM control.upkeep_findings GROUP BY 1")
        assert dict(cur.fetchall()) == {"revalidation": 1, "expired_document": 1, "merge_candidate": 2,
                                        "bounced_contact": 1}
        # the findings gone: the mobile corrected, the document renewed, the duplicate merged, the SMS delivered
        keys = Keyring(conn, master, planted["branch"])
        cur.execute("UPDATE vault.customers SET mobile_enc = %s WHERE branch_id = %s AND customer_id = %s",
                    (keys.cipher.encrypt("13912345678", "vault.customers.mobile"), planted["branch"], planted["bad"]))
        cur.execute("UPDATE vault.customers SET id_expiry = '9999-12-31' WHERE customer_id = %s", (planted["expired"],))
        cur.execute("DELETE FROM vault.customers WHERE branch_id = %s", (OTHER,))
        conn.commit()
    assert set(_remediation(dsn).values()) == {("open", 0)}

    again = _run(dsn, master, TODAY + dt.timedelta(days=3))  # the same month, later: replaces
    assert again == first
    items = _remediation(dsn)
    assert items.pop("upkeep_bounced_contacts") == ("open", 0)  # not corrected yet
    assert set(items.values()) == {("closed", 0)}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), max(today) FROM control.upkeep_runs")
        assert cur.fetchone() == (1, TODAY + dt.timedelta(days=3))
        cur.execute("SELECT kind, branch_id, record_key FROM control.upkeep_findings")
        assert cur.fetchall() == [("bounced_contact", planted["branch"], planted["bounced"])]
        # the customer's mobile corrected through a change file: a version with another blind index
        cur.execute("INSERT INTO vault.customer_history (branch_id, customer_id, mobile_bidx, key_id, row_hash, "
                    "version, valid_from, valid_to, changed_by_run) SELECT branch_id, customer_id, '\\x00', key_id, "
                    "row_hash, 1, loaded_at, clock_timestamp(), 'upd-1' FROM vault.customers "
                    "WHERE customer_id = %s", (planted["bounced"],))
        conn.commit()
    april = _run(dsn, master, TODAY + dt.timedelta(days=40))  # next month: a run of its own
    assert set(_remediation(dsn).values()) == {("closed", 0)}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT month FROM control.upkeep_runs ORDER BY month")
        assert [m for (m,) in cur.fetchall()] == [dt.date(2026, 3, 1), dt.date(2026, 4, 1)]
        cur.execute("SELECT run_id, count(*) FROM control.upkeep_findings GROUP BY 1")
        assert cur.fetchall() == []  # April's list is empty, and March's went with it (its counts stay)
        cur.execute("SELECT counts -> 'bounced_contact' ->> 'customers' FROM control.upkeep_runs WHERE id = %s",
                    (first,))
        assert cur.fetchone()[0] == "1"
    assert april != first
    from handover_airflow.ui import render_page

    with psycopg2.connect(dsn) as conn:
        data = overview.overview(conn)
    assert [h["month"] for h in data["upkeep"]["history"]] == ["2026-03", "2026-04"]
    assert 'aria-label="Records found per kind, month by month"' in render_page(data)


def test_the_report_and_the_page_show_counts_and_keys_but_no_value(store, sample_export):
    from handover_airflow.ui import render_page, render_upkeep_report

    dsn, master = store
    planted = _plant(dsn, master)
    _run(dsn, master)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        keys = Keyring(conn, master, planted["branch"])
        values = []
        for field in ("name", "id_number", "mobile", "address"):
            cur.execute(f"SELECT {field}_enc FROM vault.customers WHERE customer_id = ANY(%s)",
                        ([planted[k] for k in ("bad", "expired", "shared", "bounced")],))
            values += [keys.cipher.decrypt(bytes(v), f"vault.customers.{field}") for (v,) in cur.fetchall() if v]
        data = upkeep.latest(conn)
        report = render_upkeep_report(data, [i for i in review.latest(conn)["items"] if i["check"].startswith("upkeep")])
        page_data = overview.overview(conn)
    page = render_page(page_data)
    assert len(values) >= 12 and "1234567" in values  # the planted mobile, too
    assert "<svg" in report and planted["shared"] in report and "X-0001" in report and "mobile:sms_bounced" in report
    assert "upkeep_merge_candidates" in report
    assert 'id="upkeep"' in page and "<svg" in page and "X-0001" not in page  # the page: counts only
    assert page_data["upkeep"]["run"]["open"] == {"revalidation": 1, "expired_document": 1, "merge_candidate": 2,
                                                  "bounced_contact": 1}
    for text in (report, page, json.dumps(page_data, ensure_ascii=False)):
        assert [v for v in values + _identifiers(sample_export[0]) if v in text] == []


def test_erasing_a_customer_takes_him_off_the_upkeeps_list(store):
    from handover.crypto import Hasher
    from handover.purge import erasure
    from handover.store.keys import get_or_create

    dsn, master = store
    planted = _plant(dsn, master)
    _run(dsn, master)
    with psycopg2.connect(dsn) as conn:
        hasher = Hasher(get_or_create(conn, master, "blind_index")[1])
        erasure.file_request(conn, hasher, "customer_id", planted["bounced"], branch_id=planted["branch"],
                             basis="individual_request", requested_by="dpo")
        outcome, = erasure.carry_out(conn, hasher, dt.date(2030, 1, 1))  # past the sample's AML retention
        assert outcome["state"] == "done"
        with conn.cursor() as cur:
            cur.execute("SELECT kind, record_key FROM control.upkeep_findings ORDER BY 1, 2")
            listed = cur.fetchall()
    assert ("bounced_contact", planted["bounced"]) not in listed and ("revalidation", planted["bad"]) in listed
