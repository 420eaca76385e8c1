"""docker-compose.yaml, the Dockerfile and deploy/: the production-shaped stack, checked without a Docker
engine.

- `docker-compose config` (Debian's docker-compose) accepts the file with deploy/.env.example, and refuses
  it, naming the variable, when a secret is missing; the resolved configuration has the services, two
  Celery workers, Redis as the broker, separate PostgreSQL servers for Airflow and the target store, the
  project's folders mounted, and every Airflow setting is a real option of this Airflow.
- No secret is written in docker-compose.yaml: every password-ish value is a ${...} reference.
- deploy/airflow-init.sh, run here with this venv's Airflow (SQLite metadata) and a real PostgreSQL as the
  target store, applies the schema and roles as the store's administrator, makes the pipeline's own login a
  member of handover_operator only (it cannot change the audit log), creates the connections (the pipeline's
  login for handover_target) and Variables, and a second run with a changed .env converges; deploy/minio-init.sh makes the bucket with
  Object Lock and versioning. (MinIO, PostgreSQL and the containers themselves need an engine.)
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
AIRFLOW_INIT = ROOT / "deploy" / "airflow-init.sh"
MINIO_INIT = ROOT / "deploy" / "minio-init.sh"
DOCKERFILE = ROOT / "Dockerfile"

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init")
REQUIRED_SERVICES = (*AIRFLOW_SERVICES, "redis", "airflow-db", "target-db", "minio", "minio-init")
PROJECT_MOUNTS = {"dags": "/opt/airflow/dags", "plugins": "/opt/airflow/plugins",
                  "include": "/opt/airflow/include", "expectations": "/opt/airflow/expectations",
                  "contracts": "/opt/airflow/contracts"}
SECRETISH = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|_AUTH$|CREDENTIAL", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^/\s:@]*:([^@\s]+)@")


def docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: these tests run Debian's docker-compose "
                    "(`apt-get install -y docker-compose`, as root; `make test` installs it)", pytrace=False)
    return exe


def compose(*args: str, env_file: Path) -> subprocess.CompletedProcess:
    """docker-compose with nothing from this shell's environment: only ``env_file`` interpolates."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([docker_compose(), "--project-directory", str(ROOT), "-f", str(COMPOSE),
                           "--env-file", str(env_file), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The configuration as docker-compose resolves it with deploy/.env.example (flower and cli included)."""
    result = compose("--profile", "flower", "--profile", "debug", "config", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, f"docker-compose config refused the file:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def mounts_of(service: dict) -> dict[str, str]:
    """target → source of a resolved service's volumes (long or short syntax)."""
    found = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        found[target] = source
    return found


def example_env() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# --- docker-compose config ----------------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file_with_the_example_env():
    result = compose("config", "--quiet", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr


def test_a_missing_secret_stops_docker_compose_and_says_where_to_set_it(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose("config", "--quiet", env_file=empty)
    assert result.returncode != 0
    assert "deploy/.env.example" in result.stderr

    partial = tmp_path / "partial.env"
    partial.write_text("".join(f"{k}={v}\n" for k, v in example_env().items() if k != "HANDOVER_MASTER_KEY"))
    result = compose("config", "--quiet", env_file=partial)
    assert result.returncode != 0
    assert "HANDOVER_MASTER_KEY" in result.stderr


def test_the_services_of_airflows_compose_file_and_handovers(resolved):
    services = resolved["services"]
    for name in REQUIRED_SERVICES:
        assert name in services, f"service {name} is missing"
    assert services["airflow-apiserver"]["command"] in ("api-server", ["api-server"])
    assert "flower" in services and services["flower"].get("profiles") == ["flower"]
    for name in AIRFLOW_SERVICES:
        assert services[name].get("build"), f"{name} does not build the project's image"
        assert services[name]["image"] == services["airflow-apiserver"]["image"]
    # the start order: bucket → init → the rest
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["airflow-init"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    for name in AIRFLOW_SERVICES[:-1]:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        if name not in ("airflow-init", "minio-init", "airflow-cli"):
            assert service.get("healthcheck"), f"{name} has no healthcheck"


def test_two_celery_workers_at_least(resolved):
    services = resolved["services"]
    workers = [s for s in services.values() if "celery worker" in " ".join(
        s.get("command") if isinstance(s.get("command"), list) else [s.get("command") or ""])]
    count = sum(int((s.get("deploy") or {}).get("replicas", 1)) for s in workers)
    assert count >= 2, f"{count} Celery worker(s)"


def test_celery_executor_with_redis_as_the_broker(resolved):
    services = resolved["services"]
    for name in AIRFLOW_SERVICES:
        env = env_of(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert re.fullmatch(r"redis://:[^@]+@redis:6379/0", env["AIRFLOW__CELERY__BROKER_URL"]), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert services["redis"]["image"].startswith("redis:")


def test_airflows_metadata_and_the_target_store_are_separate_servers(resolved):
    services = resolved["services"]
    env = env_of(services["airflow-scheduler"])
    metadata_host = re.search(r"@([^:/]+)", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).group(1)
    target_host = env_of(services["airflow-init"])["TARGET_DB_HOST"]
    assert (metadata_host, target_host) == ("airflow-db", "target-db")
    for name in (metadata_host, target_host):
        assert services[name]["image"].startswith("postgres:")
    data = [mounts_of(services[n])["/var/lib/postgresql/data"] for n in (metadata_host, target_host)]
    assert data[0] != data[1], "the two PostgreSQL servers share their data volume"


def test_the_project_is_mounted_into_every_airflow_service(resolved):
    services = resolved["services"]
    for name in AIRFLOW_SERVICES:
        mounts = mounts_of(services[name])
        for folder, target in PROJECT_MOUNTS.items():
            assert target in mounts, f"{name}: {folder}/ is not mounted at {target}"
            assert Path(mounts[target]) == ROOT / folder, f"{name}: {target} is {mounts[target]}"
    for name in AIRFLOW_SERVICES[:-1]:  # the folders a run's tasks share, across workers
        mounts = mounts_of(services[name])
        env = env_of(services[name])
        for variable in ("HANDOVER_WORK_ROOT", "HANDOVER_OUTPUT_ROOT", "HANDOVER_ARCHIVE_ROOT"):
            assert env[variable] in mounts, f"{name}: {variable} is not on a volume"
        assert "/opt/airflow/logs" in mounts, f"{name}: the task logs are not on the shared volume"


def test_every_airflow_setting_is_an_option_of_this_airflow(resolved):
    from airflow.configuration import conf

    described = conf.configuration_description  # Airflow's config.yml and the installed providers'
    for name in AIRFLOW_SERVICES:
        for variable in env_of(resolved["services"][name]):
            match = re.fullmatch(r"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)", variable)
            if match:
                section, option = match.group(1).lower(), match.group(2).lower()
                assert option in described.get(section, {}).get("options", {}), \
                    f"{name}: {variable} is not an option of Airflow's configuration"


def test_the_init_service_runs_the_init_script(resolved):
    init = resolved["services"]["airflow-init"]
    command = init["command"] if isinstance(init["command"], list) else init["command"].split()
    assert command[-1] == "/opt/airflow/deploy/airflow-init.sh"
    assert Path(mounts_of(init)[command[-1]]) == AIRFLOW_INIT
    env = env_of(init)
    for variable in ("TARGET_DB_PASSWORD", "TARGET_RUNNER_PASSWORD", "BACKUP_ACCESS_KEY", "BACKUP_SECRET_KEY", "HANDOVER_MASTER_KEY",
                     "HANDOVER_SIGNING_KEY", "AIRFLOW_ADMIN_PASSWORD"):
        assert env.get(variable), f"airflow-init does not get {variable}"
    script = AIRFLOW_INIT.read_text()
    assert "airflow db migrate" in script
    assert "airflow connections import --overwrite" in script
    assert 'cli.main(["roles", "--dsn", dsn])' in script  # the schema and roles, as the store's administrator
    for conn_id in ("handover_target", "handover_target_admin", "handover_backup", "handover_alerts"):
        assert f'"{conn_id}"' in script
    # the worker and the scheduler never see the keys or the store's password: only the init does
    for name in ("airflow-worker", "airflow-scheduler", "airflow-apiserver"):
        assert not {"HANDOVER_MASTER_KEY", "TARGET_DB_PASSWORD", "TARGET_RUNNER_PASSWORD",
                    "BACKUP_SECRET_KEY"} & set(env_of(
            resolved["services"][name]))


def test_minio_init_makes_a_versioned_object_lock_bucket(resolved):
    init = resolved["services"]["minio-init"]
    assert init["image"].startswith("minio/mc:")
    entrypoint = init["entrypoint"] if isinstance(init["entrypoint"], list) else init["entrypoint"].split()
    assert Path(mounts_of(init)[entrypoint[-1]]) == MINIO_INIT
    script = MINIO_INIT.read_text()
    mb = next(line for line in script.splitlines() if line.strip().startswith("mc mb "))
    assert "--with-lock" in mb and "--ignore-existing" in mb
    assert re.search(r"^mc version enable ", script, re.MULTILINE)
    assert "mc retention info --default" in script  # an existing bucket without the lock is refused
    assert "mc ilm import" in script and "NoncurrentVersionExpiration" in script
    assert "BypassGovernanceRetention" not in script.split("cat >\"$work/policy.json\"")[1]
    assert env_of(init)["BACKUP_BUCKET"] == env_of(resolved["services"]["airflow-init"])["BACKUP_BUCKET"]


def test_no_secret_is_written_in_the_compose_file(raw):
    assert "change-me" not in yaml.safe_dump(raw), "a placeholder of deploy/.env.example is in the compose file"

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, (*path, str(i)))
        elif node is not None:
            yield path, str(node)

    for path, value in walk(raw, ()):
        where = ".".join(path)
        key = path[-1]
        if SECRETISH.search(key) and not key.endswith("_FILE"):
            assert value.startswith("${"), f"{where} is a literal secret: {value!r}"
        for password in URL_PASSWORD.findall(value):
            assert password.startswith("${"), f"{where} has a literal password in a URL"
    redis_command = raw["services"]["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")


def test_every_secret_is_required_and_documented():
    text = COMPOSE.read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", body))
    assert {"AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "REDIS_PASSWORD",
            "TARGET_DB_PASSWORD", "TARGET_RUNNER_PASSWORD", "MINIO_ROOT_PASSWORD", "BACKUP_SECRET_KEY", "HANDOVER_MASTER_KEY",
            "HANDOVER_SIGNING_KEY", "AIRFLOW_ADMIN_PASSWORD"} <= required
    example = example_env()
    header = text.split("\n---\n", 1)[0]
    for name in required:
        assert example.get(name, "").startswith("change-me"), f"deploy/.env.example: {name} needs a placeholder"
        assert name in header, f"{name} is not documented at the top of docker-compose.yaml"
    for name, value in example.items():  # nothing real in the repository
        if SECRETISH.search(name) or "PASSWORD" in name:
            assert value.startswith("change-me"), f"deploy/.env.example: {name} is not a placeholder"


def test_the_dockerfile_installs_the_requirements_and_the_package():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG AIRFLOW_IMAGE=apache/airflow:3\.3\.2-python3\.11$", text, re.MULTILINE)
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}$", text, re.MULTILINE)
    assert re.search(r"pip install .*-r \S*requirements\.txt -c \S*constraints\.txt", text)
    assert re.search(r"pip install .*-e /opt/airflow", text)
    for source in ("requirements.txt", "constraints.txt", "pyproject.toml", "include/", "plugins/"):
        assert re.search(rf"^COPY .*\b{re.escape(source)}", text, re.MULTILINE), f"the image lacks {source}"
    # the editable install rooted at /opt/airflow resolves to the folders the compose file mounts
    package_dirs = re.findall(r'"(include/handover|plugins/handover_airflow)"', (ROOT / "pyproject.toml").read_text())
    assert sorted(package_dirs) == ["include/handover", "plugins/handover_airflow"]


def test_the_init_scripts_parse():
    for shell, script in (("bash", AIRFLOW_INIT), ("sh", MINIO_INIT)):
        result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        for shell, script in (("bash", AIRFLOW_INIT), ("sh", MINIO_INIT)):
            result = subprocess.run([shellcheck, "-s", shell, str(script)], capture_output=True, text=True,
                                    check=False)
            assert result.returncode == 0, result.stdout


# --- deploy/airflow-init.sh with this venv's Airflow ---------------------------------------------------


def _init_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "passwords.json"),
        "GX_ANALYTICS_ENABLED": "False",
        "AIRFLOW_ADMIN_PASSWORD": "admin-pw-1",
        "TARGET_DB_PASSWORD": "target-pw-1",
        "TARGET_RUNNER_PASSWORD": "runner-pw-1",
        "BACKUP_ACCESS_KEY": "handover-backup",
        "BACKUP_SECRET_KEY": "backup-secret-1",
        "HANDOVER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "HANDOVER_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
        "HANDOVER_SAMPLE_DIR": str(tmp_path / "exports" / "sample"),
    }
    (tmp_path / "airflow").mkdir(exist_ok=True)
    env.update(overrides)
    return env


def _run_init(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(AIRFLOW_INIT)], env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def _stored(env: dict[str, str]) -> dict:
    code = (
        "import json\n"
        "from airflow.models.connection import Connection\n"
        "from airflow.models.variable import Variable\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        "    conns = {c.conn_id: {'type': c.conn_type, 'host': c.host, 'port': c.port, 'login': c.login,\n"
        "             'password': c.password, 'schema': c.schema, 'extra': c.extra_dejson}\n"
        "             for c in s.query(Connection).all()}\n"
        "    variables = {v.key: v.val for v in s.query(Variable).all()}\n"
        "print(json.dumps({'connections': conns, 'variables': variables}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def target_store(pg_admin_dsn):
    """A fresh target database on the test server, and a runner login name of this test's own (roles are
    cluster-wide), dropped afterwards."""
    import uuid

    import psycopg2
    from psycopg2.extensions import parse_dsn

    from tests.conftest import scratch_database

    runner = f"ho_test_etl_{uuid.uuid4().hex[:8]}"
    with scratch_database(pg_admin_dsn, f"handover_test_init_{uuid.uuid4().hex[:8]}") as dsn:
        p = parse_dsn(dsn)
        yield {"TARGET_DB_HOST": p.get("host", "127.0.0.1"), "TARGET_DB_PORT": p.get("port", "5432"),
               "TARGET_DB_USER": p.get("user", "postgres"), "TARGET_DB_NAME": p["dbname"],
               "TARGET_RUNNER_USER": runner}, dsn
    with psycopg2.connect(pg_admin_dsn) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(f'DROP ROLE IF EXISTS "{runner}"')


def test_airflow_init_creates_the_connections_and_variables_and_converges(tmp_path, target_store):
    import psycopg2
    from psycopg2 import errors
    from psycopg2.extensions import make_dsn

    target, dsn = target_store
    env = _init_env(tmp_path, BACKUP_RETENTION='{"keep-daily":7,"max-age":"2y"}', **target)
    first = _run_init(env)
    assert first.returncode == 0, first.stdout + first.stderr
    stored = _stored(env)
    conns, variables = stored["connections"], stored["variables"]
    runner = target["TARGET_RUNNER_USER"]
    assert conns["handover_target"] == {
        "type": "postgres", "host": target["TARGET_DB_HOST"], "port": int(target["TARGET_DB_PORT"]),
        "login": runner, "password": "runner-pw-1", "schema": target["TARGET_DB_NAME"], "extra": {"region": "CN"}}
    assert conns["handover_target_admin"]["login"] == target["TARGET_DB_USER"]
    assert conns["handover_target_admin"]["password"] == "target-pw-1"
    # the store is set up by its administrator; the pipeline's login runs, and cannot rewrite the audit
    with psycopg2.connect(make_dsn(dsn, user=runner)) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_has_role(current_user, 'handover_operator', 'MEMBER'), "
                    "pg_has_role(current_user, 'handover_owner', 'MEMBER'), "
                    "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
        assert cur.fetchone() == (True, False, False)
        cur.execute("SELECT count(*) FROM ops.schema_version")
        assert cur.fetchone()[0] >= 1
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("ALTER TABLE ops.audit DISABLE TRIGGER ALL")
    backup = conns["handover_backup"]
    assert (backup["type"], backup["login"], backup["password"]) == ("aws", "handover-backup", "backup-secret-1")
    assert backup["extra"] == {"bucket": "handover-backups", "prefix": "handover/", "endpoint_url": "http://minio:9000",
                               "region_name": "us-east-1", "lock_mode": "GOVERNANCE", "retain_days": 30}
    assert "handover_alerts" not in conns
    assert variables["handover_master_key"] == env["HANDOVER_MASTER_KEY"]
    assert variables["handover_signing_key"] == env["HANDOVER_SIGNING_KEY"]
    assert json.loads(variables["handover_backup_retention"]) == {"keep-daily": 7, "max-age": "2y"}
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert json.loads(passwords.read_text()) == {"admin": "admin-pw-1"}
    assert passwords.stat().st_mode & 0o077 == 0
    assert (tmp_path / "exports" / "sample" / "客户信息.csv").exists()
    for secret in ("target-pw-1", "runner-pw-1", "backup-secret-1", "admin-pw-1", env["HANDOVER_MASTER_KEY"]):
        assert secret not in first.stdout + first.stderr

    # again, with the .env changed: the same connections, updated; the sample is not rewritten
    env.update(TARGET_RUNNER_PASSWORD="runner-pw-2", AIRFLOW_ADMIN_PASSWORD="admin-pw-2", SMTP_HOST="smtp.example.com",
               ALERT_TO="ops@example.com, dpo@example.com")
    second = _run_init(env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "sample export already at" in second.stdout
    again = _stored(env)
    assert again["connections"]["handover_target"]["password"] == "runner-pw-2"
    assert "login " + runner + " (updated)" in second.stdout
    assert again["connections"]["handover_backup"] == backup
    assert again["connections"]["handover_alerts"]["extra"]["to"] == ["ops@example.com", "dpo@example.com"]
    assert again["variables"] == variables
    assert json.loads(passwords.read_text()) == {"admin": "admin-pw-2"}


def test_airflow_init_refuses_placeholders_and_bad_keys(tmp_path):
    placeholder = _run_init(_init_env(tmp_path, TARGET_DB_PASSWORD=example_env()["TARGET_DB_PASSWORD"]))
    assert placeholder.returncode != 0
    assert "TARGET_DB_PASSWORD still has its change-me placeholder" in placeholder.stderr
    short_key = _run_init(_init_env(tmp_path, HANDOVER_MASTER_KEY=base64.b64encode(b"x" * 16).decode()))
    assert short_key.returncode != 0
    assert "master key must be 32 bytes" in short_key.stdout + short_key.stderr
    assert not (tmp_path / "airflow.db").exists(), "the init went on after a bad secret"
