"""The store's roles, proved with real logins: a user made a member of each role connects as itself
(password set; the test server trusts 127.0.0.1) and is allowed or refused exactly what its role says.
The owner of the store is a role nobody logs in as; the pipeline's runner owns nothing, and a branch's
partitions are made by the store when the branch's run starts."""

from __future__ import annotations

import psycopg2
import pytest
from handover import canonical
from handover.store import partitions, roles, schema
from handover.store.schema import ensure_schema
from psycopg2 import errors, sql
from psycopg2.extensions import parse_dsn

from tests.support.roles import logins, refused

BRANCH = "BR-ROLES"


def _can(dsn: str, statement: str, params=None) -> bool:
    return not refused(dsn, statement, params)


def _setup_store(conn, dbname: str) -> None:
    ensure_schema(conn)
    with conn.cursor() as cur:
        partitions.ensure_analytics_partition(cur, "customers", BRANCH)
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
    """The schemas, the roles, and one login per group role: {role: dsn of its login}."""
    admin = psycopg2.connect(pg_dsn)
    _setup_store(admin, parse_dsn(pg_dsn)["dbname"])
    try:
        with logins(pg_dsn, **{role.removeprefix("handover_"): role for role in roles.GROUPS}) as made:
            yield admin, {role: made[role.removeprefix("handover_")] for role in roles.GROUPS}
    finally:
        admin.close()


def _start_run(dsn: str, run_id: str, branch: str, mode: str = "transfer") -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO ops.runs (run_id, branch_id, contract_sha256, mode, status) "
                    "VALUES (%s, %s, 'x', %s, 'running')", (run_id, branch, mode))
    conn.close()


def _owner(conn, relation: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(%s)", (relation,))
        row = cur.fetchone()
    conn.commit()
    return row[0] if row else None


def test_logins_connect_as_themselves_with_only_their_roles(store):
    _admin, dsns = store
    for role, dsn in dsns.items():
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, pg_has_role(current_user, %s, 'USAGE'), "
                        "pg_has_role(current_user, %s, 'MEMBER'), "
                        "(SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user)",
                        (role, roles.OWNER))
            user, member, owner, powerful = cur.fetchone()
        assert user == parse_dsn(dsn)["user"] and member and not owner and not powerful


def test_the_owner_role_owns_every_table_and_nobody_logs_in_as_it(store):
    admin, _dsns = store
    with admin.cursor() as cur:
        cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (roles.OWNER,))
        assert cur.fetchone() == (False,)
        cur.execute("SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) "
                    "AND c.relkind IN ('r', 'p')", (list(roles.PIPELINE_SCHEMAS),))
        owners = {(s, t): o for s, t, o in cur.fetchall()}
        cur.execute("SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY(%s)",
                    (list(roles.PIPELINE_SCHEMAS),))
        schemas = dict(cur.fetchall())
    admin.commit()
    assert set(schemas.values()) == {roles.OWNER}
    assert owners[("staging", "customers_run1")] == roles.OPERATOR  # the runner's scratch
    assert {o for (s, _), o in owners.items() if s != "staging"} == {roles.OWNER}


def test_analyst_reads_analytics_and_nothing_else(store):
    _admin, dsns = store
    analyst = dsns[roles.ANALYST]
    part = partitions.partition_name("customers", BRANCH)
    assert _can(analyst, "SELECT customer_token FROM analytics.customers")
    assert _can(analyst, f"SELECT * FROM analytics.{part}")  # a partition named directly
    for table in ("vault.customers", f"vault.{part}", "ops.quarantine", "ops.keys", "ops.audit", "ops.runs",
                  "staging.customers_run1", "control.tombstones", "control.erasure_requests"):
        assert refused(analyst, f"SELECT 1 FROM {table}"), table
    assert refused(analyst, "INSERT INTO analytics.customers (branch_id, customer_token) VALUES (%s, 'tok_x')",
                   (BRANCH,))
    assert refused(analyst, "CREATE TABLE public.planted (x integer)")


def test_the_partitions_a_run_start_makes_are_read_by_their_readers_only(store):
    admin, dsns = store
    _start_run(dsns[roles.OPERATOR], "run-later", "BR-LATER")  # the runner inserts a row; the store does the DDL
    with admin.cursor() as cur:  # and an administrator, by hand
        partitions.ensure_analytics_partition(cur, "interactions", "BR-BY-HAND")
    admin.commit()
    analyst, reader = dsns[roles.ANALYST], dsns[roles.VAULT_READER]
    for entity in canonical.ENTITIES:
        part = partitions.partition_name(entity, "BR-LATER")
        assert _owner(admin, f"vault.{part}") == _owner(admin, f"analytics.{part}") == roles.OWNER, entity
        assert _can(analyst, f"SELECT * FROM analytics.{part}"), entity
        assert refused(analyst, f"SELECT * FROM vault.{part}"), entity
        assert _can(reader, f"SELECT * FROM vault.{part}"), entity
        assert refused(reader, f"SELECT * FROM analytics.{part}"), entity
    assert _can(analyst, f"SELECT * FROM analytics.{partitions.partition_name('interactions', 'BR-BY-HAND')}")


def test_a_dry_run_start_makes_no_partition(store):
    admin, dsns = store
    _start_run(dsns[roles.OPERATOR], "dry-1", "BR-DRY", mode="dry_run")
    assert _owner(admin, f"vault.{partitions.partition_name('customers', 'BR-DRY')}") is None


def test_vault_reader_reads_the_vault_but_not_the_keys(store):
    _admin, dsns = store
    reader = dsns[roles.VAULT_READER]
    assert _can(reader, "SELECT customer_id, name_enc FROM vault.customers")
    assert _can(reader, f"SELECT 1 FROM vault.{partitions.partition_name('customers', BRANCH)}")
    for table in ("ops.keys", "ops.quarantine", "analytics.customers", "staging.customers_run1", "control.backups"):
        assert refused(reader, f"SELECT 1 FROM {table}"), table
    assert refused(reader, "UPDATE vault.customers SET loaded_run_id = 'x'")


def test_operator_runs_the_pipeline_without_owning_what_it_writes(store):
    admin, dsns = store
    operator = dsns[roles.OPERATOR]
    assert _can(operator, "INSERT INTO vault.customers (branch_id, customer_id, key_id, row_hash, source_file, "
                          "source_line, loaded_run_id) VALUES (%s, 'C2', 'k', '\\x00', 'c.csv', 3, 'run-2')", (BRANCH,))
    assert _can(operator, "UPDATE vault.customers SET loaded_run_id = 'run-3' WHERE customer_id = 'C2'")
    assert _can(operator, "DELETE FROM vault.customers WHERE customer_id = 'C2'")  # purge, erasure
    assert _can(operator, "INSERT INTO ops.runs (run_id, branch_id, contract_sha256, mode, status) "
                          "VALUES ('run-3', %s, 'x', 'transfer', 'running')", (BRANCH,))
    assert _can(operator, "INSERT INTO ops.audit (actor, action) VALUES ('test', 'probe')")  # its sequence too
    assert _can(operator, "INSERT INTO analytics.customers (branch_id, customer_token) VALUES (%s, 'tok_b')",
                (BRANCH,))
    assert _can(operator, "CREATE UNLOGGED TABLE staging.customers_run2 (x integer)")
    assert _can(operator, "DROP TABLE staging.customers_run1")  # a killed run's staging, made by another login
    assert _can(operator, "SELECT 1 FROM ops.keys")
    assert _can(operator, "INSERT INTO control.tombstones (kind, digest, request_id, erased_at) "
                          "VALUES ('mobile', '\\x01', 0, now())")
    for statement in ("CREATE ROLE ho_never_made", "CREATE SCHEMA planted", "CREATE TABLE vault.planted (x int)",
                      "CREATE TABLE analytics.planted (x int)", "DELETE FROM ops.keys", "UPDATE ops.keys SET key_id = 'x'",
                      "DELETE FROM control.tombstones", "DELETE FROM ops.runs", "UPDATE ops.schema_version SET version = 0"):
        assert refused(operator, statement), statement
    # A new branch's partitions: the runner may not attach one itself (the parent's owner must) …
    conn = psycopg2.connect(operator)
    with conn.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
        columns = ["branch_id", "customer_id", "key_id", "row_hash", "source_file", "source_line", "loaded_run_id"]
        partitions.build(cur, canonical.entity("customers"), "BR-NEW", columns,
                         "SELECT %(branch)s, 'C9', 'k', '\\x00'::bytea, 'c.csv', 2, 'run-9'", {"branch": "BR-NEW"})
    conn.close()
    # … the store makes them when the branch's run starts, and the load writes into them.
    _start_run(operator, "run-new", "BR-NEW")
    with psycopg2.connect(operator) as conn, conn.cursor() as cur:
        assert partitions.state(cur, "customers", "BR-NEW") == "attached"
        assert partitions.state(cur, "customers", "BR-NEW", "analytics") == "attached"
        cur.execute("INSERT INTO vault.customers (branch_id, customer_id, key_id, row_hash, source_file, source_line, "
                    "loaded_run_id) VALUES ('BR-NEW', 'C9', 'k', '\\x00', 'c.csv', 2, 'run-new')")
    conn.close()
    assert _owner(admin, f"vault.{partitions.partition_name('customers', 'BR-NEW')}") == roles.OWNER
    # ... and the schema step of every run (the store is this version's).
    conn = psycopg2.connect(operator)
    ensure_schema(conn)
    conn.close()


def test_sql_partition_names_are_the_pipelines(store):
    admin, _dsns = store
    branches = ["SH-PD-0042", "BR-ROLES", "a", "9", "Branch.Name_With-Mixed.Case", "x" * 64, "A-" * 32,
                "0-0-0-0", "__lead__", "1.2.3", "ZZZ_999-abc.DEF"]
    with admin.cursor() as cur:
        for branch in branches:
            for entity in canonical.ENTITIES:
                cur.execute("SELECT ops.partition_name(%s, %s)", (entity, branch))
                assert cur.fetchone()[0] == partitions.partition_name(entity, branch), (entity, branch)
    admin.commit()


def test_a_name_taken_by_another_table_stops_the_run_start_naming_it(store):
    admin, dsns = store
    squatted = partitions.partition_name("accounts", "BR-SQUAT")
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier("vault", squatted)))
    admin.commit()
    with pytest.raises(errors.ObjectNotInPrerequisiteState) as err:
        _start_run(dsns[roles.OPERATOR], "run-squat", "BR-SQUAT")
    assert f"vault.{squatted} exists but is not the branch's partition of vault.accounts" in str(err.value)
    assert _owner(admin, f"vault.{partitions.partition_name('customers', 'BR-SQUAT')}") is None  # all or nothing


def test_a_store_older_than_the_code_is_refused_to_the_runner_naming_who_applies_it(store):
    admin, dsns = store
    with admin.cursor() as cur:
        cur.execute("UPDATE ops.schema_version SET fingerprint = 'an-older-one'")
    admin.commit()
    conn = psycopg2.connect(dsns[roles.OPERATOR])
    try:
        with pytest.raises(schema.SchemaError) as err:
            ensure_schema(conn)
    finally:
        conn.close()
    message = str(err.value)
    assert "an-older-one" in message and schema.fingerprint() in message and "handover roles --dsn" in message
    assert roles.OWNER in message
    ensure_schema(admin)  # the administrator applies it …
    roles.ensure_roles(admin, parse_dsn(admin.dsn)["dbname"])
    conn = psycopg2.connect(dsns[roles.OPERATOR])
    ensure_schema(conn)  # … and the runner goes on
    conn.close()


def test_a_store_of_the_old_model_is_handed_from_the_runner_to_the_owner(store):
    """Before the owner role, the runner owned the schemas: ensure_roles takes them back."""
    admin, dsns = store
    with admin.cursor() as cur:
        cur.execute("ALTER TABLE ops.audit OWNER TO handover_operator")
        cur.execute("ALTER SCHEMA ops OWNER TO handover_operator")
    admin.commit()
    assert not refused(dsns[roles.OPERATOR], "ALTER TABLE ops.audit ENABLE TRIGGER ALL")  # what the red team did
    roles.ensure_roles(admin, parse_dsn(admin.dsn)["dbname"])
    assert _owner(admin, "ops.audit") == roles.OWNER
    assert refused(dsns[roles.OPERATOR], "ALTER TABLE ops.audit DISABLE TRIGGER ALL")


def test_ensure_roles_twice_changes_nothing(store):
    admin, _dsns = store
    dbname = admin.get_dsn_parameters()["dbname"]

    def acl() -> list:
        with admin.cursor() as cur:
            cur.execute("SELECT c.oid::regclass::text, c.relacl::text, pg_get_userbyid(c.relowner) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) ORDER BY 1",
                        (list(roles.PIPELINE_SCHEMAS),))
            out = cur.fetchall()
            cur.execute("SELECT defaclrole::regrole::text, defaclnamespace::regnamespace::text, defaclobjtype, "
                        "defaclacl::text FROM pg_default_acl ORDER BY 1, 2, 3")
            out += cur.fetchall()
        admin.commit()
        return out

    before = acl()
    roles.ensure_roles(admin, dbname)
    assert acl() == before
