"""The leak scan against a real PostgreSQL after a real transfer of the sample export: nothing found where
nothing leaked; planted leaks found and reported by their place, never with their value."""

from __future__ import annotations

import base64
import json
import uuid

import psycopg2
import pytest
from handover import cli, leaks, transfer
from handover.contract import load_contract
from psycopg2.extensions import parse_dsn

SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def transferred(transferred):
    """The context of the sample transferred into the test's store (conftest's fixture of that name)."""
    return transferred[0]


@pytest.fixture(scope="module")
def needles(sample_contract, sample_export):
    folder, _ = sample_export
    return leaks.needles_from_export(load_contract(sample_contract), folder, chunk_rows=57)


def _one(needles, kind: str, length: int) -> str:
    return min(v for v, k in needles.identifiers.items() if k == kind and len(v) == length)


def _name(needles) -> str:
    return min(n for n in needles.names if len(n) == 3)


def test_needles_hold_every_identifier_kind_and_the_names_and_show_only_counts(needles):
    counts = needles.counts()
    assert {"id_number", "mobile", "email", "card_number", "uscc", "landline", "customer name"} <= set(counts)
    assert counts["customer name"] >= 150
    assert _name(needles) not in repr(needles) and _one(needles, "mobile", 11) not in repr(needles)


@pytest.mark.parametrize(("template", "expected"), [
    ("回拨{mobile}", ["mobile"]),
    ("电话 +86 {m3}-{m4}-{m4b}，请回电", ["mobile"]),  # separators and a country code
    ("tel{mobile}", ["mobile"]),  # glued to other characters: still a leak
    ("{wide}", ["mobile"]),  # full-width digits
    ("证件 {id6} {id8} {id4}", ["id_number"]),
    ("客户{name}来电咨询", ["customer name"]),
    ('{{"note": "{escaped}"}}', ["customer name"]),  # a JSON-escaped name, as a log line may hold it
    ("{mask}", []),  # the vault's display mask is not the value
    ("{id_mask}", []),
    ("{first}*", []),  # 张*
    ("run manual__2026-01-05T12:34:56+00:00 rows 8000 sha256 9f86d081884c7d659a2feaa0c55ad015", []),
])
def test_scan_text_finds_needles_by_kind_and_offset_only(needles, template, expected):
    mobile, rid, name = _one(needles, "mobile", 11), _one(needles, "id_number", 18), _name(needles)
    text = template.format(
        mobile=mobile, m3=mobile[:3], m4=mobile[3:7], m4b=mobile[7:],
        wide=mobile.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}),
        id6=rid[:6], id8=rid[6:14], id4=rid[14:], name=name,
        escaped=json.dumps(name)[1:-1],  # \uXXXX escapes (surrogate pairs beyond the BMP)
        mask=mobile[:3] + "****" + mobile[-4:], id_mask=rid[:6] + "*" * 8 + rid[-4:], first=name[0])
    hits = leaks.scan_text(text, needles)
    assert [kind for kind, _ in hits] == expected
    assert all(isinstance(offset, int) for _, offset in hits)


def test_nothing_of_the_export_is_in_any_text_column_after_a_transfer(transferred, needles):
    with psycopg2.connect(transferred.dsn) as conn:
        everything = leaks.scan_database(conn, needles, role=None, schemas=("ops", "vault", "analytics"))
        as_analyst = leaks.scan_database(conn, needles)  # handover_analyst, or the analytics schema
    assert everything.clean, everything.render()
    assert everything.scanned["columns"] > 20 and everything.scanned["rows"] > 500
    assert as_analyst.clean, as_analyst.render()
    handed_over = sorted(transferred.output_dir("SH-PD-0042").glob("*.*[ln]"))  # manifest.json, checklist.html
    assert {p.name for p in handed_over} >= {"manifest.json", "checklist.html"}
    assert leaks.scan_files(handed_over, needles).clean


def _plant_readable_table(dsn: str, mobile: str) -> None:
    from handover.store import roles

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        cur.execute("CREATE TABLE analytics.notes (note_id int PRIMARY KEY, body text, extra jsonb)")
        cur.execute("INSERT INTO analytics.notes VALUES (1, '咨询理财产品', '{}'), (2, %s, '{\"n\": 1}')",
                    (f"客户来电，回拨 {mobile[:3]} {mobile[3:7]} {mobile[7:]}",))
        cur.execute("CREATE TABLE vault.scratch (body text)")  # the analyst cannot read the vault
        cur.execute("INSERT INTO vault.scratch VALUES (%s)", (mobile,))
    with psycopg2.connect(dsn) as conn:
        roles.ensure_roles(conn, parse_dsn(dsn)["dbname"])


def test_a_mobile_in_a_table_the_analyst_reads_is_reported_by_place_without_the_value(transferred, needles):
    mobile = _one(needles, "mobile", 11)
    _plant_readable_table(transferred.dsn, mobile)
    with psycopg2.connect(transferred.dsn) as conn:
        report = leaks.scan_database(conn, needles, "handover_analyst")
    assert report.per_place() == {"analytics.notes.body": {"mobile": 1}}  # not vault.scratch
    (finding,) = report.findings
    assert finding.at.startswith("analytics.notes ctid (")
    text = report.render()
    assert "analytics.notes.body" in text and mobile not in text and mobile[3:7] not in text


def test_a_role_that_does_not_exist_is_scanned_as_the_analytics_schema_and_said_so(transferred, needles):
    _plant_readable_table(transferred.dsn, _one(needles, "mobile", 11))
    with psycopg2.connect(transferred.dsn) as conn:
        report = leaks.scan_database(conn, needles, f"nobody_{uuid.uuid4().hex[:8]}")
    assert set(report.per_place()) == {"analytics.notes.body"}
    assert "does not exist" in report.notes[0]


def test_a_customer_name_in_a_log_file_is_found_by_line_and_a_clean_log_gives_nothing(needles, tmp_path):
    name = _name(needles)
    clean = tmp_path / "attempt=1.log"
    clean.write_text('{"event": "verify_chunk: 150 rows, 3 quarantined", "level": "info"}\n' * 3, encoding="utf-8")
    leaky = tmp_path / "attempt=2.log"
    leaky.write_text("starting\nrows 150\n" + json.dumps({"event": f"row of {name} failed"}) + "\n",
                     encoding="utf-8")  # json.dumps escapes the name as \\uXXXX, as log writers may
    report = leaks.scan_files([clean, leaky], needles)
    assert report.per_place() == {str(leaky): {"customer name": 1}}
    assert [f.at for f in report.findings] == ["line 3"]
    assert name not in report.render()
    assert leaks.scan_files([clean], needles).clean


def test_an_id_number_in_an_xcom_value_is_found_by_its_key(needles):
    rid = _one(needles, "id_number", 18)
    report = leaks.scan_values({"verify_chunk[2]/return_value": {"entity": "customers", "rows": 100},
                                "stage_chunk[0]/return_value": {"entity": "customers", "bad": [f"id {rid}"]}},
                               needles)
    assert report.per_place() == {"xcom stage_chunk[0]/return_value": {"id_number": 1}}
    assert rid not in report.render()


def test_the_step_fails_naming_the_places_and_passes_when_clean(transferred, needles, tmp_path):
    assert transfer.scan_for_leaks(transferred, {"logs": [], "xcom": {"a/return_value": {"rows": 3}}})["hits"] == 0
    name, mobile = _name(needles), _one(needles, "mobile", 11)
    log = tmp_path / "task.log"
    log.write_text(f"ok\nsent to {mobile}\n", encoding="utf-8")
    with pytest.raises(leaks.LeakError) as err:
        transfer.scan_for_leaks(transferred, {"logs": [str(log)], "xcom": {"t/return_value": f"for {name}"}})
    message = str(err.value)
    assert f"{log}: 1 mobile" in message and "xcom t/return_value: 1 customer name" in message
    assert mobile not in message and name not in message
    with psycopg2.connect(transferred.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT detail FROM ops.audit WHERE action = 'leak_scan' ORDER BY id")
        details = [d for (d,) in cur.fetchall()]
    assert [d["hits"] for d in details] == [0, 2]
    assert mobile not in json.dumps(details, ensure_ascii=False)


def test_handover_scan_exits_1_on_a_hit_and_0_when_clean(transferred, needles, sample_contract, sample_export,
                                                        capsys, tmp_path):
    folder, _ = sample_export
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "clean.log").write_text("nothing here\n", encoding="utf-8")
    args = ["scan", "--contract", str(sample_contract), "--source", str(folder), "--dsn", transferred.dsn,
            "--logs", str(logs)]
    assert cli.main(args) == 0
    assert "no customer identifier or name found" in capsys.readouterr().out
    email = min(needles.emails)
    (logs / "sub").mkdir()
    (logs / "sub" / "attempt=1.log").write_text(f"a\nb\nmail {email.upper()}\n", encoding="utf-8")
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert "attempt=1.log: 1 email" in out and "line 3" in out and email not in out.lower()


def test_through_airflow_the_final_task_scans_and_a_leak_fails_the_run_by_place(dag, target, sample_export,
                                                                               sample_contract, needles):
    folder, _ = sample_export
    conf = {"contract": str(sample_contract), "source": str(folder), "chunk_rows": 150}
    run = dag.test(run_conf=conf)
    assert run.state == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT detail FROM ops.audit WHERE action = 'leak_scan' AND run_id = %s", (run.run_id,))
        (detail,) = cur.fetchone()
    assert detail["hits"] == 0 and detail["scanned"]["values"] > 10  # the run's XCom values were read

    mobile = _one(needles, "mobile", 11)
    _plant_readable_table(target, mobile)
    run = dag.test(run_conf=conf)
    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert tis["scan_for_leaks"].state == "failed" and tis["scan_for_leaks"].try_number == 1  # not retried
    assert tis["close_work_area"].state == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM ops.runs WHERE run_id = %s", (run.run_id,))
        assert cur.fetchone() == ("failed",)
        cur.execute("SELECT detail FROM ops.audit WHERE action = 'leak_scan' AND run_id = %s", (run.run_id,))
        (detail,) = cur.fetchone()
    assert detail["places"] == {"analytics.notes.body": {"mobile": 1}}
