"""Hostile input to the command line: identifiers for `handover erase` and `handover hold place` that are not
what their kind says, several of them, bytes that are not text; manifests, signatures and keys for `handover
manifest verify` that are damaged or missing; and `handover transfer` finding a leak with its last step.

Every refusal says where (the line, the file) and why — never the value — exits non-zero, and files nothing;
nothing escapes as a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import psycopg2
import pytest
from handover import cli
from handover import manifest as manifest_mod
from handover.crypto import Hasher, fingerprint, public_pem, signing_key
from handover.store.keys import get_or_create
from handover.validators import resident_id_check_char, uscc_check_char

from tests.hostile.checks import assert_no_leak
from tests.support.stores import SIGNING_KEY, approve_pipia

MOBILE = "13800138000"
RESIDENT_ID = "11010519491231002" + resident_id_check_char("11010519491231002")
USCC = "91350100M000100Y4" + uscc_check_char("91350100M000100Y4")


@pytest.fixture
def cli_env(pg_dsn, master_key_text, monkeypatch, capsys):
    """run(argv, stdin) -> (exit code, stdout, stderr): the CLI with the master key in the environment and
    ``stdin`` (text, or bytes read through ``sys.stdin.buffer`` as a real terminal pipe gives them)."""
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)

    def run(argv: list[str], stdin: str | bytes = "") -> tuple[int, str, str]:
        stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8") if isinstance(stdin, bytes) \
            else io.StringIO(stdin)
        monkeypatch.setattr(sys, "stdin", stream)
        capsys.readouterr()
        code = cli.main(argv)
        out = capsys.readouterr()
        assert "Traceback" not in out.out + out.err
        return code, out.out, out.err

    return run


def _requests(dsn: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('control.erasure_requests') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT match_kind, match_digest, branch_id FROM control.erasure_requests ORDER BY id")
        rows = [(k, bytes(d), b) for k, d, b in cur.fetchall()]
    conn.close()
    return rows


def _holds(dsn: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('control.legal_holds') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT match_kind, match_digest FROM control.legal_holds ORDER BY id")
        rows = [(k, bytes(d) if d else None) for k, d in cur.fetchall()]
    conn.close()
    return rows


def _erase(dsn: str, kind: str, *extra: str) -> list[str]:
    return ["erase", "--dsn", dsn, "--kind", kind, "--basis", "individual_request", *extra]


# -- erase and hold: each identifier by its kind's rule -----------------------------------------------------

BAD = [  # (kind, stdin, the line named, what the message says)
    ("mobile", "abc\n", 1, "is not a mainland mobile number"),
    ("mobile", "1380013800\n", 1, "is not a mainland mobile number"),  # ten digits
    ("mobile", "12345678901\n", 1, "is not a mainland mobile number"),  # 1 then 2
    ("mobile", "+1 415 555 0100\n", 1, "is not a mainland mobile number"),
    ("mobile", f"{MOBILE}\nabc\n", 2, "is not a mainland mobile number"),  # the good first line is not filed
    ("mobile", "138\x000138000\n", 1, "holds control characters"),
    ("id_number", "abc\n", 1, "is not a valid number of any document type"),
    ("id_number", RESIDENT_ID[:-1] + ("0" if RESIDENT_ID[-1] != "0" else "1") + "\n", 1,
     "is not a valid number of any document type"),  # a resident ID whose check digit fails
    ("id_number", f"{RESIDENT_ID}\n\n{USCC}\nhello\n", 4, "is not a valid number of any document type"),
    ("customer_id", "C0001\nC00\x1b[2J02\n", 2, "holds control characters"),
]


@pytest.mark.parametrize(("kind", "stdin", "line", "says"), BAD)
def test_a_bad_identifier_refuses_the_whole_input_naming_its_line_and_kind_never_the_value(
        cli_env, pg_dsn, kind, stdin, line, says):
    extra = ("--branch", "SH-PD-0042") if kind == "customer_id" else ()
    code, out, err = cli_env(_erase(pg_dsn, kind, *extra), stdin)
    assert code == 2
    assert f"stdin, line {line}: the {kind.replace('_', ' ')} given {says}" in err and "nothing was filed" in err
    assert_no_leak(out + err, [v for v in stdin.replace("\x00", "\n").replace("\x1b", "\n").split("\n")
                               if len(v) >= 3])
    assert _requests(pg_dsn) == []


@pytest.mark.parametrize("stdin", ["", "\n", "  \n\t\n"])
def test_no_identifier_at_all_is_a_clear_refusal(cli_env, pg_dsn, stdin):
    code, _, err = cli_env(_erase(pg_dsn, "mobile"), stdin)
    assert code == 2 and "no mobile given (one per line on stdin, or at the prompt)" in err
    assert _requests(pg_dsn) == []


def test_bytes_that_are_not_utf8_are_refused_naming_the_line(cli_env, pg_dsn):
    code, out, err = cli_env(_erase(pg_dsn, "mobile"), f"{MOBILE}\n".encode() + b"\xff\xfe139\n")
    assert code == 2 and "stdin, line 2: not UTF-8 text" in err and "nothing was filed" in err
    assert MOBILE not in out + err and _requests(pg_dsn) == []


def test_a_customer_id_without_its_branch_is_refused_before_anything_is_read(cli_env, pg_dsn):
    code, _, err = cli_env(_erase(pg_dsn, "customer_id"), "C0001\n")
    assert code == 2 and "give --branch too" in err and _requests(pg_dsn) == []


def test_several_lines_file_one_request_each_as_the_blind_index_spells_them(cli_env, pg_dsn, master_key_text):
    from handover.crypto import MasterKey

    stdin = f"{MOBILE}\n\n+86 139-1234-5678\r\n１３７００１３７０００\n"  # CRLF, a blank line, full-width digits
    code, out, err = cli_env(_erase(pg_dsn, "mobile"), stdin)
    assert code == 0, err
    assert "erasure requests 1, 2, 3 filed (mobile, individual_request)" in out
    with psycopg2.connect(pg_dsn) as conn:
        hasher = Hasher(get_or_create(conn, MasterKey.from_text(master_key_text), "blind_index")[1])
    conn.close()
    expected = [hasher.digest("mobile", m) for m in (MOBILE, "13912345678", "13700137000")]
    assert [d for _, d, _ in _requests(pg_dsn)] == expected
    assert_no_leak(out + err, [MOBILE, "13912345678", "139-1234-5678"])


@pytest.mark.parametrize("number", [RESIDENT_ID, RESIDENT_ID[:-1] + RESIDENT_ID[-1].lower(), USCC, "E12345678",
                                    "南字第12345678号", " ".join([RESIDENT_ID[:6], RESIDENT_ID[6:14], RESIDENT_ID[14:]])])
def test_an_id_number_of_any_document_type_is_accepted(cli_env, pg_dsn, number):
    code, out, err = cli_env(_erase(pg_dsn, "id_number"), number + "\n")
    assert code == 0, err
    assert len(_requests(pg_dsn)) == 1 and number not in out + err


def test_a_customer_id_is_taken_as_written_within_its_branch(cli_env, pg_dsn):
    code, _, err = cli_env(_erase(pg_dsn, "customer_id", "--branch", "SH-PD-0042"), "  C0001  \nC0002\n")
    assert code == 0, err
    assert [(k, b) for k, _, b in _requests(pg_dsn)] == [("customer_id", "SH-PD-0042")] * 2


def test_a_hold_is_refused_for_a_bad_identifier_and_placed_once_per_good_line(cli_env, pg_dsn):
    place = ["hold", "place", "--dsn", pg_dsn, "--kind", "mobile", "--reason", "(2026)沪0115民初1234号"]
    code, out, err = cli_env(place, f"{MOBILE}\nabc\n")
    assert code == 2 and "stdin, line 2: the mobile given is not a mainland mobile number" in err
    assert _holds(pg_dsn) == [] and MOBILE not in out + err
    code, out, err = cli_env(place, f"{MOBILE}\n13912345678\n")
    assert code == 0 and "legal holds 1, 2 placed" in out
    assert [k for k, _ in _holds(pg_dsn)] == ["mobile", "mobile"]
    code, _, err = cli_env(["hold", "place", "--dsn", pg_dsn, "--kind", "id_number", "--reason", "x"], "abc\n")
    assert code == 2 and "the id number given is not a valid number of any document type" in err
    code, _, err = cli_env(["hold", "place", "--dsn", pg_dsn, "--kind", "customer_id", "--reason", "x"], "C1\n")
    assert code == 2 and "give --branch too" in err
    assert len(_holds(pg_dsn)) == 2


# -- manifest verify: damaged and missing files ------------------------------------------------------------

def _manifest(folder: Path, **fields) -> Path:
    doc = {"kind": "handover.branch_transfer", "mode": "transfer", "run_id": "run-1",
           "branch": {"id": "SH-PD-0042", "name": "浦东支行"},
           "counts": {"customers": {"loaded": 1}}, "content": {"customers": {"rows": 1, "sha256": "00" * 32}}}
    manifest_mod.write(doc | fields, folder, signing_key(SIGNING_KEY))
    return folder / "manifest.json"


def _fp() -> str:
    return fingerprint(public_pem(signing_key(SIGNING_KEY)))


def _verify(cli_env, *argv: str) -> tuple[int, str]:
    code, out, err = cli_env(["manifest", "verify", *argv])
    return code, out + err


def _resign(path: Path, data: bytes) -> None:
    """Replace the manifest's bytes and sign them with the right key (so only the content is at fault)."""
    from handover.crypto import sign

    path.write_bytes(data)
    path.with_name(path.name + ".sig").write_text(sign(signing_key(SIGNING_KEY), data) + "\n")


DAMAGE = {  # name: (how, what the refusal says)
    "manifest not JSON": (lambda m: _resign(m, b'{"counts": '), "is not JSON (line 1, column 12)"),
    "manifest not UTF-8": (lambda m: _resign(m, b'{"branch": "\xff\xfe"}'), "is not UTF-8 text (byte 12)"),
    "manifest a JSON list": (lambda m: _resign(m, b"[1, 2]"), "is not a JSON object"),
    "manifest missing": (lambda m: m.unlink(), "manifest.json: no such file"),
    "manifest a folder": (lambda m: (m.unlink(), m.mkdir()), "is a folder, not a file"),
    "signature missing": (lambda m: m.with_name("manifest.json.sig").unlink(),
                          "manifest.json.sig: no such file (give it with --signature)"),
    "signature not UTF-8": (lambda m: m.with_name("manifest.json.sig").write_bytes(b"\xff\x00\x81"),
                            "manifest.json.sig is not UTF-8 text (byte 0)"),
    "key missing": (lambda m: m.with_name("manifest.pub.pem").unlink(),
                    "manifest.pub.pem: no such file (give it with --public-key)"),
    "key not PEM": (lambda m: m.with_name("manifest.pub.pem").write_text("not a key\n"), "is not a public key in PEM"),
    "key not UTF-8": (lambda m: m.with_name("manifest.pub.pem").write_bytes(b"\xff\xfe\x00"),
                      "is not a public key in PEM"),
    "key not Ed25519": (lambda m: m.with_name("manifest.pub.pem").write_bytes(_rsa_pem()), "is not an Ed25519 key"),
}


def _rsa_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_or_missing_file_is_not_verified_with_why_and_no_traceback(cli_env, tmp_path, case):
    damage, says = DAMAGE[case]
    path = _manifest(tmp_path)
    damage(path)
    code, text = _verify(cli_env, str(path), "--fingerprint", _fp())
    assert code == 1
    assert "manifest NOT verified: " in text and says in text, text
    assert "manifest verified" not in text


def test_a_signature_that_is_not_base64_is_invalid(cli_env, tmp_path):
    path = _manifest(tmp_path)
    path.with_name("manifest.json.sig").write_text("!!! not base64 ☃\n")
    code, text = _verify(cli_env, str(path), "--fingerprint", _fp())
    assert code == 1 and "signature: INVALID" in text and "manifest NOT verified" in text


def test_a_trusted_key_file_that_is_missing_or_damaged_is_named(cli_env, tmp_path):
    path = _manifest(tmp_path)
    code, text = _verify(cli_env, str(path), "--trusted-key", str(tmp_path / "theirs.pem"))
    assert code == 1 and "the trusted key" in text and "no such file (give it with --trusted-key)" in text
    (tmp_path / "theirs.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    code, text = _verify(cli_env, str(path), "--trusted-key", str(tmp_path / "theirs.pem"))
    assert code == 1 and "is not a public key in PEM" in text


def test_without_a_trusted_signer_a_good_manifest_is_not_verified_and_every_unchecked_part_is_named(cli_env,
                                                                                                    tmp_path):
    path = _manifest(tmp_path)
    code, text = _verify(cli_env, str(path))
    assert code == 1
    assert "signature: valid" in text and "signer: unknown" in text and "store: not compared — no --dsn" in text
    # The fingerprint as people copy it: upper case, with colons.
    pinned = ":".join(_fp()[i:i + 2] for i in range(0, 64, 2)).upper()
    code, text = _verify(cli_env, str(path), "--fingerprint", pinned)
    assert code == 0 and "signer: the pinned fingerprint" in text and "store: not compared — no --dsn" in text


def test_a_dry_runs_manifest_says_it_has_no_content_hashes_to_compare(cli_env, tmp_path, pg_dsn):
    path = _manifest(tmp_path, mode="dry_run", content={})
    code, text = _verify(cli_env, str(path), "--fingerprint", _fp(), "--dsn", pg_dsn)
    assert code == 0
    assert "content hashes: not checked — the manifest has none (a dry run loads nothing)" in text


def test_content_hashes_of_what_is_no_entity_are_named_not_checked(cli_env, tmp_path, pg_dsn):
    from handover.store.schema import ensure_schema

    with psycopg2.connect(pg_dsn) as conn:
        ensure_schema(conn)
    conn.close()
    path = _manifest(tmp_path, content={"customers": {"rows": 0, "sha256": None}, "pg_shadow": {"rows": 1},
                                        "accounts": "everything"}, counts={"transactions": {"loaded": 5}})
    code, text = _verify(cli_env, str(path), "--fingerprint", _fp(), "--dsn", pg_dsn)
    assert code == 1
    assert "pg_shadow: not checked — not an entity's content hash" in text
    assert "accounts: not checked — not an entity's content hash" in text
    assert "transactions: content hash: not checked — the manifest has none for it" in text


def test_an_unreachable_store_is_not_verified_with_why(cli_env, tmp_path):
    path = _manifest(tmp_path)
    code, text = _verify(cli_env, str(path), "--fingerprint", _fp(), "--dsn",
                         "host=127.0.0.1 port=1 dbname=nowhere user=nobody password=s3cret-pw connect_timeout=2")
    assert code == 1 and "manifest NOT verified: manifest verify: cannot connect to the target store" in text
    assert "s3cret-pw" not in text


# -- transfer: the leak scan, last ------------------------------------------------------------------------

def _transfer(pg_dsn: str, sample_contract, folder: Path, state: Path) -> list[str]:
    approve_pipia(pg_dsn, sample_contract, state.parent / "pipia")
    return ["transfer", str(sample_contract), "--dsn", pg_dsn, "--target-region", "CN", "--source", str(folder),
            "--state-dir", str(state), "--chunk-rows", "100", "--run-id", "cli-run-1"]


@pytest.fixture
def signing(monkeypatch):
    monkeypatch.setenv("HANDOVER_SIGNING_KEY", SIGNING_KEY)


def _customers(folder: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((folder / "客户信息.csv").read_bytes().decode("gb18030"))))


def test_the_cli_transfer_runs_the_leak_scan_last_over_its_own_log(cli_env, signing, pg_dsn, sample_contract,
                                                                   sample_export, tmp_path):
    folder, _ = sample_export
    code, out, err = cli_env(_transfer(pg_dsn, sample_contract, folder, tmp_path / "state"))
    assert code == 0, err
    assert out.splitlines()[-1].startswith("leak scan: clean (") and "files" in out.splitlines()[-1]
    logs = sorted((tmp_path / "state" / "logs").glob("*.log"))
    assert len(logs) == 1 and "manifest: " in logs[0].read_text(encoding="utf-8")
    assert oct(logs[0].stat().st_mode & 0o777) == "0o600"
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT detail->'scanned'->>'files' FROM ops.audit WHERE action = 'leak_scan'")
        (files,) = cur.fetchone()
    conn.close()
    assert int(files) >= 3  # the manifest, the checklist and the run's log


def test_a_leak_found_by_the_cli_transfer_fails_it_naming_the_place_never_the_value(cli_env, signing, pg_dsn,
                                                                                   sample_contract, sample_export,
                                                                                   tmp_path):
    folder, _ = sample_export
    mobile = next(c["手机号码"].strip() for c in _customers(folder) if len(c["手机号码"].strip()) == 11)
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:  # a table analysts read, with a customer's mobile
        cur.execute("CREATE SCHEMA analytics")
        cur.execute("CREATE TABLE analytics.notes (note_id int PRIMARY KEY, body text)")
        cur.execute("INSERT INTO analytics.notes VALUES (1, %s)", (f"回拨 {mobile}",))
    conn.close()
    code, out, err = cli_env(_transfer(pg_dsn, sample_contract, folder, tmp_path / "state"))
    assert code == 1
    assert "analytics.notes.body" in err and "customer value(s) found" in err and "leak scan: clean" not in out
    assert mobile not in out + err
    assert json.loads(Path(next(line for line in out.splitlines() if line.startswith("manifest: "))
                           .removeprefix("manifest: ")).read_text())["mode"] == "transfer"  # the run itself ran

