"""The target store's schemas: ``vault`` (the records), ``ops`` (runs, audit, quarantine, keys, manifests),
``staging`` (a run's protected rows before they are merged), ``control`` (what was done *to* the store —
backups, their checks, restores, erasures' tombstones: never inside a backup, so a restore cannot roll it
back).

The vault's and the analytics tier's tables are derived from the canonical model
(:mod:`handover.store.tables`).
`ensure_schema` is idempotent and serialised by an advisory lock, so concurrent first runs are safe.
"""

from __future__ import annotations

import hashlib

from handover import canonical
from handover.analytics import analytics_columns
from handover.errors import HandoverError
from handover.store import partitions
from handover.store.tables import BOOKKEEPING, analytics_ddl, vault_columns, vault_ddl


class SchemaError(HandoverError):
    """The target store's schema differs from the model in a way that needs a written migration."""

SCHEMA_VERSION = 12  # 3: vault tables partitioned by branch; 4: the analytics tier; 5: control;
#                    6: document types, customer fields, card transactions, field issues;
#                    7: customer notices, their outbox, objections and marketing opt-outs (control);
#                    8: contact updates — vault.customer_history, ops.update_runs / update_rows, confirmations
#                       in the outbox (notices of kind contact_change, the contact's version);
#                       control.processing_stopped (erasures refused for a legal basis)
#                    9: the audit trail hash-chained (ops.audit seq/prev_hash/hash, ops.audit_head), its
#                       signed checkpoints, PIPIA records, compliance reviews and remediation items,
#                       incidents (control)
#                    10: customer insights (insights)
#                    11: data upkeep — control.upkeep_runs, control.upkeep_findings (handover.upkeep)
#                    12: the cold archive of inactive customers (control.cold_archive_objects, control.cold_archive_index)
_LOCK = 7_340_012  # advisory lock id for schema changes


OPS_DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS vault;
CREATE SCHEMA IF NOT EXISTS staging;

CREATE TABLE IF NOT EXISTS ops.schema_version (
    version integer PRIMARY KEY, fingerprint text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());

-- Wrapped keys: one data key per branch ('data:<branch>') and the purpose keys ('blind_index', 'content').
CREATE TABLE IF NOT EXISTS ops.keys (
    purpose text PRIMARY KEY, key_id text NOT NULL, wrapped bytea NOT NULL, master_key_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), rewrapped_at timestamptz);

CREATE TABLE IF NOT EXISTS ops.runs (
    run_id text PRIMARY KEY, branch_id text NOT NULL, contract_sha256 text NOT NULL, mode text NOT NULL,
    status text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
    counts jsonb, validation jsonb);
-- who drives the run (a process: run_all; or Airflow's tasks) and when a task of it last started
-- (handover.store.runlock: a live run is never swept)
ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS driver text NOT NULL DEFAULT 'process';
ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;

-- Append-only: what happened, by whom, never a customer value.
CREATE TABLE IF NOT EXISTS ops.audit (
    id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), run_id text,
    branch_id text, actor text NOT NULL, action text NOT NULL, detail jsonb NOT NULL DEFAULT '{}');
CREATE OR REPLACE FUNCTION ops.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ops.audit is append-only'; END $$;
DROP TRIGGER IF EXISTS audit_append_only ON ops.audit;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ops.audit
    FOR EACH STATEMENT EXECUTE FUNCTION ops.audit_is_append_only();
-- The hash chain (handover.audit_trail): every entry carries its place (seq), the previous entry's hash and
-- its own — SHA-256 over the previous hash and the entry's fields, each length-prefixed. The trigger computes
-- them under the row lock of ops.audit_head, so entries written by parallel tasks chain one after another
-- (seq, not id, is the chain's order: ids are drawn before the lock). It runs as the owner: the runner may
-- insert entries but never set the head.
ALTER TABLE ops.audit ADD COLUMN IF NOT EXISTS seq bigint;
ALTER TABLE ops.audit ADD COLUMN IF NOT EXISTS prev_hash bytea;
ALTER TABLE ops.audit ADD COLUMN IF NOT EXISTS hash bytea;
CREATE UNIQUE INDEX IF NOT EXISTS audit_by_seq ON ops.audit (seq);
CREATE TABLE IF NOT EXISTS ops.audit_head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), seq bigint NOT NULL, hash bytea NOT NULL);
CREATE OR REPLACE FUNCTION ops.audit_field(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN coalesce('s' || octet_length(v) || ':' || v, 'n');
CREATE OR REPLACE FUNCTION ops.audit_entry_hash(prev bytea, seq bigint, at timestamptz, run_id text,
    branch_id text, actor text, action text, detail jsonb) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN sha256(prev || convert_to(ops.audit_field(seq::text)
        || ops.audit_field(((extract(epoch FROM at) * 1000000)::bigint)::text) || ops.audit_field(run_id)
        || ops.audit_field(branch_id) || ops.audit_field(actor) || ops.audit_field(action)
        || ops.audit_field(detail::text), 'UTF8'));
CREATE OR REPLACE FUNCTION ops.audit_chain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE head record;
BEGIN
    SELECT h.seq, h.hash INTO head FROM ops.audit_head h FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO ops.audit_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT DO NOTHING;
        SELECT h.seq, h.hash INTO head FROM ops.audit_head h FOR UPDATE;
    END IF;
    NEW.seq := head.seq + 1;
    NEW.prev_hash := head.hash;
    NEW.hash := ops.audit_entry_hash(head.hash, NEW.seq, NEW.at, NEW.run_id, NEW.branch_id, NEW.actor,
                                     NEW.action, NEW.detail);
    UPDATE ops.audit_head SET seq = NEW.seq, hash = NEW.hash;
    RETURN NEW;
END $fn$;
-- A store of version 7 or older: its entries chained once, in the order they were written.
DO $mig$ DECLARE r record; prev bytea; n bigint := 0;
BEGIN
    IF NOT EXISTS (SELECT FROM ops.audit_head) AND EXISTS (SELECT FROM ops.audit WHERE seq IS NULL) THEN
        prev := decode(repeat('00', 32), 'hex');
        ALTER TABLE ops.audit DISABLE TRIGGER audit_append_only;
        FOR r IN SELECT * FROM ops.audit ORDER BY id LOOP
            n := n + 1;
            UPDATE ops.audit SET seq = n, prev_hash = prev,
                hash = ops.audit_entry_hash(prev, n, r.at, r.run_id, r.branch_id, r.actor, r.action, r.detail)
                WHERE id = r.id RETURNING hash INTO prev;
        END LOOP;
        ALTER TABLE ops.audit ENABLE TRIGGER audit_append_only;
        INSERT INTO ops.audit_head (seq, hash) VALUES (n, prev);
    END IF;
END $mig$;
INSERT INTO ops.audit_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex')) ON CONFLICT DO NOTHING;
DROP TRIGGER IF EXISTS audit_chain ON ops.audit;
CREATE TRIGGER audit_chain BEFORE INSERT ON ops.audit FOR EACH ROW EXECUTE FUNCTION ops.audit_chain();

-- Rows that failed verification: reason codes, where they came from, their content encrypted.
CREATE TABLE IF NOT EXISTS ops.quarantine (
    branch_id text NOT NULL, entity text NOT NULL, source_file text NOT NULL, source_line integer NOT NULL,
    record_key text, reasons text[] NOT NULL, payload_enc bytea NOT NULL, payload_hash bytea NOT NULL,
    key_id text NOT NULL, first_run_id text NOT NULL, last_run_id text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, entity, source_file, source_line));
-- Set when a later run loads the record (by key): the branch repaired it.
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS resolved_run_id text;
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS resolved_at timestamptz;

-- Records not transferred (no consent, or a parent not transferred): blind indexes only, for notice
-- and purge.
CREATE TABLE IF NOT EXISTS ops.exclusions (
    branch_id text NOT NULL, entity text NOT NULL, source_file text NOT NULL, source_line integer NOT NULL,
    record_key text, reasons text[] NOT NULL, id_number_bidx bytea, mobile_bidx bytea,
    first_run_id text NOT NULL, excluded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, entity, source_file, source_line));

CREATE TABLE IF NOT EXISTS ops.manifests (
    run_id text PRIMARY KEY, branch_id text NOT NULL, manifest jsonb NOT NULL, sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE ops.manifests ADD COLUMN IF NOT EXISTS manifest_text text;
ALTER TABLE ops.manifests ADD COLUMN IF NOT EXISTS signature text;
ALTER TABLE ops.manifests ADD COLUMN IF NOT EXISTS public_key text;
ALTER TABLE ops.manifests ADD COLUMN IF NOT EXISTS signer_fingerprint text;

-- The branch's untouched export, archived encrypted before anything was transformed (content-addressed).
CREATE TABLE IF NOT EXISTS ops.archives (
    branch_id text NOT NULL, sha256 text NOT NULL, file text NOT NULL, bytes bigint NOT NULL,
    archive_path text NOT NULL, archive_sha256 text NOT NULL, master_key_id text NOT NULL,
    first_run_id text NOT NULL, archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, sha256));

-- Each branch's retention classes, as its contract binds them to its records (handover.purge.rules).
CREATE TABLE IF NOT EXISTS ops.retention_classes (
    branch_id text NOT NULL, entity text NOT NULL, class text NOT NULL, keep text NOT NULL,
    after text NOT NULL, basis text, contract_sha256 text NOT NULL, bound_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, entity));

-- Each customer's latest activity ever seen (a purge of old transactions must not make it look older).
CREATE TABLE IF NOT EXISTS ops.activity (
    branch_id text NOT NULL, customer_id text NOT NULL, last_activity date NOT NULL,
    PRIMARY KEY (branch_id, customer_id));
"""

# Outside every backup (handover.backup.snapshot backs up ops, vault and analytics): a restore replaces
# those and leaves this as it was — the record of the backups, checks and restores themselves.
CONTROL_DDL = """
CREATE SCHEMA IF NOT EXISTS control;

CREATE TABLE IF NOT EXISTS control.backups (
    backup_id text PRIMARY KEY, destination text NOT NULL, taken_at timestamptz NOT NULL,
    seconds numeric NOT NULL, tables integer NOT NULL, rows bigint NOT NULL, plain_bytes bigint NOT NULL,
    cipher_bytes bigint NOT NULL, schema_version integer NOT NULL, key_id text NOT NULL,
    master_key_id text NOT NULL, runs text[] NOT NULL DEFAULT '{}',
    expired_at timestamptz, expiry_reason text);

-- Every check of a backup: quick (signature, sizes, a rolling subset hashed), full (every object read and
-- decrypted), drill (restored into a scratch database and compared), keys (the master key opens it).
CREATE TABLE IF NOT EXISTS control.backup_checks (
    id bigserial PRIMARY KEY, backup_id text NOT NULL, kind text NOT NULL, ok boolean NOT NULL,
    seconds numeric NOT NULL, detail jsonb NOT NULL DEFAULT '{}',
    checked_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IF NOT EXISTS backup_checks_by_backup ON control.backup_checks (backup_id, checked_at);

-- Every retention decision: what was kept and why, what was removed (its key first).
CREATE TABLE IF NOT EXISTS control.expiries (
    id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), policy jsonb NOT NULL,
    kept jsonb NOT NULL, removed text[] NOT NULL, unverified text[] NOT NULL);

-- Legal holds (诉讼保全 …): a branch, or a customer matched by keyed hash, kept from every purge and erasure.
CREATE TABLE IF NOT EXISTS control.legal_holds (
    id bigserial PRIMARY KEY, branch_id text, match_kind text, match_digest bytea, reason text NOT NULL,
    placed_by text NOT NULL, placed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    released_by text, released_at timestamptz,
    CHECK ((match_kind IS NULL) = (match_digest IS NULL)), CHECK (branch_id IS NOT NULL OR match_kind IS NOT NULL));

-- Erasure requests (PIPL Art. 47): the identifier as a keyed hash only, never in plaintext.
CREATE TABLE IF NOT EXISTS control.erasure_requests (
    id bigserial PRIMARY KEY, match_kind text NOT NULL, match_digest bytea NOT NULL, branch_id text,
    basis text NOT NULL, requested_by text NOT NULL, received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    state text NOT NULL DEFAULT 'pending', reason text, retry_after date, decided_at timestamptz,
    outcome jsonb NOT NULL DEFAULT '{}');

-- What was erased, as keyed hashes: applied again after every restore, so an erased customer never comes back.
CREATE TABLE IF NOT EXISTS control.tombstones (
    kind text NOT NULL, digest bytea NOT NULL, request_id bigint NOT NULL, erased_at timestamptz NOT NULL,
    PRIMARY KEY (kind, digest));

-- Every purge run: counts per class (never a customer value).
CREATE TABLE IF NOT EXISTS control.purges (
    id bigserial PRIMARY KEY, started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz, dry_run boolean NOT NULL, today date NOT NULL, counts jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'running');

-- Customers told (PIPL Art. 17, 22), in control so that a restore never rolls back what was sent (and so
-- never sends it again). A notice run: one notice per loaded customer, its outcome; the outbox: one row per
-- message, written in the transaction that decides the notice — the customer's key and the channel, never
-- an address (the deliverer decrypts the contact from the vault, one batch at a time).
CREATE TABLE IF NOT EXISTS control.notice_runs (
    id bigserial PRIMARY KEY, branch_id text NOT NULL, kind text NOT NULL, contract_sha256 text NOT NULL,
    prepared_on date NOT NULL, deadline date NOT NULL, channels text[] NOT NULL, requested_by text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz,
    status text NOT NULL DEFAULT 'prepared', counts jsonb NOT NULL DEFAULT '{}');
-- status: queued → attempted → delivered | bounced | undelivered | failed (after retries) | letter (fell back
-- to a letter) | announcement (no channel reached: the public announcement) | objected (the customer objected
-- before it went) | skipped (excluded: erased meanwhile)
CREATE TABLE IF NOT EXISTS control.notices (
    id bigserial PRIMARY KEY, run_id bigint NOT NULL REFERENCES control.notice_runs (id), branch_id text NOT NULL,
    customer_id text NOT NULL, kind text NOT NULL, status text NOT NULL DEFAULT 'queued', channel text,
    reasons text[] NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), delivered_at timestamptz);
-- one notice of a kind per customer (the transfer notice, an incident's notice); confirmations of a changed
-- contact (kind contact_change) one per change
ALTER TABLE control.notices DROP CONSTRAINT IF EXISTS notices_branch_id_kind_customer_id_key;
DROP INDEX IF EXISTS control.notices_once;
CREATE UNIQUE INDEX IF NOT EXISTS notices_once_per_kind ON control.notices (branch_id, kind, customer_id)
    WHERE kind <> 'contact_change';
CREATE INDEX IF NOT EXISTS notices_by_run ON control.notices (run_id, status);
-- state: queued → sending (claimed: the attempt is recorded before anything is sent) → sent (the server's
-- receipt) | retry (next_attempt_at) | failed | skipped (no valid contact: the notice falls back) |
-- in_doubt (killed between a send and its receipt on a channel that cannot be asked: never sent again)
CREATE TABLE IF NOT EXISTS control.outbox (
    id bigserial PRIMARY KEY, notice_id bigint NOT NULL REFERENCES control.notices (id),
    idempotency_key text NOT NULL UNIQUE, branch_id text NOT NULL, customer_id text NOT NULL,
    channel text NOT NULL, state text NOT NULL DEFAULT 'queued', attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(), last_reason text, receipt text,
    delivery text, created_at timestamptz NOT NULL DEFAULT clock_timestamp(), claimed_at timestamptz,
    sent_at timestamptz, CHECK (channel IN ('sms', 'email', 'letter')));
-- the contact a message goes to: the customer's current record (NULL), or an earlier version of it
-- (vault.customer_history.version: a confirmation to the mobile or e-mail a change replaced)
ALTER TABLE control.outbox ADD COLUMN IF NOT EXISTS contact_version integer;
CREATE INDEX IF NOT EXISTS outbox_due ON control.outbox (state, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS outbox_by_notice ON control.outbox (notice_id);

-- Objections to the transfer and withdrawals of consent (PIPL Art. 15, 44): the customer by key (the key is
-- resolved from the identifier given through the blind index), how it came, what was done; processing stops
-- at once and an erasure request (basis consent_withdrawn) takes it from there.
CREATE TABLE IF NOT EXISTS control.objections (
    id bigserial PRIMARY KEY, branch_id text NOT NULL, customer_id text NOT NULL, kind text NOT NULL,
    source text NOT NULL, received_by text NOT NULL, received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    erasure_request_id bigint, outcome jsonb NOT NULL DEFAULT '{}',
    CHECK (kind IN ('objection', 'withdrawal')));
CREATE UNIQUE INDEX IF NOT EXISTS objections_once ON control.objections (branch_id, customer_id, kind);
-- Customers whose processing stopped because their erasure was refused while a legal basis (AML) keeps the
-- records: by key, so that every later load leaves them out of the analytics tier as it does objectors (their
-- erasure request holds the identifier's keyed hash only); removed when the erasure is carried out.
CREATE TABLE IF NOT EXISTS control.processing_stopped (
    branch_id text NOT NULL, customer_id text NOT NULL, request_id bigint NOT NULL, reason text NOT NULL,
    stopped_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (branch_id, customer_id));
-- Marketing opt-outs (退订/TD): offers stop; the notices the law requires do not.
CREATE TABLE IF NOT EXISTS control.marketing_optouts (
    branch_id text NOT NULL, customer_id text NOT NULL, source text NOT NULL,
    opted_out_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (branch_id, customer_id));

-- Signed checkpoints of the audit chain's head (handover.audit_trail), also written beside the backups. A
-- restore that rolls ops.audit back reuses places (seq), hence the key.
CREATE TABLE IF NOT EXISTS control.audit_checkpoints (
    seq bigint NOT NULL, hash text NOT NULL, entry_at timestamptz NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT clock_timestamp(), text text NOT NULL, signature text NOT NULL,
    public_key text NOT NULL, signer_fingerprint text NOT NULL, PRIMARY KEY (seq, hash));

-- Impact assessments (PIPIA, PIPL Art. 55–56: handover.pipia): the signed record, its named approver, the
-- decision (who, when, how), kept at least three years after it (retention class pipia).
CREATE TABLE IF NOT EXISTS control.pipia (
    reference text PRIMARY KEY, branch_id text NOT NULL, contract_sha256 text NOT NULL, record jsonb NOT NULL,
    text text NOT NULL, sha256 text NOT NULL, signature text NOT NULL, public_key text NOT NULL,
    signer_fingerprint text NOT NULL, approver text NOT NULL, overall text NOT NULL,
    status text NOT NULL DEFAULT 'drafted', drafted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    decided_by text, decided_at timestamptz, decided_via text, decision_note text,
    retention_class text NOT NULL DEFAULT 'pipia', keep_until date NOT NULL,
    CHECK (status IN ('drafted', 'approved', 'rejected')));

-- The compliance review (handover.review): each run, its findings (counts only), and the remediation items
-- (整改措施) its failures open — one per check, closed when the check passes, reopened when it fails again.
CREATE TABLE IF NOT EXISTS control.reviews (
    id bigserial PRIMARY KEY, kind text NOT NULL, requested_by text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(), passed integer NOT NULL, failed integer NOT NULL,
    report_path text);
CREATE TABLE IF NOT EXISTS control.review_findings (
    id bigserial PRIMARY KEY, review_id bigint NOT NULL REFERENCES control.reviews (id), check_name text NOT NULL,
    passed boolean NOT NULL, severity text NOT NULL, evidence jsonb NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS control.remediation (
    id bigserial PRIMARY KEY, check_name text NOT NULL UNIQUE, severity text NOT NULL, owner text NOT NULL,
    due_on date NOT NULL, status text NOT NULL, opened_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    closed_at timestamptz, reopened integer NOT NULL DEFAULT 0, opened_review_id bigint NOT NULL,
    last_review_id bigint NOT NULL, alerted_on date, CHECK (status IN ('open', 'closed')));

-- Data upkeep (handover.upkeep, 维护资料): one run per month (a re-run replaces it), its counts, and the records
-- it names — keys and reason codes only: re-validation failures, expired documents, merge candidates (grouped),
-- bounced contacts. Remediation items (upkeep_*) carry the run's id as their review id.
CREATE TABLE IF NOT EXISTS control.upkeep_runs (
    id bigserial PRIMARY KEY, month date NOT NULL UNIQUE, today date NOT NULL, requested_by text NOT NULL,
    ran_at timestamptz NOT NULL DEFAULT clock_timestamp(), counts jsonb NOT NULL DEFAULT '{}', report_path text,
    CHECK (month = date_trunc('month', month)::date));
CREATE TABLE IF NOT EXISTS control.upkeep_findings (
    run_id bigint NOT NULL REFERENCES control.upkeep_runs (id), kind text NOT NULL, branch_id text NOT NULL,
    entity text NOT NULL, record_key text NOT NULL, reasons text[] NOT NULL, merge_group integer,
    PRIMARY KEY (run_id, kind, branch_id, entity, record_key),
    CHECK (kind IN ('revalidation', 'expired_document', 'merge_candidate', 'bounced_contact')));

-- Incidents (handover.incident, PIPL Art. 57): scope, the reporting clock, what each step did; the logins a
-- containment refused (given back one at a time, deliberately).
CREATE TABLE IF NOT EXISTS control.incidents (
    reference text PRIMARY KEY, kind text NOT NULL, scope jsonb NOT NULL, detected_at timestamptz NOT NULL,
    report_due_at timestamptz NOT NULL, dry_run boolean NOT NULL, opened_by text NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT clock_timestamp(), status text NOT NULL DEFAULT 'open',
    steps jsonb NOT NULL DEFAULT '[]', affected jsonb, closed_at timestamptz, report_path text);
CREATE TABLE IF NOT EXISTS control.incident_logins (
    reference text NOT NULL REFERENCES control.incidents (reference), login text NOT NULL,
    contained_at timestamptz NOT NULL DEFAULT clock_timestamp(), given_back_at timestamptz,
    PRIMARY KEY (reference, login));

-- The cold archive of inactive customers (handover.cold_archive; not ops.archives, the untouched exports): each
-- sealed object (one per branch and month, its tables as Parquet parts, one data key wrapped by the master —
-- NULL once shredded) and the index that finds an archived customer by keyed hash without opening it. In
-- control, so that a backup restore never rolls back what left the vault (the backups hold no archived row).
CREATE TABLE IF NOT EXISTS control.cold_archive_objects (
    object_id text PRIMARY KEY, branch_id text NOT NULL, period text NOT NULL, generation integer NOT NULL,
    state text NOT NULL, key_id text NOT NULL, wrapped_key bytea, master_key_id text NOT NULL,
    parts jsonb NOT NULL DEFAULT '{}', customers integer NOT NULL DEFAULT 0, storage jsonb NOT NULL DEFAULT '{}',
    next_due_on date, written_at timestamptz NOT NULL DEFAULT clock_timestamp(), completed_at timestamptz,
    replaced_by text, shredded_at timestamptz,
    CHECK (state IN ('writing', 'written', 'complete', 'replaced')));
CREATE UNIQUE INDEX IF NOT EXISTS cold_archive_once ON control.cold_archive_objects (branch_id, period, generation);
-- state: archived (in the object, gone from the hot tables) | restored (back in the vault: out of the object
-- at its next rewrite, not archived again before the period has run since) | erased | purged (out of the
-- object at its next rewrite, then the row goes)
CREATE TABLE IF NOT EXISTS control.cold_archive_index (
    object_id text NOT NULL, branch_id text NOT NULL, customer_id text NOT NULL, customer_digest bytea NOT NULL,
    mobile_bidx bytea, id_number_bidx bytea, state text NOT NULL, last_activity date, anchors jsonb NOT NULL DEFAULT '{}',
    rows jsonb NOT NULL DEFAULT '{}', archived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    restored_at timestamptz, PRIMARY KEY (object_id, branch_id, customer_id),
    CHECK (state IN ('archived', 'restored', 'erased', 'purged')));
CREATE INDEX IF NOT EXISTS cold_archive_by_customer ON control.cold_archive_index (branch_id, customer_id);
CREATE INDEX IF NOT EXISTS cold_archive_by_digest ON control.cold_archive_index (customer_digest);
CREATE INDEX IF NOT EXISTS cold_archive_by_mobile ON control.cold_archive_index (mobile_bidx);
CREATE INDEX IF NOT EXISTS cold_archive_by_id_number ON control.cold_archive_index (id_number_bidx);

CREATE TABLE IF NOT EXISTS control.restores (
    id bigserial PRIMARY KEY, backup_id text NOT NULL, target text NOT NULL, tables text[],
    overwrite boolean NOT NULL, requested_by text NOT NULL, status text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz, seconds numeric,
    rows jsonb, error text);
"""

# Contact updates (handover.updates): each change file's run and what became of each of its rows — applied,
# quarantined (with its reasons, the row sealed in ops.quarantine as entity customer_updates), unchanged (the
# vault holds these values already: the same file again changes nothing) or duplicate (the same change twice
# in one file). Keys only, never a value.
UPDATES_DDL = """
CREATE TABLE IF NOT EXISTS ops.update_runs (
    run_id text PRIMARY KEY, branch_id text NOT NULL, file text NOT NULL, sha256 text NOT NULL,
    contract_sha256 text NOT NULL, fields text[] NOT NULL, status text NOT NULL DEFAULT 'running',
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz,
    counts jsonb NOT NULL DEFAULT '{}', notice_run bigint);
CREATE TABLE IF NOT EXISTS ops.update_rows (
    run_id text NOT NULL REFERENCES ops.update_runs (run_id), source_line integer NOT NULL,
    branch_id text NOT NULL, customer_id text, disposition text NOT NULL, fields text[] NOT NULL DEFAULT '{}',
    reasons text[] NOT NULL DEFAULT '{}', version integer, decided_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, source_line),
    CHECK (disposition IN ('applied', 'quarantined', 'excluded', 'unchanged', 'duplicate')));
CREATE INDEX IF NOT EXISTS update_rows_by_customer ON ops.update_rows (branch_id, customer_id);
"""


def history_columns() -> list[tuple[str, str]]:
    """vault.customer_history: every column of a vault customer row (its ciphertexts as they were), and the
    version's number and validity — dbt snapshots' valid-from / valid-to."""
    return vault_columns(canonical.CUSTOMERS) + [
        ("key_id", "text"), ("row_hash", "bytea"), ("version", "integer"), ("valid_from", "timestamptz"),
        ("valid_to", "timestamptz"), ("changed_by_run", "text")]


def history_ddl() -> str:
    """The earlier versions of each customer's record (in the vault, so in every backup; erased and purged
    with the customer): one row per version a change replaced, encrypted as it was, valid from ``valid_from``
    until ``valid_to`` (the current version is the vault's own row)."""
    body = [f"{n} {t}" + (' COLLATE "C" NOT NULL' if n in ("branch_id", "customer_id") else "")
            + (" NOT NULL" if n in ("key_id", "row_hash", "version", "valid_from", "valid_to", "changed_by_run")
               else "") for n, t in history_columns()]
    body.append("PRIMARY KEY (branch_id, customer_id, version)")
    return ("CREATE TABLE IF NOT EXISTS vault.customer_history (\n    " + ",\n    ".join(body) + ");\n"
            "CREATE INDEX IF NOT EXISTS customer_history_valid_to ON vault.customer_history (branch_id, valid_to);\n")


# Customer insights (handover.insights): aggregates of the analytics tier, suppressed below k — what the
# analyst role may read besides analytics. Derived nightly, so outside the backups.
INSIGHTS_DDL = """
CREATE SCHEMA IF NOT EXISTS insights;
CREATE TABLE IF NOT EXISTS insights.runs (
    id bigserial PRIMARY KEY, as_of date NOT NULL UNIQUE, min_k integer NOT NULL, thresholds jsonb NOT NULL,
    models text[] NOT NULL, models_sha256 text NOT NULL, branches text[] NOT NULL, customers integer NOT NULL,
    cells integer NOT NULL, suppressed integer NOT NULL, computed_by text NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT clock_timestamp());
-- customers is NULL where the cell is suppressed (fewer than k, or one that would give such a cell away)
CREATE TABLE IF NOT EXISTS insights.segments (
    run_id bigint NOT NULL REFERENCES insights.runs (id), as_of date NOT NULL, branch_id text NOT NULL,
    region text NOT NULL, dimension text NOT NULL, segment text NOT NULL, customers integer,
    suppressed boolean NOT NULL, PRIMARY KEY (run_id, branch_id, region, dimension, segment),
    CHECK (suppressed = (customers IS NULL)));
"""


def full_ddl() -> str:
    return (OPS_DDL + "\n".join(vault_ddl(e) for e in canonical.ENTITIES.values()) + "\n" + analytics_ddl()
            + CONTROL_DDL + UPDATES_DDL + history_ddl() + INSIGHTS_DDL)


_FORMAT_TYPE = {"timestamp": "timestamp without time zone", "timestamptz": "timestamp with time zone"}  # how PostgreSQL's format_type names them


def _evolve(cur) -> None:
    """Additive changes to existing vault and analytics tables: new columns are added; a column whose type
    changed needs a written migration, so the run stops and says which."""
    tables = [(tier, entity.name, columns) for entity in canonical.ENTITIES.values()
              for tier, columns in (("vault", vault_columns(entity)),
                                    ("analytics", [(c.name, c.sql_type) for c in analytics_columns(entity)]))]
    tables.append(("vault", "customer_history", history_columns()))  # a customer's columns, as the vault's
    for tier, table, columns in tables:
        cur.execute("SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
                    "JOIN pg_attribute a ON a.attrelid = (c.table_schema || '.' || c.table_name)::regclass "
                    "AND a.attname = c.column_name WHERE c.table_schema = %s AND c.table_name = %s",
                    (tier, table))
        existing = dict(cur.fetchall())
        for name, sqltype in columns:
            if name not in existing:
                cur.execute(f"ALTER TABLE {tier}.{table} ADD COLUMN IF NOT EXISTS {name} {sqltype}")
            elif existing[name] != _FORMAT_TYPE.get(sqltype, sqltype):
                raise SchemaError(f"{tier}.{table}.{name} is {existing[name]} but the model says "
                                  f"{sqltype}: write a migration for it")


_LEGACY = "vault_v2"  # where a version-2 store's unpartitioned tables wait while they are moved


def _set_aside_unpartitioned(cur) -> list[str]:
    """Version 2 kept each vault table unpartitioned: move such tables (with their indexes) out of the
    way so the partitioned ones can be created; `_migrate_unpartitioned` then moves their rows."""
    cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'vault' AND c.relkind = 'r' AND c.relname = ANY(%s) AND NOT c.relispartition",
                (list(canonical.ENTITIES),))
    legacy = [r[0] for r in cur.fetchall()]
    if legacy:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_LEGACY}")
        for name in legacy:
            cur.execute(f"ALTER TABLE vault.{name} SET SCHEMA {_LEGACY}")
    return legacy


def _migrate_unpartitioned(cur, legacy: list[str]) -> None:
    for entity in canonical.ENTITIES.values():  # parents first, so each attach finds its parents' rows
        if entity.name not in legacy:
            continue
        cur.execute(f"SELECT DISTINCT branch_id FROM {_LEGACY}.{entity.name}")
        columns = [c for c, _ in vault_columns(entity)] + [c.split()[0] for c in BOOKKEEPING]
        for (branch,) in cur.fetchall():
            partitions.build(cur, entity, branch, columns,
                             f"SELECT {', '.join(columns)} FROM {_LEGACY}.{entity.name} WHERE branch_id = %(branch)s",
                             {"branch": branch})
    if legacy:
        cur.execute(f"DROP SCHEMA {_LEGACY} CASCADE")


def fingerprint() -> str:
    return hashlib.sha256(full_ddl().encode()).hexdigest()[:16]


def _may_change_structure(cur, found: str | None) -> None:
    """Applying a schema version is the store owner's (`handover.store.roles`): a login that may not — the
    pipeline's runner — stops here, before anything is read, and says who applies it."""
    cur.execute("SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
                "(SELECT pg_has_role(nspowner, 'USAGE') FROM pg_namespace WHERE nspname = 'ops'), "
                "has_database_privilege(current_database(), 'CREATE'), current_user")
    superuser, owns_ops, may_create, user = cur.fetchone()
    if superuser or owns_ops or (owns_ops is None and may_create):
        return
    from handover.store.roles import OWNER

    cur.connection.rollback()
    state = f"at fingerprint {found}" if found else "without this version's record"
    raise SchemaError(f"the target store's schema is {state} and this Handover needs version {SCHEMA_VERSION} "
                      f"(fingerprint {fingerprint()}); {user} may not change it — the store belongs to {OWNER}. "
                      "An administrator applies it with `handover roles --dsn …` (a superuser or a member of "
                      f"{OWNER}); then run again")


def ensure_schema(conn) -> None:
    """Create what is missing; record the version. Safe to call from every run; when the store is older than
    this code, only its owner's logins may (the runner gets a :class:`SchemaError` saying so)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        row = None
        cur.execute("SELECT to_regclass('ops.schema_version')")
        if cur.fetchone()[0] is not None:
            cur.execute("SELECT fingerprint FROM ops.schema_version WHERE version = %s", (SCHEMA_VERSION,))
            row = cur.fetchone()
            if row and row[0] == fingerprint():
                conn.commit()
                return
        _may_change_structure(cur, row[0] if row else None)
        legacy = _set_aside_unpartitioned(cur)
        cur.execute(full_ddl())
        _evolve(cur)
        _migrate_unpartitioned(cur, legacy)
        cur.execute("INSERT INTO ops.schema_version (version, fingerprint) VALUES (%s, %s) "
                    "ON CONFLICT (version) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, applied_at = now()",
                    (SCHEMA_VERSION, fingerprint()))
    conn.commit()
