"""Who may read and write what in the target store: three group roles (NOLOGIN); people and services log
in as their own users and are made members of one (``GRANT handover_analyst TO alice``).

================== ========================================================================================
``handover_analyst``       ``analytics`` only: USAGE and SELECT on its tables and their partitions, now and
                           later. Nothing in ``vault``, ``ops`` (quarantine, keys, audit) or ``staging``.
``handover_vault_reader``  ``vault``: USAGE and SELECT (ciphertext, blind indexes, display masks) — not
                           ``ops``, so not the wrapped keys that would open it.
``handover_operator``      the pipeline: owns ``vault``, ``ops``, ``staging``, ``analytics``, ``control`` and their tables
                           (attaching a partition and evolving a table need the owner), may create schemas
                           and temporary tables in the database. Not a superuser, cannot create roles.
================== ========================================================================================

**Partitions.** A query through a partitioned table is checked against the parent only; a partition named
directly is checked against its own grants, which it does not inherit. So the analysts' and readers'
SELECT is granted on *every* table of the schema (partitions included) each time this runs, and default
privileges grant it on tables created later — by ``handover_operator`` (the pipeline's logins should run
``SET ROLE handover_operator``, or have it as their default: ``ALTER ROLE etl SET role = 'handover_operator'``)
and by the role running this. Tables a login created as itself are handed to ``handover_operator`` here.

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

ANALYST = "handover_analyst"
VAULT_READER = "handover_vault_reader"
OPERATOR = "handover_operator"
ROLES = (ANALYST, VAULT_READER, OPERATOR)
PIPELINE_SCHEMAS = ("vault", "ops", "staging", "analytics", "control")
# schema → the roles that read its tables
READERS = {"analytics": (ANALYST,), "vault": (VAULT_READER,)}
_LOCK = 7_340_014

_CREATE_ROLE = """
DO $$ BEGIN
    CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made already, here or by a racing session
END $$
"""


def _existing_schemas(cur) -> list[str]:
    cur.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(PIPELINE_SCHEMAS),))
    return sorted(r[0] for r in cur.fetchall())


def ensure_roles(conn, database: str) -> None:
    """Create the three roles if missing and (re)apply their grants on ``database``'s schemas that exist.
    Run it after the schemas are created, and again after new tables appear (it is cheap)."""
    with conn.cursor() as cur:
        for role in ROLES:
            cur.execute(sql.SQL(_CREATE_ROLE).format(role=sql.Identifier(role)))
        conn.commit()  # a role made once is shared by every database of the server
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        db = sql.Identifier(database)
        for role in ROLES:
            cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(role)))
        cur.execute(sql.SQL("GRANT CREATE, TEMPORARY ON DATABASE {} TO {}").format(db, sql.Identifier(OPERATOR)))
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for schema in _existing_schemas(cur):
            _grant_schema(cur, schema)
    conn.commit()


def _grant_schema(cur, schema: str) -> None:
    s, operator = sql.Identifier(schema), sql.Identifier(OPERATOR)
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(s))
    cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM PUBLIC").format(s))
    # The pipeline owns its schemas and tables: ATTACH PARTITION, ALTER TABLE and CREATE OR REPLACE
    # FUNCTION need the owner. Tables a login created as itself are handed over too.
    cur.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(s, operator))
    cur.execute("SELECT c.oid::regclass::text, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'S', 'v', 'm') "
                "AND pg_get_userbyid(c.relowner) <> %s "
                # a serial's sequence follows its table
                "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
                "AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))",
                (schema, OPERATOR))
    for name, _relkind in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.SQL(name), operator))
    cur.execute("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = %s AND pg_get_userbyid(p.proowner) <> %s", (schema, OPERATOR))
    for (function,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(function), operator))
    readers = READERS.get(schema, ())
    for role in readers:
        r = sql.Identifier(role)
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
        cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r))  # partitions too
        # Tables made later: by the pipeline's role, and by whoever runs this (a first run as admin).
        for creator in (sql.Identifier(OPERATOR), sql.SQL("CURRENT_USER")):
            cur.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
                        .format(creator, s, r))
    # Whoever may read a schema and is not its reader is revoked there explicitly (a hand-made grant
    # would otherwise survive): the analyst never reads the vault, the vault reader never the analytics.
    for role in (ANALYST, VAULT_READER):
        if role not in readers:
            r = sql.Identifier(role)
            cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r))
            cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(s, r))
