"""Who may do what in the target store. Four roles (NOLOGIN); people and services log in as their own users
and are made members of one (``GRANT handover_analyst TO alice``).

========================== ================================================================================
``handover_owner``         owns the schemas ``vault``, ``ops``, ``staging``, ``analytics``, ``control``, their
                           tables and functions. Nobody runs as it day to day: its members are the
                           administrators — ``handover roles`` applies a new schema version and these grants,
                           and a restore that replaces ``ops`` (the audit log with it) is theirs.
``handover_operator``      the pipeline (the runner): what each step needs and no more — ``RUNNER`` below.
                           It owns nothing but its own staging tables: it cannot drop, alter or give away a
                           table, disable a trigger, or rewrite the audit log. (Several runner logins:
                           ``ALTER ROLE etl SET role = 'handover_operator'`` for each, so the staging one
                           made another may drop.)
``handover_analyst``       ``analytics`` only: USAGE and SELECT on its tables and their partitions, now and
                           later, and ``insights`` (the aggregates made of it); TEMPORARY tables (the insight
                           models'). Nothing in ``vault``, ``ops`` (quarantine, keys, audit), ``staging``,
                           ``control``.
``handover_vault_reader``  ``vault``: USAGE and SELECT (ciphertext, blind indexes, display masks) — not
                           ``ops``, so not the wrapped keys that would open it.
========================== ================================================================================

**What needs the owner, and how the runner gets it.** A table's owner can drop it, disable its triggers and
hand it to someone else, so the runner owns no table it must not change. The DDL a run needs falls in two
kinds:

- *A branch's partitions* (every vault and analytics table is partitioned by branch): made by the store
  itself when a run of the branch starts. ``ops.runs`` has a trigger whose function belongs to the owner and
  runs as it (``SECURITY DEFINER``, a fixed ``search_path``): for the new row's branch it creates each
  partition that is missing, named as :func:`handover.store.partitions.partition_name` names it
  (``ops.partition_name``, the same rule in SQL), from the parent's own definition. The runner never issues
  the DDL, passes no SQL and names no table: the branch id is all it gives, and a name already taken by
  anything but that branch's partition stops the run. The first load of a branch then upserts into empty,
  attached partitions (`handover.store.merge`) instead of building them in bulk and attaching them: index
  and foreign-key checks per row, 2.3× the load step's time on a first load of 50,000 customers (15.5 s
  against 6.7 s here; the whole run 58 s against 53 s) — the price of a runner that cannot attach
  (``ATTACH PARTITION`` needs the parent's owner). Later loads of a branch upsert either way.
- *A new schema version* (tables, columns, indexes, the audit trigger): the administrator's step, not a run's.
  ``handover roles --dsn`` (a member of ``handover_owner``, or a superuser) applies it and these grants and
  records it in ``ops.audit``; a runner that meets a store older than its code stops before anything is read
  (`handover.store.schema.ensure_schema`) and says so. Giving the runner the owner's role for it — even
  ``NOINHERIT`` — would let it ``SET ROLE`` and do everything this module forbids.

**Partitions.** A query through a partitioned table is checked against the parent only; a partition named
directly is checked against its own grants, which it does not inherit. So every grant here is applied to
*every* table of the schema (partitions included) each time this runs, and default privileges grant it on
tables created later — by ``handover_owner`` (the partitions) and by the role running this.

**PUBLIC.** ``CREATE`` on schema ``public`` is revoked from PUBLIC (PostgreSQL 15 already does so in new
databases; older ones allow every user to create objects there — a place to plant functions that other
roles' unqualified calls would pick up). Handover's schemas are created without PUBLIC privileges, and
those are revoked again here in case someone granted them.

:func:`ensure_roles` is idempotent and safe to run from concurrent sessions: roles are cluster-wide, so
creating one tolerates another session (in any database) creating it first; the grants within a database
are serialised by an advisory lock. It needs a role that may create roles and owns (or is superuser over)
the schemas — the administrator's, not the pipeline's.
"""

from __future__ import annotations

from psycopg2 import sql

OWNER = "handover_owner"
OPERATOR = "handover_operator"
ANALYST = "handover_analyst"
VAULT_READER = "handover_vault_reader"
ROLES = (OWNER, ANALYST, VAULT_READER, OPERATOR)
GROUPS = (ANALYST, VAULT_READER, OPERATOR)  # what a login is made a member of (the owner's members are admins)
PIPELINE_SCHEMAS = ("vault", "ops", "staging", "analytics", "control", "insights")
PARTITIONED = ("vault", "analytics")  # partitioned by branch (`handover.store.partitions.TIERS`)
# schema → the roles that read its tables
READERS = {"analytics": (ANALYST,), "insights": (ANALYST,), "vault": (VAULT_READER,)}

# What the runner may do to the tables of each schema (partitions included, now and later), and to the
# tables that need less (or more) than their schema. Never TRUNCATE, REFERENCES or TRIGGER.
RUNNER: dict[str, tuple[str, ...]] = {
    "vault": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # the load's upserts, the purge, erasures
    "analytics": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # the same, and k-anonymity's coarsening
    "ops": ("SELECT", "INSERT", "UPDATE"),  # runs, manifests, retention classes: recorded, never removed
    "ops.audit": ("SELECT", "INSERT"),  # append-only (the backup reads it)
    "ops.audit_head": ("SELECT",),  # moved on by the chain's trigger, which runs as the owner
    "ops.keys": ("SELECT", "INSERT"),  # a key made once is never rewritten by a run
    "ops.schema_version": ("SELECT",),  # the owner applies the schema
    "ops.quarantine": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # purged after its period, erased with a customer
    "ops.exclusions": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "ops.activity": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "ops.archives": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # an expired archive's row goes with its file
    "ops.update_rows": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # what a change file said: erased with a customer
    "control": ("SELECT", "INSERT", "UPDATE"),  # what was done to the store: decided, never deleted
    "control.tombstones": ("SELECT", "INSERT"),  # an erased customer stays erased
    "control.cold_archive_index": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # an erased customer's entry goes
    "control.cold_archive_objects": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # a half-written object's row goes
    "control.backup_checks": ("SELECT", "INSERT"),
    "control.expiries": ("SELECT", "INSERT"),
    "control.processing_stopped": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # lifted when the erasure is done
    "control.upkeep_findings": ("SELECT", "INSERT", "DELETE"),  # a month's re-run of vault_upkeep replaces its list
    "insights": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # derived aggregates: a day's run replaces its last
    # staging: the runner's own tables (it creates them; it drops them)
}
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
_LOCK = 7_340_014

_CREATE_ROLE = """
DO $$ BEGIN
    CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made already, here or by a racing session
END $$
"""

# partitions.partition_name in SQL (a test holds the two equal): branch ids are ASCII (the contract's rule),
# so lower() under "C" and Python's str.lower() agree.
_PARTITION_NAME = """
CREATE OR REPLACE FUNCTION ops.partition_name(entity text, branch text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    RETURN entity || '_' || left(btrim(regexp_replace(lower(branch COLLATE "C"), '[^a-z0-9]+', '_', 'g'), '_'), 24)
        || '_' || left(encode(sha256(convert_to(branch, 'UTF8')), 'hex'), 8)
"""

# Runs as the owner: the runner gives a branch id (the row it may insert), nothing else.
_BRANCH_PARTITIONS = """
CREATE OR REPLACE FUNCTION ops.make_branch_partitions() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    parent record;
    part text;
    found oid;
BEGIN
    PERFORM pg_advisory_xact_lock(7340015, hashtext(NEW.branch_id));
    FOR parent IN
        SELECT c.oid, n.nspname AS tier, c.relname AS entity FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ({tiers}) AND c.relkind = 'p' AND NOT c.relispartition ORDER BY 2, 3
    LOOP
        part := ops.partition_name(parent.entity, NEW.branch_id);
        SELECT c.oid INTO found FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = parent.tier AND c.relname = part;
        IF found IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES IN (%L)',
                           parent.tier, part, parent.tier, parent.entity, NEW.branch_id);
        ELSIF NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = found AND inhparent = parent.oid) THEN
            RAISE EXCEPTION '%.% exists but is not the branch''s partition of %.%', parent.tier, part,
                parent.tier, parent.entity
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'an administrator (handover_owner) removes or renames it, then the run is repeated';
        END IF;
    END LOOP;
    RETURN NULL;
END $fn$
"""

_TRIGGER = """
DROP TRIGGER IF EXISTS runs_make_branch_partitions ON ops.runs;
CREATE TRIGGER runs_make_branch_partitions AFTER INSERT ON ops.runs
    FOR EACH ROW WHEN (NEW.mode <> 'dry_run') EXECUTE FUNCTION ops.make_branch_partitions();
"""


def _existing_schemas(cur) -> list[str]:
    cur.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(PIPELINE_SCHEMAS),))
    return sorted(r[0] for r in cur.fetchall())


def ensure_roles(conn, database: str) -> None:
    """Create the roles if missing, hand ``database``'s Handover schemas to the owner and (re)apply every grant,
    and the trigger that makes a branch's partitions. Run it after the schemas are created, and again after a
    new schema version (``handover roles`` does both); it is cheap."""
    with conn.cursor() as cur:
        for role in ROLES:
            cur.execute(sql.SQL(_CREATE_ROLE).format(role=sql.Identifier(role)))
        conn.commit()  # a role made once is shared by every database of the server
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        db, operator = sql.Identifier(database), sql.Identifier(OPERATOR)
        for role in ROLES:
            cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(role)))
        cur.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(db, operator))
        # the insight models' intermediate tables (handover.insights.models): temporary, the session's own
        cur.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(db, sql.Identifier(ANALYST)))
        cur.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(db, operator))  # earlier versions gave it
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        schemas = _existing_schemas(cur)
        for schema in schemas:
            _hand_over(cur, schema)
        if "ops" in schemas:
            _branch_partitions(cur)
        for schema in schemas:
            _grant_schema(cur, schema)
    conn.commit()


def _hand_over(cur, schema: str) -> None:
    """The schema, its tables and functions to the owner (a serial's sequence follows its table); staging's
    tables to the runner, whose scratch they are."""
    s, owner = sql.Identifier(schema), sql.Identifier(OWNER)
    cur.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(s, owner))
    keeper = OPERATOR if schema == "staging" else OWNER
    cur.execute("SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'S', 'v', 'm') "
                "AND pg_get_userbyid(c.relowner) <> %s "
                "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
                "AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))",
                (schema, keeper))
    for (name,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.SQL(name), sql.Identifier(keeper)))
    cur.execute("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = %s AND pg_get_userbyid(p.proowner) <> %s", (schema, OWNER))
    for (function,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(function), owner))


def _branch_partitions(cur) -> None:
    """``ops.runs``' trigger that makes a starting run's branch partitions, as the owner."""
    tiers = sql.SQL(", ").join(map(sql.Literal, PARTITIONED))
    cur.execute(_PARTITION_NAME)
    cur.execute(sql.SQL(_BRANCH_PARTITIONS).format(tiers=tiers))
    for function in ("ops.partition_name(text, text)", "ops.make_branch_partitions()"):
        cur.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(function), sql.Identifier(OWNER)))
        cur.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(sql.SQL(function)))
    cur.execute(_TRIGGER)


def _privileges(names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.SQL, names))


def _grant_runner(cur, schema: str) -> None:
    s, operator = sql.Identifier(schema), sql.Identifier(OPERATOR)
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, operator))
    cur.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(s, operator))
    if schema == "staging":
        cur.execute(sql.SQL("GRANT CREATE ON SCHEMA {} TO {}").format(s, operator))
        return
    wanted = RUNNER[schema]
    refused = tuple(p for p in TABLE_PRIVILEGES if p not in wanted)
    # In place (a revoked privilege leaves the grant's place in the ACL): running this twice changes nothing.
    cur.execute(sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(_privileges(wanted), s, operator))
    cur.execute(sql.SQL("REVOKE {} ON ALL TABLES IN SCHEMA {} FROM {}").format(_privileges(refused), s, operator))
    cur.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, operator))
    cur.execute(sql.SQL("REVOKE SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(s, operator))
    for qualified, own in RUNNER.items():
        table_schema, _, table = qualified.partition(".")
        if table_schema != schema or not table:
            continue
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,))
        if not cur.fetchone()[0]:
            continue
        t = sql.Identifier(schema, table)
        cur.execute(sql.SQL("GRANT {} ON TABLE {} TO {}").format(_privileges(own), t, operator))
        cur.execute(sql.SQL("REVOKE {} ON TABLE {} FROM {}").format(
            _privileges(tuple(p for p in TABLE_PRIVILEGES if p not in own)), t, operator))
    for creator in (sql.Identifier(OWNER), sql.SQL("CURRENT_USER")):  # tables made later: partitions above all
        cur.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON TABLES TO {}").format(
            creator, s, _privileges(wanted), operator))
        cur.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT USAGE ON SEQUENCES TO {}")
                    .format(creator, s, operator))


def _grant_schema(cur, schema: str) -> None:
    s = sql.Identifier(schema)
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(s))
    cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM PUBLIC").format(s))
    cur.execute(sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM PUBLIC").format(s))
    _grant_runner(cur, schema)
    readers = READERS.get(schema, ())
    for role in readers:
        r = sql.Identifier(role)
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
        cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r))  # partitions too
        # Tables made later: by the owner (a branch's partitions), and by whoever runs this (a first run as admin).
        for creator in (sql.Identifier(OWNER), sql.SQL("CURRENT_USER")):
            cur.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
                        .format(creator, s, r))
    # Whoever may read a schema and is not its reader is revoked there explicitly (a hand-made grant
    # would otherwise survive): the analyst never reads the vault, the vault reader never the analytics.
    for role in (ANALYST, VAULT_READER):
        if role not in readers:
            r = sql.Identifier(role)
            cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r))
            cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(s, r))
