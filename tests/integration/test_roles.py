"""The store's roles, proved with real logins: a user made a member of each role connects as itself
(password set; the test server trusts 127.0.0.1) and is allowed or refused exactly what its role says."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from handover import analytics
from handover.store import partitions, roles
from handover.store.schema import ensure_schema
from psycopg2 import errors, sql
from psycopg2.extensions import make_dsn, parse_dsn

BRANCH = "BR-ROLES"


def _setup_store(conn, dbname: str) -> None:
    ensure_schema(conn)
    with conn.cursor() as cur:
        cur.execute(analytics.analytics_ddl())
        analytics.ensure_partition(cur, "customers", BRANCH)
        cur.execute("INSERT INTO analytics.customers (branch_id, customer_token, gender) VALUES (%s, 'tok_a', 'F')",
                    (BRANCH,))
        part = sql.Identifier("vault", partitions.partition_name("customers", BRANCH))
        cur.execute(sql.SQL("CREATE TABLE {} PARTITION OF vault.customers FOR VALUES IN (%s)").format(part), (BRANCH,))
        cur.execute("INSERT INTO vault.customers (branch_id, customer_id, key_id, row_hash, source_file, source_line, "
                    "loaded_run_id) VALUES (%s, 'C1', 'k', '\\x00', 'c.csv', 2, 'run-1')", (BRANCH,))
        cur.execute("INSERT INTO ops.keys (purpose, key_id, wrapped, master_key_id) VALUES ('content', 'k', '\\x00', 'm')")
        cur.execute("CREATE UNLOGGED TABLE staging.customers_run1 (x integer)")
    conn.commit()
    roles.ensure_roles(conn, dbname)


@pytest.fixture
def store(pg_dsn):
    """The schemas, the roles, and one login per role: {role: dsn of its login}."""
    dbname = parse_dsn(pg_dsn)["dbname"]
    admin = psycopg2.connect(pg_dsn)
    _setup_store(admin, dbname)
    suffix = uuid.uuid4().hex[:8]
    logins = {role: f"ho_test_{role.removeprefix('handover_')}_{suffix}" for role in roles.ROLES}
    with admin.cursor() as cur:
        for role, user in logins.items():
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                sql.Identifier(user), sql.Identifier(role)), (uuid.uuid4().hex,))
    admin.commit()
    try:
        yield admin, {role: make_dsn(pg_dsn, user=user) for role, user in logins.items()}
    finally:
        admin.rollback()
        with admin.cursor() as cur:
            for user in logins.values():
                cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
        admin.commit()
        admin.close()
        for user in logins.values():  # after the session's backends are gone
            server = psycopg2.connect(make_dsn(pg_dsn, dbname="postgres"))
            server.autocommit = True
            with server.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (user,))
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
            server.close()


def _can(dsn: str, statement: str, params=None) -> bool:
    """Run one statement as the login; False when refused for lack of privilege."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
        conn.commit()
        return True
    except errors.InsufficientPrivilege:
        return False
    finally:
        conn.close()


def test_logins_connect_as_themselves_with_only_their_roles(store):
    _admin, dsns = store
    for role, dsn in dsns.items():
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, pg_has_role(current_user, %s, 'USAGE'), "
                        "(SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user)", (role,))
            user, member, powerful = cur.fetchone()
        assert user == parse_dsn(dsn)["user"] and member and not powerful


def test_analyst_reads_analytics_and_nothing_else(store):
    _admin, dsns = store
    analyst = dsns[roles.ANALYST]
    part = partitions.partition_name("customers", BRANCH)
    assert _can(analyst, "SELECT customer_token FROM analytics.customers")
    assert _can(analyst, f"SELECT * FROM analytics.{part}")  # a partition named directly
    for table in ("vault.customers", f"vault.{part}", "ops.quarantine", "ops.keys", "ops.audit", "ops.runs",
                  "staging.customers_run1"):
        assert not _can(analyst, f"SELECT 1 FROM {table}"), table
    assert not _can(analyst, "INSERT INTO analytics.customers (branch_id, customer_token) VALUES (%s, 'tok_x')",
                    (BRANCH,))
    assert not _can(analyst, "CREATE TABLE public.planted (x integer)")


def test_analyst_reads_partitions_made_after_the_grants(store):
    admin, dsns = store
    operator = psycopg2.connect(dsns[roles.OPERATOR])
    with operator.cursor() as cur:  # the pipeline, acting as its role
        cur.execute("SET ROLE handover_operator")
        analytics.ensure_partition(cur, "accounts", "BR-LATER")
    operator.commit()
    operator.close()
    with admin.cursor() as cur:  # and an administrator
        analytics.ensure_partition(cur, "interactions", "BR-LATER")
    admin.commit()
    analyst = dsns[roles.ANALYST]
    for entity in ("accounts", "interactions"):
        assert _can(analyst, f"SELECT * FROM analytics.{partitions.partition_name(entity, 'BR-LATER')}"), entity


def test_vault_reader_reads_the_vault_but_not_the_keys(store):
    _admin, dsns = store
    reader = dsns[roles.VAULT_READER]
    assert _can(reader, "SELECT customer_id, name_enc FROM vault.customers")
    assert _can(reader, f"SELECT 1 FROM vault.{partitions.partition_name('customers', BRANCH)}")
    for table in ("ops.keys", "ops.quarantine", "analytics.customers", "staging.customers_run1"):
        assert not _can(reader, f"SELECT 1 FROM {table}"), table
    assert not _can(reader, "UPDATE vault.customers SET loaded_run_id = 'x'")


def test_operator_runs_the_pipeline_without_superuser(store):
    _admin, dsns = store
    operator = dsns[roles.OPERATOR]
    assert _can(operator, "INSERT INTO vault.customers (branch_id, customer_id, key_id, row_hash, source_file, "
                          "source_line, loaded_run_id) VALUES (%s, 'C2', 'k', '\\x00', 'c.csv', 3, 'run-2')", (BRANCH,))
    assert _can(operator, "UPDATE vault.customers SET loaded_run_id = 'run-3' WHERE customer_id = 'C2'")
    assert _can(operator, "INSERT INTO ops.runs (run_id, branch_id, contract_sha256, mode, status) "
                          "VALUES ('run-3', %s, 'x', 'full', 'running')", (BRANCH,))
    assert _can(operator, "INSERT INTO ops.audit (actor, action) VALUES ('test', 'probe')")  # its sequence too
    assert _can(operator, "INSERT INTO analytics.customers (branch_id, customer_token) VALUES (%s, 'tok_b')",
                (BRANCH,))
    assert _can(operator, "CREATE UNLOGGED TABLE staging.customers_run2 (x integer)")
    assert _can(operator, "SELECT 1 FROM ops.keys")
    assert not _can(operator, "CREATE ROLE ho_never_made")
    # A branch's first load: build a vault partition and attach it (needs to own the parent).
    conn = psycopg2.connect(operator)
    with conn.cursor() as cur:
        cur.execute("SET ROLE handover_operator")
        from handover import canonical

        columns = ["branch_id", "customer_id", "key_id", "row_hash", "source_file", "source_line", "loaded_run_id"]
        rows = partitions.build(cur, canonical.entity("customers"), "BR-NEW", columns,
                                "SELECT %(branch)s, 'C9', 'k', '\\x00'::bytea, 'c.csv', 2, 'run-9'", {"branch": "BR-NEW"})
    conn.commit()
    conn.close()
    assert rows == 1
    # ... and the schema step of every run.
    conn = psycopg2.connect(operator)
    ensure_schema(conn)
    conn.close()


def test_ensure_roles_twice_changes_nothing(store):
    admin, _dsns = store
    dbname = admin.get_dsn_parameters()["dbname"]

    def acl() -> list:
        with admin.cursor() as cur:
            cur.execute("SELECT c.oid::regclass::text, c.relacl::text, pg_get_userbyid(c.relowner) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN "
                        "('vault', 'ops', 'staging', 'analytics') ORDER BY 1")
            out = cur.fetchall()
        admin.commit()
        return out

    before = acl()
    roles.ensure_roles(admin, dbname)
    assert acl() == before
