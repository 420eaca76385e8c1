#!/usr/bin/env bash
# airflow-init (docker-compose.yaml): runs once before the other Airflow services, and again at every
# `docker compose up`; every step converges, so running it twice changes nothing the second time.
#
#   1. refuses placeholder secrets (a `change-me` value left from deploy/.env.example) and invalid keys
#   2. airflow db migrate
#   3. the UI administrator's password (SimpleAuthManager's passwords file) from AIRFLOW_ADMIN_PASSWORD
#   4. the target store, as its administrator (TARGET_DB_USER, the database's owner): the schema applied
#      and handed to handover_owner, the roles granted (`handover roles`), and the pipeline's own login
#      (TARGET_RUNNER_USER, a member of handover_operator only: it cannot change structure, nor the audit)
#   5. connections handover_target (the pipeline's login), handover_target_admin (the administrator's:
#      for full restores, `branch_restore` with target_conn_id=handover_target_admin), handover_backup (and
#      handover_alerts when SMTP_HOST is set) and Variables handover_master_key, handover_signing_key (and
#      handover_backup_retention when BACKUP_RETENTION is set) from the environment, imported with
#      overwrite: an .env change is taken on the next `up`; they never appear on a command line
#   6. the sample branch export, once, when HANDOVER_SAMPLE_EXPORT is true
#
# Nothing secret is printed: only the master key's id and the signing key's fingerprint (public).
set -euo pipefail
umask 077

say() { printf 'airflow-init: %s\n' "$*"; }
die() { printf 'airflow-init: %s\n' "$*" >&2; exit 1; }

required=(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW_ADMIN_PASSWORD TARGET_DB_PASSWORD TARGET_RUNNER_PASSWORD
          BACKUP_ACCESS_KEY BACKUP_SECRET_KEY HANDOVER_MASTER_KEY HANDOVER_SIGNING_KEY)
secrets=(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW__CORE__FERNET_KEY AIRFLOW__API__SECRET_KEY
         AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__CELERY__BROKER_URL AIRFLOW_ADMIN_PASSWORD TARGET_DB_PASSWORD
         TARGET_RUNNER_PASSWORD BACKUP_ACCESS_KEY BACKUP_SECRET_KEY HANDOVER_MASTER_KEY HANDOVER_SIGNING_KEY SMTP_PASSWORD)
for name in "${required[@]}"; do
    [[ -n "${!name:-}" ]] || die "$name is not set (see deploy/.env.example)"
done
for name in "${secrets[@]}"; do
    [[ "${!name:-}" != *change-me* ]] || die "$name still has its change-me placeholder: write a real value into .env"
done

AUTH_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-/opt/airflow/auth/passwords.json}"
SAMPLE_DIR="${HANDOVER_SAMPLE_DIR:-/opt/handover/exports/sample}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say "checking the keys"
python - <<'PY'
import os
import sys

from handover.crypto import MasterKey, fingerprint, public_pem, signing_key
from handover.errors import HandoverError

try:
    master = MasterKey.from_text(os.environ["HANDOVER_MASTER_KEY"])
    signer = signing_key(os.environ["HANDOVER_SIGNING_KEY"])
except (HandoverError, ValueError) as exc:
    sys.exit(f"airflow-init: {type(exc).__name__}: {exc}")
print(f"airflow-init: master key id {master.key_id}; signing key fingerprint {fingerprint(public_pem(signer))}")
PY

say "airflow db migrate"
airflow db migrate

say "the administrator's password ($AUTH_FILE)"
mkdir -p "$(dirname "$AUTH_FILE")"
python - "$AUTH_FILE" <<'PY'
import json
import os
import sys

path = sys.argv[1]
user = os.environ.get("AIRFLOW_ADMIN_USER") or "admin"
tmp = f"{path}.tmp"
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
    json.dump({user: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, fh)
    fh.write("\n")
os.replace(tmp, path)
PY

say "the target store: schema and roles (handover roles), and the pipeline's login"
python - <<'PY'
import os
import sys

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from handover import cli
from handover.store import roles

env = os.environ.get
runner = env("TARGET_RUNNER_USER") or "handover_etl"
admin = env("TARGET_DB_USER") or "handover"
if runner == admin:
    sys.exit("airflow-init: TARGET_RUNNER_USER must not be TARGET_DB_USER: the pipeline's login must not own the store")
# the password through libpq's environment, never on a command line or in a DSN that could be printed
os.environ["PGPASSWORD"] = env("TARGET_DB_PASSWORD")
dsn = make_dsn(host=env("TARGET_DB_HOST") or "target-db", port=env("TARGET_DB_PORT") or "5432", user=admin,
               dbname=env("TARGET_DB_NAME") or "handover", connect_timeout="10")
if cli.main(["roles", "--dsn", dsn]) != 0:
    sys.exit("airflow-init: handover roles failed (above)")
with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (runner,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %s").format(
        sql.Identifier(runner)), (env("TARGET_RUNNER_PASSWORD"),))
    cur.execute(sql.SQL("ALTER ROLE {} INHERIT").format(sql.Identifier(runner)))
    cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(roles.OPERATOR), sql.Identifier(runner)))
print(f"airflow-init: login {runner} ({'created' if verb == 'CREATE' else 'updated'}), a member of {roles.OPERATOR}")
PY

say "connections and variables"
python - "$work" <<'PY'
import json
import os
import sys
from pathlib import Path

env = os.environ.get
out = Path(sys.argv[1])


def target_store(description: str, login: str | None, password: str | None) -> dict:
    """The target store as one of its two logins: the same server, database and region."""
    return {
        "conn_type": "postgres",
        "description": description,
        "host": env("TARGET_DB_HOST") or "target-db",
        "port": int(env("TARGET_DB_PORT") or 5432),
        "login": login,
        "password": password,
        "schema": env("TARGET_DB_NAME") or "handover",
        "extra": json.dumps({"region": env("HANDOVER_TARGET_REGION") or "CN"}),
    }


connections = {
    "handover_target": target_store(
        "Handover's target store, as the pipeline's login (docker compose: service target-db)",
        env("TARGET_RUNNER_USER") or "handover_etl", env("TARGET_RUNNER_PASSWORD")),
    "handover_target_admin": target_store(
        "The target store as its administrator: full restores (branch_restore) only",
        env("TARGET_DB_USER") or "handover", env("TARGET_DB_PASSWORD")),
    "handover_backup": {
        "conn_type": "aws",
        "description": "Backups: a versioned, Object-Lock bucket (docker compose: service minio)",
        "login": env("BACKUP_ACCESS_KEY"),
        "password": env("BACKUP_SECRET_KEY"),
        "extra": json.dumps({
            "bucket": env("BACKUP_BUCKET") or "handover-backups",
            "prefix": env("BACKUP_PREFIX", "handover/"),
            "endpoint_url": env("BACKUP_ENDPOINT_URL") or "http://minio:9000",
            "region_name": env("BACKUP_REGION") or "us-east-1",
            "lock_mode": env("BACKUP_LOCK_MODE") or "GOVERNANCE",
            "retain_days": int(env("BACKUP_RETAIN_DAYS") or 30),
        }),
    },
}
if env("SMTP_HOST"):
    to = [a.strip() for a in (env("ALERT_TO") or "").split(",") if a.strip()]
    if not to:
        sys.exit("airflow-init: SMTP_HOST is set but ALERT_TO is empty: whom should alerts go to?")
    connections["handover_alerts"] = {
        "conn_type": "smtp",
        "description": "Alerts of the backup DAGs",
        "host": env("SMTP_HOST"),
        "port": int(env("SMTP_PORT") or 587),
        "login": env("SMTP_USER") or None,
        "password": env("SMTP_PASSWORD") or None,
        "extra": json.dumps({"to": to, "from": env("ALERT_FROM") or "handover@localhost",
                             "starttls": (env("SMTP_STARTTLS") or "true").lower() in ("1", "true", "yes")}),
    }
variables = {"handover_master_key": env("HANDOVER_MASTER_KEY"), "handover_signing_key": env("HANDOVER_SIGNING_KEY")}
if env("BACKUP_RETENTION"):
    try:
        policy = json.loads(env("BACKUP_RETENTION"))
    except ValueError:
        sys.exit("airflow-init: BACKUP_RETENTION is not JSON (e.g. {\"keep-daily\":7,\"max-age\":\"3y\"})")
    if not isinstance(policy, dict) or not policy:
        sys.exit("airflow-init: BACKUP_RETENTION must be a non-empty JSON object")
    variables["handover_backup_retention"] = json.dumps(policy)
(out / "connections.json").write_text(json.dumps(connections))
(out / "variables.json").write_text(json.dumps(variables))
print("airflow-init: connections " + ", ".join(connections) + "; variables " + ", ".join(variables))
PY
airflow connections import --overwrite "$work/connections.json"
airflow variables import --action-on-existing-key overwrite "$work/variables.json"
rm -f "$work/connections.json" "$work/variables.json"

if [[ "${HANDOVER_SAMPLE_EXPORT:-true}" == "true" ]]; then
    if [[ -d "$SAMPLE_DIR" ]]; then
        say "sample export already at $SAMPLE_DIR"
    else
        say "writing the sample branch export to $SAMPLE_DIR"
        umask 022
        rm -rf "$SAMPLE_DIR.partial"  # left by an init that was stopped half-way
        handover sample "$SAMPLE_DIR.partial"
        mv "$SAMPLE_DIR.partial" "$SAMPLE_DIR"
    fi
fi
say "done"
