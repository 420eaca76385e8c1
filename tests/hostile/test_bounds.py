"""Memory and time on hostile files, paths out of the export, and files that hold plaintext or keys.

Every case builds its input in tmp_path. The bounds are proven, not assumed: readers run in a child process
under an address-space limit (`resource.RLIMIT_AS`) with an input larger than what the process may hold, and
end in a HandoverError naming the file, the line and the limit — never a MemoryError; the XLSX scan is timed
at two sizes and must grow linearly; no message grows with the input.
"""

from __future__ import annotations

import base64
import io
import os
import re
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from handover import archive, repair
from handover.contract import load_contract
from handover.crypto import MasterKey
from handover.errors import HandoverError, SourceError
from handover.leaks import LeakReport, Needles, scan_files
from handover.limits import LimitError
from handover.private_files import PrivateFileError
from handover.sources import inspect_source, read_chunks

from tests.hostile.builders import HEADERS, csv_lines, customers, table, workbook, write_contract, xlsx_source
from tests.support.stores import approve_pipia

ROOT = Path(__file__).resolve().parents[2]
H = HEADERS["customers"]


def _bounded(folder: Path, mib: int, env: dict | None = None) -> subprocess.CompletedProcess:
    """Inspect and read the customers file of `folder` in a child limited to `mib` MiB of address space."""
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({mib} << 20, {mib} << 20))
        from pathlib import Path
        from handover.contract import load_contract
        from handover.errors import HandoverError
        from handover.sources import inspect_source, read_chunks
        folder = Path({str(folder)!r})
        spec = load_contract(folder / "contract.yaml").entities["customers"]
        try:
            inspect_source(spec, folder)
            rows = sum(len(c) for c in read_chunks(spec, folder, 1000))
            print("read", rows)
        except HandoverError as exc:
            print("HandoverError", exc)
            sys.exit(3)
        """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, check=False)


@pytest.mark.parametrize("good_rows", [0, 3])
def test_a_file_of_one_huge_line_is_refused_in_bounded_memory(tmp_path, good_rows):
    """0: a 512 MiB sparse file of NULs (one "line"); 3: three good rows, then a tail of zeros an export wrote
    when it crashed — both read by a process that may not hold 1.2 GiB, ending in a limit naming the line."""
    write_contract(tmp_path)
    with open(tmp_path / "客户信息.csv", "wb") as fh:
        if good_rows:
            fh.write(b"".join(csv_lines(H, customers(good_rows))))
        fh.truncate(fh.tell() + (512 << 20))
    done = _bounded(tmp_path, 1200)
    assert done.returncode == 3, done.stderr[-2000:]
    said = done.stdout.strip()
    line = good_rows + 2 if good_rows else 1
    assert f"客户信息.csv, line {line}: a line longer than 8,388,608 characters" in said
    assert "HANDOVER_LIMIT_LINE_CHARS" in said and len(said) < 400 and "MemoryError" not in done.stderr


def test_a_quote_that_never_closes_is_a_limit_not_the_whole_file_in_memory(tmp_path):
    write_contract(tmp_path)
    with open(tmp_path / "客户信息.csv", "wb") as fh:
        fh.write(b"".join(csv_lines(H, customers(2))))
        fh.write(b'C9,"' + b"x" * 1000 + b"\n" * 10 + (b"y" * 100_000 + b"\n") * 40)
    done = _bounded(tmp_path, 1200, {"HANDOVER_LIMIT_RECORD_CHARS": "1000000"})
    assert done.returncode == 3, done.stderr[-2000:]
    assert "line 4" in done.stdout and "longer than 1,000,000 characters" in done.stdout


def test_a_header_of_100000_unknown_columns_is_a_short_error(tmp_path):
    write_contract(tmp_path)
    header = ",".join(H + [f"列{i}" for i in range(100_000)])
    (tmp_path / "客户信息.csv").write_text(header + "\n", encoding="utf-8")
    spec = load_contract(tmp_path / "contract.yaml").entities["customers"]
    with pytest.raises(LimitError) as err:
        inspect_source(spec, tmp_path)
    assert "100,010 columns, more than the limit of 1,000" in str(err.value) and len(str(err.value)) < 300


def test_many_unknown_columns_below_the_limit_are_listed_briefly(tmp_path):
    write_contract(tmp_path)
    header = ",".join(H + [f"列{i}" for i in range(500)])
    (tmp_path / "客户信息.csv").write_text(header + "\n", encoding="utf-8")
    spec = load_contract(tmp_path / "contract.yaml").entities["customers"]
    with pytest.raises(SourceError) as err:
        inspect_source(spec, tmp_path)
    assert "… and 480 more problems" in str(err.value) and len(str(err.value)) < 4000


def _padded_workbook(path: Path, padding: int) -> None:
    """A valid workbook whose sheet XML carries `padding` bytes of blanks between two rows."""
    buf = io.BytesIO()
    workbook({"数据": table(H, customers(3))}).save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = data.replace(b"</row>", b"</row>" + b" " * padding, 1)
            out.writestr(item, data)


def test_a_workbook_that_inflates_far_beyond_its_size_is_refused_before_it_is_read(tmp_path):
    _padded_workbook(tmp_path / "客户信息.xlsx", 64 << 20)
    assert (tmp_path / "客户信息.xlsx").stat().st_size < 1 << 20
    write_contract(tmp_path, {"customers": xlsx_source("customers")})
    spec = load_contract(tmp_path / "contract.yaml").entities["customers"]
    started = time.process_time()  # CPU time: what the check costs, not how busy the machine is
    with pytest.raises(LimitError, match="inflates .* times its size, over the limit of 200"):
        inspect_source(spec, tmp_path)
    assert time.process_time() - started < 2


def test_the_xlsx_scan_is_linear_in_the_sheets_size(tmp_path, monkeypatch):
    """With the ratio limit lifted, a padded sheet is read in time linear in its inflated size (it was
    quadratic: 97 s for 400 MB)."""
    monkeypatch.setenv("HANDOVER_LIMIT_XLSX_RATIO", "100000000")
    seconds = {}
    for mib in (8, 32):
        folder = tmp_path / str(mib)
        folder.mkdir()
        _padded_workbook(folder / "客户信息.xlsx", mib << 20)
        write_contract(folder, {"customers": xlsx_source("customers")})
        spec = load_contract(folder / "contract.yaml").entities["customers"]
        times = []
        for _ in range(3):  # this process's CPU time, the best of three: a busy machine moves wall time
            started = time.process_time()
            rows = sum(len(c) for c in read_chunks(spec, folder, 1000))
            times.append(time.process_time() - started)
            assert rows == 3
        seconds[mib] = min(times)
    assert seconds[32] < 8 * max(seconds[8], 0.05), seconds  # 4× the size: linear is 4×, quadratic 16×


def test_the_leak_scan_reads_only_regular_files_and_long_lines_in_windows(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDOVER_LIMIT_LOG_LINE_CHARS", "100000")
    needles = Needles()
    needles.add_identifier("mobile", "13912345678")
    log = tmp_path / "task.log"
    log.write_text("x" * 250_000 + "sent to 13912345678 " + "y" * 99_990 + "13912345678\nok\n", encoding="utf-8")
    report = scan_files(["/dev/zero", str(tmp_path), str(log)], needles, LeakReport())
    assert report.counts == {(str(log), "mobile"): 2}
    assert any("/dev/zero: not scanned (character device" in n for n in report.notes)
    assert any("not scanned (folder" in n for n in report.notes)


# --- paths ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
def test_a_source_outside_the_export_folder_is_refused(tmp_path, where):
    export, elsewhere = tmp_path / "export", tmp_path / "elsewhere"
    export.mkdir()
    elsewhere.mkdir()
    (elsewhere / "客户信息.csv").write_bytes(b"".join(csv_lines(H, customers(2))))
    name = {"parent": "../elsewhere/客户信息.csv", "absolute": str(elsewhere / "客户信息.csv"),
            "symlink": "客户信息.csv"}[where]
    if where == "symlink":
        (export / "客户信息.csv").symlink_to(elsewhere / "客户信息.csv")
    write_contract(export, {"customers": {"file": name, "format": "csv"}})
    spec = load_contract(export / "contract.yaml").entities["customers"]
    with pytest.raises(SourceError, match="outside the export folder"):
        inspect_source(spec, export)
    text = (export / "contract.yaml").read_text(encoding="utf-8").replace(
        "source:\n  location: .", f"source:\n  location: .\n  allowed_folders: [{elsewhere}]")
    (export / "contract.yaml").write_text(text, encoding="utf-8")
    info = inspect_source(load_contract(export / "contract.yaml").entities["customers"], export)
    assert info.real_path == str((elsewhere / "客户信息.csv").resolve()) and info.type == "regular file"


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_path_that_is_not_a_regular_file_says_what_it_is(tmp_path, kind):
    target = tmp_path / "客户信息.csv"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        target.symlink_to("/dev/null")
        text = None
    write_contract(tmp_path)
    if kind == "device":  # a device is outside any export folder: allowed here to see what it is said to be
        text = (tmp_path / "contract.yaml").read_text(encoding="utf-8").replace(
            "source:\n  location: .", "source:\n  location: .\n  allowed_folders: [/dev]")
        (tmp_path / "contract.yaml").write_text(text, encoding="utf-8")
    spec = load_contract(tmp_path / "contract.yaml").entities["customers"]
    said = {"fifo": "FIFO (a pipe)", "folder": "folder", "device": "character device"}[kind]
    with pytest.raises(SourceError, match=re.escape(f"is a {said}, not a regular file")):
        inspect_source(spec, tmp_path)


# --- files that hold plaintext or keys ------------------------------------------------------------------

def test_an_archived_original_is_restored_owner_only_and_a_truncated_one_leaves_nothing(tmp_path):
    master = MasterKey(os.urandom(32))
    original = tmp_path / "客户信息.csv"
    original.write_bytes(b"".join(csv_lines(H, customers(3000))))
    from handover.sources import file_sha256

    digest = file_sha256(original)
    entry = archive.archive_file(original, digest, "B1", tmp_path / "archive", master)
    sealed = tmp_path / "archive" / "B1" / entry["archive"]
    out = tmp_path / "restored.csv"
    archive.restore(sealed, out, "B1", master)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_bytes() == original.read_bytes()
    truncated = tmp_path / "truncated.enc"
    truncated.write_bytes(sealed.read_bytes()[: sealed.stat().st_size // 2])
    with pytest.raises(HandoverError):
        archive.restore(truncated, tmp_path / "again.csv", "B1", master)
    assert not (tmp_path / "again.csv").exists() and not (tmp_path / "again.csv.part").exists()
    with pytest.raises(PrivateFileError, match="exists already"):
        archive.restore(sealed, out, "B1", master)  # never over an existing file


@pytest.mark.parametrize("planted", ["file", "symlink"])
def test_a_repair_export_never_writes_into_a_file_it_did_not_create(tmp_path, planted):
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("another user's file\n")
    target = shared / "B1_customers_quarantine.csv"
    if planted == "file":
        target.write_text("made by someone else\n")
        os.chmod(target, 0o644)
    else:
        target.symlink_to(victim)
    with pytest.raises(PrivateFileError, match="exists already"):
        repair._write_private(target, b"decrypted rows")
    assert victim.read_text() == "another user's file\n"
    if planted == "file":
        assert target.read_text() == "made by someone else\n"
    fresh = shared / "new.csv"
    repair._write_private(fresh, b"rows")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (root only; elsewhere the case is skipped with the reason)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True,
                          check=False)
    if done.returncode:
        pytest.skip("a tmpfs cannot be mounted here (not root): the full-disk case needs one")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_in_the_work_area_is_a_clear_error(tiny_disk, tmp_path, pg_dsn, master_key_text):
    from handover import local_run, sample
    from handover.run import RunContext

    from tests.support.stores import SIGNING_KEY

    folder = tmp_path / "export"
    sample.generate(folder, customers=2000)
    approve_pipia(pg_dsn, folder=tmp_path / "pipia")
    ctx = RunContext(run_id="full-disk", contract_path=str(ROOT / "contracts" / "sample_branch.yaml"), dsn=pg_dsn,
                     master_key=MasterKey.from_text(master_key_text), work_root=str(tiny_disk / "work"),
                     output_root=str(tmp_path / "out"), source_dir=str(folder), target_region="CN",
                     signing_key_text=SIGNING_KEY, chunk_rows=5000)
    with pytest.raises(HandoverError) as err:
        local_run.run_all(ctx)
    assert "the disk is full" in str(err.value) and str(tiny_disk) in str(err.value)
    assert not (tiny_disk / "work" / ctx.tag).exists()  # the teardown removed what was written


def test_recovered_keys_are_written_only_into_new_files(tmp_path, monkeypatch):
    """`handover keys recover` never writes a key into a file that is there already, nor through a link
    planted at a key's name: it stops, naming the file; the planted target is untouched."""
    import json as _json

    from handover import cli
    from handover.backup import keykit

    master = base64.b64encode(os.urandom(32)).decode()
    signing = base64.b64encode(os.urandom(32)).decode()
    kit = tmp_path / "kit.json"
    kit.write_text(_json.dumps(keykit.make_kit(master, signing, "correct horse battery")), encoding="utf-8")
    out = tmp_path / "keys"
    out.mkdir()
    target = tmp_path / "elsewhere.txt"
    target.write_text("not yours\n", encoding="utf-8")
    (out / "master.key").symlink_to(target)
    monkeypatch.setenv("HANDOVER_KIT_PASSPHRASE", "correct horse battery")
    assert cli.main(["keys", "recover", str(kit), "--out-dir", str(out)]) == 2
    assert target.read_text(encoding="utf-8") == "not yours\n"
    assert not (out / "master.key.part").exists()
    (out / "master.key").unlink()
    assert cli.main(["keys", "recover", str(kit), "--out-dir", str(out)]) == 0
    assert (out / "master.key").read_text(encoding="utf-8").strip() == master
    assert oct((out / "master.key").stat().st_mode & 0o777) == "0o600"
