"""`handover`: the command line of the domain package — no Airflow needed.

    handover contract check CONTRACT [--source DIR]   check a contract and its files, read nothing else
    handover sample OUT_DIR [--customers N]           write the sample branch export
    handover transfer CONTRACT --dsn DSN --target-region CN [--source DIR] [--dry-run]
                                                      run every step here, without Airflow, the leak scan
                                                      last (its output is this run's log): exit 1 on a hit
    handover find --dsn DSN (--mobile M | --id-number N | --email E)
                                                      find customers through the blind indexes
    handover reconciliation MANIFEST                  print a manifest's reconciliation
    handover manifest verify MANIFEST (--fingerprint HEX | --trusted-key PEM) [--dsn DSN]
                                                      check a manifest's signature, that its signer is the one
                                                      you were told of and, given a connection, its content
                                                      hashes against the target store; what was not checked
                                                      is named, and without a known signer it is not verified
    handover archive restore ARCHIVE OUT --branch ID  produce an archived original, checked by SHA-256
    handover archive find --dsn DSN --kind customer_id|mobile|id_number [--branch B]
                                                      archived customers (the cold archive) by identifier on
                                                      stdin, through its index: the archive is not opened
    handover archive restore --dsn DSN --dest FOLDER|s3://… --branch B (--kind K | --all)
                                                      archived customers back into the vault and analytics,
                                                      reconciled; tombstoned ones stay out
    handover archive reindex --dsn DSN --dest FOLDER|s3://…
                                                      the cold archive's index made again from its objects
    handover scan --contract C --dsn DSN [--source DIR] [--logs DIR|FILE ...] [--role handover_analyst]
                                                      search what the role can read (and the logs) for the
                                                      export's identifiers and names; exit 1 on any hit
    handover keys kit --out KIT                       seal the master and signing keys under a passphrase:
                                                      the recovery kit, kept apart from the backups
    handover keys recover KIT --out-dir DIR           the keys of a kit, as files readable by you only
    handover erase --dsn DSN --kind customer_id|mobile|id_number [--branch B] --basis BASIS
                                                      file erasure requests, one per line of stdin (or one
                                                      asked for), each checked by its kind's rule and stored
                                                      as a keyed hash only; one bad line refuses them all
    handover objection --dsn DSN --kind customer_id|mobile|id_number [--branch B] [--withdrawal]
                                                      a customer objects to the transfer (or withdraws
                                                      consent), identifiers on stdin as for erase:
                                                      processing stops at once, an erasure request follows
    handover replies --dsn DSN FILE                   an inbound file of SMS replies (mobile,text): 退订/TD
                                                      stop marketing, 反对/撤回 object or withdraw
    handover hold place|release|list --dsn DSN ...   legal holds on a branch or a customer
    handover erasures --dsn DSN                       every erasure request's state
    handover audit verify --dsn DSN [--dest FOLDER|s3://…] (--fingerprint HEX | --trusted-key PEM)
                                                      recompute the audit trail's hash chain and check it
                                                      against its signed checkpoints (in the store's control
                                                      and beside the backups): exit 1 if an entry was
                                                      edited, deleted or inserted
    handover audit checkpoint --dsn DSN [--dest …]    sign the chain's head now (HANDOVER_SIGNING_KEY)
    handover pipia draft CONTRACT --dsn DSN --out DIR [--source DIR] [--approver NAME] [--reference REF]
                                                      draft, sign and record the transfer's impact
                                                      assessment (PIPIA) from the contract and the export
    handover pipia approve|reject REF --dsn DSN --by NAME [--note TEXT]
                                                      the named approver's decision, recorded (who, when)
    handover pipia list --dsn DSN --branch ID         a branch's assessments and their state
    handover backup list|verify|restore --dest FOLDER|s3://BUCKET/PREFIX ...
                                                      the backups without Airflow (after a loss of it
                                                      too): list, verify (--full), restore into --dsn

The master key is read from ``HANDOVER_MASTER_KEY`` or ``AIRFLOW_VAR_HANDOVER_MASTER_KEY``, the manifest
signing key from ``HANDOVER_SIGNING_KEY`` (never flags: command lines end up in shell histories and
process lists); a kit's passphrase from ``HANDOVER_KIT_PASSPHRASE`` or asked for at the terminal. S3
destinations use boto3's usual credentials (``AWS_ACCESS_KEY_ID`` …) and ``--endpoint-url`` for MinIO.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from pathlib import Path

from handover.errors import HandoverError, as_store_error
from handover.run import DEFAULT_CHUNK_ROWS


def _master_key():
    from handover.crypto import MasterKey

    return MasterKey.from_text(os.environ.get("HANDOVER_MASTER_KEY") or os.environ.get("AIRFLOW_VAR_HANDOVER_MASTER_KEY"))


def _contract_check(args) -> int:
    from handover.contract import load_contract
    from handover.sources import inspect_source

    contract = load_contract(args.contract)
    folder = contract.source_dir(args.source)
    for spec in contract.entities.values():
        info = inspect_source(spec, folder)
        print(f"{spec.name:<13} {info.file}  {info.encoding or 'xlsx:' + str(info.sheet)}  "
              f"{len(spec.columns)} columns  sha256 {info.sha256[:16]}…")
    print(f"contract {contract.path} is valid (sha256 {contract.sha256[:16]}…)")
    return 0


def _sample(args) -> int:
    from handover import sample

    planted = sample.generate(Path(args.out_dir), customers=args.customers, seed=args.seed)
    print(f"wrote {args.out_dir}: " + ", ".join(f"{e} {n}" for e, n in planted["rows"].items()))
    return 0


def _transfer(args) -> int:
    from handover import local_run, transfer
    from handover.manifest import render_reconciliation
    from handover.run import RunContext

    state = Path(args.state_dir)
    ctx = RunContext(run_id=args.run_id or f"cli__{uuid.uuid4().hex[:12]}", contract_path=args.contract,
                     dsn=args.dsn, master_key=_master_key(), work_root=str(state / "work"),
                     output_root=str(state / "output"), archive_root=str(state / "archive"),
                     source_dir=args.source, dry_run=args.dry_run, chunk_rows=args.chunk_rows, actor="cli",
                     target_region=args.target_region, cross_border_approval=args.cross_border_approval,
                     recipient=args.recipient, signing_key_text=os.environ.get("HANDOVER_SIGNING_KEY"))
    log = state / "logs" / f"{ctx.tag}.log"  # the run's own log: what this command says, and the steps' records
    with _run_log(log) as said:
        result = local_run.run_all(ctx, workers=args.workers)
        said(render_reconciliation(json.loads(Path(result["manifest"]).read_text())))
        said(f"manifest: {result['manifest']}")
    # Last, as the DAG's scan_for_leaks: what analysts can read, the handed-over files and this run's log
    # (there is no XCom here). A hit fails the command, naming places, never values.
    from handover.leaks import LeakError

    try:
        scanned = transfer.scan_for_leaks(ctx, {"logs": [log]})
    except LeakError as exc:
        print(f"handover: {exc}", file=sys.stderr)
        return 1
    print(f"leak scan: clean ({', '.join(f'{n} {what}' for what, n in sorted(scanned['scanned'].items()))})")
    return 0


def _update(args) -> int:
    """A change file applied here, without Airflow (the customer_updates DAG's steps); counts only printed.
    The confirmations wait in the outbox for the deliverer (the DAG's deliver_confirmations)."""
    from handover import updates

    state = Path(args.state_dir)
    ctx = updates.UpdateContext(run_id=args.run_id or f"cli__{uuid.uuid4().hex[:12]}", contract_path=args.contract,
                                dsn=args.dsn, master_key=_master_key(), work_root=str(state / "work"),
                                change_file=args.file, sheet=args.sheet, batch=args.batch, actor="cli")
    counts = updates.run_all(ctx)
    print(json.dumps({k: v for k, v in counts.items() if k != "applied_now"}, ensure_ascii=False, sort_keys=True))
    return 0


@contextlib.contextmanager
def _run_log(path: Path):
    """Write what the run says (printed, and the handover loggers' INFO records) to ``path`` as well: the
    log the leak scan reads. Yields ``said(text)``, which prints and logs a line."""
    import logging

    from handover.workarea import write_private

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, b"")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("handover")
    before = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)

    def said(text: str) -> None:
        print(text)
        handler.acquire()
        try:
            handler.stream.write(text + "\n")
            handler.flush()
        finally:
            handler.release()

    try:
        yield said
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
        handler.close()


def _find(args) -> int:
    from handover.lookup import find_customers

    rows = find_customers(args.dsn, _master_key(), mobile=args.mobile, id_number=args.id_number, email=args.email)
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    if not rows:
        print("no customer found")
    return 0 if rows else 1


def _manifest_verify(args) -> int:
    """Exit 0 only for a manifest verified against a signer the user trusts; 1 otherwise — a damaged or
    missing file too ("NOT verified: why"), never a traceback."""
    from handover.manifest import verify

    try:
        with contextlib.ExitStack() as stack:
            conn = None
            if args.dsn:
                from handover.store import connect

                conn = stack.enter_context(connect(args.dsn, "manifest verify"))
            ok, lines = verify(Path(args.manifest), signature=args.signature, public_key=args.public_key,
                               trusted_key=args.trusted_key, expect_fingerprint=args.fingerprint, conn=conn)
    except HandoverError as exc:
        print(f"manifest NOT verified: {exc}")
        return 1
    for line in lines:
        print(line)
    print("manifest verified" if ok else "manifest NOT verified")
    return 0 if ok else 1


def _archive_restore(args) -> int:
    """Two archives: an original export (``ARCHIVE OUT``: the file, checked by SHA-256), or — with
    ``--dsn`` — archived customers, back into the vault and the analytics tier (`handover.cold_archive`)."""
    if args.dsn:
        return _cold_restore(args)
    if not (args.archive and args.out):
        raise HandoverError("give ARCHIVE OUT (an archived original), or --dsn and --dest (archived customers)")
    from handover.archive import restore

    digest = restore(Path(args.archive), Path(args.out), args.branch, _master_key())
    print(f"restored {args.out} (sha256 {digest})")
    return 0


def _cold_customers(conn, hasher, args) -> list[dict]:
    """The archived customers the identifiers on stdin name (checked as `handover erase` checks them)."""
    from handover import cold_archive

    if args.kind == "customer_id" and not args.branch:
        raise HandoverError("a customer id names a customer within a branch: give --branch too")
    return [hit for value in _identifiers(args.kind)
            for hit in cold_archive.find(conn, hasher, args.kind, value, args.branch)]


def _archive_find(args) -> int:
    from handover.store import connect

    with connect(args.dsn, "archive find", readonly=True) as conn:
        from handover.store import keys

        hasher = keys.hasher(conn, _master_key(), create=False)
        if hasher is None:
            raise HandoverError("the store has no blind-index key yet: nothing was ever archived in it")
        hits = _cold_customers(conn, hasher, args)
    for hit in hits:
        print("  ".join(f"{k}={v}" for k, v in hit.items()))
    if not hits:
        print("no archived customer found (one in the hot tables is found with `handover find`)")
    return 0 if hits else 1


def _archive_reindex(args) -> int:
    """After a recovery onto a new server (the backups do not hold ``control``): the cold archive's index
    made again from its destination."""
    from handover import cold_archive
    from handover.store import connect, ops

    with connect(args.dsn, "archive reindex") as conn:
        hasher = _blind_index(conn)
        dest = _destination(args.dest, args.endpoint_url)
        done = cold_archive.rebuild_index(conn, dest, _master_key(), hasher)
        checked = cold_archive.verify(conn, dest, _master_key())
        ops.audit(conn, "cold_archive.reindexed", run_id=None, branch_id=None, actor=os.environ.get("USER", "cli"),
                  **done)
    print(f"indexed {done['objects']} object(s), {done['customers']} customer(s) from {dest}; the archive now "
          f"holds {checked['objects']} object(s) and {checked['customers']} customer(s), checked")
    return 0


def _cold_restore(args) -> int:
    from handover import cold_archive
    from handover.store import connect, ops

    if not args.dest:
        raise HandoverError("--dest: the cold archive's folder or s3://bucket/prefix")
    if not args.branch:
        raise HandoverError("--branch: the branch whose archived customers come back")
    if not args.kind and not args.all:
        raise HandoverError("--kind (identifiers on stdin, one per line) or --all (every archived customer of "
                            "the branch)")
    dest = _destination(args.dest, args.endpoint_url)
    master = _master_key()
    stones = None
    if args.tombstones_from:  # after a recovery onto a new server: the tombstones kept beside the backups
        from handover.purge import tombstones

        stones = tombstones.stored(_destination(args.tombstones_from, args.endpoint_url))
    with connect(args.dsn, "archive restore") as conn:
        hasher = _blind_index(conn)
        targets = [None] if args.all else sorted({h["customer_id"] for h in _cold_customers(conn, hasher, args)})
        if not targets:
            print("no archived customer found: nothing restored")
            return 1
        total: dict[str, int] = {}
        customers = refused = 0
        for customer in targets:
            result = cold_archive.restore(conn, dest, master, hasher, branch=args.branch, customer=customer,
                                          stones=stones)
            customers += result["customers"]
            refused += result["refused_erased"]
            for table, n in result["rows"].items():
                total[table] = total.get(table, 0) + n
        ops.audit(conn, "cold_archive.restored", run_id=None, branch_id=args.branch,
                  actor=os.environ.get("USER", "cli"), customers=customers, rows=total, refused_erased=refused)
    print(f"restored {customers} customer(s) of {args.branch}, reconciled with the archive's index: "
          + ", ".join(f"{t} {n}" for t, n in total.items() if n)
          + (f"; {refused} erased meanwhile stay out" if refused else "")
          + " — active again: not archived before the period has run once more")
    return 0


def _quarantine_export(args) -> int:
    from handover import repair
    from handover.store import connect, ops

    with connect(args.dsn, "quarantine export") as conn:
        written = repair.export(conn, _master_key(), args.branch, Path(args.out), args.format, args.entity)
        ops.audit(conn, "quarantine_exported", run_id=None, branch_id=args.branch, actor="cli",
                  format=args.format, rows=written)
    for entity, n in written.items():
        print(f"{entity:<13} {n} quarantined rows")
    print(f"written to {args.out} (readable by you only: it holds the rows as the branch sent them)")
    return 0


def _roles(args) -> int:
    """The administrator's step: the schema applied (a new version too) and handed to the owner role, every
    grant applied, and a line in the audit log saying who did it."""
    from handover.store import connect, ops, roles, schema

    with connect(args.dsn, "roles") as conn:
        schema.ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), current_user")
            database, user = cur.fetchone()
        roles.ensure_roles(conn, database)
        ops.audit(conn, "roles_applied", run_id=None, branch_id=None, actor=os.environ.get("USER", "cli"),
                  login=user, schema_version=schema.SCHEMA_VERSION, schema_fingerprint=schema.fingerprint(),
                  roles=list(roles.ROLES))
    print(f"schema {schema.SCHEMA_VERSION} ({schema.fingerprint()}) and roles {', '.join(roles.ROLES)} ready in "
          f"database {database}; {roles.OWNER} owns the schemas. Grant a group role to each login, e.g. "
          f"GRANT {roles.ANALYST} TO alice; the pipeline's login: GRANT {roles.OPERATOR} TO etl; an "
          f"administrator's (this step, full restores): GRANT {roles.OWNER} TO dba")
    return 0


def _scan(args) -> int:
    from handover import leaks
    from handover.contract import load_contract
    from handover.store import connect

    contract = load_contract(args.contract)
    needles = leaks.needles_from_export(contract, args.source)
    report = leaks.LeakReport(examples_per_place=20)
    report.scanned["needles"] = len(needles)
    logs = []
    for given in args.logs or []:
        path = Path(given)
        logs += sorted(path.rglob("*.log")) if path.is_dir() else [path]
    leaks.scan_files(logs, needles, report)
    with connect(args.dsn, "scan", readonly=True) as conn:
        leaks.scan_database(conn, needles, args.role, report=report)
    print(report.render())
    return 0 if report.clean else 1


def _reconciliation(args) -> int:
    from handover.manifest import render_reconciliation

    print(render_reconciliation(json.loads(Path(args.manifest).read_text(encoding="utf-8"))))
    return 0


def _signing_text() -> str | None:
    return os.environ.get("HANDOVER_SIGNING_KEY") or os.environ.get("AIRFLOW_VAR_HANDOVER_SIGNING_KEY")


def _passphrase(confirm: bool) -> str:
    import getpass

    text = os.environ.get("HANDOVER_KIT_PASSPHRASE")
    if text:
        return text
    text = getpass.getpass("kit passphrase: ")
    if confirm and getpass.getpass("again: ") != text:
        raise HandoverError("the passphrases differ")
    return text


def _keys_kit(args) -> int:
    from handover import private_files
    from handover.backup import keykit

    if Path(args.out).exists():
        raise HandoverError(f"{args.out} exists: a kit is never overwritten")
    master = os.environ.get("HANDOVER_MASTER_KEY") or os.environ.get("AIRFLOW_VAR_HANDOVER_MASTER_KEY")
    kit = keykit.make_kit(master or "", _signing_text() or "", _passphrase(confirm=True))
    out = Path(args.out)
    with private_files.written(out, "w", encoding="utf-8") as fh:  # new, 0600, never through a link
        json.dump(kit, fh, indent=2)
    print(f"wrote {out}: master key {kit['master_key_id']}, signing key {kit['signing_key_fingerprint'][:16]}… "
          "— keep it offline, apart from the backups, and the passphrase apart from it")
    return 0


def _keys_recover(args) -> int:
    from handover import private_files
    from handover.backup import keykit

    kit = json.loads(Path(args.kit).read_text(encoding="utf-8"))
    keys = keykit.open_kit(kit, _passphrase(confirm=False))
    out = Path(args.out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, value in (("master.key", keys["master_key"]), ("signing.key", keys["signing_key"])):
        # new files only (0600, never through a link): a key file that is there already — an earlier
        # recovery's, or one planted for us to write into — makes the recovery stop, naming it
        with private_files.written(out / name, "w", encoding="utf-8") as fh:
            fh.write(value + "\n")
    print(f"wrote {out}/master.key (key {kit['master_key_id']}) and {out}/signing.key: put them into Airflow's "
          "secrets backend as Variables handover_master_key and handover_signing_key, then delete the files")
    return 0


def _identifiers(kind: str) -> list[str]:
    """The identifiers of a request, one per line of stdin, or one asked for at the terminal (no echo) —
    never a flag, which shell histories keep. Each checked by its kind's rule (`erasure.normalised`); one
    that breaks it refuses the whole input, naming its line and the rule, never the value. Blank lines are
    skipped."""
    import getpass

    from handover.purge import erasure

    noun = kind.replace("_", " ")
    if sys.stdin.isatty():
        lines = [getpass.getpass(f"{noun}: ")]
    else:
        binary = getattr(sys.stdin, "buffer", None)
        raw = binary.read() if binary is not None else sys.stdin.read()
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw[:exc.start].count(b"\n") + 1
                raise HandoverError(f"stdin, line {line}: not UTF-8 text — give one {noun} per line, in UTF-8; "
                                    "nothing was filed") from None
        lines = raw.split("\n")
    found: list[tuple[int, str]] = [(n, line.rstrip("\r")) for n, line in enumerate(lines, 1)
                                    if line.strip(" \t\r")]
    if not found:
        raise HandoverError(f"no {noun} given (one per line on stdin, or at the prompt)")
    for n, value in found:
        try:
            erasure.normalised(kind, value)
        except HandoverError as exc:
            where = "the prompt" if sys.stdin.isatty() else f"stdin, line {n}"
            raise HandoverError(f"{where}: {exc}; nothing was filed") from None
    return [value for _, value in found]


def _blind_index(conn):
    from handover.store import keys, schema

    schema.ensure_schema(conn)
    return keys.hasher(conn, _master_key())


def _erase(args) -> int:
    from handover.purge import erasure
    from handover.store import connect

    if args.kind == "customer_id" and not args.branch:
        raise HandoverError("a customer id names a customer within a branch: give --branch too")
    values = _identifiers(args.kind)  # every line checked before anything is filed
    with connect(args.dsn, "erase") as conn:
        hasher = _blind_index(conn)
        filed = [erasure.file_request(conn, hasher, args.kind, value, branch_id=args.branch, basis=args.basis,
                                      requested_by=args.requested_by or os.environ.get("USER", "cli"))
                 for value in values]
    print(f"erasure request{'s' if len(filed) > 1 else ''} {', '.join(map(str, filed))} filed ({args.kind}, "
          f"{args.basis}); the nightly retention_purge carries them out or records why not — `handover erasures` "
          "shows their state")
    return 0


def _objection(args) -> int:
    from handover.notices import objections
    from handover.store import connect

    if args.kind == "customer_id" and not args.branch:
        raise HandoverError("a customer id names a customer within a branch: give --branch too")
    values = _identifiers(args.kind)  # every line checked before anything is recorded
    kind = "withdrawal" if args.withdrawal else "objection"
    by = args.received_by or os.environ.get("USER", "cli")
    found = unknown = 0
    with connect(args.dsn, "objection") as conn:
        hasher = _blind_index(conn)
        for value in values:
            outcomes = objections.record(conn, hasher, kind=kind, id_kind=args.kind, value=value,
                                         branch_id=args.branch, source=args.source, received_by=by)
            found += len(outcomes)
            unknown += not outcomes
    print(f"{kind}: {found} customer(s) — processing stopped (analytics rows removed, waiting messages cancelled)"
          f" and an erasure request filed for each; {unknown} identifier(s) matched no customer. "
          "`handover erasures` shows the requests' state")
    return 0


def _replies(args) -> int:
    from handover.notices import objections
    from handover.store import connect

    path = Path(args.file)
    process = objections.process_letters if args.command == "letters" else objections.process_replies
    with connect(args.dsn, args.command) as conn:
        counts = process(conn, _blind_index(conn), path.read_bytes(), file=path.name,
                         received_by=args.received_by or os.environ.get("USER", "cli"))
    print(json.dumps(counts, ensure_ascii=False))
    return 0


def _hold(args) -> int:
    from handover.purge import erasure
    from handover.store import connect

    if args.action == "place":
        if not args.branch and not args.kind:
            raise HandoverError("a hold names a branch (--branch) or a customer (--kind, value on stdin)")
        if args.kind == "customer_id" and not args.branch:
            raise HandoverError("a customer id names a customer within a branch: give --branch too")
    values = _identifiers(args.kind) if args.action == "place" and args.kind else [None]
    with connect(args.dsn, "hold") as conn:
        if args.action == "place":
            hasher = _blind_index(conn) if args.kind else None
            placed = [erasure.place_hold(conn, hasher, reason=args.reason, placed_by=os.environ.get("USER", "cli"),
                                         branch_id=args.branch, kind=args.kind, value=value) for value in values]
            print(f"legal hold{'s' if len(placed) > 1 else ''} {', '.join(map(str, placed))} placed")
        elif args.action == "release":
            erasure.release_hold(conn, args.hold_id, os.environ.get("USER", "cli"))
            print(f"legal hold {args.hold_id} released")
        else:
            with conn.cursor() as cur:
                cur.execute("SELECT id, branch_id, match_kind, reason, placed_by, placed_at, released_at "
                            "FROM control.legal_holds ORDER BY id")
                for row in cur.fetchall():
                    print("  ".join(str(v) for v in row))
    return 0


def _erasures(args) -> int:
    from handover.purge import erasure
    from handover.store import connect

    with connect(args.dsn, "erasures", application_name="handover-erasures", readonly=True) as conn:
        for r in erasure.report(conn):
            print(f"{r['request']:>6}  {r['kind']:<11}  {r['state']:<9}  received {r['received_at']:%Y-%m-%d}  "
                  + (f"retry {r['retry_after']}  " if r["retry_after"] else "") + (r["reason"] or ""))
    return 0


def _destination(spec: str, endpoint_url: str | None):
    from handover.backup.snapshot import LocalFolder, S3Bucket

    if spec.startswith("s3://"):
        import boto3

        bucket, _, prefix = spec[5:].partition("/")
        return S3Bucket(boto3.client("s3", endpoint_url=endpoint_url), bucket, prefix)
    return LocalFolder(spec)


def _public_pem(args) -> bytes | None:
    from handover.crypto import public_pem, signing_key

    if args.public_key:
        return Path(args.public_key).read_bytes()
    text = _signing_text()
    return public_pem(signing_key(text)) if text else None


def _backup(args) -> int:
    from handover.backup import ledger, snapshot

    dest = _destination(args.dest, args.endpoint_url)
    pem = _public_pem(args)
    if pem is None:
        print("handover: no trusted public key (--public-key or HANDOVER_SIGNING_KEY): signatures are checked "
              "against the key stored beside each manifest, which only shows it was not changed by accident",
              file=sys.stderr)
    if args.action == "list":
        for backup_id in snapshot.backups(dest):
            try:
                m = snapshot.read_manifest(dest, backup_id, pem)
                rows = sum(o["rows"] for o in m["objects"].values())
                size = sum(o["cipher_bytes"] for o in m["objects"].values())
                print(f"{backup_id}  {m['taken_at']}  schema {m['schema_version']}  {len(m['objects'])} tables  "
                      f"{rows} rows  {size} bytes  master key {m['master_key_id']}")
            except HandoverError as exc:
                print(f"{backup_id}  UNUSABLE: {exc}")
        return 0
    backup_id = args.backup_id
    if backup_id in (None, "latest"):
        backup_id = ledger.latest_good(dest, public_key_pem=pem)
    if args.action == "verify":
        master = _master_key() if args.full else None
        result = snapshot.verify(dest, backup_id, public_key_pem=pem, full=args.full, master=master)
        print(f"{backup_id}: {'full' if args.full else 'quick'} check passed ({result['hashed']} of "
              f"{result['objects']} objects hashed)")
        return 0
    from handover.store import connect

    with connect(args.dsn, "backup restore", application_name="handover-restore") as conn:
        result = ledger.restore(conn, dest, backup_id, _master_key(), public_key_pem=pem, overwrite=args.overwrite,
                                tables=args.tables or None, target="cli", requested_by=os.environ.get("USER", "cli"))
    print(f"restored {backup_id}: {result['tables']} tables, {result['rows']} rows in {result['seconds']} s")
    return 0


def _pipia(args) -> int:
    from handover import pipia
    from handover.contract import load_contract
    from handover.crypto import signing_key
    from handover.store import connect, schema

    with connect(args.dsn, "pipia", application_name="handover-pipia") as conn:
        schema.ensure_schema(conn)
        if args.action == "draft":
            from handover import jurisdiction

            contract = load_contract(args.contract)
            counts = pipia.run_counts(conn, contract.branch_id) or pipia.source_counts(contract, args.source)
            crossing = jurisdiction.check(contract.jurisdiction, args.target_region, args.cross_border_approval)
            done = pipia.assess(conn, contract, Path(args.out), signing_key(_signing_text()), counts=counts,
                                crossing=crossing, approver=args.approver, reference=args.reference,
                                actor=os.environ.get("USER", "cli"))
            print(f"{done['reference']}: drafted, overall risk {done['overall']}, approver {done['approver']} — "
                  f"{done['path']}")
            return 0
        if args.action == "list":
            for row in pipia.approved_for(conn, args.branch):
                print(f"{row['reference']}  {row['status']}  {row['overall']}  {row['decided_by'] or '—'}  "
                      f"{row['decided_at'] or '—'}  kept until {row['keep_until']}")
            return 0
        done = pipia.decide(conn, args.reference, "approved" if args.action == "approve" else "rejected",
                            by=args.by, note=args.note, via="cli")
        print(f"{done['reference']}: {done['status']} by {done['decided_by']} at {done['decided_at']}")
        return 0


def _trusted(args) -> set[str]:
    """The fingerprints of the signers a check trusts: --fingerprint, --trusted-key, HANDOVER_SIGNING_KEY's."""
    from handover.crypto import fingerprint, public_pem, signing_key

    found = set()
    if args.fingerprint:
        found.add(args.fingerprint.strip().lower().replace(":", ""))
    if args.trusted_key:
        found.add(fingerprint(Path(args.trusted_key).read_bytes()))
    text = _signing_text()
    if text:
        found.add(fingerprint(public_pem(signing_key(text))))
    return found


def _audit(args) -> int:
    from handover import audit_trail
    from handover.crypto import signing_key
    from handover.store import connect, schema

    dest = _destination(args.dest, args.endpoint_url) if args.dest else None
    with connect(args.dsn, "audit", application_name="handover-audit") as conn:
        if args.action == "checkpoint":
            schema.ensure_schema(conn)
            cp = audit_trail.checkpoint(conn, signing_key(_signing_text()), dest)
            print(f"checkpoint: entry {cp.get('seq', 0)}, hash {cp.get('hash', '—')[:16]}…")
            return 0
        checkpoints = audit_trail.recorded(conn) + (audit_trail.stored(dest) if dest else [])
        trusted = _trusted(args)
        verdict = audit_trail.verify(conn, checkpoints, trusted=trusted or None)
    for line in verdict.lines:
        print(line)
    if not trusted and verdict.counts["checkpoints"]:
        print("signer: none trusted — give --fingerprint or --trusted-key (or HANDOVER_SIGNING_KEY)")
    return 0 if verdict.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="handover", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    contract = sub.add_parser("contract", help="data contracts").add_subparsers(dest="action", required=True)
    check = contract.add_parser("check", help="check a contract and its declared files")
    check.add_argument("contract")
    check.add_argument("--source", help="folder of the export (overrides the contract's)")
    check.set_defaults(func=_contract_check)

    smp = sub.add_parser("sample", help="write the sample branch export")
    smp.add_argument("out_dir")
    smp.add_argument("--customers", type=int, default=200)
    smp.add_argument("--seed", type=int, default=20261129)
    smp.set_defaults(func=_sample)

    run = sub.add_parser("transfer", help="run a transfer here, without Airflow")
    run.add_argument("contract")
    run.add_argument("--dsn", required=True, help="libpq connection string of the target store")
    run.add_argument("--source")
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    run.add_argument("--workers", type=int, default=1, help="processes for the per-source and per-chunk steps")
    run.add_argument("--run-id")
    run.add_argument("--target-region", required=True, help="where the target store is (ISO 3166-1, e.g. CN)")
    run.add_argument("--cross-border-approval", help="reference of the recorded approval, if data leaves its region")
    run.add_argument("--recipient", help="who receives the data (recorded in the manifest)")
    run.add_argument("--state-dir", default=".handover/cli")
    run.set_defaults(func=_transfer)

    upd = sub.add_parser("update", help="apply a change file of customers' contacts (更新信息), with history")
    upd.add_argument("contract")
    upd.add_argument("file", help="the change file (CSV or XLSX): the key column and the changed columns")
    upd.add_argument("--dsn", required=True, help="libpq connection string of the target store")
    upd.add_argument("--sheet", help="XLSX: the sheet (default: the first)")
    upd.add_argument("--batch", type=int, default=500, help="rows decided per transaction")
    upd.add_argument("--run-id", help="the run to go on with (a killed one), or a new one")
    upd.add_argument("--state-dir", default=".handover/cli")
    upd.set_defaults(func=_update)

    find = sub.add_parser("find", help="find customers by an identifier (blind index)")
    find.add_argument("--dsn", required=True)
    group = find.add_mutually_exclusive_group(required=True)
    group.add_argument("--mobile")
    group.add_argument("--id-number")
    group.add_argument("--email")
    find.set_defaults(func=_find)

    rec = sub.add_parser("reconciliation", help="print a manifest's reconciliation")
    rec.add_argument("manifest")
    rec.set_defaults(func=_reconciliation)

    man = sub.add_parser("manifest", help="handover manifests").add_subparsers(dest="action", required=True)
    ver = man.add_parser("verify", help="check a manifest's signature, counts and content hashes")
    ver.add_argument("manifest")
    ver.add_argument("--signature", help="default: MANIFEST.sig")
    ver.add_argument("--public-key", help="the key to check the signature with (default: manifest.pub.pem beside "
                                          "the manifest — it shows no change by accident, not who signed)")
    ver.add_argument("--fingerprint", help="the signer fingerprint the transferring party gave you")
    ver.add_argument("--trusted-key", help="the transferring party's public key (PEM), obtained apart from the "
                                           "manifest: the signature is checked with it")
    ver.add_argument("--dsn", help="libpq connection string of the target store, to compare its contents")
    ver.set_defaults(func=_manifest_verify)

    arc = sub.add_parser("archive", help="archived originals, and the cold archive of inactive customers"
                         ).add_subparsers(dest="action", required=True)
    res = arc.add_parser("restore", help="decrypt an archived original and check its SHA-256 (ARCHIVE OUT); with "
                                         "--dsn, bring archived customers back into the vault and analytics")
    res.add_argument("archive", nargs="?")
    res.add_argument("out", nargs="?")
    res.add_argument("--branch", required=True)
    res.add_argument("--dsn", help="the target store (archived customers)")
    res.add_argument("--dest", help="the cold archive's folder or s3://bucket/prefix")
    res.add_argument("--endpoint-url", help="S3 API endpoint (MinIO)")
    res.add_argument("--kind", choices=("customer_id", "mobile", "id_number"), help="identifiers on stdin")
    res.add_argument("--all", action="store_true", help="every archived customer of the branch")
    res.add_argument("--tombstones-from", help="the backups' folder or s3://…: their tombstones apply too (after a "
                                               "recovery onto a new server, whose control has none)")
    res.set_defaults(func=_archive_restore)
    fnd = arc.add_parser("find", help="find archived customers by identifier (on stdin), through the archive's "
                                      "index alone")
    fnd.add_argument("--dsn", required=True)
    fnd.add_argument("--kind", required=True, choices=("customer_id", "mobile", "id_number"))
    fnd.add_argument("--branch", help="the branch (required for a customer id)")
    fnd.set_defaults(func=_archive_find)
    rix = arc.add_parser("reindex", help="make the cold archive's index again from its destination (after a "
                                         "recovery onto a new server)")
    rix.add_argument("--dsn", required=True)
    rix.add_argument("--dest", required=True, help="the cold archive's folder or s3://bucket/prefix")
    rix.add_argument("--endpoint-url", help="S3 API endpoint (MinIO)")
    rix.set_defaults(func=_archive_reindex)

    qua = sub.add_parser("quarantine", help="quarantined rows").add_subparsers(dest="action", required=True)
    exp = qua.add_parser("export", help="the branch's quarantined rows as sent, for repair (formula-safe cells)")
    exp.add_argument("--dsn", required=True)
    exp.add_argument("--branch", required=True)
    exp.add_argument("--out", required=True, help="folder to write into (files are readable by you only)")
    exp.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    exp.add_argument("--entity", default=None)
    exp.set_defaults(func=_quarantine_export)

    scan = sub.add_parser("scan", help="search for the export's identifiers and customer names where they must "
                                       "not be: what the role can read, log files")
    scan.add_argument("--contract", required=True)
    scan.add_argument("--source", help="folder of the export (overrides the contract's)")
    scan.add_argument("--dsn", required=True, help="libpq connection string of the target store")
    scan.add_argument("--logs", nargs="*", help="log files, or folders whose *.log files are scanned")
    scan.add_argument("--role", default="handover_analyst",
                      help="scan the columns this role may read (if it does not exist: schema analytics)")
    scan.set_defaults(func=_scan)

    roles = sub.add_parser("roles", help="create or refresh the store's roles and grants (an administrator's "
                                         "login: it creates roles)")
    roles.add_argument("--dsn", required=True, help="libpq connection string of the target store")
    roles.set_defaults(func=_roles)

    keys = sub.add_parser("keys", help="the recovery kit of the master and signing keys").add_subparsers(
        dest="action", required=True)
    kit = keys.add_parser("kit", help="seal HANDOVER_MASTER_KEY and HANDOVER_SIGNING_KEY under a passphrase")
    kit.add_argument("--out", required=True, help="the kit file to write (must not exist)")
    kit.set_defaults(func=_keys_kit)
    rec_keys = keys.add_parser("recover", help="open a kit: the keys as files readable by you only")
    rec_keys.add_argument("kit")
    rec_keys.add_argument("--out-dir", required=True)
    rec_keys.set_defaults(func=_keys_recover)

    era = sub.add_parser("erase", help="file erasure requests (identifiers on stdin, one per line, or at the "
                                       "prompt)")
    era.add_argument("--dsn", required=True)
    era.add_argument("--kind", required=True, choices=("customer_id", "mobile", "id_number"))
    era.add_argument("--branch", help="the branch (required for a customer id)")
    era.add_argument("--basis", required=True, choices=("individual_request", "consent_withdrawn",
                                                        "purpose_achieved", "retention_ended"))
    era.add_argument("--requested-by")
    era.set_defaults(func=_erase)
    obj = sub.add_parser("objection", help="a customer objects to the transfer or withdraws consent (identifiers "
                                           "on stdin, one per line, or at the prompt)")
    obj.add_argument("--dsn", required=True)
    obj.add_argument("--kind", required=True, choices=("customer_id", "mobile", "id_number"))
    obj.add_argument("--branch", help="the branch (required for a customer id)")
    obj.add_argument("--withdrawal", action="store_true", help="consent withdrawn (default: an objection)")
    obj.add_argument("--source", default="cli", choices=("cli", "letter", "page"), help="how it reached us")
    obj.add_argument("--received-by")
    obj.set_defaults(func=_objection)
    rep = sub.add_parser("replies", help="act on an inbound file of SMS replies (CSV: mobile,text)")
    rep.add_argument("--dsn", required=True)
    rep.add_argument("file")
    rep.add_argument("--received-by")
    rep.set_defaults(func=_replies)
    let = sub.add_parser("letters", help="act on a CSV of processed letters (id_kind,identifier,branch_id,intent)")
    let.add_argument("file")
    let.add_argument("--dsn", required=True, help="libpq connection string of the target store")
    let.add_argument("--received-by", help="who processed the letters (default: $USER)")
    let.set_defaults(func=_replies)
    hold = sub.add_parser("hold", help="legal holds").add_subparsers(dest="action", required=True)
    place = hold.add_parser("place", help="hold a branch (--branch) or customers (--kind; one per line of stdin)")
    place.add_argument("--dsn", required=True)
    place.add_argument("--branch")
    place.add_argument("--kind", choices=("customer_id", "mobile", "id_number"))
    place.add_argument("--reason", required=True, help="e.g. the case or order reference (no customer data)")
    place.set_defaults(func=_hold)
    release = hold.add_parser("release")
    release.add_argument("hold_id", type=int)
    release.add_argument("--dsn", required=True)
    release.set_defaults(func=_hold)
    hold_list = hold.add_parser("list")
    hold_list.add_argument("--dsn", required=True)
    hold_list.set_defaults(func=_hold)
    ers = sub.add_parser("erasures", help="every erasure request's state")
    ers.add_argument("--dsn", required=True)
    ers.set_defaults(func=_erasures)

    pia = sub.add_parser("pipia", help="the transfer's impact assessment (PIPIA)").add_subparsers(
        dest="action", required=True)
    pd = pia.add_parser("draft", help="draft, sign and record it from the contract and the export (or last run)")
    pd.add_argument("contract")
    pd.add_argument("--dsn", required=True)
    pd.add_argument("--out", required=True, help="folder for pipia.json, its signature and pipia.html")
    pd.add_argument("--source", help="the export's folder (overrides the contract's)")
    pd.add_argument("--approver", help="who approves it (default: the contract's transfer.pipia.approver)")
    pd.add_argument("--reference", help="default: the contract's transfer.pipia.reference")
    pd.add_argument("--target-region", default="CN", help="where the target store is (ISO 3166-1)")
    pd.add_argument("--cross-border-approval")
    pd.set_defaults(func=_pipia)
    for action in ("approve", "reject"):
        pa = pia.add_parser(action, help=f"{action} a drafted PIPIA (its named approver only)")
        pa.add_argument("reference")
        pa.add_argument("--dsn", required=True)
        pa.add_argument("--by", required=True, help="the approver's name, as the PIPIA names them")
        pa.add_argument("--note")
        pa.set_defaults(func=_pipia)
    pl = pia.add_parser("list", help="a branch's assessments")
    pl.add_argument("--dsn", required=True)
    pl.add_argument("--branch", required=True)
    pl.set_defaults(func=_pipia)

    aud = sub.add_parser("audit", help="the audit trail's hash chain").add_subparsers(dest="action", required=True)
    for action, text in (("verify", "recompute the chain; check it against its signed checkpoints"),
                         ("checkpoint", "sign the chain's head now (HANDOVER_SIGNING_KEY)")):
        cmd = aud.add_parser(action, help=text)
        cmd.add_argument("--dsn", required=True)
        cmd.add_argument("--dest", help="the backups' folder or s3://bucket/prefix (checkpoints beside them)")
        cmd.add_argument("--endpoint-url", help="S3 API endpoint (MinIO)")
        if action == "verify":
            cmd.add_argument("--fingerprint", help="the signing key's fingerprint you were given")
            cmd.add_argument("--trusted-key", help="the signing key's public PEM you trust")
        cmd.set_defaults(func=_audit)

    bak = sub.add_parser("backup", help="the store's backups, without Airflow").add_subparsers(
        dest="action", required=True)
    for action, text in (("list", "the backups and what each holds"),
                         ("verify", "check a backup (signature, sizes, ciphertext hashes; --full decrypts all)"),
                         ("restore", "restore a backup into a store (one transaction)")):
        cmd = bak.add_parser(action, help=text)
        cmd.add_argument("--dest", required=True, help="a folder, or s3://bucket/prefix")
        cmd.add_argument("--endpoint-url", help="S3 API endpoint (MinIO)")
        cmd.add_argument("--public-key", help="the signing key's public PEM you trust (default: from "
                                              "HANDOVER_SIGNING_KEY)")
        if action != "list":
            cmd.add_argument("backup_id", nargs="?", default="latest", help="default: the newest good one")
        if action == "verify":
            cmd.add_argument("--full", action="store_true", help="decrypt every object (needs the master key)")
        if action == "restore":
            cmd.add_argument("--dsn", required=True, help="libpq connection string of the store to restore into")
            cmd.add_argument("--tables", nargs="*", help="schema.table or schema names (default: all)")
            cmd.add_argument("--overwrite", action="store_true", help="replace what a non-empty store holds")
        cmd.set_defaults(func=_backup)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HandoverError as exc:
        print(f"handover: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        told = as_store_error(exc, args.command)  # a store error no `connect` caught: told all the same
        if told is None:
            raise
        print(f"handover: {told}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
